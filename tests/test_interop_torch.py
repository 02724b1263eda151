"""rnntui <-> PyTorch in PyTorch itself: an exported file loads into nn.Embedding -> nn.RNN/GRU/LSTM ->
nn.Linear (``examples/pytorch_bridge.py``) and gives rnntui's logits; a model made in PyTorch, both
of its bias vectors random, imports to an rnntui model with torch's loss; what rnntui cannot represent
is refused by name. Needs the bench extra (``pip install -e '.[bench]'``)."""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch", reason="PyTorch is in the bench extra: pip install -e '.[bench]'")

from rnntui import checkpoint, interop  # noqa: E402
from rnntui.checkpoint import Checkpoint  # noqa: E402
from rnntui.cli import main  # noqa: E402
from rnntui.corpus import Vocab  # noqa: E402
from rnntui.model import RNN, ModelConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "pytorch_bridge.py"
spec = importlib.util.spec_from_file_location("pytorch_bridge", EXAMPLE)
bridge = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bridge)

TEXT = "the cat sat on the mat. the dog sat on the log.\n"
VOCAB = Vocab("char", tuple(sorted(set(TEXT))))


def rnntui_logits(model: RNN, ids: np.ndarray) -> np.ndarray:
    """(T, V) logits after each of ``ids``, one token at a time from a zero memory (generation's path)."""
    h = model.zero_state()
    return np.stack([model.step(int(i), h).copy() for i in ids])


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_an_exported_model_gives_rnntui_logits_in_pytorch(tmp_path, cell, layers):
    m = RNN(ModelConfig(len(VOCAB), 6, 12, layers, cell))
    m.flat[:] = np.random.default_rng(1).standard_normal(m.flat.size) * 0.5  # every bias non-zero
    path = interop.export(Checkpoint(m, VOCAB, {}), tmp_path / "m.safetensors")
    torch_model, meta = bridge.load(str(path))  # strict load_state_dict: every name and shape
    ids = VOCAB.encode(TEXT)
    with torch.no_grad():
        logits, _ = torch_model(torch.tensor(ids[None].astype(np.int64)))  # (1, T, V)
    want = rnntui_logits(m, ids)
    assert np.abs(logits[0].numpy() - want).max() < 2e-5 * max(1.0, np.abs(want).max())
    assert json.loads(meta["tokens"]) == list(VOCAB.tokens)


@pytest.mark.parametrize("bias", [True, False], ids=["biases", "bias=False"])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_a_pytorch_model_imports_with_pytorch_loss(tmp_path, cell, bias):
    torch.manual_seed(0)
    model = bridge.LanguageModel(cell, len(VOCAB), 5, 7, 2)  # PyTorch's init: both biases random
    if bias:
        assert all(getattr(model.rnn, f"bias_hh_l{k}").abs().min() > 0 for k in range(2))
    else:  # no bias tensors at all: rnntui's are zeros
        model.rnn = bridge.RNNS[cell](5, 7, num_layers=2, bias=False, batch_first=True)
        model.decoder = torch.nn.Linear(7, len(VOCAB), bias=False)
    path = tmp_path / "torch.safetensors"
    bridge.save(model, str(path), list(VOCAB.tokens))
    out = tmp_path / "imported.npz"
    assert CliRunner().invoke(main, ["import", str(path), str(out)]).exit_code == 0
    ckpt = checkpoint.load(out)
    ids = np.random.default_rng(0).integers(0, len(VOCAB), (9, 3))  # (T + 1, B)
    m64 = RNN(ckpt.model.cfg, dtype=np.float64)
    m64.flat[:] = ckpt.model.flat
    loss, _ = m64.loss_and_grads(ids, m64.zero_state(3))
    model = model.double()
    with torch.no_grad():
        logits, _ = model(torch.tensor(ids.T[:, :-1]))  # batch first: (B, T, V)
        want = torch.nn.functional.cross_entropy(
            logits.reshape(-1, len(VOCAB)), torch.tensor(ids.T[:, 1:]).reshape(-1)
        )
    assert loss == pytest.approx(
        want.item(), rel=1e-8
    )  # measured 1e-10: b_ih + b_hh is rounded once to float32


@pytest.mark.parametrize(
    "rnn, words",
    [
        (
            lambda: torch.nn.RNN(5, 7, nonlinearity="relu", batch_first=True),
            "an nn.RNN with nonlinearity 'relu'",
        ),
        (lambda: torch.nn.LSTM(5, 7, bidirectional=True, batch_first=True), "holds a bidirectional RNN"),
        (lambda: torch.nn.LSTM(5, 7, proj_size=3, batch_first=True), "holds an LSTM with projections"),
    ],
    ids=["relu", "bidirectional", "projections"],
)
def test_what_rnntui_cannot_represent_is_refused_by_name(tmp_path, rnn, words):
    model = bridge.LanguageModel("rnn", len(VOCAB), 5, 7)
    model.rnn = rnn()
    path = tmp_path / "odd.safetensors"
    bridge.save(model, str(path), list(VOCAB.tokens))
    result = CliRunner().invoke(main, ["import", str(path), str(tmp_path / "out.npz")])
    assert result.exit_code == 1 and result.output.startswith("Error: ") and words in result.output
    assert result.output.count("\n") == 1 and not (tmp_path / "out.npz").exists()


def test_the_example_script_trains_and_scores_as_rnntui_eval_does(tmp_path, monkeypatch, capsys):
    text = tmp_path / "small.txt"
    text.write_text(TEXT * 8, encoding="utf-8")
    out = tmp_path / "p.safetensors"

    def script(*args: str) -> str:  # python examples/pytorch_bridge.py ARGS, in this process
        monkeypatch.setattr(sys, "argv", [str(EXAMPLE), *args])
        bridge.main()
        return capsys.readouterr().out

    trained = script(
        "train", str(text), str(out), "--cell", "gru", "--layers", "2", "--steps", "5", "--hidden", "16"
    )
    scored = CliRunner().invoke(main, ["eval", str(out), str(text)])
    assert scored.exit_code == 0, scored.output
    loss = scored.stdout.split("loss ")[1].split()[0]
    assert f"loss {loss} nats/char" in trained  # PyTorch's loss on the text, to 4 decimals
    assert f"loss {loss} nats/token" in script("score", str(out), str(text))


def test_the_readme_snippets_take_a_model_to_pytorch_and_back(tmp_path, monkeypatch):
    """The README's two PyTorch snippets, run as written: the shipped model, exported, loads into
    PyTorch and gives rnntui's logits; saved back from PyTorch, it imports to the same arrays."""
    readme = (EXAMPLE.parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## PyTorch\n")[1].split("\n## ")[0]
    to_torch, back = (block.split("\n```")[0] for block in section.split("```python\n")[1:3])
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["export", "republic", "republic.safetensors"]).exit_code == 0
    scope: dict = {}
    exec(to_torch, scope)
    shipped = checkpoint.load(ROOT / "rnntui" / "data" / "republic.npz")
    ids = shipped.vocab.encode("The soul of the just man")
    want = rnntui_logits(shipped.model, ids)
    assert np.abs(scope["logits"][0].detach().numpy() - want).max() < 2e-5 * np.abs(want).max()
    exec(back, scope)
    result = CliRunner().invoke(main, ["import", "from_torch.safetensors", "back.npz"])
    assert result.exit_code == 0, result.output
    again = checkpoint.load("back.npz")
    assert again.vocab == shipped.vocab and again.model.cfg == shipped.model.cfg
    np.testing.assert_array_equal(again.model.flat, shipped.model.flat)
