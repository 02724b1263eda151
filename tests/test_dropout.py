"""Dropout on the non-recurrent connections (rnntui.model): the gradient with a fixed mask against
central finite differences of an independent NumPy loss in float64, for every cell; the masks
themselves; that P = 0 is exactly the model without dropout (no copies, no draws from the
generator); and that --seed and --resume stay exact with dropout on."""

import numpy as np
import pytest
from numerics import central_differences
from test_train import stop_at

from rnntui import cells, checkpoint, reference
from rnntui.model import RNN, ModelConfig, param_shapes
from rnntui.train import TrainConfig, Trainer

CELLS = ["rnn", "gru", "lstm"]
SMALL = dict(hidden=12, embed=6, seq=8, batch=4, eval_every=1000, save_every=1000)


def masked_model_loss(params: dict, layers: int, tokens, h0, cell: str, masks: list) -> float:
    """Mean next-token loss by the definition: each layer's input and the top output multiplied by
    its mask, through each cell's NumPy twin."""
    twin = cells.get(cell)
    x = params["embed"][tokens[:-1]]
    for layer in range(layers):
        p = {k: params[f"{k}{layer}"] for k in twin.param_shapes(1, 1)}
        x = twin.reference_forward(x * masks[layer], p, h0[layer])[0]
    T, B, H = x.shape
    logits = (x * masks[layers]).reshape(T * B, H) @ params["Why"] + params["by"]
    return reference.softmax_xent(logits, tokens[1:].reshape(-1))[0]


def rel_error(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max() + np.abs(b).max(), 1e-8)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("case", [dict(V=6, E=4, H=5, L=2, T=4, B=3), dict(V=7, E=3, H=4, L=1, T=1, B=2)],
                         ids=lambda c: "L{L}-T{T}".format(**c))  # fmt: skip
def test_gradients_with_a_fixed_mask_match_finite_differences(case, cell):
    rng = np.random.default_rng(11)
    V, E, H, L, T, B = (case[k] for k in "VEHLTB")
    cfg = ModelConfig(vocab_size=V, embed=E, hidden=H, layers=L, cell=cell)
    model = RNN.initialised(cfg, rng, dtype=np.float64)
    model.parts = 2  # the masks are split between the shares with the streams
    model.flat += rng.standard_normal(model.flat.size) * 0.3
    tokens = rng.integers(0, V, (T + 1, B))
    h0 = rng.standard_normal((L, B, cfg.state_size)) * 0.5
    masks = model.dropout_masks(rng, 0.4, T, B)
    assert all(m.dtype == np.float64 for m in masks) and any((m == 0).any() for m in masks)

    loss, _ = model.loss_and_grads(tokens, h0, masks)

    def f():
        return masked_model_loss(model.params, L, tokens, h0, cell, masks)

    assert loss == pytest.approx(f(), rel=1e-12)
    assert loss != pytest.approx(reference.model_loss(model.params, L, tokens, h0, cell)[0], rel=1e-6)
    eps = 1e-5
    numeric = central_differences(f, model.flat, eps)
    offset = 0
    for name, shape in param_shapes(cfg).items():
        size = int(np.prod(shape))
        want = numeric[offset : offset + size].reshape(shape)
        offset += size
        assert rel_error(model.grads[name], want) < 1e-6, name


def test_masks_are_zero_or_the_inverted_scale_in_the_right_shapes():
    model = RNN.initialised(ModelConfig(vocab_size=5, embed=6, hidden=8, layers=2), np.random.default_rng(0))
    masks = model.dropout_masks(np.random.default_rng(1), 0.25, 50, 40)
    assert [m.shape for m in masks] == [(50, 40, 6), (50, 40, 8), (50, 40, 8)]
    for m in masks:
        assert m.dtype == np.float32
        assert set(np.unique(m)) == {np.float32(0), np.float32(1 / 0.75)}
        assert (m == 0).mean() == pytest.approx(0.25, abs=0.02)
        assert m.mean(dtype=np.float64) == pytest.approx(1.0, abs=0.03)  # inverted: the expectation is kept


@pytest.mark.parametrize("cell", CELLS)
def test_masks_of_ones_are_bit_for_bit_the_model_without_dropout(cell):
    """x * 1 is exact, so the masked path with nothing dropped gives the same bits as the path
    without masks: the two differ only in what they multiply."""
    rng = np.random.default_rng(2)
    cfg = ModelConfig(vocab_size=9, embed=5, hidden=7, layers=2, cell=cell)
    model = RNN.initialised(cfg, rng)
    tokens = rng.integers(0, 9, (7, 4)).astype(np.int32)
    h0 = model.zero_state(4)
    loss, final = model.loss_and_grads(tokens, h0)
    grad = model.grad.copy()
    ones = model.dropout_masks(rng, 0.0, 6, 4)
    assert all((m == 1).all() for m in ones)
    loss1, final1 = model.loss_and_grads(tokens, h0, ones)
    assert loss1 == loss and np.array_equal(final1, final) and np.array_equal(model.grad, grad)


def test_p_zero_draws_nothing_and_copies_nothing(tiny_text, tmp_path):
    """Without dropout the trainer's generator is drawn from exactly as before (only for each
    epoch's offset) and no masked copies are made."""
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, steps=3), tmp_path / "r")
    state = trainer.rng.bit_generator.state
    for _ in range(3):
        trainer.train_step()
    assert trainer.epoch == 0 and trainer.rng.bit_generator.state == state
    assert all(all(d is None for d in ws.dropped) for wss in trainer.model._buffers.values() for ws in wss)


@pytest.mark.parametrize("cell", CELLS)
def test_dropout_is_seeded_and_a_resumed_run_is_exact(tiny_text, tmp_path, cell):
    """Same seed: the same bits; another seed: other masks; 4 steps then a resume to 8 gives the
    weights, optimiser state and losses of 8 steps straight (interrupted at 4: Ctrl-C)."""
    cfg = TrainConfig(**SMALL, cell=cell, layers=2, dropout=0.3, steps=8)
    straight = Trainer.start(tiny_text, cfg, tmp_path / "a")
    straight.run()
    again = Trainer.start(tiny_text, cfg, tmp_path / "b")
    again.run()
    assert np.array_equal(straight.model.flat, again.model.flat)
    plain = Trainer.start(tiny_text, TrainConfig(**SMALL, cell=cell, layers=2, steps=8), tmp_path / "p")
    plain.run()
    assert not np.array_equal(straight.model.flat, plain.model.flat)  # the masks did something
    other = Trainer.start(tiny_text, TrainConfig(**SMALL, cell=cell, layers=2, dropout=0.3, steps=8, seed=1),
                          tmp_path / "c")  # fmt: skip
    other.run()
    assert not np.array_equal(straight.train_history, other.train_history)

    stop_at(Trainer.start(tiny_text, cfg, tmp_path / "d"), 4)
    resumed = Trainer.resume(tmp_path / "d" / "latest.npz")
    resumed.run()
    assert np.array_equal(resumed.model.flat, straight.model.flat)
    assert np.array_equal(resumed.opt_state["m"], straight.opt_state["m"])
    assert resumed.train_history == straight.train_history


def test_evaluation_and_sampling_run_without_dropout(tiny_text, tmp_path):
    """With --dropout the validation loss is the model's own (no masks, no draws): the same twice
    and the same as a plain model's with these weights; a checkpoint's model evaluates alike."""
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, dropout=0.5, steps=4), tmp_path / "r")
    trainer.run()
    state = trainer.rng.bit_generator.state
    val = trainer.evaluate()
    assert trainer.evaluate() == val and trainer.rng.bit_generator.state == state
    ckpt = checkpoint.load(tmp_path / "r" / "latest.npz")
    plain = Trainer.start(tiny_text, TrainConfig(**SMALL, steps=4), tmp_path / "p")
    plain.model.flat[:] = ckpt.model.flat
    assert plain.evaluate() == val
    assert ckpt.meta["train"]["dropout"] == 0.5
