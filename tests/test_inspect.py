"""rnntui.inspect against slow NumPy references, the model's own step and finite differences (float64),
on random small models at char-like and word-like shapes with 1 and 2 layers; and the
``rnntui inspect`` commands through click's CliRunner on small saved checkpoints."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import cells, corpus, memory
from rnntui import inspect as ins
from rnntui.checkpoint import Checkpoint, load, save
from rnntui.cli import main
from rnntui.cli_inspect import _fail, _saturation_map, _snippet, text_bar
from rnntui.corpus import build_vocab, read_text, sha256_text
from rnntui.generate import probabilities
from rnntui.model import RNN, ModelConfig

# char-like (small V) and word-like (larger V, E != H) shapes, 1 and 2 layers
SHAPES = [
    dict(V=7, E=4, H=6, L=1),
    dict(V=7, E=4, H=6, L=2),
    dict(V=40, E=5, H=4, L=1),
    dict(V=40, E=5, H=4, L=2),
]
IDS = lambda s: "V{V}-E{E}-H{H}-L{L}".format(**s)  # noqa: E731


CELLS = ["rnn", "gru", "lstm"]


def make_model(shape, seed=0, scale=0.5, cell="rnn"):
    rng = np.random.default_rng(seed)
    cfg = ModelConfig(
        vocab_size=shape["V"], embed=shape["E"], hidden=shape["H"], layers=shape["L"], cell=cell
    )
    model = RNN.initialised(cfg, rng, dtype=np.float64)
    model.flat += rng.standard_normal(model.flat.size) * scale  # away from the init's special structure
    return model


def rel_error(a, b):
    return np.abs(a - b).max() / max(np.abs(a).max() + np.abs(b).max(), 1e-8)


def step_states(model, ids):
    """The memory h (L, H) after each token, by the model's own step: -> (T, L, H)."""
    h = model.zero_state()
    out = []
    for i in ids:
        model.step(int(i), h)
        out.append(model.memory(h).copy())
    return np.stack(out)


def reference_top_state(params, L, x, h0=None, cell="rnn"):
    """Last top-layer memory from embedded inputs x (T, E), by the cell's NumPy twin (for the vanilla
    cell ``reference.rnn_forward``)."""
    twin = cells.get(cell)
    H = params["Whh0"].shape[0]
    xs = x[:, None, :]  # (T, 1, E)
    for layer in range(L):
        start = np.zeros((1, twin.STATE_SLOTS * H)) if h0 is None else h0[layer][None]
        lp = {k: params[f"{k}{layer}"] for k in twin.param_shapes(1, 1)}
        xs = twin.reference_forward(xs, lp, start)[0]
    return xs[-1, 0]


# -- running the model ------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_gated_state_trace_matches_model_step(cell):
    """The state trace (h, c, gates) of a gated cell against the model's own steps."""
    shape = SHAPES[1]
    model = make_model(shape, cell=cell)
    ids = np.random.default_rng(1).integers(0, shape["V"], 9)
    tr = ins.state_trace_from_inputs(model.params, model.params["embed"][ids])
    h = model.zero_state()
    G = len(model.cell.GATES)
    gates = np.empty((shape["L"], 1, model.params["bh0"].size))
    for t, i in enumerate(ids):
        model.step_batch(np.array([i]), h[:, None, :], gates=gates)
        np.testing.assert_allclose(tr.hs[t], model.memory(h), atol=1e-12)
        if cell == "lstm":
            np.testing.assert_allclose(tr.cs[t], model.cell_state(h), atol=1e-12)
        assert tr.gates.shape[2] == G
        if G:
            np.testing.assert_allclose(tr.gates[t], model.cell.gate_values(gates[:, 0]), atol=1e-12)
    np.testing.assert_allclose(tr.final, h, atol=1e-12)
    assert (tr.cs is None) == (cell != "lstm")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_hidden_trace_matches_model_step(shape, cell):
    model = make_model(shape, cell=cell)
    ids = np.random.default_rng(1).integers(0, shape["V"], 13)
    hs = ins.hidden_trace(model.params, ids)
    assert hs.shape == (13, shape["L"], shape["H"])
    np.testing.assert_allclose(hs, step_states(model, ids), rtol=1e-12, atol=1e-12)
    if cell != "rnn":
        return  # the rest is the vanilla cell's pre-activation, which gated cells do not have
    # from a given h0: continuing equals reading the whole text
    np.testing.assert_allclose(ins.hidden_trace(model.params, ids[5:], h0=hs[4]), hs[5:], atol=1e-12)
    pre = ins.preactivations(model.params, ids, hs)
    np.testing.assert_allclose(np.tanh(pre), hs, atol=1e-12)
    np.testing.assert_allclose(
        np.tanh(ins.preactivations(model.params, ids[5:], hs[5:], h0=hs[4])), hs[5:], atol=1e-12
    )
    logits = model.step(int(ids[0]), hs[-1].copy())
    np.testing.assert_allclose(
        ins.logits_of(model.params, ins.hidden_trace(model.params, [*ids, ids[0]])[-1, -1]),
        logits,
        atol=1e-12,
    )


# -- 1) embeddings -------------------------------------------------------------------------------------


def test_pca_matches_covariance_eigendecomposition():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 6)) @ rng.standard_normal((6, 6)) + 3.0
    coords, axes, explained = ins.pca(X, 2)
    C = np.cov(X, rowvar=False)
    evals, evecs = np.linalg.eigh(C)
    evals, evecs = evals[::-1], evecs[:, ::-1]
    np.testing.assert_allclose(explained, evals[:2] / evals.sum(), rtol=1e-10)
    for i in range(2):
        v = evecs[:, i] * np.sign(evecs[:, i] @ axes[i])  # eigenvectors have no fixed sign
        np.testing.assert_allclose(axes[i], v, atol=1e-10)
        np.testing.assert_allclose(coords[:, i], (X - X.mean(0)) @ v, atol=1e-10)
    assert coords[:, 0].var() >= coords[:, 1].var()


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("which", ["input", "projected", "output"])
def test_neighbours_match_slow_loop(shape, which):
    model = make_model(shape)
    vectors = ins.token_vectors(model.params, which)
    assert vectors.shape == (shape["V"], shape["E"] if which == "input" else shape["H"])
    if which == "projected":  # row v is what token v adds to the first layer's pre-activation
        np.testing.assert_allclose(vectors[2], model.params["embed"][2] @ model.params["Wxh0"])
    token = 3
    ids, cos = ins.neighbours(vectors, token, n=4)
    slow = []
    for j in range(len(vectors)):
        if j != token:
            a, b = vectors[token], vectors[j]
            slow.append((float(a @ b / np.sqrt(a @ a) / np.sqrt(b @ b)), j))
    slow.sort(key=lambda s: -s[0])
    assert ids.tolist() == [j for _, j in slow[:4]]
    np.testing.assert_allclose(cos, [c for c, _ in slow[:4]], rtol=1e-12)


def test_analogy_matches_slow_reference_and_excludes_inputs():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((40, 5))
    a, b, c = 4, 9, 17
    result = ins.analogy(vectors, a, b, c, n=3, trials=50, rng=rng)
    U = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    target = U[a] - U[b] + U[c]
    slow = sorted(
        ((float(target @ U[j] / np.linalg.norm(target)), j) for j in range(40) if j not in (a, b, c)),
        key=lambda s: -s[0],
    )
    assert result.ids.tolist() == [j for _, j in slow[:3]]
    np.testing.assert_allclose(result.cosines, [s for s, _ in slow[:3]], rtol=1e-12)
    assert len(result.random_best) == 50 and 0 <= result.percentile <= 100
    assert result.percentile == pytest.approx(100 * np.mean(result.random_best < result.cosines[0]))


def test_analogy_chance_matches_a_slow_reference_of_random_triples():
    """The chance baseline: for each trial, three distinct random tokens (never a skipped one, drawn
    with the default seed 0), the best cosine of x - y + z with any other token; 300 trials."""
    vectors = np.random.default_rng(5).standard_normal((12, 4))
    skip = [0, 7]
    result = ins.analogy(vectors, 1, 2, 3, skip=skip)
    rng = np.random.default_rng(0)
    U = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    pool = [j for j in range(12) if j not in skip]
    slow = []
    for _ in range(300):
        x, y, z = rng.choice(pool, 3, replace=False)
        assert len({x, y, z}) == 3
        target = (U[x] - U[y] + U[z]) / np.linalg.norm(U[x] - U[y] + U[z])
        slow.append(max(float(target @ U[j]) for j in range(12) if j not in (x, y, z)))
    np.testing.assert_allclose(result.random_best, slow, rtol=1e-12)
    assert len(result.ids) == 5  # n's default
    assert result.percentile == 100 * np.mean(np.array(slow) < result.cosines[0])


def test_analogy_with_too_few_tokens_says_so():
    # orthogonal tokens: every best cosine is exactly 0, ours too; a tie is not "below ours"
    exactly_four = ins.analogy(np.eye(5), 0, 1, 2, skip=[4], trials=40)  # 4 tokens to draw from
    assert len(exactly_four.random_best) == 40 and (exactly_four.random_best == 0).all()
    assert exactly_four.cosines[0] == 0 and exactly_four.percentile == 0
    three = ins.analogy(np.eye(3) + 0.1, 0, 1, 2)  # no answer left, nothing to draw
    assert len(three.ids) == 0 and np.isnan(three.percentile) and len(three.random_best) == 0
    assert three.verdict == "too few tokens to compare with chance" and three.echo is None


def test_analogy_echo_of_a_is_named_for_a():
    rng = np.random.default_rng(6)
    vectors = rng.standard_normal((60, 40))
    vectors[20] = vectors[10] + 0.1 * rng.standard_normal(40)  # the "answer": a's nearest neighbour
    echo = ins.analogy(vectors, 10, 11, 12, rng=rng, names=("x", "y", "z"))
    assert echo.ids[0] == 20 and echo.echo == "x" and "'x'" in echo.verdict


def test_analogy_verdict_tells_a_planted_analogy_from_noise():
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((60, 40))  # random tokens: nearly orthogonal in 40 dimensions
    king, man, woman, queen = 0, 1, 2, 3
    vectors[queen] = vectors[king] - vectors[man] + vectors[woman]  # a planted analogy
    vectors[[king, man, woman]] /= np.linalg.norm(vectors[[king, man, woman]], axis=1, keepdims=True)
    vectors[queen] = vectors[king] - vectors[man] + vectors[woman]
    good = ins.analogy(vectors, king, man, woman, rng=rng)
    assert good.ids[0] == queen and good.cosines[0] == pytest.approx(1.0)
    assert good.percentile == 100.0 and good.verdict.startswith("meaningful")
    assert good.echo is None
    # an "answer" that is just c's nearest neighbour, no closer to the sum than to c itself
    vectors[20] = vectors[12] + 0.1 * rng.standard_normal(40)
    echo = ins.analogy(vectors, 10, 11, 12, rng=rng, names=("x", "y", "z"))
    assert echo.ids[0] == 20 and echo.echo == "z"
    assert echo.verdict.startswith("weak") and "'z'" in echo.verdict
    noise = ins.analogy(vectors, 30, 31, 32, rng=rng)  # three unrelated random tokens
    assert noise.cosines[0] < 0.7
    # random triples are where the baseline comes from; the verdict follows the percentile
    assert noise.verdict.startswith("noise") == (noise.percentile < 90)


# -- 2) the softmax's geometry -------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_softmax_geometry_matches_slow_dot_products(shape, temperature):
    model = make_model(shape)
    p = model.params
    h = ins.hidden_trace(p, [1, 2, 3, 0])[-1, -1]
    g = ins.softmax_geometry(p, h, temperature, n=5)
    want_logits = np.array(
        [sum(h[i] * p["Why"][i, v] for i in range(len(h))) + p["by"][v] for v in range(len(p["by"]))]
    )
    top = sorted(range(len(want_logits)), key=lambda v: -want_logits[v])[:5]
    assert g.ids.tolist() == top
    np.testing.assert_allclose(g.logits, want_logits[top], rtol=1e-12)
    np.testing.assert_allclose(g.dots + g.biases, g.logits, rtol=1e-12)
    w = p["Why"][:, top]
    np.testing.assert_allclose(g.dots, g.w_norms * np.linalg.norm(h) * g.cosines, rtol=1e-10)
    np.testing.assert_allclose(g.w_norms, np.sqrt((w**2).sum(0)), rtol=1e-12)
    p_t, p_1 = probabilities(want_logits, temperature), probabilities(want_logits, 1.0)
    np.testing.assert_allclose(g.probs, p_t[top], rtol=1e-10)
    np.testing.assert_allclose(g.probs_at_1, p_1[top], rtol=1e-10)
    assert g.entropy == pytest.approx(-sum(q * np.log2(q) for q in p_t if q > 0), rel=1e-10)
    assert g.entropy_at_1 == pytest.approx(-sum(q * np.log2(q) for q in p_1 if q > 0), rel=1e-10)
    # cooling sharpens, heating flattens
    assert (g.entropy < g.entropy_at_1) == (temperature < 1) or temperature == 1.0
    with pytest.raises(ValueError):
        ins.softmax_geometry(p, h, 0.0)


# -- 3) fading memory -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_input_jacobians_match_finite_differences(shape, cell):
    model = make_model(shape, seed=5, cell=cell)
    p, L = model.params, shape["L"]
    rng = np.random.default_rng(6)
    T = 6
    x = p["embed"][rng.integers(0, shape["V"], T)].copy()  # (T, E)
    h0 = rng.standard_normal((L, model.cfg.state_size)) * 0.5
    Js = list(ins.input_jacobians(p, x, K=T + 3, h0=h0))
    assert len(Js) == T  # K is capped at T - 1
    np.testing.assert_allclose(
        ins.hidden_trace_from_inputs(p, x, h0)[-1, -1], reference_top_state(p, L, x, h0, cell), atol=1e-12
    )
    # a window shorter than the text: the same J_k, run back from the state the text reached
    np.testing.assert_allclose(list(ins.input_jacobians(p, x, K=2, h0=h0)), Js[:3], rtol=1e-10, atol=1e-12)
    eps = 1e-6
    for k, J in enumerate(Js):
        s = T - 1 - k
        numeric = np.empty_like(J)  # (H, E)
        for i in range(shape["E"]):
            up, down = x.copy(), x.copy()
            up[s, i] += eps
            down[s, i] -= eps
            numeric[:, i] = (
                reference_top_state(p, L, up, h0, cell) - reference_top_state(p, L, down, h0, cell)
            ) / (2 * eps)
        assert rel_error(J, numeric) < 1e-7, k
        # and the norms the fading-memory curve reports
        assert ins.matrix_norm(J, "fro") == pytest.approx(np.linalg.norm(numeric, "fro"), rel=1e-6)
        assert ins.matrix_norm(J, "spectral") == pytest.approx(
            np.linalg.svd(numeric, compute_uv=False)[0], rel=1e-6
        )


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("shape", SHAPES[:2], ids=IDS)
@pytest.mark.parametrize("norm", ["fro", "spectral"])
def test_fading_memory_curve(shape, norm, cell):
    model = make_model(shape, seed=7, cell=cell)
    ids = np.random.default_rng(8).integers(0, shape["V"], 20)
    fm = ins.fading_memory(model.params, ids, K=8, norm=norm)
    x = model.params["embed"][ids]
    want = [ins.matrix_norm(J, norm) for J in ins.input_jacobians(model.params, x, 8)]
    np.testing.assert_allclose(fm.norms, want, rtol=1e-12)
    assert fm.norms.shape == (9,) and fm.norm == norm
    hs = step_states(model, ids)
    np.testing.assert_allclose(fm.hs, hs, atol=1e-12)
    np.testing.assert_allclose(fm.saturated, (np.abs(hs[-1]) > ins.SATURATED).mean(-1))
    np.testing.assert_allclose(fm.saturated_text, (np.abs(hs) > ins.SATURATED).mean(axis=(0, 2)))
    assert len(ins.fading_memory(model.params, ids[:1], K=8).norms) == 1  # T = 1: only k = 0
    # from a given state: the curve is the Jacobians' from that state, and differs from zero's
    h0 = np.random.default_rng(9).standard_normal((shape["L"], model.cfg.state_size))
    from_h0 = ins.fading_memory(model.params, ids[:6], K=4, norm=norm, h0=h0).norms
    want = [ins.matrix_norm(J, norm) for J in ins.input_jacobians(model.params, x[:6], 4, h0=h0)]
    np.testing.assert_allclose(from_h0, want, rtol=1e-12)
    assert not np.allclose(from_h0, ins.fading_memory(model.params, ids[:6], K=4, norm=norm).norms)
    with pytest.raises(ValueError):
        ins.fading_memory(model.params, ids[:0])


def test_a_saturated_memory_forgets_fast_and_a_linear_one_keeps_its_gain():
    """Physics checks: with tiny weights tanh is nearly linear (gain ~ ||Whh||^k); with huge input
    weights every unit sits near ±1, tanh' ~ 0, and the past is invisible."""
    shape = dict(V=5, E=3, H=4, L=1)
    model = make_model(shape, scale=0.0)
    p = model.params
    Q = np.linalg.qr(np.random.default_rng(9).standard_normal((4, 4)))[0]
    p["Whh0"][...] = 0.9 * Q  # every singular value 0.9
    p["Wxh0"][...] *= 1e-4
    p["bh0"][...] = 0.0
    curve = ins.fading_memory(p, [0, 1, 2, 3, 4, 0, 1, 2], K=7).norms
    np.testing.assert_allclose(curve[1:] / curve[:-1], 0.9, rtol=1e-3)  # ||D Whh^T||: ~0.9 per step
    assert ins.half_life(curve) == pytest.approx(np.log(2) / -np.log(0.9), rel=1e-2)
    p["Wxh0"][...] *= 1e6  # inputs of size ~100: saturated
    fm = ins.fading_memory(p, [0, 1, 2, 3, 4, 0, 1, 2], K=7)
    assert fm.saturated[0] == 1.0
    assert fm.norms[1:].max() < 1e-6 * curve[1:].min()  # though the input weights are 1e6 times larger


def test_half_life():
    k = np.arange(20)
    assert ins.half_life(0.5 ** (k / 3.0)) == pytest.approx(3.0)
    assert ins.fitted_half_life(0.5 ** (k / 3.0)) == pytest.approx(3.0)
    bumped = np.concatenate([[1.0], 4.0 * 0.5 ** (k / 2.0)])  # peak at k = 1, then half-life 2
    assert ins.half_life(bumped) == pytest.approx(3.0)  # k at which it is half the peak
    assert ins.half_life(np.ones(5)) is None and ins.fitted_half_life(np.ones(5)) is None
    assert ins.half_life(np.array([1.0, 0.0])) == 1.0


# -- 4) sentence vectors -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_sentence_vectors_and_map(shape):
    model = make_model(shape)
    rng = np.random.default_rng(10)
    sentences = [rng.integers(0, shape["V"], n) for n in (5, 1, 8, 5)]
    sentences[3] = sentences[0].copy()  # an identical sentence
    vecs = ins.sentence_vectors(model.params, sentences)
    assert vecs.shape == (4, shape["L"], shape["H"])
    for s, ids in enumerate(sentences):
        np.testing.assert_allclose(vecs[s], step_states(model, ids)[-1], atol=1e-12)
    flat = vecs.reshape(4, -1)
    cos, coords, explained = ins.sentence_map(flat)
    for i in range(4):
        for j in range(4):
            want = flat[i] @ flat[j] / np.linalg.norm(flat[i]) / np.linalg.norm(flat[j])
            assert cos[i, j] == pytest.approx(want, abs=1e-12)
    assert cos[0, 3] == pytest.approx(1.0)
    np.testing.assert_allclose(coords[0], coords[3], atol=1e-12)  # the same sentence lands on one spot
    assert coords.shape == (4, 2) and explained.sum() <= 1 + 1e-12
    assert ins.sentence_map(flat[:1])[1].shape == (1, 2)


# -- 5) what a unit does -------------------------------------------------------------------------------


def test_char_features_by_hand():
    text = "a \"b\" (c)\n'd' don't"
    names, f = ins.features(list(text), "char")
    col = {n: f[:, i] for i, n in enumerate(names)}
    #         a   _  "  b  "  _  (  c  )  ⏎  '  d  '  _  d  o  n  '  t
    dq = [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    sq = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    par = [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    line = [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    word = [1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3, 0, 1]
    space = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    for name, want in [
        ("in double quotes", dq),
        ("in single quotes", sq),
        ("in parentheses", par),
        ("position in line", line),
        ("position in word", word),
        ("after a space", space),
    ]:
        assert col[name].tolist() == want, name


def test_word_features_by_hand():
    tokens = ["he", "said", '"', "yes", '"', "(", "no", ")", ",", "\n", "'", "so", "'"]
    names, f = ins.features(tokens, "word")
    col = {n: f[:, i] for i, n in enumerate(names)}
    assert col["in double quotes"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    assert col["in single quotes"].tolist() == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0]
    assert col["in parentheses"].tolist() == [0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert col["position in line"].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3]
    assert col["after punctuation"].tolist() == [0, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 1]
    with pytest.raises(ValueError):
        ins.features(tokens, "byte")


def test_correlations_match_corrcoef_and_rank_units():
    rng = np.random.default_rng(11)
    acts = rng.standard_normal((50, 7))
    feats = np.stack([rng.standard_normal(50), rng.integers(0, 2, 50), np.ones(50)], axis=1)
    acts[:, 5] = 2 * feats[:, 1] + 0.01 * rng.standard_normal(50)  # unit 5 tracks feature 1
    acts[:, 6] = 0.3  # a dead unit
    r = ins.correlations(acts, feats)
    assert r.shape == (3, 7)
    np.testing.assert_allclose(ins.correlations(acts, feats, chunk=7), r, atol=1e-12)  # chunking is exact
    for f in range(2):
        for u in range(6):
            assert r[f, u] == pytest.approx(np.corrcoef(feats[:, f], acts[:, u])[0, 1], abs=1e-12)
    assert (r[2] == 0).all() and (r[:, 6] == 0).all()  # constant columns have no correlation
    ranked = ins.rank_units(r, 3)
    assert ranked.shape == (3, 3) and ranked[1, 0] == 5
    for f in range(3):
        assert np.all(np.diff(np.abs(r[f, ranked[f]])) <= 0)


def test_correlations_of_a_small_float32_signal_and_of_no_text():
    """Units whose spread is far below 1, stored as float32 (as the trace is): still exact Pearson
    correlations, accumulated in float64; an empty text correlates nothing."""
    rng = np.random.default_rng(21)
    acts = (1e-3 * rng.standard_normal((50, 4))).astype(np.float32)
    feats = rng.standard_normal((50, 2))
    r = ins.correlations(acts, feats)
    for f in range(2):
        for u in range(4):
            want = np.corrcoef(feats[:, f], acts[:, u].astype(np.float64))[0, 1]
            assert r[f, u] == pytest.approx(want, abs=1e-12)
    empty = ins.correlations(np.zeros((0, 4), np.float32), np.zeros((0, 2)))
    assert empty.shape == (2, 4) and (empty == 0).all()


def test_snippet_parts_take_40_and_10_characters_or_10_and_3_words():
    text = "".join(chr(ord("a") + i % 26) for i in range(100))
    tokens = list(text[:60] + "\n\t" + text[62:])
    before, token, after = ins.snippet_parts(tokens, 50, "char")
    assert (before, token, after) == (text[10:50], text[50], text[51:60] + "⏎")
    assert ins.snippet_parts(tokens, 61, "char") == (text[21:60] + "⏎", "⇥", text[62:72])
    assert ins.snippet_parts(tokens, 3, "char") == (text[:3], text[3], text[4:14])  # at the start
    words = [f"w{i}" for i in range(30)]
    words[15], words[17] = ",", "\n"
    assert ins.snippet_parts(words, 16, "word") == ("w6 w7 w8 w9 w10 w11 w12 w13 w14, ", "w16", "⏎w18 w19")
    assert ins.snippet_parts(words, 29, "word") == ("w19 w20 w21 w22 w23 w24 w25 w26 w27 w28 ", "w29", "")
    assert ins.snippet_parts(words, 0, "word") == ("", "w0", " w1 w2 w3")  # the text's own spaces


def test_top_contexts():
    rng = np.random.default_rng(12)
    values = rng.standard_normal(200)
    top, bottom = ins.top_contexts(values, n=5, gap=10)
    assert top[0] == values.argmax() and bottom[0] == values.argmin()
    for picks, sign in ((top, 1), (bottom, -1)):
        assert len(picks) == 5
        assert np.all(np.diff(sign * values[picks]) <= 0)  # strongest first
        assert all(abs(int(a) - int(b)) >= 10 for i, a in enumerate(picks) for b in picks[:i])
        # slow reference: the best position that is at least `gap` from every earlier pick
        chosen = []
        for _ in range(5):
            ok = [t for t in range(200) if all(abs(t - c) >= 10 for c in chosen)]
            chosen.append(max(ok, key=lambda t: sign * values[t]))
        assert picks.tolist() == chosen


# -- 6) saturation and health ---------------------------------------------------------------------------


def test_activation_histogram_matches_numpy():
    rng = np.random.default_rng(13)
    hs = np.tanh(rng.standard_normal((100, 2, 8)) * 2)
    hs[0, 0, 0], hs[1, 1, 1] = 1.0, -1.0  # the edges land in the end bins
    counts, edges, sat = ins.activation_histogram(hs, bins=10)
    for layer in range(2):
        want, want_edges = np.histogram(hs[:, layer], bins=10, range=(-1, 1))
        np.testing.assert_array_equal(counts[layer], want)
        np.testing.assert_allclose(edges, want_edges)
        slow = sum(abs(v) > 0.95 for v in hs[:, layer].ravel()) / hs[:, layer].size
        assert sat[layer] == pytest.approx(slow)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_recurrent_spectra(shape):
    rng = np.random.default_rng(14)
    cfg = ModelConfig(vocab_size=shape["V"], embed=shape["E"], hidden=shape["H"], layers=shape["L"])
    fresh = RNN.initialised(cfg, rng, dtype=np.float64)
    np.testing.assert_allclose(ins.recurrent_spectra(fresh.params), 1.0, rtol=1e-10)  # orthogonal init
    model = make_model(shape)
    spectra = ins.recurrent_spectra(model.params)
    for layer in range(shape["L"]):
        W = model.params[f"Whh{layer}"]
        v = rng.standard_normal(shape["H"])
        for _ in range(2000):  # power iteration on W^T W: its top eigenvalue is sigma_max^2
            v = W.T @ (W @ v)
            v /= np.linalg.norm(v)
        assert spectra[layer, 1] == pytest.approx(np.linalg.norm(W @ v), rel=1e-6)
        radius = max(abs(np.roots(np.poly(W))))  # eigenvalues as roots of the characteristic polynomial
        assert spectra[layer, 0] == pytest.approx(radius, rel=1e-6)
        assert spectra[layer, 0] <= spectra[layer, 1] + 1e-12


# -- the scatter ---------------------------------------------------------------------------------------


def test_place_labels_never_collide():
    rng = np.random.default_rng(15)
    xy = rng.standard_normal((80, 2))
    labels = ["".join(rng.choice(list("abcdefgh"), rng.integers(1, 6))) for _ in range(80)]
    placed = ins.place_labels(xy, labels, 40, 12)
    grid = np.full((12, 40), -1)
    for r, c, i in placed:
        n = len(labels[i])
        assert 0 <= r < 12 and 0 <= c and c + n <= 40
        left, right = max(c - 1, 0), min(c + n + 1, 40)
        assert (grid[r, left:right] == -1).all()  # no overlap, and a blank cell either side
        grid[r, c : c + n] = i
    assert len({i for _, _, i in placed}) == len(placed)
    lo, hi = xy.min(0), xy.max(0)
    for r, c, i in placed:  # each label sits within max_shift (2 rows, 4 columns) of its point
        row = round((hi[1] - xy[i, 1]) / (hi[1] - lo[1]) * 11)
        col = min(
            max(round((xy[i, 0] - lo[0]) / (hi[0] - lo[0]) * 39) - len(labels[i]) // 2, 0),
            40 - len(labels[i]),
        )
        assert abs(r - row) <= 2 and abs(c - col) <= 4
    assert 10 < len(placed) < 80  # a crowded plot places many and leaves some out
    lines = ins.render_scatter(placed, labels, 40, 12)
    assert len(lines) == 12 and all(len(line) <= 40 for line in lines)
    sparse = ins.place_labels(np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.2]]), ["x", "yy", "zzz"], 40, 12)
    assert sorted(i for _, _, i in sparse) == [0, 1, 2]
    assert (11, 0, 0) in sparse and (0, 38, 1) in sparse  # corners map to corners (y up)


def test_display_token():
    assert [ins.display_token(t) for t in (" ", "\n", "\t", "a", "\x01")] == ["␣", "⏎", "⇥", "a", "\\x01"]


def test_core_and_cli_modules_import_neither_textual_nor_rich():
    code = (
        "import sys, rnntui.inspect, rnntui.cli_inspect, rnntui.tour; "
        "print(any(m.split('.')[0] in ('textual', 'rich') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    code = "import sys, rnntui.cli_inspect; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- the CLI --------------------------------------------------------------------------------------------


CHAR_TEXT = ('Socrates said: "the soul (and the body) is one."\n' * 30) + "the just man is happy. " * 20
WORD_TEXT = (
    "the king spoke to the man , and the queen spoke to the woman .\n" * 20
    + "( the city ) is just , said he .\n" * 10
)


def _save_ckpt(tmp_path, text, level, layers=1, name="m"):
    corpus_path = tmp_path / f"{name}.txt"
    corpus_path.write_text(text, encoding="utf-8")
    vocab = build_vocab(read_text(corpus_path), level, lowercase=level == "word")
    cfg = ModelConfig(vocab_size=len(vocab), embed=8, hidden=12, layers=layers)
    model = RNN.initialised(cfg, np.random.default_rng(0))
    meta = {
        "step": 7,
        "train": {"val_frac": 0.2},
        "corpus": {"path": str(corpus_path.resolve()), "sha256": sha256_text(read_text(corpus_path))},
    }
    return save(Checkpoint(model=model, vocab=vocab, meta=meta), tmp_path / f"{name}.npz")


@pytest.fixture
def char_ckpt(tmp_path):
    return _save_ckpt(tmp_path, CHAR_TEXT, "char", layers=2, name="char")


@pytest.fixture
def word_ckpt(tmp_path):
    return _save_ckpt(tmp_path, WORD_TEXT, "word", layers=1, name="word")


def run(*args):
    return CliRunner().invoke(main, ["inspect", *map(str, args)])


def test_cli_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for cmd in ("neighbours", "analogy", "unit", "memory", "pca", "health", "softmax", "sentences"):
        assert cmd in result.output
        assert run(cmd, "--help").exit_code == 0


def test_cli_neighbours(char_ckpt, word_ckpt):
    result = run("neighbours", char_ckpt, "e", "-n", "3")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines()[1:]]
    assert len(rows) == 3 and [r[0] for r in rows] == ["1", "2", "3"]
    sims = [float(r[-1]) for r in rows]
    assert sims == sorted(sims, reverse=True)
    assert run("neighbours", char_ckpt, "space").exit_code == 0
    assert run("neighbours", word_ckpt, "King", "--vectors", "output").exit_code == 0  # lowercased vocabulary
    bad = run("neighbours", word_ckpt, "zebra")
    assert bad.exit_code != 0 and "unknown token 'zebra'" in bad.output and len(bad.output.splitlines()) == 1


def test_cli_analogy(word_ckpt):
    result = run("analogy", word_ckpt, "king", "man", "woman", "-n", "3")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("king - man + woman")
    assert not any(line.split()[1] in ("king", "man", "woman") for line in lines[1:4])
    assert lines[-1].split(":")[0] in ("noise", "weak", "meaningful")
    assert run("analogy", word_ckpt, "king", "man", "zebra").exit_code != 0


def test_cli_unit(char_ckpt, word_ckpt, tmp_path):
    result = run("unit", char_ckpt, 3)
    assert result.exit_code == 0, result.output
    assert "unit 3 of layer 1" in result.output and "most negative" in result.output
    assert "in parentheses" in result.output and "«" in result.output
    assert run("unit", char_ckpt, 3, "--layer", 0).exit_code == 0
    assert run("unit", word_ckpt, 0).exit_code == 0
    for args in ((12,), ("--", -1), (0, "--layer", 2)):
        bad = run("unit", char_ckpt, *args)
        assert bad.exit_code != 0 and "out of range" in bad.output and len(bad.output.splitlines()) == 1
    # without the training corpus, --text is required
    (tmp_path / "char.txt").unlink()
    bad = run("unit", char_ckpt, 3)
    assert bad.exit_code != 0 and "--text" in bad.output
    text = tmp_path / "other.txt"
    text.write_text("the soul is one. (said he)\n" * 5, encoding="utf-8")
    assert run("unit", char_ckpt, 3, "--text", text).exit_code == 0


def test_cli_memory(char_ckpt, word_ckpt):
    result = run("memory", char_ckpt, "the soul is one", "-k", "10")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == 11  # k = 0..10
    assert "half-life" in result.output and "saturated" in result.output
    assert run("memory", char_ckpt, "the soul", "--spectral").exit_code == 0
    assert run("memory", word_ckpt, "the king spoke to the zebra").exit_code == 0  # unknown word: <unk>
    bad = run("memory", char_ckpt, "the soul ✓")
    assert bad.exit_code != 0 and "never saw" in bad.output


def test_cli_pca(char_ckpt, word_ckpt, tmp_path):
    result = run("pca", char_ckpt, "-n", "10", "--width", "40", "--height", "10")
    assert result.exit_code == 0, result.output
    assert "corpus frequency" in result.output and "␣" in result.output  # space is the most frequent
    assert run("pca", word_ckpt).exit_code == 0
    (tmp_path / "word.txt").unlink()
    result = run("pca", word_ckpt)
    assert result.exit_code == 0 and "vocabulary order" in result.output


def test_cli_finds_a_moved_corpus_in_the_projects_corpora_folder(tmp_path):
    """The shipped model records the path it was trained at; on another machine the text is found
    under the same name in corpora/, if its checksum matches."""
    republic = Path(__file__).resolve().parents[1] / "corpora" / "republic.txt"
    text = read_text(republic)
    vocab = build_vocab(text, "char")
    model = RNN.initialised(ModelConfig(vocab_size=len(vocab), embed=4, hidden=6), np.random.default_rng(0))
    meta = {"step": 1, "train": {"val_frac": 0.05},
            "corpus": {"path": "/elsewhere/republic.txt", "sha256": sha256_text(text)}}  # fmt: skip
    ckpt = save(Checkpoint(model=model, vocab=vocab, meta=meta), tmp_path / "moved.npz")
    result = run("unit", ckpt, 1, "--max-tokens", 300)
    assert result.exit_code == 0, result.output
    assert "validation split (300 tokens)" in result.output
    meta["corpus"]["sha256"] = "0" * 64  # a different text of the same name is not used
    save(Checkpoint(model=model, vocab=vocab, meta=meta), tmp_path / "moved.npz")
    result = run("unit", ckpt, 1)
    assert result.exit_code != 0 and "--text" in result.output


def test_cli_health(char_ckpt, tmp_path):
    result = run("health", char_ckpt, "--bins", "4")
    assert result.exit_code == 0, result.output
    assert "layer 1: spectral radius 1.000, largest singular value 1.000" in result.output  # orthogonal init
    assert result.output.count("%") >= 2 * 4
    (tmp_path / "char.txt").unlink()
    result = run("health", char_ckpt)
    assert result.exit_code == 0 and "no activation histogram" in result.output


def test_cli_softmax_and_sentences(char_ckpt, word_ckpt, tmp_path):
    result = run("softmax", char_ckpt, "the soul", "-t", "0.5", "-n", "4")
    assert result.exit_code == 0, result.output
    assert "entropy" in result.output and "p@0.5" in result.output
    assert run("softmax", char_ckpt, "x", "-t", "0").exit_code != 0
    lines = tmp_path / "s.txt"
    lines.write_text("the king spoke\nthe queen spoke\nthe city is just\n", encoding="utf-8")
    result = run("sentences", word_ckpt, lines)
    assert result.exit_code == 0, result.output
    assert "1.00" in result.output
    assert run("sentences", word_ckpt, lines, "--layer", 3).exit_code != 0


@pytest.mark.parametrize("content", [b"not a zip", b""])
def test_cli_bad_checkpoint_is_one_line(tmp_path, content):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    for args in (("neighbours", bad, "e"), ("health", bad), ("pca", bad), ("memory", bad, "x")):
        result = run(*args)
        assert result.exit_code != 0
        assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error:")
    result = run("health", tmp_path / "missing.npz")
    assert result.exit_code != 0 and "no such checkpoint" in result.output


def test_the_saturation_map_places_shades_and_labels_each_unit():
    # units: always right-saturated; always left (twice, once out of range); half left and a
    # quarter right (twice)
    lines = _saturation_map([0, 1, 0.5, 0.5, 1.3], [1, 0, 0.25, 0.25, -0.2])
    empty = "        │" + " " * 41
    assert lines == [
        "right 1 │▒" + " " * 40,
        *[empty] * 7,
        "        │" + " " * 20 + "█" + " " * 20,  # row round(0.75 * 10) = 8, column 20
        empty,
        "      0 │" + " " * 40 + "█",
        "        └" + "─" * 41,
        "         0" + " " * 34 + "left 1   (densest cell: 2 units)",
    ]
    assert lines[-1].index("left 1") + 5 == lines[-2].index("─") + 40  # the 1 under the last column
    small = _saturation_map([0.0], [0.0], width=9, height=3)
    assert small == ["right 1 │         ", "        │         ", "      0 │█        ", "        └─────────",
                     "         0  left 1   (densest cell: 1 units)"]  # fmt: skip


def test_text_bar_is_eighth_blocks_padded_to_its_width():
    assert text_bar(0.0, 4) == "    " and text_bar(-1.0, 4) == "    "
    assert text_bar(1.0, 4) == "████" and text_bar(2.0, 4) == "████"
    assert text_bar(0.5, 4) == "██  " and text_bar(1 / 32, 4) == "▏   " and text_bar(0.3, 4) == "█▎  "
    assert text_bar(7 / 64, 8) == "▉       "
    assert [text_bar(k / 8, 1) for k in range(9)] == [" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"]


def test_the_cli_says_what_is_wrong_in_whole_words(char_ckpt, word_ckpt):
    assert _fail("  first line\nsecond\n").message == "first line" and _fail(" \n").message == "failed"
    char = len(load(char_ckpt).vocab)
    bad = run("neighbours", char_ckpt, "zz")
    assert bad.exit_code == 1 and bad.output == (
        f"Error: unknown token 'zz': not in the model's {char:,}-token char vocabulary"
        " (char level: give one character, or space/newline)\n"
    )
    bad = run("analogy", word_ckpt, "king", "zebra", "man")
    assert bad.output == (
        f"Error: unknown token 'zebra': not in the model's {len(load(word_ckpt).vocab):,}-token word"
        " vocabulary\n"
    )
    assert run("memory", char_ckpt, "").output == "Error: the text has no tokens\n"
    bad = run("memory", char_ckpt, "the soul ✓")
    assert bad.output == "Error: the text has 1 character(s) the model never saw: ✓\n"


def test_a_units_top_contexts_mark_the_token_with_the_texts_spacing(word_ckpt, char_ckpt):
    words = load(word_ckpt).vocab
    tokens = ["the", "king", ",", "and", "(", "the", "city", ")", "is", "just"]
    assert _snippet(words, tokens, 1) == "the «king», and ("
    assert _snippet(words, tokens, 0) == "«the» king, and"
    assert _snippet(words, tokens, 6) == "the king, and (the «city») is just"
    chars = load(char_ckpt).vocab
    assert _snippet(chars, list("the soul\nis"), 4) == "the «s»oul⏎is"


def test_text_is_read_block_by_block_up_to_max_tokens_and_its_faults_named(char_ckpt, tmp_path, monkeypatch):
    read, iter_text = [], corpus.iter_text

    def seven_bytes_at_a_time(path):  # many blocks, each one counted as it is read
        for block in iter_text(path, block_bytes=7):
            read.append(len(block))
            yield block

    monkeypatch.setattr(corpus, "iter_text", seven_bytes_at_a_time)
    text = tmp_path / "t.txt"
    text.write_text("the soul is one. " * 4, encoding="utf-8")  # 68 characters
    for max_tokens, want in ((20, 20), (21, 21), (14, 14), (68, 68), (500, 68)):
        result = run("health", char_ckpt, "--text", text, "--max-tokens", max_tokens)
        assert result.exit_code == 0, result.output
        assert f"activations on {text} ({want:,} tokens)" in result.output
        assert sum(read) == min(-(-max_tokens // 7) * 7, 68)  # read no further than needed
        read.clear()
    text.write_text("to", encoding="utf-8")
    assert "(2 tokens)" in run("health", char_ckpt, "--text", text).output  # two are enough
    text.write_text("", encoding="utf-8")
    assert (
        last_line(run("health", char_ckpt, "--text", text))
        == f"Error: {text}: is empty (no text to learn from)"
    )
    assert (
        last_line(run("health", char_ckpt, "--text", tmp_path / "gone.txt"))
        == f"Error: {tmp_path / 'gone.txt'}: no such file"
    )
    text.write_text("t", encoding="utf-8")
    assert last_line(run("health", char_ckpt, "--text", text)) == f"Error: {text}: needs at least two tokens"
    text.write_text("the ✓ soul", encoding="utf-8")
    bad = run("health", char_ckpt, "--text", text)
    assert bad.exit_code == 1 and last_line(bad) == f"Error: {text} has 1 character(s) the model never saw: ✓"
    (tmp_path / "char.txt").unlink()
    bad = run("unit", char_ckpt, 3)
    gone = tmp_path / "char.txt"
    assert bad.exit_code == 1 and bad.output.startswith(
        f"Error: the training corpus ({gone}) is not available; pass --text FILE to run `unit` on"
    )


def last_line(result):
    return result.output.splitlines()[-1]


# -- the small numeric helpers, at their edges ----------------------------------------------------------


def test_softmax_rows_defaults_and_huge_logits():
    rng = np.random.default_rng(30)
    logits = rng.standard_normal((3, 5)).astype(np.float32) * 3
    p = ins.softmax(logits)
    for row, want in zip(p, logits.astype(np.float64), strict=True):  # each row on its own, in float64
        e = np.exp(want - want.max())
        np.testing.assert_allclose(row, e / e.sum(), rtol=1e-12)
    assert p.dtype == np.float64
    np.testing.assert_allclose(ins.softmax(logits[0], 0.5), ins.softmax(2 * logits[0]), rtol=1e-12)
    np.testing.assert_allclose(ins.softmax(np.array([1000.0, 1000.0, -1000.0])), [0.5, 0.5, 0.0])
    far_apart = ins.softmax(np.array([[0.0, np.log(3)], [2000.0, 2000 + np.log(3)]]))  # each row its own max
    np.testing.assert_allclose(far_apart, [[0.25, 0.75], [0.25, 0.75]], rtol=1e-12)


def test_softmax_geometry_defaults_ties_and_a_bad_temperature():
    V, H = 14, 3
    rng = np.random.default_rng(31)
    params = {"Why": rng.standard_normal((H, V)), "by": np.zeros(V)}
    params["Why"][:, 9] = params["Why"][:, 2]  # two tokens with one output vector: a tie, kept in id order
    h = rng.standard_normal(H)
    g = ins.softmax_geometry(params, h)
    assert len(g.ids) == 10 and g.temperature == 1.0 and g.h is h
    ties = ins.softmax_geometry({"Why": np.zeros((H, 1000)), "by": np.repeat([0.0, 1.0, 2.0], 334)[:1000]}, h)
    assert ties.ids.tolist() == list(range(668, 678))  # equal logits: the lowest ids first
    logits = h @ params["Why"]
    assert g.ids.tolist() == sorted(range(V), key=lambda j: (-logits[j], j))[:10]
    np.testing.assert_allclose(g.probs, g.probs_at_1, rtol=1e-12)
    hot = ins.softmax_geometry(params, h, temperature=2.0)
    np.testing.assert_allclose(hot.probs_at_1, g.probs, rtol=1e-12)
    assert not np.allclose(hot.probs, g.probs) and hot.entropy > hot.entropy_at_1
    for j, t in enumerate(g.ids):
        w = params["Why"][:, t]
        assert g.cosines[j] == pytest.approx(h @ w / np.linalg.norm(h) / np.linalg.norm(w), rel=1e-12)
    with pytest.raises(ValueError, match=r"^temperature must be > 0 \(got 0\)$"):
        ins.softmax_geometry(params, h, temperature=0)


def test_pca_of_constant_and_of_small_scale_data():
    X = np.random.default_rng(32).standard_normal((20, 4)) * 1e-3  # total variance far below 1
    coords, axes, explained = ins.pca(X)
    assert coords.shape == (20, 2) and axes.shape == (2, 4)
    S = np.linalg.svd(X - X.mean(axis=0), compute_uv=False)
    np.testing.assert_allclose(explained, S[:2] ** 2 / (S**2).sum(), rtol=1e-10)
    flat = ins.pca(np.ones((5, 3)))[2]
    assert (flat == 0).all()  # no variance: nothing explained, and no division by zero


def test_half_lives_at_their_edges():
    assert ins.half_life(np.array([1.0, 0.5, 0.25])) == 1.0  # exactly half at k = 1
    assert ins.half_life(np.array([])) is None and ins.half_life(np.zeros(4)) is None
    assert ins.half_life(np.array([1.0, 0.6, 0.0])) == 2.0  # falls to zero
    decay = np.float32(0.5) ** np.arange(6, dtype=np.float32)
    assert ins.fitted_half_life(decay) == pytest.approx(1.0, rel=1e-12)  # computed in float64
    assert ins.fitted_half_life(np.array([1.0, 0.25])) == pytest.approx(0.5)  # two points fit a line
    assert ins.fitted_half_life(np.array([1.0, 0.0, 0.0])) is None  # one positive point: no line
    assert ins.fitted_half_life(np.array([1.0, 0.0, 0.25])) == pytest.approx(1.0)  # zeros are skipped
    assert ins.fitted_half_life(np.array([])) is None


def test_nearest_and_top_contexts_defaults_and_ties():
    rng = np.random.default_rng(33)
    vectors = rng.standard_normal((15, 3))
    vectors[7] = vectors[4] * 2  # the same direction: a tie, kept in id order
    ids, cos = ins.nearest(vectors, vectors[4])
    assert len(ids) == 10 and ids[:2].tolist() == [4, 7]
    few, _ = ins.nearest(vectors[:5], vectors[0], 10, exclude=(0, 1))
    assert sorted(few.tolist()) == [2, 3, 4]  # only what is left, never an excluded one
    values = np.zeros(100)
    values[[10, 30, 31, 60, 80, 95]] = [5, 4, 4, 3, 2, 1]
    top, _ = ins.top_contexts(values)
    assert top.tolist() == [10, 30, 60, 80]  # 5 by default; 20 apart (31 too near 30; 95 near 80)
    assert ins.top_contexts(values, gap=21)[0].tolist() == [10, 31, 60, 95]  # 30 and 80: 20 from a pick
    assert ins.top_contexts(values, gap=15)[0].tolist() == [10, 30, 60, 80, 95]


def test_features_of_curly_quotes_nesting_and_quotes_at_the_ends():
    text = "'a' (b (c) d) “e” ‘f’ 'z"  # opens at the very start; a quote one before the end
    names, values = ins.features(list(text), "char")
    col = {name: values[:, j].astype(int).tolist() for j, name in enumerate(names)}
    assert col["in single quotes"] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1]
    assert col["in double quotes"] == [0] * 14 + [1, 1] + [0] * 8
    assert col["in parentheses"] == [0] * 4 + [1] * 8 + [0] * 12  # (b (c) d): still inside after (c)
    assert ins.features(list("x'y"), "char")[1][:, 1].tolist() == [0, 0, 0]  # an apostrophe, not a quote
    assert ins.features(list("'don't' x"), "char")[1][:, 1].tolist() == [1, 1, 1, 1, 1, 1, 0, 0, 0]  # inside
    words = [
        "he",
        "said",
        "'",
        "no",
        "'",
        "(",
        "(",
        "a",
        ")",
        "b",
        ")",
        "‘",
        "c",
        "’",
        "“",
        "d",
        "”",
        "\n",
        "e",
    ]
    names, values = ins.features(words, "word")
    col = {name: values[:, j].astype(int).tolist() for j, name in enumerate(names)}
    assert col["in single quotes"] == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert col["in double quotes"] == [0] * 14 + [1, 1] + [0] * 3
    assert col["in parentheses"] == [0] * 5 + [1] * 5 + [0] * 9
    assert col["after punctuation"] == [0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 1, 0, 0]
    with pytest.raises(ValueError, match=r"^level must be 'char' or 'word' \(got 'byte'\)$"):
        ins.features(words, "byte")


def test_label_shifts_are_nearest_first_with_rows_counting_double():
    assert ins._shifts(1) == [(0, 0), (0, -1), (0, 1), (0, -2), (0, 2), (-1, 0), (1, 0), (-1, -1), (-1, 1),
                              (1, -1), (1, 1), (-1, -2), (-1, 2), (1, -2), (1, 2)]  # fmt: skip
    assert len(ins._shifts(2)) == 5 * 9 and ins._shifts(2)[-1] == (2, 4)


def test_labels_are_centred_clamped_to_the_grid_and_shifted_off_each_other():
    corners = [[0.0, 0.0], [2.0, 0.5]]  # they fix the scale: x 0..2 across the columns, y 0..0.5 up the rows
    placed = ins.place_labels(np.array(corners + [[2.0, 0.0]]), ["left", "right", "edge"], 20, 5)
    assert placed == [(4, 0, 0), (0, 15, 1), (4, 16, 2)]  # centred, but never past an edge
    too_wide = ins.place_labels(np.array(corners + [[2.0, 0.0]]), ["", "x" * 21, "y" * 20], 20, 5)
    assert too_wide == [(4, 0, 2)]  # an empty label and one wider than the grid are left out
    xy = np.array(corners + [[1.0, 0.25]] * 3 + [[1.2, 0.25], [0.6, 0.25]])
    placed = ins.place_labels(xy, ["", "", "aaaa", "bbbb", "cccc", "d", "e"], 21, 5)
    assert placed == [
        (2, 8, 2),  # centred on its point
        (1, 8, 3),  # the same point: a row up before two columns aside (rows count double)
        (3, 8, 4),  # then a row down
        (2, 13, 5),  # right next to aaaa would touch it: one blank cell between labels on a row
        (2, 6, 6),  # ends one blank cell before aaaa: allowed
    ]
    corner = ins.place_labels(np.array(corners + [[0.0, 0.0]] * 4), ["", "", "p", "q", "s", "t"], 21, 5)
    assert corner == [(4, 0, 2), (4, 2, 3), (3, 0, 4), (4, 4, 5)]  # t tries below the bottom row, then (4, 4)


def test_small_helpers_at_their_boundaries():
    assert ins.entropy_bits(np.array([0.5, 0.5, 0.0])) == 1.0  # a zero probability adds nothing
    gates = np.array([0.1, 0.05, 0.9, 0.95, 0.5]).reshape(5, 1, 1, 1)  # (T, L, G, H)
    sat = ins.saturation_of(gates, ("z",))
    assert sat.left.item() == 0.2 and sat.right.item() == 0.2  # 0.1 and 0.9 themselves are not saturated
    assert ins.render_scatter([(0, 2, 0), (1, 0, 1)], ["ab", "c"], 6, 2) == ["  ab", "c"]
    one = ins.sentence_map(np.array([[1.0, 2.0, 3.0]]))  # one sentence: no axis to find
    assert one[1].shape == (1, 2) and one[2].tolist() == [0.0, 0.0]
    two = ins.sentence_map(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert two[1].shape == (2, 2) and two[2][0] == pytest.approx(1.0)
    vectors = np.random.default_rng(34).standard_normal((15, 3))
    assert len(ins.neighbours(vectors, 0)[0]) == 10


def test_analogy_verdicts_word_for_word():
    rb = np.array([0.1, 0.2, 0.3])
    chance = "cosine 0.90 vs 0.20 for a typical random triple (percentile 90)"
    assert ins._analogy_verdict(0.9, rb, 90.0, None) == f"meaningful: stands out from chance — {chance}"
    assert ins._analogy_verdict(0.9, rb, 90.0, "c") == (
        f"weak: {chance}, but the answer is simply the nearest neighbour of 'c', and no closer to the sum"
        " than to it"
    )
    low = "cosine 0.90 vs 0.20 for a typical random triple (percentile 89)"
    assert ins._analogy_verdict(0.9, rb, 89.4, "c") == f"noise: random triples do about as well — {low}"


def test_fading_memory_defaults_and_its_half_lives():
    params = RNN.initialised(ModelConfig(vocab_size=5, embed=3, hidden=4), np.random.default_rng(35)).params
    fm = ins.fading_memory(params, np.arange(80) % 5)
    assert len(fm.norms) == 51 and fm.norm == "fro"  # K = 50 by default
    assert fm.half_life == ins.half_life(fm.norms) and fm.fitted_half_life == ins.fitted_half_life(fm.norms)
    assert fm.half_life is not None and fm.fitted_half_life is not None
    with pytest.raises(ValueError, match="^the text has no tokens$"):
        ins.fading_memory(params, [])


def test_char_aliases_are_taken_in_any_case(char_ckpt):
    vocab = load(char_ckpt).vocab
    assert ins.token_id(vocab, "SPACE") == ins.token_id(vocab, "space") == vocab.id_of(" ")
    assert ins.token_id(vocab, "Newline") == vocab.id_of("\n") and ins.token_id(vocab, "zz") is None


def test_rank_units_and_token_vectors_defaults():
    r = np.zeros((2, 2000))
    r[0, [5, 1500]] = [-0.9, 0.9]  # a tie in |r|: the lower unit first
    ranked = ins.rank_units(r)
    assert (
        ranked.shape == (2, 5)
        and ranked[0, :2].tolist() == [5, 1500]
        and ranked[1].tolist() == [0, 1, 2, 3, 4]
    )
    params = RNN.initialised(ModelConfig(vocab_size=5, embed=3, hidden=4), np.random.default_rng(36)).params
    assert (
        ins.token_vectors(params) is params["embed"] or (ins.token_vectors(params) == params["embed"]).all()
    )
    with pytest.raises(
        ValueError, match=r"^which must be 'input', 'projected' or 'output' \(got 'hidden'\)$"
    ):
        ins.token_vectors(params, "hidden")


def test_running_over_a_text_is_refused_when_its_traces_would_not_fit(char_ckpt, tmp_path, monkeypatch):
    """Four float32 (T, L, H) traces and 64 bytes a token: 68 tokens of an L = 2, H = 12 model need
    68 * (4 * 4 * 2 * 12 + 64) = 30,464 bytes."""
    text = tmp_path / "t.txt"
    text.write_text("the soul is one. " * 4, encoding="utf-8")  # 68 characters
    monkeypatch.setattr(memory, "available_bytes", lambda: 30_464)
    assert run("health", char_ckpt, "--text", text).exit_code == 0
    monkeypatch.setattr(memory, "available_bytes", lambda: 30_463)
    result = run("health", char_ckpt, "--text", text)
    assert result.exit_code == 1 and last_line(result) == (
        "Error: running the model over 68 tokens needs about 30.5 kB of memory but 30.5 kB is available; "
        "lower --max-tokens"
    )
    text.write_text("the soul is one. " * 200, encoding="utf-8")  # 3,400 tokens: 1.5 MB of traces
    monkeypatch.setattr(memory, "available_bytes", lambda: 1_000_000)  # enough for the model alone
    assert "of memory (traces 1.5 MB) but 1.0 MB is available" in last_line(
        run("health", char_ckpt, "--text", text)
    )


def test_more_edges_found_by_the_second_mutation_run():
    assert (
        ins.unit_rows(np.array([[0.0, 0.0], [3.0, 4.0]])) == [[0.0, 0.0], [0.6, 0.8]]
    ).all()  # zero stays zero
    V, H = 6, 3
    rng = np.random.default_rng(37)
    params = {"Why": rng.standard_normal((H, V)), "by": rng.standard_normal(V)}
    still = ins.softmax_geometry(params, np.zeros(H))  # no memory yet: no direction, cosines 0
    assert (still.cosines == 0).all()
    vectors = rng.standard_normal((12, 4))
    mine = ins.analogy(vectors, 1, 2, 3, trials=20, rng=np.random.default_rng(9))  # the rng given is used
    assert not np.array_equal(mine.random_best, ins.analogy(vectors, 1, 2, 3, trials=20).random_best)
    np.testing.assert_array_equal(
        mine.random_best, ins.analogy(vectors, 1, 2, 3, trials=20, rng=np.random.default_rng(9)).random_best
    )
    sq = ins.features(list("a 'b' c '"), "char")[1][:, 1].tolist()  # opens after a space; not at the end
    assert sq == [0, 0, 1, 1, 0, 0, 0, 0, 0]
    assert ins.place_labels(np.array([[0.3, 0.7]]), ["one"], 10, 3) == [(0, 0, 0)]  # a single point
    corners = [[0.0, 0.0], [2.0, 0.5]]
    both_free = ins.place_labels(np.array(corners + [[1.0, 0.25]] * 2), ["", "", "q", "r"], 21, 5)
    assert both_free == [(2, 10, 2), (2, 8, 3)]  # left before right when both are free
    edge = ins.place_labels(np.array(corners + [[30 / 19, 0.25], [2.0, 0.25]]), ["", "", "x", "bbbb"], 20, 5)
    assert edge == [(2, 15, 2), (1, 16, 3)]  # never past the right edge
    assert ins._shifts(2)[:16] == [(0, 0), (0, -1), (0, 1), (0, -2), (0, 2), (-1, 0), (1, 0), (0, -3), (0, 3),
                                   (-1, -1), (-1, 1), (1, -1), (1, 1), (0, -4), (0, 4), (-1, -2)]  # fmt: skip


def test_sentence_vectors_of_a_gated_cell_and_an_empty_sentence():
    model = RNN.initialised(
        ModelConfig(vocab_size=5, embed=3, hidden=4, layers=2, cell="gru"), np.random.default_rng(38)
    )
    sentences = [np.array([0, 1, 2]), np.array([], np.int64), np.array([4, 3])]
    out = ins.sentence_vectors(model.params, sentences)
    assert out.shape == (3, 2, 4) and (out[1] == 0).all()
    np.testing.assert_allclose(out[0], ins.hidden_trace(model.params, sentences[0])[-1], rtol=1e-6)
    np.testing.assert_allclose(out[2], ins.hidden_trace(model.params, sentences[2])[-1], rtol=1e-6)


def test_gates_histogram_and_norm_defaults_and_refusals():
    vanilla = RNN.initialised(ModelConfig(vocab_size=5, embed=3, hidden=4), np.random.default_rng(39)).params
    with pytest.raises(
        ValueError, match=r"^a vanilla RNN has no gates: train with --cell gru or --cell lstm$"
    ):
        ins.gate_saturation(vanilla, [0, 1])
    gru = RNN.initialised(
        ModelConfig(vocab_size=5, embed=3, hidden=4, cell="gru"), np.random.default_rng(40)
    ).params
    assert ins.gate_saturation(gru, [3]).left.shape == (1, 2, 4)  # one token is a text
    with pytest.raises(ValueError, match="^the text has no tokens$"):
        ins.gate_saturation(gru, [])
    hs = np.array([0.0, 0.5, -0.5, 0.25, -1.0, 1.0]).reshape(6, 1, 1)
    assert len(ins.activation_histogram(hs)[1]) == 21  # 20 bins by default
    counts, edges, _ = ins.activation_histogram(hs, bins=4)  # edges -1, -0.5, 0, 0.5, 1
    assert counts[0].tolist() == [1, 1, 2, 2]  # an edge opens its bin; -1 and 1 land in the end bins
    J = np.array([[3.0, 0.0], [0.0, 4.0]])
    assert ins.matrix_norm(J) == 5.0 and ins.matrix_norm(J, "spectral") == 4.0
    with pytest.raises(ValueError, match=r"^norm must be 'fro' or 'spectral' \(got 'max'\)$"):
        ins.matrix_norm(J, "max")


def test_lstm_preactivations_are_its_cell_state_read_from_h0():
    params = RNN.initialised(
        ModelConfig(vocab_size=5, embed=3, hidden=4, cell="lstm"), np.random.default_rng(41)
    ).params
    ids = np.array([0, 3, 1, 4])
    h0 = np.random.default_rng(42).standard_normal((1, 8))  # (L, 2H): h and c
    trace = ins.state_trace_from_inputs(params, params["embed"][ids], h0)
    np.testing.assert_array_equal(ins.preactivations(params, ids, trace.hs, h0), trace.cs)
    assert not np.allclose(ins.preactivations(params, ids, trace.hs), trace.cs)  # h0 matters
