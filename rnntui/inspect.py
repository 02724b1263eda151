"""Inside the network: pure functions that look at a trained model (arrays in, arrays out).

Everything here takes the model's parameters as a plain mapping of arrays (``RNN.params``: embed,
each layer's cell weights Wxh<l>, Whh<l>, bh<l>, ..., Why, by) and token ids, so the CLI and the TUI
call the same math, and a test can call it on a random float64 model. The parameters say which cell
they are (``cell_of``). No textual or rich here.

Dimension legend (as in ``kernels.py``):
    V = vocabulary size   E = embedding size   H = hidden size   L = layers
    T = tokens of a text  K = largest distance looked back   N = points (tokens, sentences)
    F = features          S = sentences

The model, row-vector convention (x_t^0 = embed[token_t], x_t^l = h_t^(l-1)):
    h_t^l  = tanh(x_t^l Wxh^l + h_(t-1)^l Whh^l + bh^l)     the vanilla cell (GRU, LSTM: rnntui/cells)
    logits = h_t^(L-1) Why + by
A state (L, S*H) is h, or for the LSTM h then c (``model.py``).

Sections: 1) embeddings: PCA, neighbours, analogies; 2) the softmax's geometry; 3) fading memory
(input Jacobians); 4) sentence vectors; 5) what a unit does; 6) saturation and health; and a
terminal-scatter label placer shared by the CLI and TUI.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from rnntui import cells

Params = Mapping[str, np.ndarray]
SATURATED = 0.95  # |h| above this counts as saturated: tanh' = 1 - h^2 < 0.1 there


def n_layers(params: Params) -> int:
    """L: the number of stacked recurrent layers in ``params``."""
    return sum(1 for k in params if k.startswith("Whh"))


def cell_of(params: Params) -> ModuleType:
    """The cell module (rnntui.cells) these parameters belong to: the one whose ``param_shapes`` are
    layer 0's names and shapes (vanilla Whh0 (H, H); GRU (H, 3H) and a bhn0; LSTM (H, 4H))."""
    I, H = params["Wxh0"].shape[0], params["Whh0"].shape[0]
    layer0 = {k[:-1]: v.shape for k, v in params.items() if k.endswith("0") and k[:-1] != "embed"}
    for cell in cells.CELLS.values():
        if layer0 == cell.param_shapes(I, H):
            return cell
    raise ValueError(f"these parameters are no known cell's: layer 0 has {layer0}")


def _layer_params(params: Params, cell: ModuleType, layer: int) -> dict[str, np.ndarray]:
    return {k: params[f"{k}{layer}"] for k in cell.param_shapes(1, 1)}


@dataclass(frozen=True)
class StateTrace:
    """Everything a cell holds after each token of a text."""

    hs: np.ndarray  # (T, L, H) the memory h
    cs: np.ndarray | None  # (T, L, H) the LSTM's cell state c; None for other cells
    gates: np.ndarray  # (T, L, G, H) the gates the cell shows (cell.GATES), 0..1; G = 0 for vanilla
    final: np.ndarray  # (L, S*H) the state after the last token


def state_trace_from_inputs(params: Params, x: np.ndarray, h0: np.ndarray | None = None) -> StateTrace:
    """Every layer's state after each input: x (T, E) embedded inputs, h0 (L, S*H) or None (zeros).
    Each layer is the cell's plain NumPy twin over the whole text (one stream)."""
    cell = cell_of(params)
    L, H = n_layers(params), params["Whh0"].shape[0]
    T = len(x)
    dtype = np.result_type(x, params["Whh0"])
    hs = np.empty((T, L, H), dtype)
    cs = np.empty((T, L, H), dtype) if cell.STATE_SLOTS == 2 else None
    gates = np.empty((T, L, len(cell.GATES), H), dtype)
    final = np.zeros((L, cell.STATE_SLOTS * H), dtype)
    for layer in range(L):
        s0 = final[layer] if h0 is None else np.asarray(h0[layer], dtype)
        out = cell.reference_forward(np.asarray(x, dtype)[:, None, :], _layer_params(params, cell, layer),
                                     s0[None, :])  # fmt: skip
        hs[:, layer] = out[0][:, 0]
        if cell.GATES:
            gates[:, layer] = cell.gate_values(out[1][:, 0])
        final[layer, :H] = hs[-1, layer] if T else s0[:H]
        if cs is not None:
            cs[:, layer] = out[2][:, 0]
            final[layer, H:] = cs[-1, layer] if T else s0[H:]
        x = hs[:, layer]
    return StateTrace(hs, cs, gates, final)


# -- finding tokens and text ------------------------------------------------------------------------

TOKEN_ALIASES = {"space": " ", "newline": "\n", "\\n": "\n", "tab": "\t", "\\t": "\t", "␣": " ", "⏎": "\n"}


def token_id(vocab, word: str) -> int | None:
    """The id of ``word`` in ``vocab`` (a ``corpus.Vocab``), or None. Char level also takes 'space',
    'newline', '\\n', 'tab', '␣', '⏎'; a lowercased word vocabulary also takes the word in capitals."""
    candidates = [word]
    if vocab.level == "char":
        candidates.append(TOKEN_ALIASES.get(word.lower(), word))
    elif vocab.lowercase:
        candidates.append(word.lower())
    for c in candidates:
        tid = vocab.id_of(c)
        if tid is not None:
            return tid
    return None


def training_corpus_ids(ckpt) -> tuple[np.ndarray, np.ndarray] | None:
    """(all token ids, validation ids) of the corpus a checkpoint was trained on, or None when it is
    not on this machine (or has changed since): see ``rnntui.trainingtext.locate``."""
    from rnntui.trainingtext import CorpusMissingError, locate

    try:
        found = locate(ckpt)
    except CorpusMissingError:
        return None
    return found.ids, found.val


def snippet_parts(tokens: Sequence[str], t: int, level: str) -> tuple[str, str, str]:
    """The text just before token t, token t itself, and a little after it, each on one line
    (newline shown as ⏎, tab as ⇥): the context of a unit's top activation. Words keep the text's
    own spacing: the space before token t (if the text has one) ends the first part, so
    ``left + mid + right`` reads as the text does."""
    from rnntui.corpus import WordJoiner

    before, after = (40, 10) if level == "char" else (10, 3)
    start = max(0, t - before)
    window = list(tokens[start : t + 1 + after])
    if level == "char":
        pieces = window
    else:
        joiner = WordJoiner()
        pieces = [joiner.add(w) for w in window]  # each word with the space before it, if any
    k = t - start
    space = pieces[k][: len(pieces[k]) - len(tokens[t])]

    def flat(text: str) -> str:
        return text.replace("\n", "⏎").replace("\t", "⇥")

    return flat("".join(pieces[:k]) + space), flat(tokens[t]), flat("".join(pieces[k + 1 :]))


# -- running the model over a text ----------------------------------------------------------------


def hidden_trace_from_inputs(params: Params, x: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
    """Every layer's memory after each input: x (T, E) embedded inputs, h0 (L, H) or None (zeros)
    -> hs (T, L, H), where hs[t, l] = h_t^l.

    Layer by layer: the input products of a whole layer are one (T, I) x (I, H) product, and only
    the recurrence goes step by step. Gated cells: their NumPy twin (``state_trace_from_inputs``);
    h0 is then a state (L, S*H).
    """
    if cell_of(params) is not cells.vanilla:
        return state_trace_from_inputs(params, x, h0).hs
    L, H = n_layers(params), params["Whh0"].shape[0]
    T = len(x)
    hs = np.empty((T, L, H), np.result_type(x, params["Whh0"]))
    for layer in range(L):
        pre = x @ params[f"Wxh{layer}"] + params[f"bh{layer}"]  # (T, H)
        Whh = params[f"Whh{layer}"]
        h = np.zeros(H, hs.dtype) if h0 is None else np.asarray(h0[layer], hs.dtype)
        for t in range(T):
            h = np.tanh(pre[t] + h @ Whh)  # (H,)
            hs[t, layer] = h
        x = hs[:, layer]
    return hs


def hidden_trace(params: Params, ids: np.ndarray, h0: np.ndarray | None = None) -> np.ndarray:
    """Token ids (T,) read from h0 (L, H) (default: zeros) -> every layer's memory hs (T, L, H)."""
    ids = np.asarray(ids, np.int64)
    return hidden_trace_from_inputs(params, params["embed"][ids], h0)


def preactivations(
    params: Params,
    ids: np.ndarray,
    hs: np.ndarray,
    h0: np.ndarray | None = None,
    trace: StateTrace | None = None,
) -> np.ndarray:
    """The pre-activations a_t^l (T, L, H), with hs = tanh(a), of a trace ``hs`` (T, L, H) of token ids
    (T,) read from h0 (L, H) (default zeros). Unlike h they do not saturate, so they rank contexts
    where a unit sits at ±1: a = 12 drives it harder than a = 3. One batched product per layer.

    Gated cells have no single pre-activation behind h; the unsaturated quantity is returned instead:
    the cell state c for the LSTM (h = o tanh(c)), and h itself for the GRU (a blend, not a squash).
    ``trace``: the text's StateTrace when the caller has it (so the LSTM is not run again)."""
    cell = cell_of(params)
    if cell is not cells.vanilla:
        if cell.STATE_SLOTS == 2:
            if trace is None:
                trace = state_trace_from_inputs(params, params["embed"][np.asarray(ids, np.int64)], h0)
            return trace.cs
        return hs.copy()
    T, L, H = hs.shape
    x = params["embed"][np.asarray(ids, np.int64)]
    out = np.empty_like(hs)
    for layer in range(L):
        prev = np.empty((T, H), hs.dtype)  # h_(t-1)
        prev[0] = 0.0 if h0 is None else h0[layer]
        prev[1:] = hs[:-1, layer]
        out[:, layer] = x @ params[f"Wxh{layer}"] + prev @ params[f"Whh{layer}"] + params[f"bh{layer}"]
        x = hs[:, layer]
    return out


def logits_of(params: Params, h_top: np.ndarray) -> np.ndarray:
    """Next-token logits (..., V) of top-layer memories h_top (..., H)."""
    return h_top @ params["Why"] + params["by"]


# -- 1) embeddings ---------------------------------------------------------------------------------


def pca(X: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal components by SVD: X (N, D) -> (coords (N, k), axes (k, D), explained (k,)).

    Centre the rows, take the SVD X_c = U S V^T; the first k rows of V^T are the axes, the
    projections X_c V_k = U_k S_k are the coordinates, and S_i^2 / sum(S^2) is the share of the
    total variance each axis explains. Signs are fixed so each axis's largest |loading| is positive.
    """
    Xc = X - X.mean(axis=0)
    U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    k = min(k, len(S))
    signs = np.sign(Vt[np.arange(k), np.abs(Vt[:k]).argmax(axis=1)])
    signs[signs == 0] = 1.0
    axes = Vt[:k] * signs[:, None]  # (k, D)
    coords = Xc @ axes.T  # (N, k)
    total = float((S**2).sum())
    explained = (S[:k] ** 2) / total if total > 0 else np.zeros(k)
    return coords, axes, explained


def unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows of X (N, D) scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(X, axis=-1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def cosine_matrix(X: np.ndarray, Y: np.ndarray | None = None) -> np.ndarray:
    """Cosine similarity of every row of X (N, D) with every row of Y (M, D) (default X) -> (N, M)."""
    Xn = unit_rows(X)
    return Xn @ (Xn if Y is None else unit_rows(Y)).T


def token_vectors(params: Params, which: str = "input") -> np.ndarray:
    """Each token's vector (V, D).

    input      the embedding rows (V, E)
    projected  embed Wxh^0 (V, H): what each token adds to the first layer's pre-activation, the
               input as the network actually uses it (rows of rarely seen tokens stay near their
               random start in both spaces)
    output     the columns of Why (V, H): the vector the memory is dotted with to score the token
    """
    if which == "input":
        return params["embed"]
    if which == "projected":
        return params["embed"] @ params["Wxh0"]
    if which == "output":
        return params["Why"].T
    raise ValueError(f"which must be 'input', 'projected' or 'output' (got {which!r})")


def nearest(
    vectors: np.ndarray, query: np.ndarray, n: int = 10, exclude: Sequence[int] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """The n rows of vectors (V, D) most cosine-similar to query (D,), skipping ids in ``exclude``.

    Returns (ids (n,), cosines (n,)), most similar first.
    """
    sims = cosine_matrix(query[None, :], vectors)[0]  # (V,)
    sims[list(exclude)] = -np.inf
    n = min(n, len(sims) - len(set(exclude)))
    order = np.argsort(-sims, kind="stable")[:n]
    return order, sims[order]


def neighbours(vectors: np.ndarray, token: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The n tokens nearest to ``token`` by cosine similarity (itself excluded): (ids (n,), cos (n,))."""
    return nearest(vectors, vectors[token], n, exclude=(token,))


@dataclass(frozen=True)
class Analogy:
    """The answer to a - b + c, and how it compares with chance."""

    ids: np.ndarray  # (n,) best answers, inputs excluded
    cosines: np.ndarray  # (n,) their cosine with the target a - b + c (unit vectors)
    random_best: np.ndarray  # (R,) best cosine for R random triples: what noise reaches
    percentile: float  # share (0..100) of random triples whose best cosine is below ours
    echo: str | None  # "a" or "c" when the answer is just that input's nearest neighbour, else None
    verdict: str  # the judgement in plain words


def analogy(
    vectors: np.ndarray,
    a: int,
    b: int,
    c: int,
    n: int = 5,
    *,
    trials: int = 300,
    rng: np.random.Generator | None = None,
    skip: Sequence[int] = (),
    names: Sequence[str] = ("a", "b", "c"),
) -> Analogy:
    """a - b + c ("king - man + woman"), on unit vectors (3CosAdd), excluding a, b and c.

    Two checks make the verdict. Chance: the same is done for ``trials`` random triples of distinct
    tokens (never from ``skip``, e.g. <unk>); if their best cosines often reach ours, the answer is
    noise. Echo: a small model's "answer" is often just the nearest neighbour of a or c; if it is,
    and it is no closer to a - b + c than to that input alone, the offset a - b did nothing.
    ``names`` (of a, b, c) are only used in the verdict's wording.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    U = unit_rows(np.asarray(vectors, np.float64))
    ids, cos = nearest(U, U[a] - U[b] + U[c], n, exclude=(a, b, c))
    pool = np.setdiff1d(np.arange(len(U)), np.asarray(skip, np.int64))
    random_best = np.empty(0)
    if len(pool) >= 4:
        triples = np.stack([rng.choice(pool, 3, replace=False) for _ in range(trials)])  # (R, 3)
        targets = U[triples[:, 0]] - U[triples[:, 1]] + U[triples[:, 2]]  # (R, D)
        sims = cosine_matrix(targets, U)  # (R, V)
        np.put_along_axis(sims, triples, -np.inf, axis=1)
        random_best = sims.max(axis=1)
    best = float(cos[0]) if len(cos) else float("nan")
    pct = 100.0 * float((random_best < best).mean()) if len(random_best) else float("nan")
    echo = None
    for which, x in ((names[0], a), (names[2], c)):
        if len(ids) and echo is None:
            nn = int(nearest(U, U[x], 1, exclude=(a, b, c))[0][0])
            if nn == int(ids[0]) and best <= float(U[x] @ U[nn]):
                echo = which
    return Analogy(ids, cos, random_best, pct, echo, _analogy_verdict(best, random_best, pct, echo))


def _analogy_verdict(best: float, random_best: np.ndarray, pct: float, echo: str | None) -> str:
    if not len(random_best):
        return "too few tokens to compare with chance"
    median = float(np.median(random_best))
    chance = f"cosine {best:.2f} vs {median:.2f} for a typical random triple (percentile {pct:.0f})"
    if pct < 90:
        return f"noise: random triples do about as well — {chance}"
    if echo is not None:
        return (f"weak: {chance}, but the answer is simply the nearest neighbour of {echo!r}, "
                "and no closer to the sum than to it")  # fmt: skip
    return f"meaningful: stands out from chance — {chance}"


# -- 2) the softmax's geometry -----------------------------------------------------------------------


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax(logits / temperature) over the last axis, in float64 (temperature > 0)."""
    z = np.asarray(logits, np.float64) / temperature
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def entropy_bits(p: np.ndarray) -> float:
    """Shannon entropy of a distribution p (V,) in bits."""
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


@dataclass(frozen=True)
class SoftmaxGeometry:
    """How the memory h turns into next-token probabilities, for the top tokens."""

    h: np.ndarray  # (H,) top-layer memory
    ids: np.ndarray  # (n,) most likely tokens, best first
    dots: np.ndarray  # (n,) h . Why[:, tok]
    biases: np.ndarray  # (n,) by[tok]
    logits: np.ndarray  # (n,) dots + biases
    cosines: np.ndarray  # (n,) cos(h, Why[:, tok]): dot = |h| |w| cos
    w_norms: np.ndarray  # (n,) |Why[:, tok]|
    probs: np.ndarray  # (n,) probability at the temperature
    probs_at_1: np.ndarray  # (n,) probability at temperature 1
    temperature: float
    entropy: float  # bits, whole distribution at the temperature
    entropy_at_1: float  # bits at temperature 1


def softmax_geometry(
    params: Params, h_top: np.ndarray, temperature: float = 1.0, n: int = 10
) -> SoftmaxGeometry:
    """The output layer seen as geometry: h_top (H,) -> each token's logit h . w_tok + b_tok for the
    n likeliest tokens, their probabilities at ``temperature`` (> 0) and at 1, and both entropies."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0 (got {temperature})")
    Why, by = params["Why"], params["by"]
    dots_all = h_top @ Why  # (V,)
    logits = dots_all + by
    p_t, p_1 = softmax(logits, temperature), softmax(logits, 1.0)
    ids = np.argsort(-logits, kind="stable")[:n]
    w = Why[:, ids]  # (H, n)
    w_norms = np.linalg.norm(w, axis=0)
    h_norm = float(np.linalg.norm(h_top))
    cos = dots_all[ids] / np.where(w_norms * h_norm > 0, w_norms * h_norm, 1.0)
    return SoftmaxGeometry(
        h=h_top,
        ids=ids,
        dots=dots_all[ids],
        biases=by[ids],
        logits=logits[ids],
        cosines=cos,
        w_norms=w_norms,
        probs=p_t[ids],
        probs_at_1=p_1[ids],
        temperature=temperature,
        entropy=entropy_bits(p_t),
        entropy_at_1=entropy_bits(p_1),
    )


# -- 3) fading memory --------------------------------------------------------------------------------


def input_jacobians(
    params: Params, x: np.ndarray, K: int, h0: np.ndarray | None = None, hs: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Yield J_k = d h_(T-1)^(L-1) / d x_(T-1-k)  (H, E) for k = 0..K: how the last top-layer memory
    moves with the embedded input k tokens back. x (T, E) embedded inputs; hs (T, L, H) their trace
    if already computed.

    Reverse mode through the actual chain. G[l] holds d h_last / d h_t^l (H, H) for the current t;
    with D_t^l = diag(1 - (h_t^l)^2) the tanh derivative and a_t^l the pre-activation:
        d h_last / d a_t^l      = G[l] D_t^l
        d h_last / d x_t^l      = G[l] D_t^l Wxh^l^T   (for l > 0 this adds to G[l-1]: x^l = h^(l-1))
        d h_last / d h_(t-1)^l  = G[l] D_t^l Whh^l^T   (the recurrence: becomes G[l] for step t-1)
    Layers are visited top-down at each t, so G[l-1] has both of its contributions before use.

    Gated cells: ``_gated_input_jacobians``, the same quantity through the gates.
    """
    if cell_of(params) is not cells.vanilla:
        yield from _gated_input_jacobians(params, x, K, h0)
        return
    L, H = n_layers(params), params["Whh0"].shape[0]
    T = len(x)
    if hs is None:
        hs = hidden_trace_from_inputs(params, x, h0)
    dtype = hs.dtype
    G = [np.zeros((H, H), dtype) for _ in range(L)]
    G[L - 1] = np.eye(H, dtype=dtype)
    for k in range(min(K, T - 1) + 1):
        t = T - 1 - k
        for layer in range(L - 1, -1, -1):
            GD = G[layer] * (1.0 - hs[t, layer] ** 2)  # (H, H): scales column j by tanh'_j
            into_input = GD @ params[f"Wxh{layer}"].T  # (H, I)
            if layer > 0:
                G[layer - 1] = G[layer - 1] + into_input
            else:
                yield into_input
            G[layer] = GD @ params[f"Whh{layer}"].T


def _gated_input_jacobians(
    params: Params, x: np.ndarray, K: int, h0: np.ndarray | None
) -> Iterator[np.ndarray]:
    """J_k = d h_(T-1)^(L-1) / d x_(T-1-k) (H, E) for a gated cell, k = 0..K, by backpropagation through
    time with H seeds at once: stream j of a batch of H carries the gradient of unit j of the last
    memory, so the batch's dLoss/dx_t is the Jacobian's rows. Only the last K+1 steps are run back,
    from the state the whole text's forward pass reached before them (exact: the earlier text only
    sets that state). The cell's own float64 kernels do the work: the forward pass once (every
    stream reads the same text), the backward without weight gradients."""
    cell = cell_of(params)
    L, H = n_layers(params), params["Whh0"].shape[0]
    x = np.asarray(x, np.float64)
    T = len(x)
    k_max = min(K, T - 1)
    start = T - 1 - k_max  # first step run back
    p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
    before = state_trace_from_inputs(p64, x[:start], h0).final if start else (
        np.zeros((L, cell.STATE_SLOTS * H)) if h0 is None else np.asarray(h0, np.float64))  # fmt: skip
    n = k_max + 1
    # the forward pass once, as one stream; then copied to H streams, one per seed (the 3-D buffers
    # have the batch on axis 1)
    xs = [np.ascontiguousarray(np.broadcast_to(x[start:, None, :], (n, H, x.shape[1])))]
    x1 = np.ascontiguousarray(x[start:, None, :])  # (n, 1, I): the one stream's input to this layer
    wss = []
    for layer in range(L):
        one = cell.Buffers(n, 1, H, np.float64)
        cell.layer_forward(x1, _layer_params(p64, cell, layer), before[layer][None], one)
        x1 = one.hs[1:]
        ws = cell.Buffers(n, H, H, np.float64)
        for name, buf in vars(one).items():
            if buf.ndim == 3:
                getattr(ws, name)[...] = buf
        wss.append(ws)
        xs.append(ws.hs[1:])
    dh = np.zeros((n, H, H))
    dh[-1] = np.eye(H)  # stream j: the gradient of unit j of the last top-layer memory
    for layer in range(L - 1, -1, -1):
        dx = np.empty_like(xs[layer])
        cell.layer_backward(xs[layer], _layer_params(p64, cell, layer), wss[layer], dh, dx, None,
                            np.empty((H, cell.STATE_SLOTS * H)))  # fmt: skip
        dh = dx
    for k in range(n):
        yield dh[n - 1 - k]  # (H, E): row j is d h_last[j] / d x_(T-1-k)


def matrix_norm(J: np.ndarray, kind: str = "fro") -> float:
    """Frobenius (``fro``: sqrt of the sum of squares, the RMS gain over all input directions times
    sqrt(E)) or spectral (``spectral``: the largest gain in any one input direction) norm."""
    if kind == "fro":
        return float(np.sqrt((J * J).sum()))
    if kind == "spectral":
        return float(np.linalg.norm(J, 2))
    raise ValueError(f"norm must be 'fro' or 'spectral' (got {kind!r})")


def half_life(curve: np.ndarray) -> float | None:
    """Distance k at which the curve (K+1,) has first fallen to half its peak, interpolated
    geometrically between whole k (exact for an exponential decay); None if it never does."""
    curve = np.asarray(curve, np.float64)
    if not len(curve) or not curve.max() > 0:
        return None
    peak = int(curve.argmax())
    half = curve[peak] / 2
    for k in range(peak + 1, len(curve)):
        if curve[k] <= half:
            lo, hi = curve[k - 1], curve[k]
            if hi <= 0:
                return float(k)
            return k - 1 + float(np.log(lo / half) / np.log(lo / hi))
    return None


def fitted_half_life(curve: np.ndarray) -> float | None:
    """ln 2 / decay rate of a least-squares line through log(curve) from its peak on: the half-life of
    the best exponential fit, steadier than ``half_life`` on a bumpy curve. None if it does not decay."""
    curve = np.asarray(curve, np.float64)
    peak = int(curve.argmax()) if len(curve) else 0
    tail = curve[peak:]
    k = np.arange(len(tail))
    keep = tail > 0
    if keep.sum() < 2:
        return None
    slope = np.polyfit(k[keep], np.log(tail[keep]), 1)[0]
    return float(np.log(2) / -slope) if slope < 0 else None


@dataclass(frozen=True)
class FadingMemory:
    """How much each earlier token still moves the last memory of a text."""

    norms: np.ndarray  # (K+1,) ||d h_last / d x_(last-k)|| for k = 0..K
    norm: str  # "fro" or "spectral"
    half_life: float | None  # tokens back until the norm is half its peak (None: not within K)
    fitted_half_life: float | None  # half-life of the best exponential fit
    saturated: np.ndarray  # (L,) share of units with |h| > SATURATED at the last position
    saturated_text: np.ndarray  # (L,) the same share averaged over every position of the text
    hs: np.ndarray  # (T, L, H) the memory after each token
    # (K+1,) connectivity to the target (Distill's "Memorization in RNNs"): ||d z_target / d x_(last-k)||,
    # z the logits after the last token; None when no target was asked for
    connectivity: np.ndarray | None = None
    target: int | None = None


def fading_memory(
    params: Params, ids: np.ndarray, K: int = 50, norm: str = "fro", h0: np.ndarray | None = None,
    target: int | None = None,
) -> FadingMemory:  # fmt: skip
    """The fading-memory curve of a text: ids (T,) -> ||d h_(T-1) / d x_(T-1-k)|| for k = 0..min(K, T-1),
    where h is the top layer's memory and x the embedding input (through every layer). With a
    ``target`` token, also its connectivity: ||d z_target / d x_(T-1-k)|| (2-norm over the embedding),
    z = h_(T-1) Why + by the next-token logits, so d z_target / d x = Why[:, target] · J_k."""
    ids = np.asarray(ids, np.int64)
    if len(ids) == 0:
        raise ValueError("the text has no tokens")
    x = params["embed"][ids]
    hs = hidden_trace_from_inputs(params, x, h0)
    Js = list(input_jacobians(params, x, K, h0=h0, hs=hs))
    norms = np.array([matrix_norm(J, norm) for J in Js])
    connectivity = None
    if target is not None:
        w = np.asarray(params["Why"][:, int(target)], np.float64)  # (H,)
        connectivity = np.array([float(np.linalg.norm(w @ J)) for J in Js])  # (K+1,)
    sat = np.abs(hs) > SATURATED  # (T, L, H)
    return FadingMemory(
        norms,
        norm,
        half_life(norms),
        fitted_half_life(norms),
        sat[-1].mean(axis=-1),
        sat.mean(axis=(0, 2)),
        hs,
        connectivity,
        None if target is None else int(target),
    )


def token_bits(params: Params, ids: np.ndarray) -> np.ndarray:
    """Surprise -log2 p(ids[t+1] | ids[:t+1]) of each next token of a text read from a zero state:
    ids (T,) -> (T-1,) bits."""
    ids = np.asarray(ids, np.int64)
    hs = hidden_trace(params, ids[:-1])  # (T-1, L, H)
    z = logits_of(params, hs[:, -1]).astype(np.float64)  # (T-1, V)
    m = z.max(1, keepdims=True)
    log_z = (m + np.log(np.exp(z - m).sum(1, keepdims=True)))[:, 0]
    return (log_z - z[np.arange(len(ids) - 1), ids[1:]]) / np.log(2)


@dataclass(frozen=True)
class Comparison:
    """The same text through two models: who is less surprised where, and how fast each forgets."""

    bits_a: np.ndarray  # (T-1,) surprise of each next token, bits
    bits_b: np.ndarray  # (T-1,)
    memory_a: np.ndarray  # (K+1,) fading-memory curve, each window's normalised to its peak, averaged
    memory_b: np.ndarray
    half_life_a: float | None  # tokens back until the averaged curve halves (``half_life``)
    half_life_b: float | None
    fitted_a: float | None  # half-life of the best exponential fit (``fitted_half_life``): the tail's
    fitted_b: float | None
    windows: int  # text windows the curves average

    @property
    def diff(self) -> np.ndarray:
        """(T-1,) bits_a - bits_b: positive where B is less surprised."""
        return self.bits_a - self.bits_b


def compare_models(
    params_a: Params, params_b: Params, ids: np.ndarray, K: int = 30, windows: int = 8
) -> Comparison:
    """Run ids (T,) through two models with the same vocabulary (any cells). The fading-memory
    curves are ||d h_last / d x_(last-k)|| at the ends of ``windows`` stretches of the text spread
    evenly over it (each read from a zero state, K + 1 + 20 tokens long), normalised by their peak so
    the shapes compare, then averaged: one text position alone is a noisy estimate."""
    ids = np.asarray(ids, np.int64)
    if len(ids) < 2:
        raise ValueError("the text needs at least two tokens")
    if params_a["embed"].shape[0] != params_b["embed"].shape[0]:
        raise ValueError("the models have different vocabularies")
    span = min(len(ids), K + 21)
    ends = np.unique(np.linspace(span, len(ids), windows).astype(int))
    curves = []
    for params in (params_a, params_b):
        acc = np.zeros(min(K, span - 1) + 1)
        for end in ends:
            norms = fading_memory(params, ids[end - span : end], K=K).norms
            acc += norms / max(norms.max(), 1e-300)
        curves.append(acc / len(ends))
    return Comparison(token_bits(params_a, ids), token_bits(params_b, ids), curves[0], curves[1],
                      half_life(curves[0]), half_life(curves[1]), fitted_half_life(curves[0]),
                      fitted_half_life(curves[1]), len(ends))  # fmt: skip


# -- 4) sentence vectors -----------------------------------------------------------------------------


def sentence_vectors(params: Params, sentences: Sequence[np.ndarray]) -> np.ndarray:
    """The final memory h of each sentence read from a zero state: S id arrays -> (S, L, H)."""
    L, H = n_layers(params), params["Whh0"].shape[0]
    out = np.zeros((len(sentences), L, H), params["Whh0"].dtype)
    for s, ids in enumerate(sentences):
        if len(ids):
            out[s] = hidden_trace(params, ids)[-1]
    return out


def sentence_map(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sentence vectors (S, D) (one layer, or layers concatenated) -> (cosine matrix (S, S),
    2D PCA coordinates (S, 2), explained variance (2,))."""
    coords, _, explained = pca(vectors, 2)
    if coords.shape[1] < 2:  # fewer than two sentences: pad the missing axis
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
        explained = np.pad(explained, (0, 2 - len(explained)))
    return cosine_matrix(vectors), coords, explained


# -- 5) what a unit does -----------------------------------------------------------------------------


CHAR_FEATURES = (
    "in double quotes",
    "in single quotes",
    "in parentheses",
    "position in line",
    "position in word",
    "after a space",
)
WORD_FEATURES = (
    "in double quotes",
    "in single quotes",
    "in parentheses",
    "position in line",
    "after punctuation",
)
_OPEN_DQ, _CLOSE_DQ = "“", "”"


def features(tokens: Sequence[str], level: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Simple interpretable features of each position of a tokenised text, for the state after
    reading token t (the token itself included). tokens: T token strings -> (names, values (T, F)).

    in double quotes   inside "..." (straight quotes alternate) or “...”; the opening mark counts,
                       the closing one does not
    in single quotes   inside '...': at char level a ' opens when it follows a non-letter and a
                       letter follows, and closes when no letter follows (so don't is not a quote);
                       at word level a standalone ' token (inner apostrophes stay in the word)
                       toggles
    in parentheses     nesting depth of ( ) is above zero
    position in line   tokens since the last newline (the newline itself: 0)
    position in word   char level: letters since the last non-letter (0 on a non-letter)
    after a space      char level: the token is a space (the next character starts a word)
    after punctuation  word level (no spaces there): the token is a punctuation mark
    """
    if level not in ("char", "word"):
        raise ValueError(f"level must be 'char' or 'word' (got {level!r})")
    names = CHAR_FEATURES if level == "char" else WORD_FEATURES
    T = len(tokens)
    out = np.zeros((T, len(names)))
    dq = sq = False
    depth = line = word = 0
    for t, tok in enumerate(tokens):
        prev = tokens[t - 1] if t > 0 else "\n"
        nxt = tokens[t + 1] if t + 1 < T else "\n"
        if tok == '"':
            dq = not dq
        elif tok in (_OPEN_DQ, _CLOSE_DQ):
            dq = tok == _OPEN_DQ
        if tok in ("'", "‘", "’"):
            if level == "word":
                sq = not sq
            elif sq and not nxt[:1].isalnum():
                sq = False
            elif not sq and not prev[-1:].isalnum() and nxt[:1].isalnum():
                sq = True
        depth = depth + 1 if tok == "(" else max(depth - 1, 0) if tok == ")" else depth
        line = 0 if tok == "\n" else line + 1
        word = word + 1 if tok.isalpha() else 0
        row = [float(dq), float(sq), float(depth > 0), float(line)]
        if level == "char":
            row += [float(word), float(tok == " ")]
        else:
            row += [float(not any(ch.isalnum() for ch in tok) and tok != "\n")]
        out[t] = row
    return names, out


def correlations(acts: np.ndarray, feats: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Pearson correlation of every feature with every unit: acts (T, U), feats (T, F) -> (F, U).

    Accumulated in float64 over chunks of rows, so a long text's activations are never copied
    whole. A constant column (a feature that never changes in this text, or a dead unit) has no
    correlation: its entries are 0.
    """
    T, U = acts.shape
    Fc = np.asarray(feats, np.float64)
    Fc = Fc - (Fc.mean(axis=0) if T else 0.0)  # (T, F); centred, so Fc^T acts = Fc^T (acts - mean)
    num = np.zeros((Fc.shape[1], U))
    total, squares = np.zeros(U), np.zeros(U)
    lo, hi = np.full(U, np.inf), np.full(U, -np.inf)
    for s in range(0, T, chunk):
        a = np.asarray(acts[s : s + chunk], np.float64)  # (chunk, U)
        num += Fc[s : s + chunk].T @ a
        total += a.sum(axis=0)
        squares += (a * a).sum(axis=0)
        lo, hi = np.minimum(lo, a.min(axis=0, initial=np.inf)), np.maximum(hi, a.max(axis=0, initial=-np.inf))
    a_norm = np.sqrt(np.maximum(squares - total * total / max(T, 1), 0.0))  # (U,) centred norms
    f_norm = np.linalg.norm(Fc, axis=0)  # (F,)
    f_const = np.ptp(feats, axis=0) == 0 if T else np.ones(Fc.shape[1], bool)
    dead = ~(hi > lo)
    denom = np.outer(f_norm, a_norm)
    r = num / np.where(denom > 0, denom, 1.0)
    r[f_const] = 0.0
    r[:, dead] = 0.0
    return r


def rank_units(r: np.ndarray, n: int = 5) -> np.ndarray:
    """For each feature, the n units with the largest |correlation|: r (F, U) -> unit ids (F, n)."""
    return np.argsort(-np.abs(r), axis=1, kind="stable")[:, :n]


def top_contexts(values: np.ndarray, n: int = 5, gap: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Positions where a unit is most positive and most negative: values (T,) -> (top (<=n,),
    bottom (<=n,)), strongest first, each pick at least ``gap`` positions from the ones before it
    so the snippets do not repeat one passage."""

    def pick(order: np.ndarray) -> np.ndarray:
        chosen: list[int] = []
        for t in order:
            if all(abs(int(t) - c) >= gap for c in chosen):
                chosen.append(int(t))
                if len(chosen) == n:
                    break
        return np.array(chosen, np.int64)

    order = np.argsort(-values, kind="stable")
    return pick(order), pick(order[::-1])


# -- 6) saturation and health ------------------------------------------------------------------------


def activation_histogram(hs: np.ndarray, bins: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Histogram of hidden activations per layer: hs (T, L, H) -> (counts (L, bins), edges (bins+1,)
    over [-1, 1], share of activations with |h| > SATURATED per layer (L,))."""
    edges = np.linspace(-1.0, 1.0, bins + 1)
    L = hs.shape[1]
    counts = np.zeros((L, bins), np.int64)
    for layer in range(L):
        idx = np.clip(np.searchsorted(edges, hs[:, layer].ravel(), side="right") - 1, 0, bins - 1)
        counts[layer] = np.bincount(idx, minlength=bins)
    return counts, edges, (np.abs(hs) > SATURATED).mean(axis=(0, 2))


GATE_LOW, GATE_HIGH = 0.1, 0.9  # a gate below / above these is left / right saturated (Karpathy et al. 2015)


@dataclass(frozen=True)
class GateSaturation:
    """How often each unit's gates are shut or wide open over a text: the plot Karpathy, Johnson &
    Fei-Fei (2015) used to find integrators, units whose forget gate stays open (LSTM) or whose
    update gate keeps the old memory (GRU z near 1) for most of the text."""

    names: tuple[str, ...]  # the cell's gates, e.g. ("input i", "forget f", "output o")
    left: np.ndarray  # (L, G, H) share of tokens where the gate is < GATE_LOW
    right: np.ndarray  # (L, G, H) share of tokens where the gate is > GATE_HIGH
    mean: np.ndarray  # (L, G, H) the gate's mean value


def gate_saturation(params: Params, ids: np.ndarray) -> GateSaturation:
    """Per layer, gate and unit: the fraction of the text's tokens where the gate is left-saturated
    (< 0.1) and right-saturated (> 0.9), and its mean. ids (T,). A vanilla cell has no gates."""
    cell = cell_of(params)
    if not cell.GATES:
        raise ValueError("a vanilla RNN has no gates: train with --cell gru or --cell lstm")
    ids = np.asarray(ids, np.int64)
    if len(ids) == 0:
        raise ValueError("the text has no tokens")
    return saturation_of(state_trace_from_inputs(params, params["embed"][ids]).gates, cell.GATES)


def saturation_of(gates: np.ndarray, names: tuple[str, ...]) -> GateSaturation:
    """GateSaturation of a gate trace (T, L, G, H) (``StateTrace.gates``)."""
    return GateSaturation(names, (gates < GATE_LOW).mean(0), (gates > GATE_HIGH).mean(0), gates.mean(0))


def recurrent_matrix(params: Params, layer: int) -> np.ndarray:
    """The square (H, H) recurrent matrix whose spectrum tells of the memory's gain: Whh for the
    vanilla cell; for the gated cells, the candidate's block (the GRU's Whh_n, the LSTM's Whh_g, both
    the third of the stacked gates), the one that writes new content into the memory."""
    W = params[f"Whh{layer}"]
    H = W.shape[0]
    return W if W.shape[1] == H else W[:, 2 * H : 3 * H]


def recurrent_spectra(params: Params) -> np.ndarray:
    """Spectral radius (largest |eigenvalue|) and largest singular value of each recurrent matrix
    (``recurrent_matrix``): -> (L, 2).

    Radius above 1: some direction of the memory grows step after step before tanh squashes it;
    far below 1: the memory forgets fast. The largest singular value bounds the one-step gain.
    """
    out = np.zeros((n_layers(params), 2))
    for layer in range(len(out)):
        W = np.asarray(recurrent_matrix(params, layer), np.float64)
        out[layer] = np.abs(np.linalg.eigvals(W)).max(), np.linalg.norm(W, 2)
    return out


# -- a terminal scatter with labels that do not collide -----------------------------------------------


def display_token(tok: str) -> str:
    """A token as a short visible label: space ␣, newline ⏎, tab ⇥, other control characters escaped."""
    special = {" ": "␣", "\n": "⏎", "\t": "⇥"}
    if tok in special:
        return special[tok]
    return tok if tok.isprintable() else repr(tok)[1:-1]


def place_labels(
    xy: np.ndarray, labels: Sequence[str], width: int, height: int, max_shift: int = 2
) -> list[tuple[int, int, int]]:
    """Place text labels of 2D points (N, 2) on a width x height character grid without overlaps.

    Points are scaled to the grid (y up); labels are placed in order (so pass the most important
    first), each centred on its point, or else shifted at most ``max_shift`` rows or columns, keeping one
    blank cell from any other label on its row. Returns (row, col, index) of every placed label;
    an index that is missing did not fit.
    """
    taken = np.zeros((height, width), bool)
    xy = np.asarray(xy, np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    placed: list[tuple[int, int, int]] = []
    for i, label in enumerate(labels):
        n = len(label)
        if n == 0 or n > width:
            continue
        centre = int(round((xy[i, 0] - lo[0]) / span[0] * (width - 1)))
        col0 = min(max(centre - n // 2, 0), width - n)  # centred on its point, inside the grid
        row0 = int(round((hi[1] - xy[i, 1]) / span[1] * (height - 1)))
        for dr, dc in _shifts(max_shift):
            r, c = row0 + dr, col0 + dc
            if (
                0 <= r < height
                and 0 <= c
                and c + n <= width
                and not taken[r, max(c - 1, 0) : c + n + 1].any()
            ):
                taken[r, c : c + n] = True
                placed.append((r, c, i))
                break
    return placed


def _shifts(m: int) -> list[tuple[int, int]]:
    """Offsets (row, col) within m of zero, nearest first (rows count double: cells are tall)."""
    offsets = [(dr, dc) for dr in range(-m, m + 1) for dc in range(-2 * m, 2 * m + 1)]
    return sorted(offsets, key=lambda o: (2 * abs(o[0]) + abs(o[1]), abs(o[0]), o))


def render_scatter(
    placed: list[tuple[int, int, int]], labels: Sequence[str], width: int, height: int
) -> list[str]:
    """Plain-text lines of a scatter from ``place_labels`` output."""
    grid = [[" "] * width for _ in range(height)]
    for r, c, i in placed:
        for j, ch in enumerate(labels[i]):
            grid[r][c + j] = ch
    return ["".join(row).rstrip() for row in grid]
