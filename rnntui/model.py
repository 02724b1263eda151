"""The rnntui language model: a stack of vanilla tanh RNN layers over a learned embedding.

    x_t     = embed[token_t]                                  (B, E)   a lookup, not a matmul
    h_t^l   = tanh(x_t^l Wxh^l + h_{t-1}^l Whh^l + bh^l)      (B, H)   x^0 = x_t, x^l = h^{l-1}
    logits  = h_t^L Why + by                                  (B, V)   memory . each token's vector
    p       = softmax(logits)                                 (B, V)

All parameters live in one flat float32 vector (``RNN.flat``), and each named weight is a view into
it, so the optimiser and gradient clipping are single loops and a checkpoint is a handful of arrays.
The heavy lifting is in ``kernels.py``; this file wires the kernels together.

Initialisation (chosen so a default run learns without tuning):
  embed ~ N(0, 1); Wxh ~ N(0, 1/I) (unit-variance pre-activations); Whh orthogonal (keeps the
  memory's norm through time at the start, delaying vanishing gradients); Why ~ N(0, 1/H) * 0.1
  (the first predictions are near uniform, loss near ln V); biases 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnntui import kernels


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int  # V: tokens the softmax chooses between
    embed: int = 64  # E: size of each token's input vector
    hidden: int = 256  # H: units in each layer's memory
    layers: int = 1  # L: stacked tanh layers

    def to_dict(self) -> dict:
        return asdict(self)


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter, in the order they sit in the flat vector."""
    V, E, H = cfg.vocab_size, cfg.embed, cfg.hidden
    shapes: dict[str, tuple[int, ...]] = {"embed": (V, E)}
    for layer in range(cfg.layers):
        shapes[f"Wxh{layer}"] = (E if layer == 0 else H, H)
        shapes[f"Whh{layer}"] = (H, H)
        shapes[f"bh{layer}"] = (H,)
    shapes["Why"] = (H, V)
    shapes["by"] = (V,)
    return shapes


def views(flat: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Named reshaped views into a flat vector laid out as ``shapes``."""
    out, offset = {}, 0
    for name, shape in shapes.items():
        size = int(np.prod(shape))
        out[name] = flat[offset : offset + size].reshape(shape)
        offset += size
    return out


def default_parts() -> int:
    """How many threads the kernels use: Numba's thread count (NUMBA_NUM_THREADS; all cores by
    default). Each thread then calls a single-threaded BLAS, set here once for the process."""
    _single_threaded_blas()
    import numba

    return numba.get_num_threads()


_blas_limited = False


def _single_threaded_blas() -> None:
    """Limit the BLAS that Numba's np.dot calls (SciPy's) to one thread: the kernels split the work
    between threads themselves, and two threads each starting a 2-thread BLAS would oversubscribe
    the cores. NumPy's own BLAS (a separate library) keeps its threads."""
    global _blas_limited
    if _blas_limited:
        return
    _blas_limited = True
    try:
        import scipy.linalg.cython_blas  # noqa: F401  (loads the library, so it can be found)
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return
    for lib in ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and "scipy" in Path(lib.filepath).parent.name:
            lib.set_num_threads(1)


class _Workspace:
    """Buffers for one (T, B) chunk shape, allocated once and reused every step."""

    def __init__(self, cfg: ModelConfig, T: int, B: int, dtype) -> None:
        E, H, V, L = cfg.embed, cfg.hidden, cfg.vocab_size, cfg.layers
        self.x = np.empty((T, B, E), dtype)  # embedded inputs
        self.hs = [np.empty((T + 1, B, H), dtype) for _ in range(L)]  # hs[l][0] = h0
        self.dhs = [np.empty((T, B, H), dtype) for _ in range(L)]
        self.dx = np.empty((T, B, E), dtype)
        self.dh0 = np.empty((L, B, H), dtype)
        self.logits = np.empty((T * B, V), dtype)
        self.losses = np.empty(T * B, dtype)
        self.WhyT = None  # (V, H) contiguous transpose of Why, made in the backward pass


class RNN:
    """Parameters plus forward/backward. ``flat``/``grad`` are flat vectors; ``params``/``grads``
    map names to views of them."""

    def __init__(self, cfg: ModelConfig, dtype=np.float32) -> None:
        self.cfg = cfg
        self.shapes = param_shapes(cfg)
        n = sum(int(np.prod(s)) for s in self.shapes.values())
        self.flat = np.zeros(n, dtype)
        self.grad = np.zeros(n, dtype)
        self.params = views(self.flat, self.shapes)
        self.grads = views(self.grad, self.shapes)
        self._workspaces: dict[tuple[int, int], _Workspace] = {}
        self._parts: int | None = None

    @property
    def dtype(self):
        return self.flat.dtype

    @property
    def parts(self) -> int:
        """Threads the chunk kernels split their work between (decided on first use, so generating
        text, which never needs it, does not pay for setting up the BLAS)."""
        if self._parts is None:
            self._parts = default_parts()
        return self._parts

    @parts.setter
    def parts(self, n: int) -> None:
        self._parts = max(1, int(n))

    @classmethod
    def initialised(cls, cfg: ModelConfig, rng: np.random.Generator, dtype=np.float32) -> RNN:
        """A fresh model with the initialisation described in the module docstring."""
        model = cls(cfg, dtype)
        for name, shape in model.shapes.items():
            if name == "embed":
                w = rng.standard_normal(shape)
            elif name.startswith("Wxh"):
                w = rng.standard_normal(shape) / np.sqrt(shape[0])
            elif name.startswith("Whh"):
                q, r = np.linalg.qr(rng.standard_normal(shape))
                w = q * np.sign(np.diag(r))  # sign fix: a uniformly random orthogonal matrix
            elif name == "Why":
                w = rng.standard_normal(shape) * (0.1 / np.sqrt(shape[0]))
            else:
                w = np.zeros(shape)
            model.params[name][...] = w
        return model

    def zero_state(self, batch: int) -> np.ndarray:
        """The initial memory: zeros of shape (L, B, H)."""
        return np.zeros((self.cfg.layers, batch, self.cfg.hidden), self.dtype)

    def _workspace(self, T: int, B: int) -> _Workspace:
        key = (T, B)
        if key not in self._workspaces:
            self._workspaces = {key: _Workspace(self.cfg, T, B, self.dtype)}  # keep only the latest
        return self._workspaces[key]

    def _forward(self, inputs: np.ndarray, h0: np.ndarray) -> _Workspace:
        """Run every layer over inputs (T, B) from h0 (L, B, H); logits (N, V) left in the workspace."""
        T, B = inputs.shape
        ws = self._workspace(T, B)
        p = self.params
        kernels.embed_forward(inputs, p["embed"], ws.x)
        x = ws.x
        for layer in range(self.cfg.layers):
            hs = ws.hs[layer]
            hs[0] = h0[layer]
            kernels.rnn_forward(x, p[f"Wxh{layer}"], p[f"Whh{layer}"], p[f"bh{layer}"], hs, self.parts)
            x = hs[1:]
        kernels.matmul_rows(x.reshape(T * B, -1), p["Why"], ws.logits, self.parts)
        ws.logits += p["by"]
        return ws

    def loss_and_grads(self, tokens: np.ndarray, h0: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean next-token loss (nats) of a chunk, with gradients written into ``self.grad``.

        tokens (T+1, B): inputs are tokens[:-1], targets tokens[1:]. h0 (L, B, H) is the memory
        carried in from the previous chunk (truncated BPTT: no gradient flows past it, but its
        gradient is left in ``self.dh0`` for tests). Returns (loss, final memory (L, B, H)).
        """
        inputs, targets = tokens[:-1], tokens[1:]
        T, B = inputs.shape
        L, H = self.cfg.layers, self.cfg.hidden
        ws = self._forward(inputs, h0)
        p, g = self.params, self.grads
        # 1) loss, and dLoss/dlogits in place of the logits
        loss = kernels.softmax_xent(ws.logits, np.ascontiguousarray(targets).reshape(-1), self.parts)
        # 2) output layer
        top = ws.hs[L - 1][1:].reshape(T * B, H)
        kernels.matmul_tn(top, ws.logits, g["Why"], self.parts)
        kernels.column_sums(ws.logits, g["by"], self.parts)
        if ws.WhyT is None or ws.WhyT.shape != (self.cfg.vocab_size, H):
            ws.WhyT = np.empty((self.cfg.vocab_size, H), self.dtype)
        ws.WhyT[...] = p["Why"].T  # a contiguous copy: the product runs faster than on a transposed view
        kernels.matmul_rows(ws.logits, ws.WhyT, ws.dhs[L - 1].reshape(T * B, H), self.parts)
        # 3) down through the layers; a layer's dx is the dLoss/dh of the layer below
        for layer in range(L - 1, -1, -1):
            x = ws.hs[layer - 1][1:] if layer > 0 else ws.x
            dx = ws.dhs[layer - 1] if layer > 0 else ws.dx
            kernels.rnn_backward(
                x, p[f"Wxh{layer}"], p[f"Whh{layer}"], ws.hs[layer], ws.dhs[layer], dx,
                g[f"Wxh{layer}"], g[f"Whh{layer}"], g[f"bh{layer}"], ws.dh0[layer], self.parts,
            )  # fmt: skip
        # 4) the embedding rows that were looked up
        kernels.embed_backward(np.ascontiguousarray(inputs), ws.dx, g["embed"])
        self.dh0 = ws.dh0
        return loss, np.stack([hs[-1] for hs in ws.hs])

    def token_losses(self, tokens: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-token loss (nats) of a chunk without gradients: tokens (T+1, B) -> losses (T, B),
        and the final memory (L, B, H)."""
        inputs = np.ascontiguousarray(tokens[:-1])
        T, B = inputs.shape
        ws = self._forward(inputs, h0)
        kernels.xent(ws.logits, np.ascontiguousarray(tokens[1:]).reshape(-1), ws.losses, self.parts)
        return ws.losses.reshape(T, B).copy(), np.stack([hs[-1] for hs in ws.hs])

    # -- one token at a time ----------------------------------------------------------------------

    def step(self, token: int, h: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        """Feed one token: h (L, H) is updated in place; returns next-token logits (V,)."""
        if logits is None:
            logits = np.empty(self.cfg.vocab_size, self.dtype)
        kernels.step_token(token, *self._step_weights(), h, logits)
        return logits

    def _step_weights(self):
        """The weights step_token takes, built once per flat vector (they are views into it)."""
        cached = getattr(self, "_step_cache", None)
        if cached is not None and cached[0] is self.flat:
            return cached[1]
        p, L = self.params, self.cfg.layers
        weights = (
            p["embed"],
            tuple(p[f"Wxh{i}"] for i in range(L)),
            tuple(p[f"Whh{i}"] for i in range(L)),
            tuple(p[f"bh{i}"] for i in range(L)),
            p["Why"],
            p["by"],
        )
        self._step_cache = (self.flat, weights)
        return weights
