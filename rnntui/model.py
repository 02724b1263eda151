"""The rnntui language model: a stack of recurrent layers over a learned embedding.

    x_t     = embed[token_t]                                  (B, E)   a lookup, not a matmul
    h_t^l   = cell(x_t^l, state_{t-1}^l)                      (B, H)   x^0 = x_t, x^l = h^{l-1}
    logits  = h_t^L Why + by                                  (B, V)   memory . each token's vector
    p       = softmax(logits)                                 (B, V)

Dropout (training only, ``loss_and_grads(..., masks)``): on the connections that are not recurrent
(Zaremba, Sutskever & Vinyals 2014), each layer's input x^l and the top layer's output h^L before
Why are multiplied by a mask of 0 and 1/(1-P) entries (inverted dropout: nothing to rescale at
evaluation). The recurrence h_{t-1} -> h_t is never dropped. ``dropout_masks`` draws the masks from
the caller's generator; evaluation, sampling and every view run without them.

The cell is one of ``rnntui.cells`` (``ModelConfig.cell``): the vanilla tanh RNN, the default and
the reference, h_t = tanh(x_t Wxh + h_{t-1} Whh + bh); or the gated GRU and LSTM, whose equations
head their own modules. A cell's state is h, or for the LSTM (h, c); the model carries it as one
array (L, B, S*H), S = the cell's ``STATE_SLOTS``, h first.

All parameters live in one flat float32 vector (``RNN.flat``), and each named weight is a view into
it, so the optimiser and gradient clipping are single loops and a checkpoint is a handful of arrays.
The heavy lifting is in ``kernels.py`` and the cells; this file wires them together.

Initialisation (chosen so a default run learns without tuning):
  embed ~ N(0, 1); each cell's own (Wxh ~ N(0, 1/I), Whh orthogonal per gate, see the cell);
  Why ~ N(0, 1/H) * 0.1 (the first predictions are near uniform, loss near ln V); biases 0.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rnntui import cells, kernels


@dataclass(frozen=True)
class ModelConfig:
    vocab_size: int  # V: tokens the softmax chooses between
    embed: int = 64  # E: size of each token's input vector
    hidden: int = 256  # H: units in each layer's memory
    layers: int = 1  # L: stacked recurrent layers
    cell: str = "rnn"  # rnn | gru | lstm (rnntui.cells)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def state_size(self) -> int:
        """Width of one layer's state: H, or 2H for the LSTM's (h, c)."""
        return cells.get(self.cell).STATE_SLOTS * self.hidden


def param_shapes(cfg: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every parameter, in the order they sit in the flat vector."""
    V, E, H = cfg.vocab_size, cfg.embed, cfg.hidden
    cell = cells.get(cfg.cell)
    shapes: dict[str, tuple[int, ...]] = {"embed": (V, E)}
    for layer in range(cfg.layers):
        for base, shape in cell.param_shapes(E if layer == 0 else H, H).items():
            shapes[f"{base}{layer}"] = shape
    shapes["Why"] = (H, V)
    shapes["by"] = (V,)
    return shapes


def layer_views(named: dict[str, np.ndarray], cfg: ModelConfig) -> list[dict[str, np.ndarray]]:
    """Per layer, the cell's base names -> the arrays in ``named`` (parameters or gradients)."""
    bases = cells.get(cfg.cell).param_shapes(1, 1)
    return [{base: named[f"{base}{layer}"] for base in bases} for layer in range(cfg.layers)]


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
        cell = cells.get(cfg.cell)
        self.x = np.empty((T, B, E), dtype)  # embedded inputs
        self.layers = [cell.Buffers(T, B, H, dtype) for _ in range(L)]  # each with hs (T+1, B, H)
        self.dhs = [np.empty((T, B, H), dtype) for _ in range(L)]
        self.dx = np.empty((T, B, E), dtype)
        self.dh0 = np.empty((L, B, cfg.state_size), dtype)
        self.logits = np.empty((T * B, V), dtype)
        self.losses = np.empty(T * B, dtype)
        self.dropped: list[np.ndarray | None] = [None] * (L + 1)  # masked layer inputs, masked top output

    def masked(self, i: int, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """x * mask into buffer i (made on first use: a run without dropout never allocates it)."""
        if self.dropped[i] is None:
            self.dropped[i] = np.empty(x.shape, x.dtype)
        return np.multiply(x, mask, out=self.dropped[i])


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
        self.cell = cells.get(cfg.cell)
        self.layer_params = layer_views(self.params, cfg)  # [layer] -> {"Wxh": ..., "Whh": ..., ...}
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
        p = model.params
        p["embed"][...] = rng.standard_normal(p["embed"].shape)
        for layer in model.layer_params:
            f64 = {k: np.zeros(v.shape) for k, v in layer.items()}  # drawn in float64, as before
            model.cell.init(f64, rng)
            for k, v in f64.items():
                layer[k][...] = v
        p["Why"][...] = rng.standard_normal(p["Why"].shape) * (0.1 / np.sqrt(cfg.hidden))
        p["by"][...] = 0.0
        return model

    def zero_state(self, batch: int | None = None) -> np.ndarray:
        """The initial memory: zeros of shape (L, B, S*H), or (L, S*H) for batch None (one stream).
        S*H is H, or 2H for the LSTM: h then c."""
        shape = (self.cfg.layers, self.cfg.state_size) if batch is None else (
            self.cfg.layers, batch, self.cfg.state_size)  # fmt: skip
        return np.zeros(shape, self.dtype)

    def memory(self, state: np.ndarray) -> np.ndarray:
        """The hidden vectors h (..., H) of a state (..., S*H): what the layer above and the softmax
        read. A view."""
        return state[..., : self.cfg.hidden]

    def cell_state(self, state: np.ndarray) -> np.ndarray | None:
        """The LSTM's cell state c (..., H) of a state, a view; None for cells without one."""
        return state[..., self.cfg.hidden :] if self.cell.STATE_SLOTS == 2 else None

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

    def dropout_masks(self, rng: np.random.Generator, p: float, T: int, B: int) -> list[np.ndarray]:
        """Dropout masks for one (T, B) chunk, drawn from ``rng``: L + 1 arrays, the input of each
        layer ((T, B, E) for layer 0, (T, B, H) above) and the top layer's output (T, B, H), each
        entry 0 (probability p) or 1/(1-p)."""
        widths = [self.cfg.embed] + [self.cfg.hidden] * self.cfg.layers
        scale = self.dtype.type(1.0 / (1.0 - p))
        masks = []
        for w in widths:
            keep = rng.random((T, B, w), dtype=np.float32) >= p
            masks.append(np.multiply(keep, scale, dtype=self.dtype))
        return masks

    def _forward(self, ws: _Workspace, inputs: np.ndarray, h0: np.ndarray,
                 masks: list[np.ndarray] | None = None) -> None:  # fmt: skip
        """Every layer over inputs (T, b) from the state h0 (L, b, S*H); logits (T*b, V) left in ``ws``.
        ``masks`` (this share's columns of ``dropout_masks``): dropout on each layer's input and the top
        output; None: none, and no copies."""
        T, B = inputs.shape
        p = self.params
        kernels.embed_forward(inputs, p["embed"], ws.x)
        x = ws.x
        for layer, lp in enumerate(self.layer_params):
            if masks is not None:
                x = ws.masked(layer, x, masks[layer])
            self.cell.layer_forward(x, lp, h0[layer], ws.layers[layer])
            x = ws.layers[layer].hs[1:]
        if masks is not None:
            x = ws.masked(self.cfg.layers, x, masks[-1])
        kernels.matmul(x.reshape(T * B, -1), p["Why"], ws.logits)
        ws.logits += p["by"]

    def _share_loss_and_grads(
        self, ws: _Workspace, g: dict, tokens: np.ndarray, h0: np.ndarray, N: int,
        masks: list[np.ndarray] | None = None,
    ) -> float:  # fmt: skip
        """Forward and backward of one share: tokens (T+1, b), h0 (L, b, S*H); the gradient of the
        mean loss over all N rows of the chunk goes into g. Returns the share's summed loss."""
        inputs = np.ascontiguousarray(tokens[:-1])
        T, B = inputs.shape
        L, H = self.cfg.layers, self.cfg.hidden
        self._forward(ws, inputs, h0, masks)
        # 1) loss, and dLoss/dlogits in place of the logits
        loss = kernels.softmax_xent(ws.logits, np.ascontiguousarray(tokens[1:]).reshape(-1), N)
        # 2) output layer (what Why read: the top output, or its dropped-out copy)
        top = (ws.layers[L - 1].hs[1:] if masks is None else ws.dropped[L]).reshape(T * B, H)
        kernels.matmul_tn(top, ws.logits, g["Why"])
        kernels.column_sums(ws.logits, g["by"])
        kernels.matmul(ws.logits, self._WhyT, ws.dhs[L - 1].reshape(T * B, H))
        if masks is not None:
            ws.dhs[L - 1] *= masks[L]
        # 3) down through the layers; a layer's dx is the dLoss/dh of the layer below
        glayers = layer_views(g, self.cfg)
        for layer in range(L - 1, -1, -1):
            if masks is None:
                x = ws.layers[layer - 1].hs[1:] if layer > 0 else ws.x
            else:
                x = ws.dropped[layer]
            dx = ws.dhs[layer - 1] if layer > 0 else ws.dx
            self.cell.layer_backward(x, self.layer_params[layer], ws.layers[layer], ws.dhs[layer], dx,
                                     glayers[layer], ws.dh0[layer])  # fmt: skip
            if masks is not None:
                dx *= masks[layer]
        # 4) the embedding rows that were looked up
        kernels.embed_backward(inputs, ws.dx, g["embed"])
        return loss

    def _final(self, ws: _Workspace) -> np.ndarray:
        """The state after a share's chunk: (L, b, S*H)."""
        return np.stack([self.cell.final_state(layer) for layer in ws.layers])

    def loss_and_grads(self, tokens: np.ndarray, h0: np.ndarray,
                       masks: list[np.ndarray] | None = None) -> tuple[float, np.ndarray]:  # fmt: skip
        """Mean next-token loss (nats) of a chunk, with gradients written into ``self.grad``.

        tokens (T+1, B): inputs are tokens[:-1], targets tokens[1:]. h0 (L, B, S*H) is the state
        carried in from the previous chunk (truncated BPTT: no gradient flows past it, but its
        gradient is left in ``self.dh0`` (L, B, S*H) for tests). ``masks``: dropout, as drawn by
        ``dropout_masks`` for this (T, B). Returns (loss, final state (L, B, S*H)).
        """
        T, B = tokens.shape[0] - 1, tokens.shape[1]
        N = T * B
        wss = self._workspaces(T, B)
        gs = self._share_grad_views(len(wss))
        if self._WhyT is None:
            self._WhyT = np.empty(self.params["Why"].shape[::-1], self.dtype)
        self._WhyT[...] = self.params["Why"].T  # contiguous, once per step for every share: (V, H)
        losses = self._run_shares(
            lambda i, b0, b1: self._share_loss_and_grads(
                wss[i], gs[i], tokens[:, b0:b1], h0[:, b0:b1], N,
                None if masks is None else [m[:, b0:b1] for m in masks]), B
        )  # fmt: skip
        for extra in self._share_grads[: len(wss) - 1]:
            self.grad += extra
        self.dh0 = np.concatenate([ws.dh0 for ws in wss], axis=1)
        final = np.concatenate([self._final(ws) for ws in wss], axis=1)
        return sum(losses) / N, final

    def token_losses(self, tokens: np.ndarray, h0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-token loss (nats) of a chunk without gradients: tokens (T+1, B) -> losses (T, B),
        and the final state (L, B, S*H)."""
        T, B = tokens.shape[0] - 1, tokens.shape[1]
        wss = self._workspaces(T, B)

        def share(i: int, b0: int, b1: int) -> tuple[np.ndarray, np.ndarray]:
            ws = wss[i]
            self._forward(ws, np.ascontiguousarray(tokens[:-1, b0:b1]), h0[:, b0:b1])
            kernels.xent(ws.logits, np.ascontiguousarray(tokens[1:, b0:b1]).reshape(-1), ws.losses)
            return ws.losses.reshape(T, b1 - b0).copy(), self._final(ws)

        losses, finals = zip(*self._run_shares(share, B), strict=True)
        return np.concatenate(losses, axis=1), np.concatenate(finals, axis=1)

    # -- one token at a time ----------------------------------------------------------------------

    def step(self, token: int, h: np.ndarray, logits: np.ndarray | None = None,
             gates: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """Feed one token: the state h (L, S*H) is updated in place; returns next-token logits (V,).
        The vanilla cell has a kernel of its own for this (generation's hot loop); the gated cells
        take the batched step with one stream. ``gates`` (L, G*H), if given, receives each layer's
        gate activations (gated cells only)."""
        if logits is None:
            logits = np.empty(self.cfg.vocab_size, self.dtype)
        if self.cfg.cell == "rnn":
            kernels.step_token(token, *self._step_weights(), h, logits)
        else:
            g = None if gates is None else gates[:, None, :]
            self.step_batch(np.array([token]), h[:, None, :], logits[None, :], g)
        return logits

    @property
    def gate_width(self) -> int:
        """G*H: the width of one layer's stacked gate activations (0 for the vanilla cell)."""
        return 0 if not self.cell.GATES else self.params["bh0"].shape[0]

    def step_batch(
        self, tokens: np.ndarray, h: np.ndarray, logits: np.ndarray | None = None,
        gates: np.ndarray | None = None,
    ) -> np.ndarray:  # fmt: skip
        """Feed one token to each of B streams at once (a beam's hypotheses): tokens (B,), the state
        h (L, B, S*H) updated in place; returns next-token logits (B, V). B is a handful, so each
        product is one NumPy call (a kernel's set-up costs more here than the arithmetic); the
        activations are the kernels' own, as in the chunk forward.

        ``gates`` (L, B, G*H), if given, receives each layer's gate activations (see the cell)."""
        p = self.params
        x = p["embed"][np.asarray(tokens)]  # (B, E)
        for layer, lp in enumerate(self.layer_params):
            x = self.cell.step(x, lp, h[layer], None if gates is None else gates[layer])  # (B, H)
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
