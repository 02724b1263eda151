"""One widget per screen of the tour. Each draws what ``TourState`` hands it (numbers from
``rnntui.tour``) at the width it has, and says in a sentence or two what the learner is looking at."""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.events import Click
from textual.message import Message
from textual.widget import Widget

from rnntui.tour import LEARNING_RATE
from rnntui.tui.tour.draw import (
    CYAN,
    DIM,
    ORANGE,
    block_shape,
    heat_block,
    legend,
    num,
    paragraph,
    quoted,
    scale_of,
    tok,
    vector_lines,
)
from rnntui.tui.tour.state import TourState
from rnntui.tui.widgets.next_tokens import bar

BOLD, PICK = Style(bold=True), Style(bold=True, reverse=True, color=ORANGE)


def flow(items: list[Text], width: int, gap: int = 2, max_lines: int | None = None) -> list[Text]:
    """Items laid out left to right, wrapped at ``width``; with ``max_lines``, cut with a count."""
    lines, line = [], Text(no_wrap=True)
    for i, item in enumerate(items):
        if line.cell_len and line.cell_len + gap + item.cell_len > width:
            lines.append(line)
            line = Text(no_wrap=True)
            if max_lines is not None and len(lines) == max_lines:
                lines[-1].append(f"  … and {len(items) - i:,} more", DIM)
                return lines
        if line.cell_len:
            line.append(" " * gap)
        line.append_text(item)
    lines.append(line)
    return lines


class Step(Widget):
    """A screen of the tour: ``lines(width)`` is its body, ``explain()`` its one or two sentences."""

    TITLE = ""
    SLOW = ""  # "learning" or "fading": numbers the screen's worker computes first

    def __init__(self, state: TourState, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state

    def explain(self) -> str:
        return ""

    def lines(self, width: int) -> list[Text]:
        return []

    def body(self, width: int) -> list[Text]:
        if self.SLOW and not self.state.ready(self.SLOW):
            return [Text("computing… (the first time on this machine, the kernels are compiled too)", DIM)]
        return self.lines(width)

    def get_content_height(self, container, viewport, width: int) -> int:
        return len(self.body(width))

    def render(self) -> Text:
        return Text("\n", no_wrap=True).join(self.body(self.content_size.width))

    def token(self, tid: int) -> str:
        return quoted(self.state.vocab, tid)


# -- 1) tokens ---------------------------------------------------------------------------------------------


class TokensStep(Step):
    TITLE = "Tokens"

    def explain(self) -> str:
        s = self.state
        unit = "characters" if s.tokens.level == "char" else "words and punctuation"
        return (
            f"The model reads your text as {s.n_tokens} tokens ({unit}), one at a time. Each token is a "
            f"number, its id: the vocabulary of {s.tokens.vocab_size:,} tokens is the model's whole "
            "alphabet, all it can read or write."
        )

    def lines(self, width: int) -> list[Text]:
        s, vocab = self.state, self.state.vocab
        out = []
        if s.tokens.default:
            out += paragraph(
                f"No text yet, so the tour reads a sentence of its own: {s.tokens.text!r}", width, DIM
            )
        cells = []
        for i, tid in enumerate(s.tokens.ids):
            cell = Text(no_wrap=True)
            cell.append(tok(vocab, tid), PICK if i == s.t else BOLD)
            cell.append(f" {tid}", Style(color=CYAN))
            cells.append(cell)
        out += [Text("token and id, in reading order (the current one lit):", DIM), *flow(cells, width)]
        out += paragraph(
            "The memory starts at zero before the first token (the playground reads a newline "
            "first, so its odds differ a little from the tour's).",
            width,
            DIM,
        )
        if s.tokens.skipped:
            out.append(Text("not in the vocabulary, so not read: " + " ".join(s.tokens.skipped), DIM))
        if s.tokens.unknown:
            out.append(Text(f"{s.tokens.unknown} word(s) the vocabulary lacks are read as <unk>", DIM))
        out += [Text(""), Text(f"the vocabulary, id by id (V = {len(vocab):,}):", DIM)]
        entries = [
            Text.assemble((f"{i}", Style(color=CYAN)), " ", (tok(vocab, i), BOLD)) for i in range(len(vocab))
        ]
        out += flow(entries, width, max_lines=6)
        return out


# -- 2) embedding ------------------------------------------------------------------------------------------


def one_hot_row(one_hot: np.ndarray, width: int) -> Text:
    """The one-hot vector as V cells (· for 0, 1 lit), a window around the 1 when V does not fit."""
    V, lit = len(one_hot), int(np.argmax(one_hot))
    room = max(8, width - 24)
    lo = 0 if V <= room else max(0, min(V - room, lit - room // 2))
    hi = min(V, lo + room)
    out = Text(no_wrap=True)
    if lo:
        out.append(f"…{lo:,} zeros… ", DIM)
    for i in range(lo, hi):
        out.append("1", PICK) if i == lit else out.append("·", DIM)
    if hi < V:
        out.append(f" …{V - hi:,} zeros…", DIM)
    return out


def matrix_excerpt(M: np.ndarray, row: int, vocab, width: int, cols: int = 4) -> list[Text]:
    """Rows row-1, row, row+1 of M (V, E) (the middle one lit) with their first columns and the last;
    the rest summarised."""
    V, E = M.shape
    rows = [r for r in (row - 1, row, row + 1) if 0 <= r < V]
    cols = min(cols, E)
    more = E > cols
    out = []
    head = Text(" " * 16 + "".join(f"{f'col {j}':>8}" for j in range(cols)), DIM)
    if more:
        head.append(f"   … {f'col {E - 1}':>8}", DIM)
    out.append(head)
    for r in rows:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(
            f"{'▶ ' if r == row else '  '}row {r:<4} {tok(vocab, r)[:4]:<5}", PICK if r == row else DIM
        )
        line.append("".join(f"{num(M[r, j]):>8}" for j in range(cols)), BOLD if r == row else DIM)
        if more:
            line.append(f"   … {num(M[r, E - 1]):>8}", BOLD if r == row else DIM)
        out.append(line)
    hidden = V - len(rows)
    out.append(
        Text(f"  … and {hidden:,} more rows: the 0s of the one-hot vector multiply them all away", DIM)
    )
    return out


class EmbeddingStep(Step):
    TITLE = "Embedding"

    def explain(self) -> str:
        s = self.state
        e = s.embedding()
        return (
            f"The token {self.token(e.token)} enters as a one-hot vector: {s.tokens.vocab_size:,} cells, "
            f"only cell {e.token} is 1. Multiplying it by the embedding matrix picks out row {e.token}: "
            "that row is x_t, the input the memory reads. Training moves tokens used alike toward "
            "similar rows."
        )

    def lines(self, width: int) -> list[Text]:
        s = self.state
        e = s.embedding()
        V, E = s.params["embed"].shape
        scale = scale_of([e.x, e.neighbour_x])
        return [
            Text(f"one-hot of {self.token(e.token)} (V = {V:,} cells; the 1 is at id {e.token}):", DIM),
            one_hot_row(e.one_hot, width),
            Text(f"× embed, the {V:,} × {E} embedding matrix (a few of its rows and columns):", DIM),
            *matrix_excerpt(s.params["embed"], e.token, s.vocab, width),
            Text(f"=  its row {e.token}, all {E} numbers:", DIM),
            *vector_lines(f"x_t = embed[{e.token}]", e.x, width, scale),
            Text(""),
            Text("for contrast, the row most like it (cosine similarity, 1 = same direction):", DIM),
            *vector_lines(
                f"embed[{e.neighbour}] {self.token(e.neighbour)}",
                e.neighbour_x,
                width,
                scale,
                note=f"cosine {e.cosine:+.2f} with x_t",
            ),
            legend(scale),
        ]


# -- 3) the memory update ---------------------------------------------------------------------------------


class MemoryStep(Step):
    TITLE = "The memory update"

    def explain(self) -> str:
        m = self.state.memory()
        if m.cell == "rnn":
            what = (
                "The new memory h_t is the input times one matrix plus the old memory times another, "
                "plus a bias, squashed into −1..+1 by tanh."
            )
            share = "x_t·Wxh against h_{t−1}·Whh"
        elif m.cell == "gru":
            what = (
                "A GRU first makes a candidate n from the input and the reset memory, then blends: "
                "the update gate z keeps part of the old memory and lets (1−z) of n in."
            )
            share = "(1−z)⊙n written against z⊙h_{t−1} kept"
        else:
            what = (
                "An LSTM makes new content g from the input and the old memory, writes i⊙g into its "
                "cell state c, keeps f⊙c_{t−1}, and shows h_t = o⊙tanh(c_t). Screen 8 shows the gates."
            )
            share = "i⊙g written against f⊙c_{t−1} kept"
        return (
            f"{what} Move through time (Shift+←/→) to watch h change token by token; the last strip: {share}."
        )

    def lines(self, width: int) -> list[Text]:
        s = self.state
        m = s.memory()
        out = [Text(m.formula, BOLD)]
        if s.layers > 1:
            out.append(
                Text(
                    f"layer {m.layer + 1} of {s.layers} (Ctrl+L): a layer above reads the memory of "
                    "the one below as its input",
                    DIM,
                )
            )
        unbounded = [v for _, v in m.rows if np.abs(v).max() > 1]
        scale = scale_of(unbounded)
        for label, v in m.rows:
            out += vector_lines(label, v, width, scale if np.abs(v).max() > 1 else 1.0)
        gated = m.cell != "rnn"
        out += vector_lines(
            "share written" if gated else "share from the input",
            2 * m.input_share - 1,
            width,
            1.0,
            shown=m.input_share,
            note=(
                f"written {m.overall_share:.0%} · kept {1 - m.overall_share:.0%}"
                if gated
                else f"input {m.overall_share:.0%} · memory {1 - m.overall_share:.0%}"
            ),
        )
        out.append(legend(scale))
        if gated:  # the written part depends on the old memory too: the candidate reads it
            share = "the share: |written| / (|written| + |kept|) per unit, orange written, blue kept"
        else:
            share = "the share: |x_t·Wxh| / (|x_t·Wxh| + |h_{t−1}·Whh|) per unit, b left out; orange input"
        out += paragraph(f"rows within ±1 on ±1 · {share}", width, DIM)
        if s.t == 0:
            out.append(
                Text("t = 0: the memory starts empty (h_{−1} = 0), so all of h_0 comes from the input", DIM)
            )
        return out


# -- 4) the output ----------------------------------------------------------------------------------------


class OutputStep(Step):
    TITLE = "The output"

    def explain(self) -> str:
        o = self.state.output()
        return (
            "Each token has a vector w_token (a column of Why); its score is the dot product h_t·w_token "
            "plus a bias. Softmax turns the scores into probabilities, sharper or flatter with the "
            f"temperature T = {o.temperature:g} (F2/F3). Press R to roll the dice."
        )

    def lines(self, width: int) -> list[Text]:
        s = self.state
        o = s.output()
        n_terms = 3 if width >= 108 else 1 if width >= 74 else 0
        out = [*vector_lines("h_t, the memory", o.h, width, 1.0), Text("")]
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f"{'next':<8}{'h·w_token':>10}", DIM)
        if n_terms:
            terms = "= largest terms h_j·w_j + …" if n_terms > 1 else "= biggest h_j·w_j"
            head.append(f"  {terms:<{14 * n_terms + 4}}", DIM)
        head.append(f"{'+ b':>8}{'= score':>9}   p at T={o.temperature:g}", DIM)
        out.append(head)
        bar_width = max(6, width - (8 + 10 + (14 * n_terms + 6 if n_terms else 0) + 17 + 10))
        for k, tid in enumerate(o.ids):
            row = Text(no_wrap=True, overflow="ellipsis")
            row.append(f"{tok(s.vocab, tid)[:7]:<8}", BOLD)
            row.append(f"{num(o.dots[k]):>10}")
            if n_terms:
                terms = " ".join(
                    f"h{u}·w {num(v)}"
                    for u, v in zip(o.term_units[k][:n_terms], o.terms[k][:n_terms], strict=True)
                )
                row.append(f"  {terms + ' …':<{14 * n_terms + 4}}", DIM)
            row.append(f"{num(o.biases[k]):>8}{num(o.logits[k]):>9}   ")
            row.append(bar(float(o.probs[k]), bar_width), ORANGE if tid == o.sample else CYAN)
            row.append(f" {o.probs[k]:6.1%}")
            out.append(row)
        out.append(Text(""))
        out.append(
            Text.assemble(
                ("argmax, the likeliest: ", DIM), (self.token(o.argmax), BOLD), f" {o.probs[0]:.1%}"
            )
        )
        if o.temperature == 0:
            dice = Text("at T = 0 the dice always give the argmax (F3 warms it up)", DIM)
        else:
            dice = Text.assemble(
                (f"the dice (throw {o.roll + 1}, R rolls again) chose: ", DIM),
                (self.token(o.sample), PICK),
                f" with probability {o.sample_prob:.1%}",
            )
        out.append(dice)
        return out


# -- 5) feeding back --------------------------------------------------------------------------------------


class FeedBackStep(Step):
    TITLE = "Feeding back"

    def explain(self) -> str:
        return (
            "The chosen token becomes the next input: it is embedded, updates the memory, and a new "
            "distribution comes out, from which the dice choose again. That loop is how a language "
            "model writes."
        )

    def lines(self, width: int) -> list[Text]:
        s = self.state
        f = s.feed_back()
        vocab = s.vocab
        read = vocab.decode(s.tokens.ids[: s.t + 1])[-max(10, width // 2) :]
        wrote = vocab.decode([f.first] + [st.chosen for st in f.steps])
        if vocab.level == "word":
            wrote = " " + wrote
        out = [
            Text.assemble(
                ("…" + read.replace("\n", "⏎"), DIM),
                (wrote.replace("\n", "⏎"), Style(bold=True, color=ORANGE)),
                no_wrap=True,
                overflow="ellipsis",
            )
        ]
        block_width = max(16, min(64, width - 44))
        H = len(f.steps[0].h)
        rows, cols = block_shape(H, block_width)
        units = f"all {H} units" if rows <= 2 else f"its first {min(H, 4 * block_width)} of {H} units"
        out += paragraph(
            f"at T = {f.temperature:g}; each row: the token read, the memory it left ({units}), "
            "the likeliest next tokens, the dice's choice",
            width,
            DIM,
        )
        for k, st in enumerate(f.steps):
            block = heat_block(st.h, block_width, max_rows=2)
            tops = "  ".join(
                f"{tok(vocab, i)[:6]} {p:.0%}" for i, p in zip(st.top_ids, st.top_probs, strict=True)
            )
            side = [
                Text(tops, DIM),
                Text.assemble(("→ chose ", DIM), (self.token(st.chosen), PICK), f" {st.chosen_prob:.0%}"),
            ]
            for r, row in enumerate(block):
                left = f"{k + 1:>2} read {self.token(st.input)[:8]:<10}" if r == 0 else " " * 18
                line = Text.assemble(
                    (left[:18].ljust(18), BOLD if r == 0 else DIM),
                    row,
                    "  ",
                    no_wrap=True,
                    overflow="ellipsis",
                )
                if r < len(side):
                    line.append_text(side[r])
                out.append(line)
            for r in range(len(block), len(side)):
                out.append(Text.assemble(" " * (18 + block_width + 2), side[r], no_wrap=True))
        return out


# -- 6) learning -----------------------------------------------------------------------------------------


class LearningStep(Step):
    TITLE = "Learning"
    SLOW = "learning"

    def explain(self) -> str:
        return (
            "One training step on your text: the loss of each token (−ln of the probability the model "
            "gave the token that came), the gradient of their mean reaching every weight, one small step "
            f"downhill (SGD, learning rate {LEARNING_RATE:g}), the loss again. Nothing is saved: a copy "
            "took the step, and the model is unchanged when you leave."
        )

    def lines(self, width: int) -> list[Text]:
        s = self.state
        g = s.learning
        vocab = s.vocab
        clipped = f"clipped ×{g.scale:.2f}" if g.scale < 1 else "not clipped"
        out = [
            Text.assemble(
                ("mean loss ", DIM),
                (f"{g.mean_before:.3f}", BOLD),
                (" → ", DIM),
                (f"{g.mean_after:.3f}", Style(bold=True, color=ORANGE)),
                (" nats after one step", DIM),
            ),
            Text(f"gradient norm {g.grad_norm:.3g}, {clipped} at {g.clip:g} (as the trainer does)", DIM),
        ]
        row = min(max(s.t, 0), len(g.loss_before) - 1)  # the prediction made after token t
        target = int(g.ids[row + 1])
        pb, pa = np.exp(-g.loss_before[row]), np.exp(-g.loss_after[row])
        went = "went up" if pa > pb else "went down"
        last = " (the last token predicts nothing)" if row < s.t else ""
        out.append(
            Text.assemble(
                (f"after {self.token(g.ids[row])}, the next token {self.token(target)}: p {pb:.1%} → ", DIM),
                (f"{pa:.1%}", BOLD),
                (f" ({went}){last}", DIM),
            )
        )
        up = int(np.sum(g.loss_after < g.loss_before))
        out += paragraph(
            f"{up} of {len(g.loss_before)} next tokens got likelier: one step lowers the mean loss, "
            "a few tokens may lose. One sentence is easy to fit; training averages over many.",
            width,
            DIM,
        )
        out.append(Text(""))
        out.append(
            Text(f"{'read':<10}{'next':<10}{'p before':>9}{'loss':>8}   {'p after':>8}{'loss':>8}", DIM)
        )
        n_rows = 8
        lo = max(0, min(len(g.loss_before) - n_rows, row - n_rows // 2))
        for i in range(lo, min(len(g.loss_before), lo + n_rows)):
            line = Text(no_wrap=True)
            style = PICK if i == row else BOLD
            line.append(f"{tok(vocab, g.ids[i])[:9]:<10}", style)
            line.append(f"{tok(vocab, g.ids[i + 1])[:9]:<10}", BOLD)
            b, a = g.loss_before[i], g.loss_after[i]
            line.append(f"{np.exp(-b):>9.1%}{b:>8.3f}   {np.exp(-a):>8.1%}{a:>8.3f}")
            line.append("  " + ("▲" if a < b else "▼"), Style(color=ORANGE if a < b else CYAN))
            out.append(line)
        if len(g.loss_before) > n_rows:
            out.append(Text(f"({len(g.loss_before)} predictions in all; Shift+←/→ moves through them)", DIM))
        out.append(Text(""))
        out.append(
            Text(f"{'weight (largest gradient of each)':<34}{'value':>9}{'gradient':>11}{'after':>10}", DIM)
        )
        for name, w, d, a in zip(g.weights, g.before, g.grads, g.after, strict=True):
            out.append(Text(f"{name:<34}{num(w):>9}{num(d):>11}{num(a):>10}", no_wrap=True))
        out.append(Text(f"after = value − {g.learning_rate:g} × {g.scale:.3g} × gradient", DIM))
        return out


# -- 7) fading memory ------------------------------------------------------------------------------------


class FadingStep(Step):
    TITLE = "Fading memory"
    SLOW = "fading"
    ROWS = 12

    def explain(self) -> str:
        ask = (
            "How much would nudging the input k tokens back still move the memory now? "
            "Backpropagation through time answers with ‖∂h_t/∂x_{t−k}‖: "
        )
        if self.state.reading.cell == "rnn":
            return ask + "every step back multiplies by the tanh's slopes and by the recurrent matrix."
        gate = "z" if self.state.reading.cell == "gru" else "f"
        return ask + (
            f"two routes lead back, and they add: the kept route multiplies by the gate {gate} at "
            "every step, the other goes through the gates and the recurrent matrix."
        )

    def lines(self, width: int) -> list[Text]:
        s = self.state
        f = s.fading()
        vocab = s.vocab
        gloss = {"tanh′": "tanh′ = 1−h²", "z": "update gate z", "f": "forget gate f"}[f.factor_name]
        head = f"{'k':>3}  {'token':<10}{'‖∂h_t/∂x_{t−k}‖':>16}  "
        bar_width = max(8, width - len(head) - 28)
        last = "saturated" if f.factor_name == "tanh′" else f"{f.factor_name} > 0.9"
        out = [Text(head + " " * bar_width + f"  {'mean ' + f.factor_name:>11}{last:>11}", DIM)]
        top = float(f.norms.max()) if len(f.norms) else 1.0
        for k in range(min(len(f.norms), self.ROWS)):
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f"{k:>3}  ")
            line.append(f"{tok(vocab, s.reading.ids[f.t - k])[:9]:<10}", PICK if k == 0 else BOLD)
            line.append(f"{f.norms[k]:>16.4g}  ")
            line.append(bar(f.norms[k] / top if top > 0 else 0.0, bar_width), ORANGE)
            line.append(f"  {f.factor[k]:>11.3f}{f.saturated[k]:>11.0%}")
            out.append(line)
        if len(f.norms) > self.ROWS:
            out.append(
                Text(
                    f"     … k = {self.ROWS}..{len(f.norms) - 1}: from {f.norms[self.ROWS]:.3g} "
                    f"to {f.norms[-1]:.3g}",
                    DIM,
                )
            )
        out.append(Text(""))
        half = (
            f"it first falls to half of its peak {f.half_life:.1f} tokens back"
            if f.half_life
            else "it has not fallen to half of its peak yet"
        )
        ratio = (
            (f.norms[-1] / f.norms[0]) ** (1 / (len(f.norms) - 1))
            if len(f.norms) > 1 and f.norms[0] > 0
            else 1.0
        )
        measured = f"Measured: ×{ratio:.2f} a step on average over k = 0..{len(f.norms) - 1}; {half}."
        if f.factor_name == "tanh′":
            why = (
                f"Why it shrinks: each step back multiplies by diag({gloss}) and by Whhᵀ. Whh can stretch "
                f"a vector at most ×{f.matrix_norm:.2f} (‖Whh‖₂), and only in one direction; the slopes, "
                f"{float(f.factor.mean()):.2f} on average here, shrink it, to nearly 0 in saturated units. "
            )
        else:
            why = (
                f"Why it fades slower: the kept route multiplies by the {gloss} alone, "
                f"{float(f.factor.mean()):.2f} on average here; the route through the gates and the "
                f"candidate block of Whh (largest gain ‖W‖₂ = {f.matrix_norm:.2f}) adds to it. "
            )
        out += paragraph(why + measured, width)
        if f.factor_name == "tanh′":
            out += paragraph(
                "Units near ±1 (saturated) have a slope near 0: they pass almost no gradient back.",
                width,
                DIM,
            )
        else:
            out += paragraph(
                "A gate near 1 lets the memory, and its gradient, through unchanged: the gated "
                "cell's way of remembering longer.",
                width,
                DIM,
            )
        return out


# -- 8) gates --------------------------------------------------------------------------------------------


class GatesStep(Step):
    TITLE = "Gates"

    def explain(self) -> str:
        if self.state.reading.cell == "gru":
            return (
                "The GRU's two gates at this step, each unit between 0 (shut) and 1 (open): z decides how "
                "much old memory to keep, r how much of it the candidate may look at. Below, what each "
                "let through."
            )
        return (
            "The LSTM's three gates at this step, each unit between 0 (shut) and 1 (open): i decides how "
            "much new content to write, f how much of the cell state to keep, o how much of it to show. "
            "Below, what each let through."
        )

    def lines(self, width: int) -> list[Text]:
        s = self.state
        g = s.gates()
        out = []
        if s.layers > 1:
            out.append(Text(f"layer {g.layer + 1} of {s.layers} (Ctrl+L)", DIM))
        for (name, v), mean, wide, shut in zip(g.gates, g.means, g.open, g.shut, strict=True):
            out += vector_lines(
                f"gate {name}",
                v,
                width,
                gate=True,
                note=f"mean {mean:.2f} · {wide:.0%}↑ {shut:.0%}↓",
            )
        out.append(Text.assemble(legend(gate=True), ("   (↑ open: above 0.9 · ↓ shut: below 0.1)", DIM)))
        out.append(Text(""))
        scale = scale_of([v for _, v in g.through if np.abs(v).max() > 1])
        for name, v in g.through:
            out += vector_lines(name, v, width, scale if np.abs(v).max() > 1 else 1.0, label_width=34)
        out.append(Text.assemble(legend(scale), ("   rows within ±1 on ±1", DIM)))
        return out


STEPS: tuple[type[Step], ...] = (
    TokensStep,
    EmbeddingStep,
    MemoryStep,
    OutputStep,
    FeedBackStep,
    LearningStep,
    FadingStep,
    GatesStep,
)


# -- the token bar -----------------------------------------------------------------------------------------


class TokenBar(Widget):
    """The text's tokens on one line around the current step, which is lit; clicking a token picks it."""

    class Picked(Message):
        def __init__(self, t: int) -> None:
            super().__init__()
            self.t = t

    def __init__(self, state: TourState, **kwargs) -> None:
        super().__init__(**kwargs)
        self.state = state
        self.cells: list[tuple[int, int, int]] = []  # (x0, x1, token index) of the last drawing

    def render(self) -> Text:
        s = self.state
        width = self.content_size.width
        head = f"t = {s.t} (token {s.t + 1} of {s.n_tokens}) "
        labels = [tok(s.vocab, i) for i in s.tokens.ids]
        gap = 0 if s.tokens.level == "char" else 1
        # the window of tokens that fits, the current one in the middle
        lo = hi = s.t
        used = len(labels[s.t])
        while True:
            grew = False
            if lo > 0 and used + len(labels[lo - 1]) + gap <= width - len(head) - 2:
                lo -= 1
                used += len(labels[lo]) + gap
                grew = True
            if hi < s.n_tokens - 1 and used + len(labels[hi + 1]) + gap <= width - len(head) - 2:
                hi += 1
                used += len(labels[hi]) + gap
                grew = True
            if not grew:
                break
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(head, DIM)
        out.append("…" if lo > 0 else " ", DIM)
        self.cells = []
        for i in range(lo, hi + 1):
            if i > lo and gap:
                out.append(" ")
            x0 = out.cell_len
            out.append(labels[i], PICK if i == s.t else BOLD)
            self.cells.append((x0, out.cell_len, i))
        if hi < s.n_tokens - 1:
            out.append("…", DIM)
        return out

    def on_click(self, event: Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        for x0, x1, i in self.cells:
            if x0 <= offset.x < x1:
                self.post_message(self.Picked(i))
                return
