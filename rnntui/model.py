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

import os
from concurrent.futures import ThreadPoolExecutor, wait
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
    """How many threads a batch is split between: the cores this process may run on. Each thread
    calls a single-threaded BLAS, set here once for the process."""
    _single_threaded_blas()
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_blas_limited = False


def _single_threaded_blas() -> None:
    """Limit the BLAS that Numba's np.dot calls (SciPy's) to one thread: the model splits the batch
    between threads itself, and two threads each starting a 2-thread BLAS would oversubscribe the
    cores. NumPy's own BLAS (a separate library) keeps its threads."""
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
    """Buffers for one thread's share of a (T, B) chunk, allocated once and reused every step."""

    def __init__(self, cfg: ModelConfig, T: int, B: int, dtype) -> None:
        E, H, V, L = cfg.embed, cfg.hidden, cfg.vocab_size, cfg.layers
        self.x = np.empty((T, B, E), dtype)  # embedded inputs
        self.hs = [np.empty((T + 1, B, H), dtype) for _ in range(L)]  # hs[l][0] = h0
        self.dhs = [np.empty((T, B, H), dtype) for _ in range(L)]
        self.dx = np.empty((T, B, E), dtype)
        self.dh0 = np.empty((L, B, H), dtype)
        self.logits = np.empty((T * B, V), dtype)
        self.losses = np.empty(T * B, dtype)


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
        self._buffers: dict[tuple[int, int, int], list[_Workspace]] = {}  # (T, B, parts) -> shares' buffers
        self._share_grads: list[np.ndarray] = []  # gradients of shares 1, 2, ... (share 0 uses grad)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_size = 0
        self._WhyT: np.ndarray | None = None  # Why's transpose for the backward pass, made each step
        self._parts: int | None = None

    @property
    def dtype(self):
        return self.flat.dtype

    @property
    def parts(self) -> int:
        """Threads a chunk's streams are split between (decided on first use, so generating text,
        which never needs it, does not pay for setting up the BLAS)."""
        if self._parts is None:
            self._parts = default_parts()
        return self._parts

    @parts.setter
    def parts(self, n: int) -> None:
        _single_threaded_blas()
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

    # -- a chunk of B streams, split between threads ------------------------------------------------
    #
    # Each thread takes a contiguous share of the B streams and runs the whole forward and backward
    # pass for it, with its own buffers and its own gradient vector; the shares are then added. The
    # threads never wait for each other inside a step (the kernels release the GIL), and every
    # product stays large: N/parts rows. Results depend on the number of parts only through the
    # order of that final sum.

    def _shares(self, B: int) -> list[tuple[int, int]]:
        """The (b0, b1) stream ranges of each thread: as even as possible, none empty."""
        n = max(1, min(self.parts, B))
        return [(B * i // n, B * (i + 1) // n) for i in range(n)]

    def _run_shares(self, fn, B: int) -> list:
        """fn(i, b0, b1) for every share, the first on this thread and the rest on the pool. Returns
        only when every share has finished, even if one raised (or Ctrl-C arrived): no thread is
        left writing into the buffers the next call will use."""
        shares = self._shares(B)
        if len(shares) == 1:
            return [fn(0, *shares[0])]
        if self._pool is None or self._pool_size != self.parts - 1:
            if self._pool is not None:
                self._pool.shutdown()
            self._pool_size = self.parts - 1
            self._pool = ThreadPoolExecutor(self._pool_size, thread_name_prefix="rnntui-share")
        try:
            futures = [self._pool.submit(fn, i, b0, b1) for i, (b0, b1) in enumerate(shares) if i > 0]
        except RuntimeError:  # the interpreter is exiting and has shut the pool down: one thread will do
            return [fn(i, b0, b1) for i, (b0, b1) in enumerate(shares)]
        try:
            first = fn(0, *shares[0])
        finally:
            wait(futures)
        return [first] + [f.result() for f in futures]

    def _workspaces(self, T: int, B: int) -> list[_Workspace]:
        """Each share's buffers for a (T, B) chunk. The two latest chunk shapes are kept: training
        and the evaluation between its steps (whose last chunk is usually shorter) alternate."""
        key = (T, B, self.parts)
        if key not in self._buffers:
            if len(self._buffers) >= 2:
                del self._buffers[next(iter(self._buffers))]  # the least recently used
            self._buffers[key] = [_Workspace(self.cfg, T, b1 - b0, self.dtype) for b0, b1 in self._shares(B)]
        else:
            self._buffers[key] = self._buffers.pop(key)  # now the most recently used
        return self._buffers[key]

    def _share_grad_views(self, n: int) -> list[dict[str, np.ndarray]]:
        """Named gradient views for n shares: share 0 writes straight into ``self.grad``, the others
        into gradient vectors of their own (made here, on the calling thread)."""
        while len(self._share_grads) < n - 1:
            self._share_grads.append(np.empty_like(self.grad))
        return [self.grads] + [views(g, self.shapes) for g in self._share_grads[: n - 1]]

    def _forward(self, ws: _Workspace, inputs: np.ndarray, h0: np.ndarray) -> None:
        """Every layer over inputs (T, b) from h0 (L, b, H); logits (T*b, V) left in ``ws``."""
        T, B = inputs.shape
        p = self.params
        kernels.embed_forward(inputs, p["embed"], ws.x)
        x = ws.x
        for layer in range(self.cfg.layers):
            hs = ws.hs[layer]
            hs[0] = h0[layer]
            kernels.rnn_forward(x, p[f"Wxh{layer}"], p[f"Whh{layer}"], p[f"bh{layer}"], hs)
            x = hs[1:]
        kernels.matmul(x.reshape(T * B, -1), p["Why"], ws.logits)
        ws.logits += p["by"]

    def _share_loss_and_grads(
        self, ws: _Workspace, g: dict, tokens: np.ndarray, h0: np.ndarray, N: int
    ) -> float:
        """Forward and backward of one share: tokens (T+1, b), h0 (L, b, H); the gradient of the
        mean loss over all N rows of the chunk goes into g. Returns the share's summed loss."""
        inputs = np.ascontiguousarray(tokens[:-1])
        T, B = inputs.shape
        L, H = self.cfg.layers, self.cfg.hidden
        self._forward(ws, inputs, h0)
        p = self.params
        # 1) loss, and dLoss/dlogits in place of the logits
        loss = kernels.softmax_xent(ws.logits, np.ascontiguousarray(tokens[1:]).reshape(-1), N)
        # 2) output layer
        top = ws.hs[L - 1][1:].reshape(T * B, H)
        kernels.matmul_tn(top, ws.logits, g["Why"])
        kernels.column_sums(ws.logits, g["by"])
        kernels.matmul(ws.logits, self._WhyT, ws.dhs[L - 1].reshape(T * B, H))
        # 3) down through the layers; a layer's dx is the dLoss/dh of the layer below
        for layer in range(L - 1, -1, -1):
            x = ws.hs[layer - 1][1:] if layer > 0 else ws.x
            dx = ws.dhs[layer - 1] if layer > 0 else ws.dx
            kernels.rnn_backward(
                x, p[f"Wxh{layer}"], p[f"Whh{layer}"], ws.hs[layer], ws.dhs[layer], dx,
                g[f"Wxh{layer}"], g[f"Whh{layer}"], g[f"bh{layer}"], ws.dh0[layer],
            )  # fmt: skip
        # 4) the embedding rows that were looked up
        kernels.embed_backward(inputs, ws.dx, g["embed"])
        return loss

    def loss_and_grads(self, tokens: np.ndarray, h0: np.ndarray) -> tuple[float, np.ndarray]:
        """Mean next-token loss (nats) of a chunk, with gradients written into ``self.grad``.

        tokens (T+1, B): inputs are tokens[:-1], targets tokens[1:]. h0 (L, B, H) is the memory
        carried in from the previous chunk (truncated BPTT: no gradient flows past it, but its
        gradient is left in ``self.dh0`` (L, B, H) for tests). Returns (loss, final memory (L, B, H)).
        """
        T, B = tokens.shape[0] - 1, tokens.shape[1]
        N = T * B
        wss = self._workspaces(T, B)
        gs = self._share_grad_views(len(wss))
        if self._WhyT is None:
            self._WhyT = np.empty(self.params["Why"].shape[::-1], self.dtype)
        self._WhyT[...] = self.params["Why"].T  # contiguous, once per step for every share: (V, H)
        losses = self._run_shares(
            lambda i, b0, b1: self._share_loss_and_grads(wss[i], gs[i], tokens[:, b0:b1], h0[:, b0:b1], N), B
        )
        for extra in self._share_grads[: len(wss) - 1]:
            self.grad += extra
        self.dh0 = np.concatenate([ws.dh0 for ws in wss], axis=1)
        final = np.concatenate([np.stack([hs[-1] for hs in ws.hs]) for ws in wss], axis=1)
        return sum(losses) / N, final

    def token_losses(self, tokens: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-token loss (nats) of a chunk without gradients: tokens (T+1, B) -> losses (T, B),
        and the final memory (L, B, H)."""
        T, B = tokens.shape[0] - 1, tokens.shape[1]
        wss = self._workspaces(T, B)

        def share(i: int, b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
            ws = wss[i]
            self._forward(ws, np.ascontiguousarray(tokens[:-1, b0:b1]), h0[:, b0:b1])
            kernels.xent(ws.logits, np.ascontiguousarray(tokens[1:, b0:b1]).reshape(-1), ws.losses)
            return ws.losses.reshape(T, b1 - b0).copy(), np.stack([hs[-1] for hs in ws.hs])

        losses, finals = zip(*self._run_shares(share, B), strict=True)
        return np.concatenate(losses, axis=1), np.concatenate(finals, axis=1)

    # -- one token at a time ----------------------------------------------------------------------

    def step(self, token: int, h: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        """Feed one token: h (L, H) is updated in place; returns next-token logits (V,)."""
        if logits is None:
            logits = np.empty(self.cfg.vocab_size, self.dtype)
        kernels.step_token(token, *self._step_weights(), h, logits)
        return logits

    def step_batch(self, tokens: np.ndarray, h: np.ndarray, logits: np.ndarray | None = None) -> np.ndarray:
        """Feed one token to each of B streams at once (a beam's hypotheses): tokens (B,), h (L, B, H)
        updated in place; returns next-token logits (B, V). B is a handful, so each product is one
        NumPy call (a kernel's set-up costs more here than the arithmetic); the activation is the
        kernels' own tanh, as in the chunk forward."""
        p = self.params
        exact = self.dtype == np.float64
        x = p["embed"][np.asarray(tokens)]  # (B, E)
        for layer in range(self.cfg.layers):
            a = x @ p[f"Wxh{layer}"]  # (B, H)
            kernels.tanh_add(a, h[layer] @ p[f"Whh{layer}"], p[f"bh{layer}"], exact)  # a = tanh(a + hWhh + b)
            h[layer] = a
            x = a
        logits = np.matmul(x, p["Why"], out=logits)  # (B, V)
        logits += p["by"]
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
