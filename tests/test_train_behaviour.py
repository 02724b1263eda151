"""The training loop's behaviour, step by step, against hand computations in float64.

The kernels are tested elsewhere; these tests pin what ``Trainer`` does with them: that clipping
fires exactly when the gradient's global norm exceeds ``--clip`` and then bounds the update, that each
optimiser's first steps are the textbook update (Adam's bias correction with the step count of the
whole run), the learning-rate schedule, when evaluations happen, which checkpoint becomes best.npz,
and that a resumed run carries every one of them on.
"""

import math
import os
from dataclasses import replace

import numpy as np
import pytest
from numerics import assert_close

from rnntui import checkpoint
from rnntui.checkpoint import CheckpointError
from rnntui.corpus import Vocab
from rnntui.train import ADAM_BETAS, EPS, Evaluated, Progress, Saved, TrainConfig, Trainer

SMALL = dict(hidden=16, embed=8, seq=8, batch=4, eval_every=1000, save_every=1000)
REL = 1e-4  # an update against its float64 hand computation: float32 rounding of p is ~1e-6 of it


def next_gradient(trainer: Trainer) -> np.ndarray:
    """The raw gradient (P,) the trainer's next step will compute (same chunk, same memory), float64."""
    trainer.model.loss_and_grads(trainer.streams.chunk(trainer.pos), trainer.carry)
    return trainer.model.grad.astype(np.float64)


def take_step(trainer: Trainer) -> tuple[np.ndarray, np.ndarray, float]:
    """One train_step; returns (raw gradient, update new p - old p, reported grad norm)."""
    g = next_gradient(trainer)
    p0 = trainer.model.flat.astype(np.float64)
    _, gnorm, _ = trainer.train_step()
    return g, trainer.model.flat - p0, gnorm


def assert_update(trainer: Trainer, dp: np.ndarray, want: np.ndarray, what: str = "") -> None:
    """dp against its hand computation: within REL of the largest update, plus the one rounding of
    storing each new weight in float32 (eps32 of its size), which no order of operations avoids."""
    err = np.abs(dp - want)
    allowed = REL * np.abs(want).max() + np.finfo(np.float32).eps * np.abs(trainer.model.flat)
    assert (err <= allowed).all(), f"{what}: worst error / allowed {(err / allowed).max():.3g}"


def clip_scale(g: np.ndarray, clip: float) -> float:
    norm = float(np.linalg.norm(g))
    return clip / norm if clip > 0 and norm > clip else 1.0


# -- clipping -----------------------------------------------------------------------------------------


def test_clipping_bounds_the_update_to_lr_times_clip(tiny_text, tmp_path):
    """SGD with --clip far below the gradient norm: every update is -lr * clip * g / |g|."""
    lr, clip = 0.05, 0.01
    trainer = Trainer.start(
        tiny_text, TrainConfig(**SMALL, optimizer="sgd", lr=lr, clip=clip), tmp_path / "r"
    )
    for _ in range(3):
        g, dp, gnorm = take_step(trainer)
        assert gnorm == pytest.approx(np.linalg.norm(g), rel=1e-5)  # the norm before clipping
        assert np.linalg.norm(g) > 10 * clip  # so clipping must fire
        assert_update(trainer, dp, -lr * clip * g / np.linalg.norm(g))
        assert np.linalg.norm(dp) == pytest.approx(lr * clip, rel=1e-4)


@pytest.mark.parametrize("clip", [0.0, 1e6])
def test_no_clipping_when_off_or_above_the_norm(tiny_text, tmp_path, clip):
    lr = 0.05
    trainer = Trainer.start(
        tiny_text, TrainConfig(**SMALL, optimizer="sgd", lr=lr, clip=clip), tmp_path / "r"
    )
    for _ in range(3):
        g, dp, _ = take_step(trainer)
        assert_update(trainer, dp, -lr * g)


def test_clip_rate_counts_the_steps_whose_norm_exceeds_clip(tiny_text, tmp_path):
    """Evaluated.clip_rate and grad_norm summarise exactly the Progress events since the last one."""
    events = []
    cfg = TrainConfig(**{**SMALL, "eval_every": 5}, steps=10, lr=0.05, optimizer="sgd")
    # a clip between the smallest and largest raw norm of the run: some steps clip, some do not
    probe = Trainer.start(tiny_text, cfg, tmp_path / "probe")
    probe.run(events.append)
    norms = [e.grad_norm for e in events if isinstance(e, Progress)]
    clip = float(np.median(norms))
    events.clear()
    Trainer.start(tiny_text, replace(cfg, clip=clip), tmp_path / "r").run(events.append)
    steps = [e for e in events if isinstance(e, Progress)]
    evals = [e for e in events if isinstance(e, Evaluated)]
    assert [e.step for e in evals] == [5, 10]
    for ev, window in zip(evals, (steps[:5], steps[5:]), strict=True):
        assert ev.clip_rate == pytest.approx(np.mean([s.grad_norm > clip for s in window]))
        assert ev.grad_norm == pytest.approx(np.mean([s.grad_norm for s in window]))
        assert ev.train_loss == pytest.approx(np.mean([s.loss for s in window]))
    assert 0 < np.mean([s.grad_norm > clip for s in steps]) < 1


# -- the optimisers' first steps ------------------------------------------------------------------------


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_adam_steps_match_hand_computation_with_bias_correction(tiny_text, tmp_path, clip):
    """Five Adam steps: m, v and every update as the paper's algorithm, t = 1, 2, ... (bias correction
    1 - beta^t changes every step); with clipping, the gradient is scaled before both moments."""
    lr = 0.01
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, lr=lr, clip=clip), tmp_path / "r")
    b1, b2 = ADAM_BETAS
    m = np.zeros(trainer.model.flat.size)
    v = np.zeros_like(m)
    for t in range(1, 6):
        g, dp, _ = take_step(trainer)
        g = g * clip_scale(g, clip)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        want = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + EPS)
        assert_update(trainer, dp, want, f"update {t}")
        assert_close(trainer.opt_state["m"], m, REL, f"m {t}")
        assert_close(trainer.opt_state["v"], v, REL, f"v {t}")
    # the first step of Adam moves every weight with a gradient by about lr (sign of g)
    assert np.abs(want).max() < 2 * lr


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_adagrad_steps_match_hand_computation(tiny_text, tmp_path, clip):
    lr = 0.1
    cfg = TrainConfig(**SMALL, optimizer="adagrad", lr=lr, clip=clip)
    trainer = Trainer.start(tiny_text, cfg, tmp_path / "r")
    cache = np.zeros(trainer.model.flat.size)
    for t in range(1, 5):
        g, dp, _ = take_step(trainer)
        g = g * clip_scale(g, clip)
        cache += g * g
        assert_update(trainer, dp, -lr * g / (np.sqrt(cache) + EPS), f"update {t}")
        assert_close(trainer.opt_state["cache"], cache, REL, f"cache {t}")


def test_sgd_steps_match_hand_computation_and_default_lrs(tiny_text, tmp_path):
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, optimizer="sgd", clip=0), tmp_path / "r")
    assert trainer.cfg.learning_rate == 1.0
    for _ in range(3):
        g, dp, _ = take_step(trainer)
        assert_update(trainer, dp, -1.0 * g)
    assert TrainConfig(optimizer="adam").learning_rate == 2e-3
    assert TrainConfig(optimizer="adagrad").learning_rate == 0.1
    assert set(trainer.opt_state) == set()


# -- the learning-rate schedule ----------------------------------------------------------------------


def test_lr_schedule_values():
    cfg = TrainConfig(lr=0.1, schedule="step", lr_decay=0.5, decay_every=3)
    assert [cfg.lr_at(s) for s in range(8)] == pytest.approx([0.1] * 3 + [0.05] * 3 + [0.025] * 2)
    assert [TrainConfig(optimizer="sgd").lr_at(s) for s in (0, 999, 10_000)] == [1.0, 1.0, 1.0]
    assert TrainConfig(schedule="step", lr_decay=0.9, decay_every=1000).lr_at(2500) == pytest.approx(
        2e-3 * 0.81
    )


def test_each_step_uses_the_scheduled_lr(tiny_text, tmp_path):
    """SGD without clipping: step k's update is -lr_at(k) * g, and Progress reports that lr."""
    cfg = TrainConfig(
        **SMALL, optimizer="sgd", lr=0.2, schedule="step", lr_decay=0.5, decay_every=2, clip=0, steps=5
    )
    trainer = Trainer.start(tiny_text, cfg, tmp_path / "r")
    for k in range(5):
        g, dp, _ = take_step(trainer)
        assert_update(trainer, dp, -0.2 * 0.5 ** (k // 2) * g, f"step {k}")
    events = []
    Trainer.start(tiny_text, cfg, tmp_path / "r2").run(events.append)
    assert [e.lr for e in events if isinstance(e, Progress)] == pytest.approx([0.2, 0.2, 0.1, 0.1, 0.05])


# -- evaluation cadence and best.npz -------------------------------------------------------------------


def test_evaluations_every_n_steps_and_at_the_end(tiny_text, tmp_path):
    events = []
    cfg = TrainConfig(**{**SMALL, "eval_every": 3, "save_every": 4}, steps=10)
    trainer = Trainer.start(tiny_text, cfg, tmp_path / "r")
    trainer.run(events.append)
    assert [e.step for e in events if isinstance(e, Evaluated)] == [3, 6, 9, 10]
    assert [s for s, _ in trainer.val_history] == [3, 6, 9, 10]
    saved = [(e.path.name, e.step) for e in events if isinstance(e, Saved)]
    assert ("latest.npz", 4) in saved and ("latest.npz", 8) in saved and saved[-1] == ("latest.npz", 10)
    # the reported validation loss is the checkpoint's weights on the held-out tail
    final = checkpoint.load(tmp_path / "r" / "latest.npz")
    trainer.model.flat[:] = final.model.flat
    assert trainer.val_history[-1][1] == trainer.evaluate()


def scripted_evaluations(trainer: Trainer, values: list[float]) -> None:
    """Make the trainer's evaluations return ``values`` in turn (the selection logic is under test)."""
    it = iter(values)
    trainer.evaluate = lambda: next(it)


def test_best_npz_holds_the_lowest_validation_loss_so_far(tiny_text, tmp_path):
    cfg = TrainConfig(**{**SMALL, "eval_every": 2}, steps=10)
    trainer = Trainer.start(tiny_text, cfg, tmp_path / "r")
    vals = [3.0, 2.0, 2.5, 1.5, 1.6]  # at steps 2, 4, 6, 8, 10
    scripted_evaluations(trainer, vals)
    weights_at, events = {}, []

    def on_event(e):
        events.append(e)
        if isinstance(e, Evaluated):
            weights_at[e.step] = trainer.model.flat.copy()

    trainer.run(on_event)
    evals = [e for e in events if isinstance(e, Evaluated)]
    assert [e.val_loss for e in evals] == vals
    assert [e.best for e in evals] == [True, True, False, True, False]
    best = checkpoint.load(tmp_path / "r" / "best.npz")
    assert best.meta["step"] == 8 and best.meta["best_val"] == 1.5
    assert np.array_equal(best.model.flat, weights_at[8])
    assert checkpoint.load(tmp_path / "r" / "latest.npz").meta["best_val"] == 1.5


def test_a_non_finite_validation_loss_never_becomes_best(tiny_text, tmp_path):
    trainer = Trainer.start(tiny_text, TrainConfig(**{**SMALL, "eval_every": 2}, steps=4), tmp_path / "r")
    scripted_evaluations(trainer, [math.nan, 2.0])
    events = []
    trainer.run(events.append)
    assert [e.best for e in events if isinstance(e, Evaluated)] == [False, True]
    assert checkpoint.load(tmp_path / "r" / "best.npz").meta["step"] == 4


# -- what a resumed run does with each of them ----------------------------------------------------------


def test_resume_continues_adam_bias_correction_lr_schedule_and_clipping(tiny_text, tmp_path):
    """Resumed at step 3: the next Adam update uses t = 4 and the saved moments, the lr of step 3 on
    the schedule, and the saved --clip."""
    lr, clip = 0.01, 0.05
    cfg = TrainConfig(**SMALL, lr=lr, schedule="step", lr_decay=0.5, decay_every=2, clip=clip, steps=3)
    Trainer.start(tiny_text, cfg, tmp_path / "r").run()
    trainer = Trainer.resume(tmp_path / "r" / "latest.npz", steps=6)
    assert trainer.step == 3 and trainer.cfg.clip == clip
    b1, b2 = ADAM_BETAS
    m, v = (trainer.opt_state[k].astype(np.float64) for k in ("m", "v"))
    for step in (3, 4):  # the updates numbered t = 4, 5
        g, dp, _ = take_step(trainer)
        g = g * clip_scale(g, clip)
        assert np.linalg.norm(g) == pytest.approx(clip, rel=1e-6)  # clipping still fires
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        t = step + 1
        want = -lr * 0.5 ** (step // 2) * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + EPS)
        assert_update(trainer, dp, want, f"step {step}")


def test_resume_keeps_the_evaluation_grid_and_the_best_so_far(tiny_text, tmp_path):
    """Evaluations stay on multiples of --eval-every counted over the whole run (a new cadence may be
    given); a worse validation loss after resuming leaves best.npz alone, a better one replaces it."""
    first = Trainer.start(tiny_text, TrainConfig(**{**SMALL, "eval_every": 3}, steps=5), tmp_path / "r")
    scripted_evaluations(first, [2.0, 2.2])  # steps 3 and 5 (the end)
    first.run()
    assert checkpoint.load(tmp_path / "r" / "best.npz").meta["step"] == 3

    resumed = Trainer.resume(tmp_path / "r" / "latest.npz", steps=12)
    assert resumed.best_val == 2.0 and resumed.cfg.eval_every == 3
    scripted_evaluations(resumed, [2.1, 1.9, 1.95])  # steps 6, 9, 12
    events = []
    resumed.run(events.append)
    evals = [(e.step, e.best) for e in events if isinstance(e, Evaluated)]
    assert evals == [(6, False), (9, True), (12, False)]
    assert checkpoint.load(tmp_path / "r" / "best.npz").meta["step"] == 9
    assert [s for s, _ in resumed.val_history] == [3, 5, 6, 9, 12]

    again = Trainer.resume(tmp_path / "r" / "latest.npz", steps=16, eval_every=4)
    scripted_evaluations(again, [5.0, 5.0])  # steps 16 (and no other: 13..16 holds one multiple of 4)
    events = []
    again.run(events.append)
    assert [e.step for e in events if isinstance(e, Evaluated)] == [16]
    assert checkpoint.load(tmp_path / "r" / "best.npz").meta["step"] == 9


# -- the validation loss itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "N,batch,seq", [(2, 4, 8), (3, 4, 1), (50, 4, 8), (30, 8, 8), (20, 3, 5), (41, 2, 40)]
)
def test_mean_loss_reads_min_batch_streams_of_whole_chunks(N, batch, seq):
    """mean_loss reads b = min(batch, (N - 1) // seq) streams (at least 1), stream i the tokens
    ids[i*n : i*n + n + 1] with n = (N - 1) // b, each from a zero memory: the float64 textbook loss
    over that (n + 1, b) grid."""
    from rnntui import reference
    from rnntui.model import RNN, ModelConfig
    from rnntui.train import mean_loss

    rng = np.random.default_rng(N)
    model = RNN.initialised(ModelConfig(vocab_size=7, embed=3, hidden=5, layers=2), rng)
    model.flat += rng.standard_normal(model.flat.size).astype(np.float32) * 0.3
    ids = rng.integers(0, 7, N)
    b = max(1, min(batch, (N - 1) // seq))
    n = (N - 1) // b
    grid = np.stack([ids[i * n : i * n + n + 1] for i in range(b)], axis=1)  # (n + 1, b)
    params = {k: v.astype(np.float64) for k, v in model.params.items()}
    want, _ = reference.model_loss(params, 2, grid, np.zeros((2, b, 5)))
    assert mean_loss(model, ids, batch, seq) == pytest.approx(want, rel=1e-5)


def test_mean_loss_of_fewer_than_two_tokens_is_nan():
    from rnntui.model import RNN, ModelConfig
    from rnntui.train import mean_loss

    model = RNN.initialised(ModelConfig(vocab_size=3, embed=2, hidden=2), np.random.default_rng(0))
    assert math.isnan(mean_loss(model, np.array([1]), 4, 8))
    assert math.isnan(mean_loss(model, np.array([], np.int64), 4, 8))


# -- what resuming refuses, and what it tells -----------------------------------------------------------


def test_resume_may_change_only_the_budget_and_names_what_it_refuses(tiny_text, tmp_path):
    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=2), tmp_path / "r").run()
    with pytest.raises(ValueError, match=r"^cannot change hidden, seq when resuming$"):
        Trainer.resume(tmp_path / "r" / "latest.npz", seq=4, hidden=8, steps=5)
    resumed = Trainer.resume(tmp_path / "r" / "latest.npz", steps=5, minutes=1.0, eval_every=2, save_every=3)
    assert (resumed.cfg.steps, resumed.cfg.minutes, resumed.cfg.eval_every, resumed.cfg.save_every) == (
        5,
        1.0,
        2,
        3,
    )


def test_resume_refuses_a_checkpoint_without_training_state(tiny_text, tmp_path):
    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=2), tmp_path / "r").run()
    ckpt = checkpoint.load(tmp_path / "r" / "latest.npz")
    del ckpt.meta["train"]
    checkpoint.save(ckpt, tmp_path / "bare.npz")
    want = r"bare\.npz: has no usable training state to resume \('train'\)"  # a run's file, garbled
    with pytest.raises(CheckpointError, match=want):
        Trainer.resume(tmp_path / "bare.npz")


def test_resume_refuses_another_vocabulary(tiny_text, tmp_path, monkeypatch):
    """The same text under another vocabulary (as a changed tokeniser would give) is refused."""
    import rnntui.train as train_module

    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=2), tmp_path / "r").run()
    real = train_module.tokenize

    def other_vocab(*args, **kwargs):
        tok = real(*args, **kwargs)
        return replace(tok, vocab=Vocab(tokens=tok.vocab.tokens[::-1], level=tok.vocab.level))

    monkeypatch.setattr(train_module, "tokenize", other_vocab)
    with pytest.raises(
        CheckpointError, match=r"latest\.npz: vocabulary does not match the corpus; start a new run$"
    ):
        Trainer.resume(tmp_path / "r" / "latest.npz")


def test_resume_tells_when_it_tokenises_the_corpus_again(tiny_text, tmp_path, monkeypatch):
    import shutil

    from rnntui import tokencache

    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=2), tmp_path / "r").run()
    shutil.rmtree(tiny_text.parent / tokencache.CACHE_DIR)
    monkeypatch.setattr(tokencache, "NOTE_BYTES", 0)  # as if the corpus were large
    notes = []
    Trainer.resume(tmp_path / "r" / "latest.npz", on_note=notes.append)
    assert len(notes) == 1 and "tiny.txt" in notes[0]


def test_an_empty_or_garbled_lock_file_is_stale(tmp_path):
    from rnntui.train import RunLock, _alive

    for content in ("", "not a pid"):
        (tmp_path / ".lock").write_text(content)
        with RunLock(tmp_path):
            assert (tmp_path / ".lock").read_text() == str(os.getpid())
    assert _alive(os.getpid()) and _alive(1)  # pid 1 always exists
    assert not _alive(0) and not _alive(-5)


def test_resume_refuses_a_checkpoint_that_contradicts_its_own_config(tiny_text, tmp_path):
    """Saved options that do not fit the saved arrays (an edited or mixed-up file): refused with the
    reason, never trained on."""
    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=2), tmp_path / "r").run()
    ckpt = checkpoint.load(tmp_path / "r" / "latest.npz")
    cases = {
        "optimizer": ("adagrad", "model or optimiser state does not match its config"),
        "hidden": (20, "model or optimiser state does not match its config"),
        "batch": (3, r"has no carried memory for --batch 3"),
    }
    for key, (value, message) in cases.items():
        ckpt.meta["train"] = {**ckpt.meta["train"], key: value}
        path = checkpoint.save(ckpt, tmp_path / f"{key}.npz")
        with pytest.raises(CheckpointError, match=rf"{key}\.npz: {message}"):
            Trainer.resume(path)
        ckpt = checkpoint.load(tmp_path / "r" / "latest.npz")


def test_resume_on_another_text_says_what_to_do(tiny_text, tmp_path):
    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=2), tmp_path / "r").run()
    other = tmp_path / "other.txt"
    other.write_text(tiny_text.read_text().replace("dog", "hog"))
    want = (r"other\.txt is not the text this checkpoint was trained on \(.*tiny\.txt: sha256 differs\); "
            r"resume with the original corpus, or start a new run$")  # fmt: skip
    with pytest.raises(CheckpointError, match=want):
        Trainer.resume(tmp_path / "r" / "latest.npz", other)


def test_an_equal_validation_loss_is_not_a_new_best(tiny_text, tmp_path):
    trainer = Trainer.start(tiny_text, TrainConfig(**{**SMALL, "eval_every": 2}, steps=4), tmp_path / "r")
    scripted_evaluations(trainer, [2.0, 2.0])
    events = []
    trainer.run(events.append)
    assert [e.best for e in events if isinstance(e, Evaluated)] == [True, False]
    assert checkpoint.load(tmp_path / "r" / "best.npz").meta["step"] == 2


# -- the budget and the reported speed, on a fake clock -------------------------------------------------


def fake_clock(monkeypatch, tick: float) -> None:
    """rnntui.train's clock advances by ``tick`` seconds at every reading (from an arbitrary origin, as
    perf_counter's is)."""
    import time
    import types

    import rnntui.train as train_module

    now = [1000.0]

    def perf_counter() -> float:
        now[0] += tick
        return now[0]

    clock = types.SimpleNamespace(perf_counter=perf_counter, sleep=time.sleep, strftime=time.strftime)
    monkeypatch.setattr(train_module, "time", clock)


def test_minutes_budget_stops_the_run_and_is_reported_in_seconds(tiny_text, tmp_path, monkeypatch):
    import threading

    fake_clock(monkeypatch, 0.01)
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, minutes=0.01), tmp_path / "r")  # 0.6 s
    stop, events = threading.Event(), []

    def on_event(e):
        events.append(e)
        if isinstance(e, Progress) and e.step >= 200:  # far past the budget: the budget was ignored
            stop.set()

    done = trainer.run(on_event, stop)
    steps = [e for e in events if isinstance(e, Progress)]
    assert done.reason == "time" and 0 < done.step < 200
    assert {e.deadline for e in steps} == {0.6} and {e.total_steps for e in steps} == {None}
    assert all(e.elapsed < 0.6 for e in steps[:-1])


def test_tokens_per_second_is_seq_times_batch_over_the_step_time(tiny_text, tmp_path, monkeypatch):
    fake_clock(monkeypatch, 0.5)  # a step is timed by two consecutive readings: 0.5 s
    events = []
    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=3), tmp_path / "r").run(events.append)
    rates = [e.tokens_per_s for e in events if isinstance(e, Progress)]
    assert rates == pytest.approx([8 * 4 / 0.5] * 3)  # seq 8, batch 4
    assert [e.tokens_per_s for e in events if isinstance(e, Evaluated)] == pytest.approx([64.0])


# -- the data position ----------------------------------------------------------------------------------


def test_chunks_advance_by_seq_and_each_epoch_restarts_below_seq_from_a_zero_memory(tiny_text, tmp_path):
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL), tmp_path / "r")
    seq, stream_len = 8, trainer.streams.stream_len
    per_epoch = (stream_len - 1) // seq  # chunks of seq + 1 tokens from position 0
    positions = []
    for _ in range(2 * per_epoch + 1):
        positions.append((trainer.epoch, trainer.pos))
        trainer.train_step()
    assert positions[:per_epoch] == [(0, k * seq) for k in range(per_epoch)]
    first = per_epoch  # the first chunk of epoch 1
    assert positions[first][0] == 1 and 0 <= positions[first][1] < seq
    assert all(e == 1 and p == positions[first][1] + (i - first) * seq
               for i, (e, p) in enumerate(positions[first:], start=first) if e == 1)  # fmt: skip
    while trainer.epoch < 3:  # the step that ends an epoch leaves the next one a zero memory
        trainer.train_step()
    assert trainer.epoch == 3 and np.array_equal(trainer.carry, trainer.model.zero_state(4))


def test_a_non_finite_gradient_leaves_the_weights_and_the_step_alone(tiny_text, tmp_path, monkeypatch):
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL), tmp_path / "r")
    real = trainer.model.loss_and_grads

    def inf_gradient(tokens, h0, masks=None):
        loss, carry = real(tokens, h0, masks)
        trainer.model.grad[3] = np.inf
        return loss, carry

    monkeypatch.setattr(trainer.model, "loss_and_grads", inf_gradient)
    before = trainer.model.flat.copy()
    loss, gnorm, _ = trainer.train_step()
    assert math.isfinite(loss) and gnorm == np.inf
    assert np.array_equal(trainer.model.flat, before) and trainer.step == 0 and trainer.pos == 0


def test_a_paused_run_does_nothing_and_its_paused_time_is_not_budget(tiny_text, tmp_path, monkeypatch):
    """While ``pause`` is set the loop only waits (no steps, no events); the waiting does not count
    against --minutes, and clearing it carries on to the budget's end."""
    import threading
    import time
    import types

    import rnntui.train as train_module

    pause, readings, events = threading.Event(), [0], []
    pause.set()

    def perf_counter() -> float:
        readings[0] += 1
        if readings[0] == 10:  # nine readings of the paused loop (0.45 s of waiting), then carry on
            pause.clear()
        return 1000.0 + 0.01 * readings[0]

    clock = types.SimpleNamespace(perf_counter=perf_counter, sleep=time.sleep, strftime=time.strftime)
    monkeypatch.setattr(train_module, "time", clock)
    stop = threading.Event()

    def on_event(e):
        events.append(e)
        if isinstance(e, Progress) and e.step >= 200:
            stop.set()

    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, minutes=0.005), tmp_path / "r")  # 0.3 s
    done = trainer.run(on_event, stop, pause)
    assert readings[0] > 10 and isinstance(events[0], Progress) and events[0].step == 1
    assert done.reason == "time" and 5 < done.step < 50


def test_an_interrupted_run_saves_without_a_last_evaluation_and_says_where(tiny_text, tmp_path):
    import threading

    stop, events = threading.Event(), []

    def on_event(e):
        events.append(e)
        if isinstance(e, Progress) and e.step == 3:
            stop.set()

    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, steps=100), tmp_path / "r")
    done = trainer.run(on_event, stop)
    path = tmp_path / "r" / "latest.npz"
    assert done.message == f"stopped at step 3 (interrupted); saved {path}"
    assert not [e for e in events if isinstance(e, Evaluated)] and trainer.val_history == []
    finished = Trainer.start(tiny_text, TrainConfig(**SMALL, steps=2), tmp_path / "f").run()
    assert finished.message == f"stopped at step 2 (steps); saved {tmp_path / 'f' / 'latest.npz'}"
