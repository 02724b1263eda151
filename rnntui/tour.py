"""The guided tour's numbers: one time step of the network, screen by screen, on a text of the learner's.

Pure functions from a checkpoint's own arrays to a dataclass per screen; ``rnntui.tui.tour`` only
draws them. Everything is computed in float64 from the (float32) parameters, except the learning
step, which runs the model's own forward and backward in the model's dtype, as the trainer does.

Dimension legend (as in ``kernels.py``):
    V = vocabulary size   E = embedding size   H = hidden size   L = layers   S = state slots (1; LSTM 2)
    T = tokens of the text   n = top tokens shown   K = tokens looked back

The screens:
    1) tokens       the text cut into tokens, with their ids            ``tokens``
    2) embedding    one-hot (V,) x embed (V, E) = that row = x_t           ``embedding``
    3) memory       x_t Wxh, h_(t-1) Whh, b, their sum, tanh: h_t            ``memory_update``
    4) output       h_t . w_token + b, softmax at T, argmax vs a sample     ``output``
    5) feeding back the sampled token read next, a few steps              ``feed_back``
    6) learning     one SGD step on the text, on a copy of the model      ``learning``
    7) fading       ||d h_t / d x_(t-k)|| and what shrinks it              ``fading``
    8) gates        GRU/LSTM: each gate and what it let through            ``gates``

The memory starts at zero before the first token (h_(-1) = 0), so every number follows from the text
alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from rnntui import inspect, kernels
from rnntui.cells.common import sigmoid
from rnntui.generate import pick, probabilities
from rnntui.model import RNN

Params = Mapping[str, np.ndarray]

DEFAULT_TEXT = "The just man is happy."  # read when the learner's text has fewer than two tokens
TOP = 6  # likeliest tokens on the output screen
TERMS = 3  # largest terms of each spelled-out dot product
FEED_STEPS = 6  # generated steps on the feeding-back screen
LOOK_BACK = 24  # K of the fading-memory screen
LEARNING_RATE = 0.1  # a tenth of the trainer's default for --optimizer sgd (train.DEFAULT_LR): a small step
CLIP = 5.0  # the trainer's default --clip: the gradient's global norm is clipped to this


# -- reading the text ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tokens:
    """Screen 1: the text as the model reads it."""

    text: str  # the text read: the learner's, or DEFAULT_TEXT when it had fewer than two tokens
    pieces: tuple[str, ...]  # (T,) each token's string as the vocabulary spells it
    ids: np.ndarray  # (T,) int64 token ids
    level: str  # "char" or "word"
    vocab_size: int  # V
    skipped: tuple[str, ...]  # characters the vocabulary lacks (char level; they are not read)
    unknown: int  # words read as <unk> (word level)
    default: bool  # True when DEFAULT_TEXT stands in for the learner's text


def _cut(vocab, text: str) -> tuple[list[str], list[int], list[str], int]:
    pieces, ids, skipped, unknown = [], [], [], 0
    unk = vocab.unk_id
    for piece in vocab.pieces(text):
        tid = vocab.id_of(piece)
        if tid is None and unk is not None:
            tid, unknown = unk, unknown + 1
        if tid is None:
            skipped.append(piece)
            continue
        pieces.append(vocab.tokens[tid])
        ids.append(int(tid))
    return pieces, ids, skipped, unknown


def tokens(vocab, text: str) -> Tokens:
    """The text cut into the vocabulary's tokens (``corpus.Vocab``): characters it lacks are skipped,
    unknown words become <unk>. Fewer than two tokens (nothing to predict): DEFAULT_TEXT instead."""
    pieces, ids, skipped, unknown = _cut(vocab, text)
    default = len(ids) < 2
    if default:
        text = DEFAULT_TEXT
        pieces, ids, skipped, unknown = _cut(vocab, text)
    if len(ids) < 2:
        raise ValueError("the model's vocabulary cannot spell the default sentence; type some text")
    return Tokens(
        text,
        tuple(pieces),
        np.asarray(ids, np.int64),
        vocab.level,
        len(vocab),
        tuple(dict.fromkeys(skipped)),
        unknown,
        default,
    )


@dataclass(frozen=True)
class Reading:
    """The text read once from a zero state, every layer's state before and after each token."""

    ids: np.ndarray  # (T,)
    x: np.ndarray  # (T, E) the embedded inputs
    states: np.ndarray  # (T+1, L, S*H): states[t] before token t, states[t+1] after it; states[0] = 0
    hs: np.ndarray  # (T, L, H) the memory h after each token
    cell: str  # "rnn", "gru" or "lstm"


def float64(params: Params) -> dict[str, np.ndarray]:
    """The parameters as float64 arrays (copies only where the dtype differs)."""
    return {k: np.asarray(v, np.float64) for k, v in params.items()}


def read(params: Params, ids: np.ndarray) -> Reading:
    """Every layer's state after each token of ids (T,), read from a zero state (the cells' NumPy twins)."""
    p = float64(params)
    ids = np.asarray(ids, np.int64)
    x = p["embed"][ids]
    trace = inspect.state_trace_from_inputs(p, x)
    T, L, H = trace.hs.shape
    cell = inspect.cell_of(p)
    states = np.zeros((T + 1, L, cell.STATE_SLOTS * H))
    states[1:, :, :H] = trace.hs
    if trace.cs is not None:
        states[1:, :, H:] = trace.cs
    return Reading(ids, x, states, trace.hs, cell.NAME)


def _layer_input(reading: Reading, t: int, layer: int) -> np.ndarray:
    """What layer ``layer`` reads at step t: x_t (E,) for the first, the memory below (H,) above it."""
    return reading.x[t] if layer == 0 else reading.hs[t, layer - 1]


def step(params: Params, state: np.ndarray, token: int) -> tuple[np.ndarray, np.ndarray]:
    """One token through every layer from ``state`` (L, S*H): (the new state (L, S*H), logits (V,)).
    Float64, with the cells' NumPy twins (the function ``read`` runs over a whole text)."""
    p = float64(params)
    cell = inspect.cell_of(p)
    L, H = inspect.n_layers(p), p["Whh0"].shape[0]
    x = p["embed"][int(token)]
    new = np.empty_like(np.asarray(state, np.float64))
    for layer in range(L):
        lp = {k: p[f"{k}{layer}"] for k in cell.param_shapes(1, 1)}
        out = cell.reference_forward(x[None, None, :], lp, np.asarray(state[layer], np.float64)[None, :])
        new[layer, :H] = out[0][0, 0]
        if cell.STATE_SLOTS == 2:
            new[layer, H:] = out[2][0, 0]
        x = new[layer, :H]
    return new, x @ p["Why"] + p["by"]


# -- 2) the embedding ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Embedding:
    """Screen 2: the one-hot vector times the embedding matrix picks one row, x_t."""

    t: int
    token: int
    one_hot: np.ndarray  # (V,) a single 1 at ``token``
    x: np.ndarray  # (E,) one_hot @ embed: the row embed[token]
    neighbour: int  # the token whose row is most like it (cosine), itself excluded
    cosine: float
    neighbour_x: np.ndarray  # (E,) its row


def embedding(params: Params, reading: Reading, t: int) -> Embedding:
    embed = np.asarray(params["embed"], np.float64)  # (V, E)
    token = int(reading.ids[t])
    one_hot = np.zeros(len(embed))
    one_hot[token] = 1.0
    near, cos = inspect.neighbours(embed, token, 1)
    return Embedding(t, token, one_hot, one_hot @ embed, int(near[0]), float(cos[0]), embed[int(near[0])])


# -- 3) the memory update, and 8) the gates --------------------------------------------------------


@dataclass(frozen=True)
class MemoryUpdate:
    """Screen 3: how h_t is made at step t of one layer, as strips of H numbers each.

    Vanilla: the rows are x_t Wxh, h_(t-1) Whh, b, their sum and h_t = tanh(sum); the input's part is
    x_t Wxh and the memory's h_(t-1) Whh. Gated cells: the candidate's rows, then the blend that
    makes the new memory; the input's part is what is written (GRU (1-z) n, LSTM i g) and the
    memory's what is kept (GRU z h_(t-1), LSTM f c_(t-1))."""

    t: int
    layer: int
    cell: str
    formula: str  # the equation of the rows, one line
    rows: tuple[tuple[str, np.ndarray], ...]  # (label, (H,)) top to bottom
    h: np.ndarray  # (H,) h_t
    h_prev: np.ndarray  # (H,) h_(t-1)
    from_input: np.ndarray  # (H,) the input's part
    from_memory: np.ndarray  # (H,) the old memory's part
    input_share: np.ndarray  # (H,) |from_input| / (|from_input| + |from_memory|), 0.5 where both are 0
    overall_share: float  # sum |from_input| / (sum |from_input| + sum |from_memory|)


def _share(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
    a, b = np.abs(a), np.abs(b)
    total = a + b
    per_unit = np.divide(a, total, out=np.full_like(a, 0.5), where=total > 0)
    overall = float(a.sum() / total.sum()) if total.sum() > 0 else 0.5
    return per_unit, overall


def _parts(params: Params, reading: Reading, t: int, layer: int) -> dict[str, np.ndarray]:
    """Every intermediate vector (H,) of layer ``layer`` at step t, by the cell's equations."""
    p = {
        k: np.asarray(params[f"{k}{layer}"], np.float64)
        for k in ("Wxh", "Whh", "bh", "bhn")
        if f"{k}{layer}" in params
    }
    x = _layer_input(reading, t, layer)
    H = reading.hs.shape[2]
    h_prev = reading.states[t, layer, :H]
    xw, hw, b = x @ p["Wxh"], h_prev @ p["Whh"], p["bh"]
    out = {"x": x, "h_prev": h_prev, "h": reading.hs[t, layer]}
    if reading.cell == "rnn":
        out.update(xw=xw, hw=hw, b=b, a=xw + hw + b)
    elif reading.cell == "gru":
        r = sigmoid(xw[:H] + hw[:H] + b[:H])
        z = sigmoid(xw[H : 2 * H] + hw[H : 2 * H] + b[H : 2 * H])
        xn = xw[2 * H :] + b[2 * H :]
        hn = hw[2 * H :] + p["bhn"]
        a = xn + r * hn
        n = np.tanh(a)
        out.update(r=r, z=z, xn=xn, hn=hn, rhn=r * hn, a=a, n=n, new=(1 - z) * n, kept=z * h_prev)
    else:
        c_prev = reading.states[t, layer, H:]
        a = xw + hw + b
        i, f, o = sigmoid(a[:H]), sigmoid(a[H : 2 * H]), sigmoid(a[3 * H :])
        g = np.tanh(a[2 * H : 3 * H])
        c = f * c_prev + i * g
        out.update(
            i=i,
            f=f,
            o=o,
            g=g,
            xg=xw[2 * H : 3 * H],
            hg=hw[2 * H : 3 * H],
            bg=b[2 * H : 3 * H],
            ag=a[2 * H : 3 * H],
            c_prev=c_prev,
            c=c,
            new=i * g,
            kept=f * c_prev,
            tanh_c=np.tanh(c),
        )
    return out


def memory_update(params: Params, reading: Reading, t: int, layer: int = 0) -> MemoryUpdate:
    """Screen 3 at step t (0 <= t < T) of ``layer``."""
    q = _parts(params, reading, t, layer)
    if reading.cell == "rnn":
        formula = "h_t = tanh(x_t·Wxh + h_{t−1}·Whh + b)"
        rows = (
            ("x_t·Wxh", q["xw"]),
            ("h_{t−1}·Whh", q["hw"]),
            ("b", q["b"]),
            ("sum", q["a"]),
            ("h_t = tanh(sum)", q["h"]),
        )
        inp, mem = q["xw"], q["hw"]
    elif reading.cell == "gru":
        formula = "n = tanh(x_t·Wxh_n + b_n + r⊙(h_{t−1}·Whh_n + b_hn));  h_t = (1−z)⊙n + z⊙h_{t−1}"
        rows = (
            ("x_t·Wxh_n + b_n", q["xn"]),
            ("r⊙(h_{t−1}·Whh_n+bhn)", q["rhn"]),
            ("n = tanh(sum)", q["n"]),
            ("(1−z)⊙n  written", q["new"]),
            ("z⊙h_{t−1}  kept", q["kept"]),
            ("h_t = sum of both", q["h"]),
        )
        inp, mem = q["new"], q["kept"]
    else:
        formula = "g = tanh(x_t·Wxh_g + h_{t−1}·Whh_g + b_g);  c_t = f⊙c_{t−1} + i⊙g;  h_t = o⊙tanh(c_t)"
        rows = (
            ("x_t·Wxh_g", q["xg"]),
            ("h_{t−1}·Whh_g", q["hg"]),
            ("b_g", q["bg"]),
            ("g = tanh(sum)", q["g"]),
            ("i⊙g  written", q["new"]),
            ("f⊙c_{t−1}  kept", q["kept"]),
            ("c_t = sum of both", q["c"]),
            ("h_t = o⊙tanh(c_t)", q["h"]),
        )
        inp, mem = q["new"], q["kept"]
    per_unit, overall = _share(inp, mem)
    return MemoryUpdate(
        t, layer, reading.cell, formula, rows, q["h"], q["h_prev"], inp, mem, per_unit, overall
    )


@dataclass(frozen=True)
class Gates:
    """Screen 8 (gated cells): each gate's values at step t, 0 (shut) to 1 (open), and what it let through."""

    t: int
    layer: int
    cell: str
    gates: tuple[tuple[str, np.ndarray], ...]  # (name, (H,)) in the cell's GATES order
    through: tuple[tuple[str, np.ndarray], ...]  # (what, (H,)) each gate times what it lets pass
    means: tuple[float, ...]  # each gate's mean over the H units
    open: tuple[float, ...]  # each gate's share of units above 0.9 (wide open)
    shut: tuple[float, ...]  # each gate's share of units below 0.1 (shut)


def gates(params: Params, reading: Reading, t: int, layer: int = 0) -> Gates:
    """Screen 8 at step t of ``layer``; ValueError for the vanilla cell, which has no gates."""
    if reading.cell == "rnn":
        raise ValueError("the vanilla RNN has no gates")
    q = _parts(params, reading, t, layer)
    if reading.cell == "gru":
        named = (("update z", q["z"]), ("reset r", q["r"]))
        through = (
            ("z⊙h_{t−1}: the old memory z kept", q["kept"]),
            ("(1−z)⊙n: the new candidate let in", q["new"]),
            ("r⊙(h_{t−1}·Whh_n+b_hn): memory r let into n", q["rhn"]),
        )
    else:
        named = (("input i", q["i"]), ("forget f", q["f"]), ("output o", q["o"]))
        through = (
            ("f⊙c_{t−1}: the cell state f kept", q["kept"]),
            ("i⊙g: the new content i wrote", q["new"]),
            ("o⊙tanh(c_t) = h_t: what o showed", q["h"]),
        )
    return Gates(
        t,
        layer,
        reading.cell,
        named,
        through,
        tuple(float(v.mean()) for _, v in named),
        tuple(float((v > 0.9).mean()) for _, v in named),
        tuple(float((v < 0.1).mean()) for _, v in named),
    )


# -- 4) the output, and 5) feeding back ---------------------------------------------------------------


@dataclass(frozen=True)
class Output:
    """Screen 4: the top-layer memory h_t turned into the next token's probabilities."""

    t: int
    h: np.ndarray  # (H,) top-layer memory after token t
    ids: np.ndarray  # (n,) the likeliest next tokens, best first
    dots: np.ndarray  # (n,) h . Why[:, id]
    biases: np.ndarray  # (n,) by[id]
    logits: np.ndarray  # (n,) dots + biases
    term_units: np.ndarray  # (n, TERMS) the units j with the largest |h_j w_j|, largest first
    terms: np.ndarray  # (n, TERMS) h_j * Why[j, id] for those units
    probs: np.ndarray  # (n,) softmax(logits / T) of these tokens
    temperature: float  # T >= 0 (0: always the argmax)
    argmax: int
    sample: int  # the token the dice chose at T
    sample_prob: float  # its probability at T
    roll: int  # which throw of the dice


def _rng(t: int, roll: int) -> np.random.Generator:
    """The dice of throw ``roll`` at step t: the output screen's sample is the first feed-back input."""
    return np.random.default_rng([roll, t])


def output(
    params: Params, reading: Reading, t: int, temperature: float, roll: int = 0, n: int = TOP
) -> Output:
    p = float64(params)
    h = reading.hs[t, -1]
    logits_all = h @ p["Why"] + p["by"]  # (V,)
    probs_all = probabilities(logits_all, temperature)
    ids = np.argsort(-logits_all, kind="stable")[:n]
    contrib = h[:, None] * p["Why"][:, ids]  # (H, n): every term of every dot product
    units = np.argsort(-np.abs(contrib), axis=0, kind="stable")[:TERMS].T  # (n, TERMS)
    terms = np.take_along_axis(contrib.T, units, axis=1)
    sample = pick(logits_all, _rng(t, roll), temperature)
    return Output(
        t,
        h,
        ids,
        contrib.sum(axis=0),
        p["by"][ids],
        logits_all[ids],
        units,
        terms,
        probs_all[ids],
        float(temperature),
        int(ids[0]),
        sample,
        float(probs_all[sample]),
        roll,
    )


@dataclass(frozen=True)
class FedStep:
    """One generated step: the token read, the memory it left, and the token chosen next."""

    input: int  # the token fed in (the previous step's choice)
    h: np.ndarray  # (H,) top-layer memory after reading it
    top_ids: np.ndarray  # (3,) the likeliest next tokens
    top_probs: np.ndarray  # (3,) their probabilities at T
    chosen: int  # the token the dice chose
    chosen_prob: float


@dataclass(frozen=True)
class FeedBack:
    """Screen 5: the chosen token becomes the next input, a few times over."""

    t: int
    temperature: float
    first: int  # the token chosen after the text (the output screen's sample)
    steps: tuple[FedStep, ...]


def feed_back(
    params: Params, reading: Reading, t: int, temperature: float, roll: int = 0, n: int = FEED_STEPS
) -> FeedBack:
    """n steps from the state after token t: the output screen's sample is read, then each step's own."""
    p = float64(params)
    rng = _rng(t, roll)
    state = reading.states[t + 1]
    logits = reading.hs[t, -1] @ p["Why"] + p["by"]
    chosen = pick(logits, rng, temperature)
    first, out = chosen, []
    for _ in range(n):
        token = chosen
        state, logits = step(p, state, token)
        probs = probabilities(logits, temperature)
        top = np.argsort(-probs, kind="stable")[:3]
        chosen = pick(logits, rng, temperature)
        out.append(
            FedStep(
                token, state[-1, : reading.hs.shape[2]].copy(), top, probs[top], chosen, float(probs[chosen])
            )
        )
    return FeedBack(t, float(temperature), first, tuple(out))


# -- 6) learning -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Learning:
    """Screen 6: one training step on the text, on a copy of the model (the model is not touched)."""

    ids: np.ndarray  # (T,) the text: inputs ids[:-1], targets ids[1:]
    loss_before: np.ndarray  # (T-1,) nats: -ln p(ids[t+1] | ids[:t+1]) before the step
    loss_after: np.ndarray  # (T-1,) the same after it
    learning_rate: float
    clip: float
    grad_norm: float  # the gradient's global norm before clipping
    scale: float  # clipping's factor (1: not clipped)
    weights: tuple[str, ...]  # (k,) e.g. "Why[12, 5]": the weight of each matrix with the largest gradient
    grads: np.ndarray  # (k,) dLoss/dweight (the mean loss)
    before: np.ndarray  # (k,) the weights' values
    after: np.ndarray  # (k,) before - learning_rate * scale * grads

    @property
    def mean_before(self) -> float:
        return float(self.loss_before.mean())

    @property
    def mean_after(self) -> float:
        return float(self.loss_after.mean())


def _copy(model: RNN) -> RNN:
    twin = RNN(model.cfg, model.dtype)
    twin.flat[...] = model.flat
    twin.parts = 1  # one stream: no thread pool
    return twin


def learning(
    model: RNN, ids: np.ndarray, learning_rate: float = LEARNING_RATE, clip: float = CLIP
) -> Learning:
    """One plain SGD step (``train --optimizer sgd``'s, clipping included) on the mean next-token loss of
    ids (T >= 2,) read from a zero state, on a copy of ``model``: the model's own forward and backward."""
    ids = np.asarray(ids, np.int64)
    if len(ids) < 2:
        raise ValueError("learning needs at least two tokens: one to read, one to predict")
    twin = _copy(model)
    chunk = ids.reshape(-1, 1)  # (T, B=1)
    h0 = twin.zero_state(1)
    before_losses = twin.token_losses(chunk, h0)[0][:, 0].astype(np.float64)
    twin.loss_and_grads(chunk, h0)
    norm = float(kernels.global_norm(twin.grad))
    scale = clip / norm if clip > 0 and norm > clip else 1.0
    names, where = [], []
    for name, g in twin.grads.items():  # the largest gradient of each matrix
        j = int(np.argmax(np.abs(g)))
        idx = np.unravel_index(j, g.shape)
        names.append(f"{name}[{', '.join(map(str, idx))}]")
        where.append((name, idx))
    grads = np.array([float(twin.grads[n][i]) for n, i in where])
    before = np.array([float(twin.params[n][i]) for n, i in where])
    kernels.sgd_step(twin.flat, twin.grad, learning_rate, scale)
    after = np.array([float(twin.params[n][i]) for n, i in where])
    after_losses = twin.token_losses(chunk, h0)[0][:, 0].astype(np.float64)
    return Learning(
        ids,
        before_losses,
        after_losses,
        float(learning_rate),
        float(clip),
        norm,
        float(scale),
        tuple(names),
        grads,
        before,
        after,
    )


# -- 7) fading memory ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fading:
    """Screen 7: how much each earlier token still moves the memory after token t, and why it shrinks."""

    t: int  # the last token read: the curve is of d h_t / d x_(t-k)
    norms: np.ndarray  # (K+1,) ||d h_t / d x_(t-k)|| (Frobenius), k = 0..K
    factor_name: str  # what every step back multiplies by besides the matrix: "tanh′", "z" or "f"
    factor: np.ndarray  # (K+1,) its mean over units (and layers) at step t-k
    saturated: np.ndarray  # (K+1,) at step t-k, vanilla: share of units with |h| > inspect.SATURATED
    #                        (slope near 0: the path is cut); gated: share of the keeping gate above 0.9
    matrix_norm: float  # largest singular value of the first layer's recurrent matrix
    half_life: float | None  # tokens back until the norm has halved (None: not within K)


def fading(params: Params, reading: Reading, t: int, K: int = LOOK_BACK) -> Fading:
    """Screen 7 with the last token t: inspect.fading_memory over ids[:t+1], explained step by step.

    Vanilla: one step back multiplies by diag(1 - h^2) Whh^T, so by at most ||Whh||_2 times the
    largest tanh slope, and units near ±1 (slope near 0) cut the path. GRU: the kept path is
    multiplied by z, the LSTM's cell-state path by f, so those gates' means are shown instead."""
    p = float64(params)
    curve = inspect.fading_memory(p, reading.ids[: t + 1], K)
    ks = np.arange(len(curve.norms))
    steps = t - ks
    hs = reading.hs[steps]  # (K+1, L, H)
    if reading.cell == "rnn":
        name, factor = "tanh′", (1.0 - hs**2).mean(axis=(1, 2))
        sat = (np.abs(hs) > inspect.SATURATED).mean(axis=(1, 2))
    else:  # the kept route goes through the gate, not through tanh': how often is it open?
        name = "z" if reading.cell == "gru" else "f"
        gate = np.array([[_parts(p, reading, s, layer)[name] for layer in range(hs.shape[1])] for s in steps])
        factor, sat = gate.mean(axis=(1, 2)), (gate > 0.9).mean(axis=(1, 2))
    whh = float(np.linalg.norm(inspect.recurrent_matrix(p, 0), 2))
    return Fading(t, curve.norms, name, factor, sat, whh, curve.half_life)
