"""The guided tour's numbers (rnntui.tour), each against an independent computation: plain NumPy from
the checkpoint's arrays written out here, the model's own float32 kernels, the trainer's gradient and
a float64 finite difference."""

import numpy as np
import pytest
from numerics import assert_close

from rnntui import inspect, tour
from rnntui.corpus import build_vocab
from rnntui.model import RNN, ModelConfig

TEXT = "The just man is happy, said Socrates; and the unjust man is miserable.\nWhat is justice?\n"


def tiny(cell: str = "rnn", level: str = "char", layers: int = 1, dtype=np.float32, seed: int = 3):
    vocab = build_vocab(TEXT * 3, level)
    cfg = ModelConfig(vocab_size=len(vocab), embed=6, hidden=10, layers=layers, cell=cell)
    model = RNN.initialised(cfg, np.random.default_rng(seed), dtype)
    model.params["Why"][...] *= 20  # sharper predictions than a fresh init
    model.params["by"][...] = np.random.default_rng(seed + 1).standard_normal(len(vocab)) * 0.1
    for name, p in model.params.items():  # biases off zero, so a wrong bias term shows
        if name.startswith("bh"):
            p[...] = np.random.default_rng(seed + 2).standard_normal(p.shape) * 0.2
    return model, vocab


def p64(model) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, np.float64) for k, v in model.params.items()}


def vanilla_trace(p, ids):
    """h_t = tanh(x_t Wxh + h_(t-1) Whh + b) from h = 0, one layer, by hand: (x (T, E), hs (T+1, H))."""
    x = p["embed"][ids]
    hs = [np.zeros(p["Whh0"].shape[0])]
    for x_t in x:
        hs.append(np.tanh(x_t @ p["Wxh0"] + hs[-1] @ p["Whh0"] + p["bh0"]))
    return x, np.array(hs)


def kernel_states(model, ids):
    """The model's own float32 step, token by token from a zero state: the state after each token."""
    h = model.zero_state()
    out = []
    for tid in ids:
        model.step(int(tid), h)
        out.append(h.copy())
    return np.array(out)  # (T, L, S*H)


# -- 1) tokens -----------------------------------------------------------------------------------------


def test_tokens_char_level_skips_what_the_vocabulary_lacks_and_falls_back_to_the_default():
    _, vocab = tiny()
    got = tour.tokens(vocab, "just€ man")
    assert got.pieces == tuple("just man") and got.skipped == ("€",) and not got.default
    assert list(got.ids) == [vocab.id_of(c) for c in "just man"]
    empty = tour.tokens(vocab, "")
    assert empty.default and empty.text == tour.DEFAULT_TEXT
    assert list(empty.ids) == [vocab.id_of(c) for c in tour.DEFAULT_TEXT]
    assert tour.tokens(vocab, "j").default  # one token predicts nothing


def test_tokens_word_level_reads_unknown_words_as_unk():
    _, vocab = tiny(level="word")
    got = tour.tokens(vocab, "The just zebra is happy")
    assert got.unknown == 1 and got.pieces[2] == "<unk>"
    assert list(got.ids) == [vocab.id_of(w) if vocab.id_of(w) is not None else vocab.unk_id
                             for w in ["The", "just", "zebra", "is", "happy"]]  # fmt: skip


# -- 2) embedding, 3) memory update --------------------------------------------------------------------


def test_embedding_is_the_row_the_one_hot_picks_and_its_nearest_neighbour():
    model, vocab = tiny()
    p = p64(model)
    ids = tour.tokens(vocab, "the man").ids
    e = tour.embedding(p, tour.read(p, ids), 4)
    assert e.token == ids[4] and e.one_hot.sum() == 1 and e.one_hot[e.token] == 1
    np.testing.assert_array_equal(e.x, p["embed"][e.token])
    E = p["embed"]
    cos = E @ E[e.token] / (np.linalg.norm(E, axis=1) * np.linalg.norm(E[e.token]))
    cos[e.token] = -np.inf
    assert e.neighbour == int(np.argmax(cos)) and e.cosine == pytest.approx(cos.max())
    np.testing.assert_array_equal(e.neighbour_x, E[e.neighbour])


def test_vanilla_memory_update_against_numpy_by_hand():
    model, vocab = tiny()
    p = p64(model)
    ids = tour.tokens(vocab, "the just man").ids
    reading = tour.read(p, ids)
    x, hs = vanilla_trace(p, ids)
    for t in (0, 5, len(ids) - 1):
        m = tour.memory_update(p, reading, t)
        rows = dict(m.rows)
        xw, hw = x[t] @ p["Wxh0"], hs[t] @ p["Whh0"]
        np.testing.assert_allclose(rows["x_t·Wxh"], xw, atol=1e-12)
        np.testing.assert_allclose(rows["h_{t−1}·Whh"], hw, atol=1e-12)
        np.testing.assert_allclose(rows["b"], p["bh0"])
        np.testing.assert_allclose(rows["sum"], xw + hw + p["bh0"], atol=1e-12)
        np.testing.assert_allclose(m.h, hs[t + 1], atol=1e-12)
        np.testing.assert_allclose(m.h_prev, hs[t], atol=1e-12)
        share = np.abs(xw) / (np.abs(xw) + np.abs(hw))
        np.testing.assert_allclose(m.input_share, share, atol=1e-12)
        assert m.overall_share == pytest.approx(np.abs(xw).sum() / (np.abs(xw).sum() + np.abs(hw).sum()))
    # at t = 0 the memory is empty: everything comes from the input
    first = tour.memory_update(p, reading, 0)
    assert np.all(dict(first.rows)["h_{t−1}·Whh"] == 0) and first.overall_share == 1.0
    # and the float32 kernel agrees about every h
    assert_close(reading.hs[:, 0], kernel_states(model, ids)[:, 0], 1e-5, "h vs the kernel")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gated_memory_update_and_gates_against_the_cell_equations(cell):
    model, vocab = tiny(cell=cell, layers=2)
    p = p64(model)
    ids = tour.tokens(vocab, "the just man").ids
    reading = tour.read(p, ids)
    H = model.cfg.hidden
    states = kernel_states(model, ids)  # the float32 kernels, token by token
    assert_close(reading.states[1:], states, 1e-5, "states vs the kernel")

    def sig(a):
        return 1 / (1 + np.exp(-a))

    for t in (0, len(ids) - 1):
        for layer in (0, 1):
            m = tour.memory_update(p, reading, t, layer)
            g = tour.gates(p, reading, t, layer)
            x = p["embed"][ids[t]] if layer == 0 else reading.hs[t, 0]
            h_prev = reading.states[t, layer, :H]
            a_x, a_h = x @ p[f"Wxh{layer}"], h_prev @ p[f"Whh{layer}"]
            b = p[f"bh{layer}"]
            rows = dict(m.rows)
            if cell == "gru":
                r = sig(a_x[:H] + a_h[:H] + b[:H])
                z = sig(a_x[H : 2 * H] + a_h[H : 2 * H] + b[H : 2 * H])
                n = np.tanh(a_x[2 * H :] + b[2 * H :] + r * (a_h[2 * H :] + p[f"bhn{layer}"]))
                h = (1 - z) * n + z * h_prev
                np.testing.assert_allclose(rows["n = tanh(sum)"], n, atol=1e-12)
                np.testing.assert_allclose(m.from_input, (1 - z) * n, atol=1e-12)
                np.testing.assert_allclose(m.from_memory, z * h_prev, atol=1e-12)
                names = ["update z", "reset r"]
                want = [z, r]
            else:
                c_prev = reading.states[t, layer, H:]
                a = a_x + a_h + b
                i, f, gg, o = sig(a[:H]), sig(a[H : 2 * H]), np.tanh(a[2 * H : 3 * H]), sig(a[3 * H :])
                c = f * c_prev + i * gg
                h = o * np.tanh(c)
                np.testing.assert_allclose(rows["c_t = sum of both"], c, atol=1e-12)
                np.testing.assert_allclose(m.from_input + m.from_memory, c, atol=1e-12)
                names = ["input i", "forget f", "output o"]
                want = [i, f, o]
            np.testing.assert_allclose(m.h, h, atol=1e-12)
            assert [name for name, _ in g.gates] == names == [n.lower() for n in model.cell.GATES]
            for (_, got), w, mean, wide, shut in zip(g.gates, want, g.means, g.open, g.shut, strict=True):
                np.testing.assert_allclose(got, w, atol=1e-12)
                assert mean == pytest.approx(w.mean())
                assert wide == (w > 0.9).mean() and shut == (w < 0.1).mean()
    with pytest.raises(ValueError, match="no gates"):
        vanilla = p64(tiny()[0])
        tour.gates(vanilla, tour.read(vanilla, ids), 0)


# -- 4) output, 5) feeding back -------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [0.0, 0.7, 2.0])
def test_output_scores_probabilities_and_dice_against_numpy(temperature):
    model, vocab = tiny()
    p = p64(model)
    ids = tour.tokens(vocab, "the just man").ids
    reading = tour.read(p, ids)
    _, hs = vanilla_trace(p, ids)
    t = len(ids) - 1
    o = tour.output(p, reading, t, temperature, roll=2)
    logits = hs[t + 1] @ p["Why"] + p["by"]
    order = np.argsort(-logits)[: tour.TOP]
    np.testing.assert_array_equal(o.ids, order)
    np.testing.assert_allclose(o.dots, hs[t + 1] @ p["Why"][:, order], atol=1e-12)
    np.testing.assert_allclose(o.logits, logits[order], atol=1e-12)
    if temperature == 0:
        assert o.probs[0] == 1 and o.sample == o.argmax == order[0]
    else:
        z = np.exp((logits - logits.max()) / temperature)
        probs = z / z.sum()
        np.testing.assert_allclose(o.probs, probs[order], atol=1e-12)
        assert o.sample_prob == pytest.approx(probs[o.sample])
    # the terms shown are the largest products h_j w_j of each dot product
    for k, tid in enumerate(order):
        terms = hs[t + 1] * p["Why"][:, tid]
        top = np.argsort(-np.abs(terms))[: tour.TERMS]
        np.testing.assert_array_equal(o.term_units[k], top)
        np.testing.assert_allclose(o.terms[k], terms[top], atol=1e-12)
    # the same throw gives the same token; throws differ
    assert tour.output(p, reading, t, temperature, roll=2).sample == o.sample
    if temperature >= 0.7:
        samples = {tour.output(p, reading, t, temperature, roll=r).sample for r in range(40)}
        assert len(samples) > 1


def test_feed_back_reads_each_chosen_token_as_the_model_would():
    model, vocab = tiny()
    p = p64(model)
    ids = tour.tokens(vocab, "the just").ids
    reading = tour.read(p, ids)
    t = len(ids) - 1
    o = tour.output(p, reading, t, 1.0, roll=5)
    f = tour.feed_back(p, reading, t, 1.0, roll=5, n=4)
    assert f.first == o.sample and f.steps[0].input == o.sample
    fed = list(ids)
    for k, st in enumerate(f.steps):
        if k:
            assert st.input == f.steps[k - 1].chosen
        fed.append(st.input)
        _, hs = vanilla_trace(p, np.array(fed))
        np.testing.assert_allclose(st.h, hs[-1], atol=1e-12)
        logits = hs[-1] @ p["Why"] + p["by"]
        probs = np.exp(logits - logits.max())
        probs /= probs.sum()
        np.testing.assert_array_equal(st.top_ids, np.argsort(-probs)[:3])
        assert st.chosen_prob == pytest.approx(probs[st.chosen])


# -- 6) learning -----------------------------------------------------------------------------------------


def mean_loss(p, ids) -> float:
    """The mean next-token loss of a one-layer vanilla model over ids, by hand."""
    _, hs = vanilla_trace(p, ids[:-1])
    logits = hs[1:] @ p["Why"] + p["by"]
    m = logits.max(axis=1, keepdims=True)
    logz = (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))[:, 0]
    return float((logz - logits[np.arange(len(ids) - 1), ids[1:]]).mean())


def test_learning_step_against_the_trainers_gradient_and_a_finite_difference():
    model, vocab = tiny(dtype=np.float64)
    before = model.flat.copy()
    ids = tour.tokens(vocab, "the just man is").ids
    g = tour.learning(model, ids, learning_rate=0.5, clip=1e9)
    np.testing.assert_array_equal(model.flat, before)  # the model itself is not touched
    p = p64(model)
    assert g.mean_before == pytest.approx(mean_loss(p, ids), abs=1e-12)
    # the trainer's gradient: the model's own backward on the same chunk
    twin = RNN(model.cfg, np.float64)
    twin.flat[...] = model.flat
    twin.loss_and_grads(ids.reshape(-1, 1), twin.zero_state(1))
    eps = 1e-6
    for name, grad, value in zip(g.weights, g.grads, g.before, strict=True):
        base, idx = name.split("[")
        idx = tuple(int(i) for i in idx.rstrip("]").split(", "))
        assert grad == pytest.approx(float(twin.grads[base][idx]), abs=1e-12)
        assert value == p[base][idx]
        assert np.abs(twin.grads[base]).max() == pytest.approx(abs(grad))  # the largest of its matrix
        plus, minus = {k: v.copy() for k, v in p.items()}, {k: v.copy() for k, v in p.items()}
        plus[base][idx] += eps
        minus[base][idx] -= eps
        fd = (mean_loss(plus, ids) - mean_loss(minus, ids)) / (2 * eps)
        assert grad == pytest.approx(fd, rel=1e-5, abs=1e-9), name
    # the update and the loss after it
    np.testing.assert_allclose(g.after, g.before - 0.5 * g.grads, atol=1e-12)
    stepped = {k: v - 0.5 * twin.grads[k] for k, v in p.items()}
    assert g.mean_after == pytest.approx(mean_loss(stepped, ids), abs=1e-10)
    assert g.mean_after < g.mean_before and g.scale == 1.0


def test_learning_clips_as_the_trainer_does_and_keeps_a_float32_model_unchanged():
    model, vocab = tiny()
    before = model.flat.copy()
    ids = tour.tokens(vocab, "the just man is happy").ids
    g = tour.learning(model, ids, clip=1e-3)
    np.testing.assert_array_equal(model.flat, before)
    assert g.scale == pytest.approx(1e-3 / g.grad_norm) and g.grad_norm > 1e-3
    np.testing.assert_allclose(
        g.after, g.before - tour.LEARNING_RATE * g.scale * g.grads, rtol=1e-5, atol=1e-7
    )
    assert len(g.loss_before) == len(g.loss_after) == len(ids) - 1
    with pytest.raises(ValueError, match="two tokens"):
        tour.learning(model, ids[:1])


# -- 7) fading memory ---------------------------------------------------------------------------------------


def test_fading_memory_against_the_jacobian_chain_by_hand():
    model, vocab = tiny()
    p = p64(model)
    ids = tour.tokens(vocab, "the just man is happy").ids
    reading = tour.read(p, ids)
    t = 12
    f = tour.fading(p, reading, t, K=8)
    _, hs = vanilla_trace(p, ids)  # hs[s + 1] = h_s
    G = np.eye(p["Whh0"].shape[0])  # d h_t / d h_s, column convention
    for k in range(9):
        s = t - k
        D = np.diag(1 - hs[s + 1] ** 2)
        J = G @ D @ p["Wxh0"].T  # d h_t / d x_s
        assert f.norms[k] == pytest.approx(np.linalg.norm(J), rel=1e-9)
        assert f.factor[k] == pytest.approx((1 - hs[s + 1] ** 2).mean())
        assert f.saturated[k] == pytest.approx((np.abs(hs[s + 1]) > inspect.SATURATED).mean())
        G = G @ D @ p["Whh0"].T
    assert f.factor_name == "tanh′" and f.matrix_norm == pytest.approx(np.linalg.norm(p["Whh0"], 2))
    np.testing.assert_allclose(f.norms, inspect.fading_memory(p, ids[: t + 1], 8).norms)


def test_fading_memory_of_a_gated_cell_shows_its_keeping_gate():
    model, vocab = tiny(cell="gru")
    p = p64(model)
    ids = tour.tokens(vocab, "the just man").ids
    reading = tour.read(p, ids)
    f = tour.fading(p, reading, len(ids) - 1, K=4)
    assert f.factor_name == "z"
    for k in range(5):
        z = dict(tour.gates(p, reading, len(ids) - 1 - k).gates)["update z"]
        assert f.factor[k] == pytest.approx(z.mean())
        assert f.saturated[k] == pytest.approx((z > 0.9).mean())  # the share of z open
