"""The ``?`` screen: the keys, and the idea behind each panel."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

IDEAS = [
    ("Memory (heatmap)",
     "The network reads one token at a time and keeps everything it knows about the past in one "
     "vector h = tanh(x·Wxh + h·Whh + b); each column is that vector after a token, each half-cell "
     "one unit between −1 (blue) and +1 (orange)."),
    ("Gates (GRU, LSTM)",
     "A gated cell decides, per unit and per token, how much of its memory to keep and how much to "
     "overwrite: each gate is a number between 0 (shut, dark) and 1 (open, bright). An LSTM unit "
     "whose forget gate stays open carries its cell state c (Ctrl+T or Alt+C shows it) across many "
     "tokens, and its gradient with it; a GRU unit whose update gate z is open copies its old "
     "memory through. A vanilla RNN has no gates: every token rewrites its memory through tanh, so "
     "it forgets fast."),
    ("Two models (--compare)",
     "rnntui play A --compare B: model B reads the same text, and the lens colours each token by the "
     "difference in surprise, orange where B was less surprised, blue where A was."),
    ("Embedding",
     "Each token enters as a learned vector (a row of the embedding matrix), so tokens used alike "
     "end up with similar vectors and push the memory the same way."),
    ("Softmax (next token)",
     "The memory is turned into a score per token and softmax makes the scores probabilities: the "
     "bars are the model's bet on what comes next. The ghost text finishes your word with the "
     "likeliest whole word (a beam search keeping 4 guesses), then follows the top choice."),
    ("Temperature",
     "Scores are divided by T before the softmax: T < 1 sharpens the bet towards the favourite, "
     "T > 1 flattens it towards uniform, T = 0 always takes the favourite."),
    ("Surprise",
     "−log2 p(token): the bits of surprise the model had for what you actually typed; red marks "
     "where it was caught off guard."),
    ("A unit",
     "Pick one hidden unit and the text is painted by its activation: some units track quotes, "
     "line length or the start of a word."),
    ("F4 Embedding map",
     "The token vectors squeezed to 2D by PCA (the two directions they vary most along), so tokens "
     "the network treats alike land close together; its nearest neighbours are listed by cosine."),
    ("F5 Softmax geometry",
     "Each next token's score is a dot product h · w_token plus a bias: a token wins when its output "
     "vector points the way the memory points, and temperature only rescales the scores."),
    ("F6 Fading memory",
     "How much nudging a token k steps back would still move the memory now (the norm of ∂h/∂x): it "
     "shrinks with every step through tanh and Whh, which is why plain RNNs forget, and why their "
     "gradients vanish."),
    ("F7 Sentence vectors",
     "The memory after reading a whole sentence is a vector that sums the sentence up; sentences "
     "whose final memories point the same way (cosine near 1) are the ones the model finds alike."),
    ("F8 What a unit does",
     "The places in held-out text where the picked unit is driven hardest either way, and how well "
     "each unit follows simple features such as being inside quotes or the position in the line."),
    ("F9 Health",
     "How many activations sit at ±1 (saturated units pass almost no gradient), and the spectral "
     "radius of Whh: above 1 the memory can amplify itself, far below it forgets fast."),
    ("F11 The ghost text, scored",
     "How often the autocomplete guess is right on held-out text after 0, 1, 2, … letters of each word "
     "(top-1: the ghost text; top-3: among the beam's three best), as Distill's \"Memorization in RNNs\" "
     "charts it; with --compare, model B's curves beside A's."),
    ("F10 The guided tour",
     "One time step of the network, screen by screen, on your own text: the tokens and their ids, the "
     "one-hot vector picking an embedding row, the memory update, the output's dot products and softmax, "
     "feeding the choice back, one learning step (on a copy), fading memory, and a gated cell's gates. "
     "Also on its own: rnntui tour."),
]  # fmt: skip


class HelpScreen(ModalScreen[None]):
    """Key bindings of the screen below, and the ideas behind each panel."""

    BINDINGS = [Binding("escape,q,f1,question_mark", "dismiss", "Close")]

    def __init__(self, keys: list[tuple[str, str]], title: str) -> None:
        super().__init__()
        self.keys, self.title_text = keys, title

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold #f97316", no_wrap=True)
        keys.add_column()
        for key, what in self.keys:
            keys.add_row(key, what)
        ideas = Table.grid(padding=(0, 2))
        ideas.add_column(style="bold", no_wrap=True)
        ideas.add_column()
        for name, idea in IDEAS:
            ideas.add_row(name, idea)
        with VerticalScroll(id="help-box") as box:
            box.border_title = f"{self.title_text} · help (Esc closes)"
            yield Static(Text("Keys", style="bold underline"))
            yield Static(keys)
            yield Static(Text("\nWhat you are looking at", style="bold underline"))
            yield Static(ideas)
