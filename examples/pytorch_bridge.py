"""rnntui <-> PyTorch, from the PyTorch side: plain torch + safetensors, no rnntui needed.

    LanguageModel     nn.Embedding -> nn.RNN/GRU/LSTM -> nn.Linear, named as `rnntui export` writes
    load(path)        an `rnntui export` file as a LanguageModel (and its metadata)
    save(model, ...)  a LanguageModel as a file `rnntui import` (and play, eval, ...) reads

Run it:
    python examples/pytorch_bridge.py score model.safetensors text.txt    # loss on a text, like rnntui eval
        (one sequence, batch 1: a chapter takes seconds, a book minutes)
    python examples/pytorch_bridge.py train text.txt out.safetensors --cell lstm --steps 300
then `rnntui eval out.safetensors text.txt`, `rnntui play out.safetensors` or
`rnntui import out.safetensors out.npz`. Needs torch (pip install -e '.[bench]') and safetensors.
"""

from __future__ import annotations

import argparse
import json

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

RNNS = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


class LanguageModel(torch.nn.Module):
    """embedding (V, E) -> rnn (E -> H, L layers) -> decoder (H -> V); batch_first (weights are the same
    either way)."""

    def __init__(self, cell: str, V: int, E: int, H: int, L: int = 1) -> None:
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.rnn = RNNS[cell](E, H, num_layers=L, batch_first=True)  # nn.RNN: tanh, rnntui's cell
        self.decoder = torch.nn.Linear(H, V)

    def forward(self, ids: torch.Tensor, state=None):
        """ids (B, T) -> logits (B, T, V), and the final state (h, or the LSTM's (h, c))."""
        out, state = self.rnn(self.embedding(ids), state)  # out (B, T, H)
        return self.decoder(out), state


def load(path: str) -> tuple[LanguageModel, dict[str, str]]:
    """The model in an `rnntui export` file, and the file's metadata (cell, sizes, vocabulary)."""
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    V, E, H, L = len(json.loads(meta["tokens"])), int(meta["embed"]), int(meta["hidden"]), int(meta["layers"])
    model = LanguageModel(meta["cell"], V, E, H, L)
    model.load_state_dict(load_file(path))  # strict: every name and shape must match
    return model, meta


def save(model: LanguageModel, path: str, tokens: list[str], level: str = "char", lowercase: bool = False):
    """Write ``model`` for `rnntui import`: its state_dict in float32, and the metadata rnntui needs."""
    rnn = model.rnn
    cell = next(name for name, kind in RNNS.items() if type(rnn) is kind)
    meta = {"rnntui": "1", "format": "pt", "cell": cell, "layers": str(rnn.num_layers),
            "embed": str(rnn.input_size), "hidden": str(rnn.hidden_size), "level": level,
            "lowercase": str(lowercase).lower(), "tokens": json.dumps(tokens)}  # fmt: skip
    if cell == "rnn":
        meta["nonlinearity"] = rnn.nonlinearity  # rnntui refuses "relu"
    save_file(
        {k: v.detach().float().contiguous() for k, v in model.state_dict().items()}, path, metadata=meta
    )


def encode(text: str, meta: dict[str, str]) -> torch.Tensor:
    """Token ids (N,) of ``text`` in the file's vocabulary (char level; word level needs rnntui's
    tokeniser, rnntui.corpus.split_words)."""
    index = {t: i for i, t in enumerate(json.loads(meta["tokens"]))}
    if meta["level"] == "char":
        return torch.tensor([index[c] for c in text])
    from rnntui.corpus import UNK, split_words

    return torch.tensor(
        [index.get(w, index.get(UNK)) for w in split_words(text, meta["lowercase"] == "true")]
    )


def score(model: LanguageModel, ids: torch.Tensor) -> float:
    """Mean loss (nats/token) of predicting ids[1:] from ids[:-1], one sequence from a zero state."""
    with torch.no_grad():
        logits, _ = model(ids[None, :-1])
        return torch.nn.functional.cross_entropy(logits[0], ids[1:]).item()


def train(
    text: str, cell: str, steps: int, hidden: int, layers: int, seed: int
) -> tuple[LanguageModel, list]:
    """A small char-level model trained on ``text`` with Adam (random chunks of 64)."""
    torch.manual_seed(seed)
    tokens = sorted(set(text))
    ids = encode(text, {"tokens": json.dumps(tokens), "level": "char"})
    model = LanguageModel(cell, len(tokens), 32, hidden, layers)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    T = min(64, len(ids) - 1)
    for _ in range(steps):
        starts = torch.randint(0, len(ids) - T, (16,))
        chunk = torch.stack([ids[s : s + T + 1] for s in starts])  # (16, T + 1)
        logits, _ = model(chunk[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, len(tokens)), chunk[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    return model, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("score", help="loss of an `rnntui export` file on a text")
    s.add_argument("model")
    s.add_argument("text")
    t = sub.add_parser("train", help="train a small char-level model in PyTorch and save it for rnntui")
    t.add_argument("text")
    t.add_argument("out")
    t.add_argument("--cell", choices=list(RNNS), default="lstm")
    t.add_argument("--steps", type=int, default=300)
    t.add_argument("--hidden", type=int, default=128)
    t.add_argument("--layers", type=int, default=1)
    t.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with open(args.text, encoding="utf-8") as f:
        text = f.read()
    if args.command == "score":
        model, meta = load(args.model)
        print(f"{args.text}: loss {score(model, encode(text, meta)):.4f} nats/token (PyTorch)")
    else:
        model, tokens = train(text, args.cell, args.steps, args.hidden, args.layers, args.seed)
        save(model, args.out, tokens)
        loss = score(model, encode(text, {"tokens": json.dumps(tokens), "level": "char"}))
        print(f"wrote {args.out}: {args.cell}, loss {loss:.4f} nats/char on {args.text} (PyTorch)")


if __name__ == "__main__":
    main()
