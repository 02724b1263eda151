"""The training loop: truncated BPTT over B contiguous streams, an optimiser, checkpoints.

The trainer knows nothing about who is watching: it reports through a callback of small event
dataclasses (``Progress`` every step, ``Evaluated``, ``Saved``, ``Stopped``), which is where the
progress bar and the TUI plug in. It stops when its budget is spent or a ``threading.Event`` is set
(Ctrl-C, SIGTERM, the TUI's quit key), always saving first.

Determinism: the only randomness is the initialisation and each epoch's start offset, both drawn
from one seeded generator whose state is checkpointed; so a run with the same seed and config gives
bit-identical weights, and a resumed run continues exactly as if it had never stopped.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from rnntui import cells, checkpoint, finetune, kernels, memory, schedule, shipped
from rnntui.checkpoint import Checkpoint, CheckpointError
from rnntui.corpus import LEVELS, CorpusError, Vocab, corpus_files, split_train_val
from rnntui.inspect import recurrent_spectra
from rnntui.model import RNN, ModelConfig, default_parts
from rnntui.safeio import read_bounded
from rnntui.tokencache import Tokenized, tokenize

OPTIMIZERS = ("adam", "adagrad", "sgd")
SHAPE_OPTIONS = ("level", "lowercase", "cell", "embed", "hidden", "layers")  # a fine-tune keeps its model's
DEFAULT_LR = {"adam": 2e-3, "adagrad": 0.1, "sgd": 1.0}
ADAM_BETAS, EPS = (0.9, 0.999), 1e-8


_KINDS = {  # TrainConfig's field types: the values each may hold, and how to name them
    "int": ((int,), "an integer"), "int | None": ((int, type(None)), "an integer"),
    "float": ((int, float), "a number"), "float | None": ((int, float, type(None)), "a number"),
    "str": ((str,), "a string"), "bool": ((bool,), "true or false"),
}  # fmt: skip


@dataclass(frozen=True)
class TrainConfig:
    # data
    level: str = "char"  # char | word
    lowercase: bool = False  # word level: fold case
    min_count: int = 1  # word level: rarer words become <unk>
    max_vocab: int | None = None  # word level: keep at most this many tokens
    val_frac: float = 0.05  # the last fraction of the text is validation
    # model
    embed: int | None = None  # E; None: 64 at char level, 128 at word level
    hidden: int = 256  # H
    layers: int = 1  # L
    cell: str = "rnn"  # rnn | gru | lstm (rnntui.cells)
    # optimisation
    seq: int = 64  # T: steps of backpropagation through time per chunk
    batch: int = 32  # B: parallel streams through the text
    optimizer: str = "adam"
    lr: float | None = None  # None: the optimiser's default (DEFAULT_LR)
    schedule: str = "cosine"  # constant | step | cosine (rnntui.schedule; BENCHMARKS.md "Defaults")
    lr_decay: float = 1.0  # step: multiply the learning rate by this ...
    decay_every: int = 1000  # ... every this many steps
    warmup: int = 0  # ramp the learning rate up linearly over the first this many steps
    clip: float = 5.0  # clip gradients to this global norm; 0 disables
    dropout: float = 0.0  # P: dropout on the non-recurrent connections (rnntui.model)
    weight_decay: float = 0.0  # decoupled weight decay on the weight matrices (rnntui.schedule)
    # budget and bookkeeping
    steps: int | None = None  # stop at this step (counted over the whole run, resumes included)
    minutes: float | None = None  # stop after this much wall time in this invocation
    eval_every: int = 200
    save_every: int = 500
    seed: int = 0

    @property
    def embed_size(self) -> int:
        return self.embed or (128 if self.level == "word" else 64)

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def validate(self) -> None:
        """Refuse settings that cannot work, with a message naming the option."""
        for f in fields(self):  # a checkpoint's options are JSON: any kind of value may come back
            value = getattr(self, f.name)
            kinds, kind = _KINDS[f.type]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                raise ValueError(f"--{f.name.replace('_', '-')} must be {kind} (got {value!r})")
        if self.level not in LEVELS:
            raise ValueError(f"--level must be one of {', '.join(LEVELS)} (got {self.level!r})")
        positive = {"hidden": self.hidden, "layers": self.layers, "seq": self.seq, "batch": self.batch,
                    "eval-every": self.eval_every, "save-every": self.save_every,
                    "decay-every": self.decay_every, "min-count": self.min_count}  # fmt: skip
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"--{name} must be at least 1 (got {value})")
        if self.embed is not None and self.embed < 1:
            raise ValueError(f"--embed must be at least 1 (got {self.embed})")
        if self.max_vocab is not None and self.max_vocab < 2:
            raise ValueError(f"--max-vocab must be at least 2 (got {self.max_vocab})")
        if not 0.0 < self.val_frac <= 0.5:
            raise ValueError(f"--val-frac must be in (0, 0.5] (got {self.val_frac})")
        if self.cell not in cells.CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; choose one of {', '.join(cells.CELLS)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"--lr must be a positive number (got {self.lr})")
        if not 0.0 < self.lr_decay <= 1.0:
            raise ValueError(f"--lr-decay must be in (0, 1] (got {self.lr_decay})")
        if self.schedule not in schedule.SCHEDULES:
            names = ", ".join(schedule.SCHEDULES)
            raise ValueError(f"--schedule must be one of {names} (got {self.schedule!r})")
        if self.lr_decay != 1.0 and self.schedule != "step":
            raise ValueError(f"--lr-decay is for --schedule step (got --schedule {self.schedule}); add "
                             "--schedule step, or leave --lr-decay out")  # fmt: skip
        if self.warmup < 0:
            raise ValueError(f"--warmup must be 0 (off) or a number of steps (got {self.warmup})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"--dropout must be in [0, 1): the share of units dropped (got {self.dropout})")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise ValueError(f"--weight-decay must be 0 (off) or positive (got {self.weight_decay})")
        if self.weight_decay * self.learning_rate >= 1.0:
            raise ValueError(
                f"--weight-decay {self.weight_decay:g} x --lr {self.learning_rate:g} must be "
                "below 1 (each step multiplies the weights by 1 - lr x weight decay)"
            )
        if self.clip < 0:
            raise ValueError(f"--clip must be 0 (off) or positive (got {self.clip})")
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"--steps must be at least 1 (got {self.steps})")
        if self.minutes is not None and not self.minutes > 0:
            raise ValueError(f"--minutes must be positive (got {self.minutes})")

    def lr_at(self, step: int, progress: float = 0.0) -> float:
        """The learning rate of update ``step`` (0-based); ``progress``: the share of the budget spent
        once it is done (the cosine's f, see rnntui.schedule)."""
        factor = schedule.lr_factor(self.schedule, step, progress, lr_decay=self.lr_decay,
                                    decay_every=self.decay_every, warmup=self.warmup)  # fmt: skip
        return self.learning_rate * factor


def saved_options(options: dict) -> dict:
    """The training options a checkpoint recorded, as TrainConfig takes them. Checkpoints from before
    --schedule existed ran a constant learning rate, or decayed it by --lr-decay without naming a
    schedule (that is the step schedule): not today's default, the cosine."""
    if "schedule" not in options:
        return {**options, "schedule": "step" if options.get("lr_decay", 1.0) != 1.0 else "constant"}
    return options


# -- events: how the trainer reports ------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """After every step."""

    step: int
    total_steps: int | None
    loss: float  # nats/token of this step's chunk
    grad_norm: float
    lr: float
    tokens_per_s: float
    elapsed: float  # seconds in this invocation
    deadline: float | None  # seconds budgeted for this invocation (--minutes), if any


@dataclass(frozen=True)
class Evaluated:
    """After every evaluation on the validation split."""

    step: int
    train_loss: float  # mean over the steps since the last evaluation
    val_loss: float
    grad_norm: float  # mean since the last evaluation
    clip_rate: float  # share of those steps where clipping fired
    tokens_per_s: float
    best: bool


@dataclass(frozen=True)
class Saved:
    path: Path
    step: int


@dataclass(frozen=True)
class Stopped:
    reason: str  # "steps" | "time" | "interrupted" | "diverged"
    step: int
    message: str


Event = Progress | Evaluated | Saved | Stopped


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)


# -- data -----------------------------------------------------------------------------------------


class Streams:
    """B contiguous streams through a token array: stream b reads ids[b*S : (b+1)*S].

    ``chunk(pos)`` is the (T+1, B) slice of every stream starting at ``pos``: inputs and their
    next-token targets, overlapping by one token from one chunk to the next.
    """

    def __init__(self, ids: np.ndarray, batch: int, seq: int) -> None:
        self.stream_len = len(ids) // batch
        if self.stream_len < seq + 1:
            raise CorpusError(
                f"the training text has {len(ids)} tokens, too few for --batch {batch} streams of "
                f"--seq {seq}; lower --batch or --seq (needs at least {batch * (seq + 1)})"
            )
        self.seq = seq
        self.grid = ids[: batch * self.stream_len].reshape(batch, self.stream_len).T  # (S, B) view

    def fits(self, pos: int) -> bool:
        return pos + self.seq + 1 <= self.stream_len

    def chunk(self, pos: int) -> np.ndarray:
        return np.ascontiguousarray(self.grid[pos : pos + self.seq + 1], dtype=np.int32)


def mean_loss(model: RNN, ids: np.ndarray, batch: int, seq: int) -> float:
    """Average next-token loss (nats) over ``ids``, read as up to ``batch`` parallel streams from a
    zero memory (batch=1 reads the text exactly as one sequence)."""
    if len(ids) < 2:
        return float("nan")
    b = max(1, min(batch, (len(ids) - 1) // seq))
    n = (len(ids) - 1) // b  # predictions per stream; stream i reads ids[i*n : i*n + n + 1]
    h = model.zero_state(b)
    total = 0.0
    for t in range(0, n, seq):
        rows = min(seq, n - t) + 1
        chunk = np.empty((rows, b), np.int32)  # (T+1, B), gathered a chunk at a time: no copy of ids
        for i in range(b):
            chunk[:, i] = ids[i * n + t : i * n + t + rows]
        losses, h = model.token_losses(chunk, h)
        total += float(losses.sum(dtype=np.float64))
    return total / (n * b)


def sequence_loss(model: RNN, id_blocks: Iterable[np.ndarray], seq: int = 256) -> tuple[float, int]:
    """Mean next-token loss (nats) of the ids of ``id_blocks`` read as one sequence from a zero
    memory, ``seq`` predictions at a time, and the number of predictions: the same numbers as
    ``mean_loss(model, ids, batch=1, seq)`` on the concatenated ids, holding only a block at a time
    (so a text of any length is scored in bounded memory)."""
    h = model.zero_state(1)
    pending = np.zeros(0, np.int32)  # ids not yet predicted from, and the one before them
    total, count = 0.0, 0

    def score(chunk: np.ndarray) -> None:
        nonlocal h, total, count
        losses, h = model.token_losses(chunk.reshape(-1, 1), h)  # (T+1, 1) -> (T, 1)
        total += float(losses.sum(dtype=np.float64))
        count += len(chunk) - 1

    for block in id_blocks:
        pending = np.concatenate([pending, block.astype(np.int32)])
        start = 0
        while len(pending) - start >= seq + 1:
            score(pending[start : start + seq + 1])
            start += seq
        pending = pending[start:]
    if len(pending) >= 2:
        score(pending)
    return (total / count if count else float("nan")), count


# -- the trainer ----------------------------------------------------------------------------------


Corpus = str | Path | Sequence[str | Path]  # a text file, a folder of them, or several of either


class Trainer:
    """One training run: its model, optimiser state, data position and run folder."""

    def __init__(self, cfg: TrainConfig, files: list[Path], tok: Tokenized, run_dir: Path) -> None:
        """``files``: the corpus's text files, in order; ``tok``: their joined text tokenised, whose
        ids (N,) are typically memory-mapped from the token cache."""
        self.cfg = cfg
        self.corpus_files = files
        self.corpus_sha = tok.sha256
        self.token_cache = tok.cache  # where the ids live (None: in memory); copies cache beside it
        self.file_sha256 = tok.file_sha256
        self.vocab = tok.vocab
        self.run_dir = run_dir
        self.train_ids, self.val_ids = split_train_val(tok.ids, cfg.val_frac)  # views, not copies
        self.streams = Streams(self.train_ids, cfg.batch, cfg.seq)
        self.rng = np.random.default_rng(cfg.seed)
        mcfg = ModelConfig(vocab_size=len(self.vocab), embed=cfg.embed_size, hidden=cfg.hidden,
                           layers=cfg.layers, cell=cfg.cell)  # fmt: skip
        check_memory(mcfg, cfg)
        self.model = RNN.initialised(mcfg, self.rng)
        n = self.model.flat.size
        slots = {"adam": ("m", "v"), "adagrad": ("cache",), "sgd": ()}[cfg.optimizer]
        self.opt_state = {k: np.zeros(n, np.float32) for k in slots}
        self.step = 0
        self.pos = 0
        self.epoch = 0
        self.carry = self.model.zero_state(cfg.batch)
        self.train_history: list[float] = []
        self.val_history: list[tuple[int, float]] = []
        self.spectra_history: list[list[float]] = []  # [step, radius_0, sigma_0, radius_1, ...]
        self.best_val = math.inf
        self.last_saved: Path | None = None
        self.decayed = [self.model.params[k] for k in schedule.decayed_names(self.model.shapes)]
        # the cosine's budget: the share f0 spent before this invocation, at step step0; and the share
        # of --minutes spent so far in it (set by run, None outside it)
        self.sched_f0, self.sched_step0 = 0.0, 0
        self.time_spent: float | None = None
        self.init_from: dict | None = None  # fine-tuned: path, sha256, step, base_vocab, added

    @property
    def corpus_label(self) -> str:
        """The corpus as a person would name it: its file, or how many files and the first."""
        files = self.corpus_files
        return str(files[0]) if len(files) == 1 else f"{len(files)} files ({files[0]}, …)"

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def start(cls, corpus: Corpus, cfg: TrainConfig, run_dir: str | Path, encoding: str = "utf-8",
              on_note: Callable[[str], None] | None = None) -> Trainer:  # fmt: skip
        """A fresh run on ``corpus`` (raises ValueError subclasses with a person-readable message).

        The corpus is tokenised once and its ids cached beside it (see rnntui.tokencache);
        ``on_note`` hears a line when that tokenising happens.
        """
        cfg.validate()
        files = _files(corpus)
        return cls(cfg, files, _tokenize(files, cfg, encoding, on_note), Path(run_dir))

    @classmethod
    def fine_tune(cls, corpus: Corpus, init_from: str | Path, run_dir: str | Path, encoding: str = "utf-8",
                  on_note: Callable[[str], None] | None = None, **given) -> Trainer:  # fmt: skip
        """A new run on ``corpus`` whose weights start from the checkpoint ``init_from`` (a path, or
        a shipped model's name): its model shape and training options, except those ``given``
        (TrainConfig fields; the model's shape cannot change) and the budget; a fresh optimiser
        state and step 0; the vocabulary grown for tokens the model lacks (``finetune``)."""
        path = shipped.resolve(init_from)
        base = checkpoint.load(path)
        names = {f.name for f in fields(TrainConfig)}
        inherited = {k: v for k, v in (base.meta.get("train") or {}).items() if k in names}
        inherited = saved_options(inherited)
        mcfg = base.model.cfg
        shape = {"level": base.vocab.level, "lowercase": base.vocab.lowercase, "cell": mcfg.cell,
                 "embed": mcfg.embed, "hidden": mcfg.hidden, "layers": mcfg.layers}  # fmt: skip
        for k in SHAPE_OPTIONS:
            if given.get(k) is not None and given[k] != shape[k]:
                flag = k.replace("_", "-")
                raise ValueError(
                    f"--{flag} {given[k]}: a fine-tuned model keeps the shape of {path} ({flag} {shape[k]}); "
                    "leave it out, or train a fresh model"
                )
        unknown = set(given) - names
        if unknown:
            raise ValueError(f"not training options: {', '.join(sorted(unknown))}")
        cfg = TrainConfig(**(inherited | shape | {"steps": None, "minutes": None}
                             | {k: v for k, v in given.items() if v is not None}))  # fmt: skip
        cfg.validate()
        files = _files(corpus)
        tok = _tokenize(files, cfg, encoding, on_note, base=base.vocab)
        self = cls(cfg, files, tok, Path(run_dir))
        finetune.transplant(base.model, self.model)
        self.init_from = {"path": str(path.resolve()), "sha256": finetune.file_sha256(path),
                          "step": int(base.meta.get("step", 0)), "base_vocab": len(base.vocab),
                          "added": len(self.vocab) - len(base.vocab)}  # fmt: skip
        return self

    @classmethod
    def resume(cls, ckpt_path: str | Path, corpus: Corpus | None = None, encoding: str = "utf-8",
               on_note: Callable[[str], None] | None = None, **overrides) -> Trainer:  # fmt: skip
        """Continue the run saved in ``ckpt_path`` exactly where it stopped, on the files it
        recorded (or ``corpus``, which must hold the same texts).

        ``overrides`` may change only the budget and bookkeeping (steps, minutes, eval/save cadence).
        """
        ckpt = checkpoint.load(ckpt_path)
        meta = ckpt.meta
        allowed = {"steps", "minutes", "eval_every", "save_every"}
        bad = set(overrides) - allowed
        if bad:
            raise ValueError(f"cannot change {', '.join(sorted(bad))} when resuming")
        if "train" not in meta and ckpt.carry is None:  # weights only: rnntui import's, a .safetensors
            raise CheckpointError(
                f"{ckpt_path}: holds weights only, no training state to resume; start a new run from "
                f"them with: rnntui train CORPUS --init-from {ckpt_path}"
            )
        if shipped.is_weights_only(ckpt):  # rnntui export's .npz: the run's own state left out
            raise CheckpointError(shipped.resume_refusal(ckpt_path))
        try:
            saved = TrainConfig(**saved_options(meta["train"]))
            saved.validate()
            step, pos, epoch = (int(x) for x in (meta["step"], meta["data"]["pos"], meta["data"]["epoch"]))
            np.random.default_rng().bit_generator.state = meta["rng"]  # is it a PCG64 state at all?
            recorded = checkpoint.corpus_files(meta)
            sha_all = meta["corpus"]["sha256"]
            init = meta.get("init_from")
            base = None
            if init is not None:  # the vocabulary grows from the base model's exactly as it did
                base = Vocab(
                    ckpt.vocab.level, ckpt.vocab.tokens[: int(init["base_vocab"])], ckpt.vocab.lowercase
                )
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise CheckpointError(f"{ckpt_path}: has no usable training state to resume ({err})") from None
        cfg = replace(saved, **{k: v for k, v in overrides.items() if v is not None})
        cfg.validate()
        if not recorded:
            raise CheckpointError(f"{ckpt_path}: records no corpus to resume on")
        files = _files(corpus) if corpus else [p for p, _ in recorded]
        if len(files) != len(recorded):
            raise CheckpointError(
                f"{ckpt_path} was trained on {len(recorded)} file(s), not {len(files)}; resume with the "
                "original corpus, or start a new run"
            )
        tok = _tokenize(files, cfg, encoding, on_note, base=base)  # the cache's sha256: no re-hash
        for f, sha, (was, want) in zip(files, tok.file_sha256, recorded, strict=True):
            if want is not None and sha != want:
                raise CheckpointError(
                    f"{f} is not the text this checkpoint was trained on ({was}: sha256 differs); "
                    "resume with the original corpus, or start a new run"
                )
        if tok.sha256 != sha_all:
            raise CheckpointError(
                f"{files[0] if len(files) == 1 else 'the corpus'} is not the text this checkpoint was "
                "trained on (sha256 differs); resume with the original corpus, or start a new run"
            )
        if tok.vocab.tokens != ckpt.vocab.tokens:
            raise CheckpointError(f"{ckpt_path}: vocabulary does not match the corpus; start a new run")
        run_dir = Path(ckpt_path).resolve().parent
        self = cls(cfg, files, tok, run_dir)
        if self.model.shapes != ckpt.model.shapes or set(self.opt_state) != set(ckpt.opt_state):
            raise CheckpointError(f"{ckpt_path}: model or optimiser state does not match its config")
        if ckpt.carry is None or ckpt.carry.shape != self.carry.shape:
            raise CheckpointError(f"{ckpt_path}: has no carried memory for --batch {cfg.batch}")
        self.model.flat[:] = ckpt.model.flat
        for k, v in ckpt.opt_state.items():
            self.opt_state[k][:] = v
        self.carry = ckpt.carry
        if step < 0 or epoch < 0 or pos < 0 or not self.streams.fits(pos):
            raise CheckpointError(
                f"{ckpt_path}: its data position (pos {pos}, epoch {epoch}) is not in the text"
            )
        self.step, self.pos, self.epoch = step, pos, epoch
        self.rng.bit_generator.state = meta["rng"]
        self.train_history = [float(x) for x in ckpt.train_history]
        self.val_history = [(int(s), float(v)) for s, v in ckpt.val_history]
        self.spectra_history = ckpt.spectra_history.tolist()
        self.best_val = float(meta.get("best_val") or math.inf)
        self.init_from = init
        self.sched_f0, self.sched_step0 = _schedule_progress(meta, ckpt_path), step
        return self

    # -- one step ---------------------------------------------------------------------------------

    def train_step(self) -> tuple[float, float, float]:
        """One chunk forward, backward and update. Returns (loss, grad norm, lr); on a non-finite
        loss or gradient the weights are left untouched."""
        cfg = self.cfg
        tokens = self.streams.chunk(self.pos)
        masks = None  # dropout: drawn from the run's generator, so --seed and resume stay exact
        if cfg.dropout > 0:
            masks = self.model.dropout_masks(self.rng, cfg.dropout, cfg.seq, cfg.batch)
        loss, carry = self.model.loss_and_grads(tokens, self.carry, masks)
        gnorm = float(kernels.global_norm(self.model.grad))
        lr = cfg.lr_at(self.step, self.schedule_progress(self.step + 1))
        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            return loss, gnorm, lr
        scale = cfg.clip / gnorm if cfg.clip > 0 and gnorm > cfg.clip else 1.0
        if cfg.weight_decay > 0:  # decoupled: the weights shrink before the optimiser's update
            shrink = self.model.dtype.type(1.0 - lr * cfg.weight_decay)
            for w in self.decayed:
                w *= shrink
        p, g, s = self.model.flat, self.model.grad, self.opt_state
        if cfg.optimizer == "adam":
            kernels.adam_step(p, g, s["m"], s["v"], lr, *ADAM_BETAS, EPS, self.step + 1, scale)
        elif cfg.optimizer == "adagrad":
            kernels.adagrad_step(p, g, s["cache"], lr, EPS, scale)
        else:
            kernels.sgd_step(p, g, lr, scale)
        self.carry = carry
        self.step += 1
        self.train_history.append(float(np.float32(loss)))  # stored as float32 in checkpoints
        self.pos += cfg.seq
        if not self.streams.fits(self.pos):  # end of the text: a new epoch from a fresh memory
            self.epoch += 1
            self.pos = int(self.rng.integers(0, cfg.seq))  # shift chunk boundaries each epoch
            self.carry = self.model.zero_state(cfg.batch)
        return loss, gnorm, lr

    def schedule_progress(self, steps_done: int) -> float:
        """The share f of the run's budget spent once ``steps_done`` updates are done (the cosine's
        clock, rnntui.schedule): what the checkpoint had spent, plus this invocation's share of what
        was left, by steps or by time, whichever is further along."""
        cfg, shares = self.cfg, []
        if (
            cfg.steps is not None
            and self.time_spent is None
            and self.sched_f0 == self.sched_step0 / cfg.steps
        ):
            # a run on --steps alone, resumed (or not) on the same --steps: the formula below is
            # steps_done / steps in exact arithmetic; this is it in float too, so a resume is bit-exact
            return min(1.0, max(0.0, steps_done / cfg.steps))
        if cfg.steps is not None:
            shares.append((steps_done - self.sched_step0) / max(1, cfg.steps - self.sched_step0))
        if self.time_spent is not None:
            shares.append(self.time_spent)
        spent = min(1.0, max(0.0, max(shares))) if shares else 0.0
        return self.sched_f0 + (1.0 - self.sched_f0) * spent

    def evaluate(self) -> float:
        return mean_loss(self.model, self.val_ids, self.cfg.batch, self.cfg.seq)

    # -- checkpoints ------------------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        meta = {
            "step": self.step,
            "train": asdict(self.cfg),
            "data": {"pos": self.pos, "epoch": self.epoch},
            "rng": self.rng.bit_generator.state,
            "corpus": {"files": [{"path": str(f.resolve()), "sha256": h}
                                 for f, h in zip(self.corpus_files, self.file_sha256, strict=True)],
                       "sha256": self.corpus_sha,
                       "train_tokens": len(self.train_ids), "val_tokens": len(self.val_ids)},
            "best_val": None if math.isinf(self.best_val) else self.best_val,
            "schedule_progress": self.schedule_progress(self.step),
            "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }  # fmt: skip
        if self.init_from is not None:
            meta["init_from"] = self.init_from
        return Checkpoint(
            model=self.model, vocab=self.vocab, meta=meta, opt_state=self.opt_state, carry=self.carry,
            train_history=np.asarray(self.train_history, np.float32),
            val_history=np.asarray(self.val_history, np.float64).reshape(-1, 2),
            spectra_history=np.asarray(self.spectra_history, np.float64),
        )  # fmt: skip

    def save(self, name: str = "latest.npz") -> Path:
        """Write a checkpoint into the run folder; never one with non-finite weights."""
        if not np.isfinite(self.model.flat).all():
            raise FloatingPointError(f"weights are not finite at step {self.step}; not overwriting {name}")
        path = checkpoint.save(self.checkpoint(), self.run_dir / name)
        if name == "latest.npz":
            self.last_saved = path
        return path

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, on_event: Callable[[Event], None] | None = None, stop: threading.Event | None = None,
            pause: threading.Event | None = None) -> Stopped:  # fmt: skip
        """Train until the budget is spent or ``stop`` is set; save; return why it stopped.

        ``pause``, when set, holds the loop between steps (the TUI's pause key).
        """
        emit = on_event or (lambda event: None)
        cfg = self.cfg
        stop = stop or threading.Event()
        deadline = cfg.minutes * 60 if cfg.minutes is not None else None
        self.sched_f0, self.sched_step0 = self.schedule_progress(self.step), self.step
        self.time_spent = 0.0 if deadline is not None else None
        t0 = time.perf_counter()
        tokens_per_step = cfg.seq * cfg.batch
        rate = 0.0
        since_eval: list[tuple[float, float, bool]] = []  # (loss, grad norm, clipped)
        with RunLock(self.run_dir):
            while True:
                reason = None
                if cfg.steps is not None and self.step >= cfg.steps:
                    reason = "steps"
                elif deadline is not None and time.perf_counter() - t0 >= deadline:
                    reason, self.time_spent = "time", 1.0  # the budget is spent: the cosine is at its floor
                elif stop.is_set():
                    reason = "interrupted"
                if reason:
                    if since_eval and reason != "interrupted":  # a signal wants a quick exit
                        self._eval(emit, since_eval, rate)
                    path = self.save()
                    emit(Saved(path, self.step))
                    done = Stopped(reason, self.step, f"stopped at step {self.step} ({reason}); saved {path}")
                    emit(done)
                    return done
                if pause is not None and pause.is_set():
                    time.sleep(0.05)
                    t0 += 0.05  # paused time does not count against --minutes
                    continue
                ts = time.perf_counter()
                if deadline is not None:
                    self.time_spent = (ts - t0) / deadline
                loss, gnorm, lr = self.train_step()
                if not (math.isfinite(loss) and math.isfinite(gnorm)):
                    where = (
                        f"last good checkpoint: {self.last_saved}"
                        if self.last_saved
                        else "no checkpoint was saved"
                    )
                    why = f"loss became {loss} at step {self.step + 1} (try a lower --lr); {where}"
                    done = Stopped("diverged", self.step, why)
                    emit(done)
                    return done
                dt = time.perf_counter() - ts
                rate = tokens_per_step / dt if rate == 0.0 else 0.9 * rate + 0.1 * tokens_per_step / dt
                since_eval.append((loss, gnorm, cfg.clip > 0 and gnorm > cfg.clip))
                emit(
                    Progress(self.step, cfg.steps, loss, gnorm, lr, rate, time.perf_counter() - t0, deadline)
                )
                if self.step % cfg.eval_every == 0:
                    self._eval(emit, since_eval, rate)
                if self.step % cfg.save_every == 0:
                    emit(Saved(self.save(), self.step))

    def _eval(self, emit, since_eval: list, rate: float) -> None:
        val = self.evaluate()
        losses, norms, clips = zip(*since_eval, strict=True)
        since_eval.clear()
        self.val_history.append((self.step, val))
        self.spectra_history.append([self.step, *recurrent_spectra(self.model.params).ravel()])
        best = math.isfinite(val) and val < self.best_val
        if best:
            self.best_val = val
            self.save("best.npz")
        emit(Evaluated(self.step, float(np.mean(losses)), val, float(np.mean(norms)), float(np.mean(clips)),
                       rate, best))  # fmt: skip


def _schedule_progress(meta: dict, path) -> float:
    """The share of its budget a checkpoint's run had spent (0 for checkpoints that predate it)."""
    f = meta.get("schedule_progress", 0.0)
    if not isinstance(f, int | float) or isinstance(f, bool) or not 0.0 <= f <= 1.0:
        raise CheckpointError(f"{path}: its schedule_progress {f!r} is not a share between 0 and 1")
    return float(f)


def check_memory(mcfg: ModelConfig, cfg: TrainConfig) -> None:
    """Refuse (MemoryLimitError, one line) a run whose model, optimiser state and workspaces would
    not fit in the memory left, before any of it is allocated. The token ids already exist by now
    (memory-mapped, or counted when tokenised into memory), so what is left already allows for them."""
    need = memory.training_need(mcfg, batch=cfg.batch, seq=cfg.seq, parts=default_parts(),
                                optimizer=cfg.optimizer, dropout=cfg.dropout > 0)  # fmt: skip
    what = f"training --hidden {cfg.hidden} --layers {cfg.layers} --batch {cfg.batch} --seq {cfg.seq}"
    memory.require(need, what, "lower --hidden, --layers, --batch or --seq (or --embed, --max-vocab)")


def _files(corpus: Corpus) -> list[Path]:
    """The text files of a corpus argument (folders expanded, see ``corpus.corpus_files``)."""
    return corpus_files([corpus] if isinstance(corpus, str | Path) else list(corpus))


def _tokenize(files: list[Path], cfg: TrainConfig, encoding: str, on_note, base: Vocab | None = None):
    return tokenize(files, cfg.level, lowercase=cfg.lowercase, min_count=cfg.min_count,
                    max_vocab=cfg.max_vocab, encoding=encoding, base=base, on_note=on_note)  # fmt: skip


# -- one run at a time per folder -------------------------------------------------------------------


class RunLock:
    """An exclusive lock file in the run folder, so two trainings never write the same checkpoints.
    A lock left by a process that no longer exists is taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / ".lock"

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if _alive(self._owner()):
                    raise RunLockedError(
                        f"{self.path.parent} is in use by another training (pid {self._owner()}); "
                        "choose another --name or wait for it to finish"
                    ) from None
                self.path.unlink(missing_ok=True)  # stale
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise RunLockedError(f"could not lock {self.path}")

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)

    def _owner(self) -> int:
        try:
            return int(read_bounded(self.path, 64).strip() or 0)  # a pid; never a pipe that blocks
        except (OSError, ValueError):
            return 0


class RunLockedError(RuntimeError):
    pass


def _alive(pid: int) -> bool:
    if pid <= 0 or pid == os.getpid():
        return pid == os.getpid()
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def config_from_options(**options) -> TrainConfig:
    """A TrainConfig from CLI options (keys not in TrainConfig are ignored)."""
    names = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in options.items() if k in names and v is not None})
