"""The gates made visible: gate saturation (Karpathy et al. 2015) against a per-token count from the
model's own steps, the playground's gate trace, and ``rnntui inspect gates`` / ``health`` on gated
checkpoints."""

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import inspect as ins
from rnntui.cli import main
from rnntui.corpus import build_vocab
from rnntui.generate import Trace
from rnntui.model import RNN, ModelConfig


def gated_model(cell, layers=2, H=6, V=9, seed=0, scale=1.5):
    rng = np.random.default_rng(seed)
    model = RNN.initialised(ModelConfig(vocab_size=V, embed=4, hidden=H, layers=layers, cell=cell), rng,
                            dtype=np.float64)  # fmt: skip
    model.flat += rng.standard_normal(model.flat.size) * scale  # big weights: gates reach 0.1 and 0.9
    return model


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gate_saturation_counts_each_token(cell):
    model = gated_model(cell)
    ids = np.random.default_rng(1).integers(0, 9, 200)
    sat = ins.gate_saturation(model.params, ids)
    L, G, H = 2, len(model.cell.GATES), 6
    assert sat.names == model.cell.GATES and sat.left.shape == (L, G, H)
    h = model.zero_state()
    gates = np.empty((L, model.gate_width))
    seen = []
    for i in ids:
        model.step(int(i), h, gates=gates)
        seen.append(model.cell.gate_values(gates))  # (L, G, H)
    seen = np.array(seen)
    np.testing.assert_array_equal(sat.left, (seen < 0.1).mean(0))
    np.testing.assert_array_equal(sat.right, (seen > 0.9).mean(0))
    np.testing.assert_allclose(sat.mean, seen.mean(0), atol=1e-12)
    assert 0 < sat.left.mean() < 1 and 0 < sat.right.mean() < 1  # the test sees both kinds
    assert (sat.left + sat.right <= 1 + 1e-12).all()


def test_gate_saturation_refuses_a_vanilla_model():
    model = RNN.initialised(ModelConfig(vocab_size=5, embed=3, hidden=4), np.random.default_rng(0))
    with pytest.raises(ValueError, match="no gates"):
        ins.gate_saturation(model.params, np.arange(5))


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_trace_keeps_each_tokens_gates_and_cell_state(cell):
    """The playground's trace: one gate reading per token, equal to the NumPy twin's, and undone
    with the text; the LSTM's c alongside h."""
    vocab = build_vocab("abc def\n", "char")
    model = gated_model(cell, layers=1, V=len(vocab))
    trace = Trace(model, vocab)
    trace.set_text("abc de")
    G = len(model.cell.GATES)
    got = trace.gate_activations(0)
    assert got.shape == (len(trace), G, 6)
    ids = [vocab.id_of("\n"), *trace.ids]  # the trace starts from a newline
    twin = ins.state_trace_from_inputs(model.params, model.params["embed"][ids])
    if G:
        np.testing.assert_allclose(got, twin.gates[1:, 0], atol=1e-12)
    np.testing.assert_allclose(trace.activations(0), twin.hs[1:, 0], atol=1e-12)
    if cell == "lstm":
        np.testing.assert_allclose(trace.activations(0, cell_state=True), twin.cs[1:, 0], atol=1e-12)
    trace.set_text("abc")
    assert trace.gate_activations(0).shape == (3, G, 6)


@pytest.fixture(scope="module")
def gated_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    text = out / "tiny.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    runner = CliRunner()
    paths = {}
    for cell in ("rnn", "gru", "lstm"):
        args = ["train", str(text), "--no-tui", "--steps", "3", "--out", str(out), "--name", cell,
                "--cell", cell, "--hidden", "8", "--embed", "4", "--seq", "8", "--batch", "2",
                "--eval-every", "2"]  # fmt: skip
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        paths[cell] = out / cell / "latest.npz"
    return paths, text


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_inspect_gates_prints_each_gate(gated_runs, cell):
    paths, text = gated_runs
    result = CliRunner().invoke(main, ["inspect", "gates", str(paths[cell]), str(text)])
    assert result.exit_code == 0, result.output
    from rnntui import cells

    for name in cells.get(cell).GATES:
        assert f"{name}: mean" in result.output
    assert "left 1" in result.output and "right 1" in result.output
    health = CliRunner().invoke(main, ["inspect", "health", str(paths[cell]), "--text", str(text)])
    assert health.exit_code == 0 and "mostly open" in health.output
    assert cells.get(cell).RECURRENT in health.output


def test_inspect_gates_on_a_vanilla_model_is_one_clear_line(gated_runs):
    paths, text = gated_runs
    result = CliRunner().invoke(main, ["inspect", "gates", str(paths["rnn"]), str(text)])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "vanilla RNN has no gates" in result.output


def test_cell_of_reads_the_cell_off_the_shapes_and_refuses_strangers():
    for cell in ("rnn", "gru", "lstm"):
        assert ins.cell_of(gated_model(cell).params).NAME == cell
    params = dict(gated_model("lstm").params)
    params["extra0"] = np.zeros(3)
    with pytest.raises(ValueError, match="no known cell"):
        ins.cell_of(params)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_what_ranks_a_gated_units_contexts(cell):
    """The LSTM's contexts are ranked by c, the GRU's by h; a trace already computed gives the same."""
    model = gated_model(cell)
    ids = np.random.default_rng(4).integers(0, 9, 30)
    trace = ins.state_trace_from_inputs(model.params, model.params["embed"][ids])
    drive = ins.preactivations(model.params, ids, trace.hs)
    np.testing.assert_array_equal(drive, trace.cs if cell == "lstm" else trace.hs)
    np.testing.assert_array_equal(ins.preactivations(model.params, ids, trace.hs, trace=trace), drive)
