"""Decoupled weight decay against a float64 hand computation (AdamW), and the learning-rate
schedules: their values, a cosine over --steps and over --minutes (on a fake clock), warmup, and a
resumed run that carries the schedule on where it was."""

import math
import threading

import numpy as np
import pytest
from test_train import stop_at
from test_train_behaviour import SMALL, assert_update, clip_scale, fake_clock, take_step

from rnntui import checkpoint
from rnntui.checkpoint import CheckpointError
from rnntui.schedule import COSINE_FLOOR, decayed_names, lr_factor
from rnntui.train import ADAM_BETAS, EPS, Progress, TrainConfig, Trainer

# -- weight decay -------------------------------------------------------------------------------------


def test_decay_takes_the_weight_matrices_only():
    shapes = {"embed": (5, 3), "Wxh0": (3, 4), "Whh0": (4, 4), "bh0": (4,), "bhn0": (4,),
              "Wxh1": (4, 4), "Whh1": (4, 4), "bh1": (4,), "Why": (4, 5), "by": (5,)}  # fmt: skip
    assert decayed_names(shapes) == ["Wxh0", "Whh0", "Wxh1", "Whh1", "Why"]


def decay_mask(shapes: dict) -> np.ndarray:
    """The decay mask over the flat vector, by hand: True on every weight matrix but the embedding."""
    return np.concatenate([np.full(int(np.prod(shape)), len(shape) == 2 and name != "embed")
                           for name, shape in shapes.items()])  # fmt: skip


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_adamw_steps_match_hand_computation(tiny_text, tmp_path, clip):
    """Four AdamW updates: every weight matrix first multiplied by 1 - lr * wd, then Adam's update of
    the raw (clipped) gradient, whose moments never see the decay; biases and the embedding as Adam."""
    lr, wd = 0.01, 3.0
    cfg = TrainConfig(**SMALL, cell="gru", lr=lr, clip=clip, weight_decay=wd)
    trainer = Trainer.start(tiny_text, cfg, tmp_path / "r")
    decays = decay_mask(trainer.model.shapes)
    assert 0 < decays.mean() < 1
    b1, b2 = ADAM_BETAS
    m = np.zeros(trainer.model.flat.size)
    v = np.zeros_like(m)
    for t in range(1, 5):
        p0 = trainer.model.flat.astype(np.float64)
        g, dp, _ = take_step(trainer)
        g = g * clip_scale(g, clip)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        adam = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + EPS)
        want = adam - np.where(decays, lr * wd * p0, 0.0)
        assert_update(trainer, dp, want, f"update {t}")


def test_weight_decay_shrinks_with_the_scheduled_lr_under_sgd(tiny_text, tmp_path):
    """Decoupled for every optimiser: SGD's update is -lr_k * (g + wd * p) on the matrices."""
    cfg = TrainConfig(**SMALL, optimizer="sgd", lr=0.2, schedule="step", lr_decay=0.5, decay_every=1,
                      clip=0, weight_decay=0.5)  # fmt: skip
    trainer = Trainer.start(tiny_text, cfg, tmp_path / "r")
    decays = decay_mask(trainer.model.shapes)
    for k in range(3):
        p0 = trainer.model.flat.astype(np.float64)
        g, dp, _ = take_step(trainer)
        lr = 0.2 * 0.5**k
        want = -lr * g - np.where(decays, lr * 0.5 * p0, 0.0)
        assert_update(trainer, dp, want, f"step {k}")


# -- schedules ----------------------------------------------------------------------------------------


def test_schedule_values():
    assert lr_factor("constant", 12345, 0.7) == 1.0
    assert [lr_factor("step", k, 0.0, lr_decay=0.5, decay_every=2) for k in range(5)] == [
        1,
        1,
        0.5,
        0.5,
        0.25,
    ]
    cos = [lr_factor("cosine", 0, f) for f in (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)]
    floor = COSINE_FLOOR
    want = [1.0, floor + (1 - floor) * (1 + math.sqrt(0.5)) / 2, (1 + floor) / 2,
            floor + (1 - floor) * (1 - math.sqrt(0.5)) / 2, floor, floor]  # fmt: skip
    assert cos == pytest.approx(want)
    assert [lr_factor("constant", k, 0.0, warmup=4) for k in range(6)] == [0.25, 0.5, 0.75, 1, 1, 1]
    assert lr_factor("cosine", 1, 0.5, warmup=4) == pytest.approx(0.5 * (1 + floor) / 2)
    assert TrainConfig(lr=0.1, schedule="cosine", steps=10).lr_at(9, 1.0) == pytest.approx(0.1 * floor)


@pytest.mark.parametrize(
    "options,message",
    [(dict(schedule="linear"), "--schedule must be one of constant, step, cosine"),
     (dict(lr_decay=0.5), "--lr-decay is for --schedule step (got --schedule cosine)"),
     (dict(warmup=-1), "--warmup must be 0"),
     (dict(dropout=-0.1), "--dropout must be in [0, 1)"),
     (dict(dropout=1.0), "--dropout must be in [0, 1)"),
     (dict(dropout=math.nan), "--dropout must be in [0, 1)"),
     (dict(weight_decay=-1.0), "--weight-decay must be 0"),
     (dict(weight_decay=math.inf), "--weight-decay must be 0"),
     (dict(weight_decay=600.0), "--weight-decay 600 x --lr 0.002 must be below 1")],
)  # fmt: skip
def test_bad_settings_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError) as err:
        TrainConfig(**options).validate()
    assert message in str(err.value) and "\n" not in str(err.value)


def progress_lrs(events) -> list[float]:
    return [e.lr for e in events if isinstance(e, Progress)]


def test_cosine_over_steps_ends_at_the_floor_and_each_update_uses_it(tiny_text, tmp_path):
    cfg = TrainConfig(**SMALL, optimizer="sgd", lr=0.2, clip=0, schedule="cosine", warmup=2, steps=6)
    trainer = Trainer.start(tiny_text, cfg, tmp_path / "r")
    for k in range(6):
        g, dp, _ = take_step(trainer)
        assert_update(trainer, dp, -cfg.lr_at(k, (k + 1) / 6) * g, f"step {k}")
    events = []
    Trainer.start(tiny_text, cfg, tmp_path / "r2").run(events.append)
    want = [0.2 * min(1, (k + 1) / 2) * lr_factor("cosine", k, (k + 1) / 6) for k in range(6)]
    assert progress_lrs(events) == pytest.approx(want)
    assert progress_lrs(events)[-1] == pytest.approx(0.2 * COSINE_FLOOR)


def test_a_resumed_cosine_carries_on_where_it_was(tiny_text, tmp_path):
    cfg = TrainConfig(**SMALL, lr=0.01, schedule="cosine", steps=8)
    events = []
    whole = Trainer.start(tiny_text, cfg, tmp_path / "a")
    whole.run(events.append)
    straight = progress_lrs(events)
    stop_at(Trainer.start(tiny_text, cfg, tmp_path / "b"), 3)
    assert checkpoint.load(tmp_path / "b" / "latest.npz").meta["schedule_progress"] == pytest.approx(3 / 8)
    events = []
    resumed = Trainer.resume(tmp_path / "b" / "latest.npz")
    resumed.run(events.append)
    assert progress_lrs(events) == pytest.approx(straight[3:])
    assert np.array_equal(resumed.model.flat, whole.model.flat)


def test_a_timed_cosine_reaches_the_floor_at_its_end_and_a_resume_carries_on(
    tiny_text, tmp_path, monkeypatch
):
    """On a fake clock (0.01 s a reading, a 0.6 s budget): the lr falls with the time spent, each
    update's between the cosine at the time its step started and a few readings earlier, and the
    last is within a step of the floor. Stopped half-way, a run resumed with --minutes spends the
    rest of the cosine over its own budget."""
    tick = 0.01
    fake_clock(monkeypatch, tick)
    cfg = TrainConfig(**SMALL, lr=0.01, schedule="cosine", minutes=0.01)
    events = []
    done = Trainer.start(tiny_text, cfg, tmp_path / "r").run(events.append)
    steps = [e for e in events if isinstance(e, Progress)]
    assert done.reason == "time" and len(steps) > 10
    for e in steps:
        hi, lo = cfg.lr_at(e.step - 1, (e.elapsed - 4 * tick) / 0.6), cfg.lr_at(e.step - 1, e.elapsed / 0.6)
        assert lo <= e.lr <= hi, e
    assert steps[0].lr > 0.0099 and steps[-1].lr < 0.01 * (COSINE_FLOOR + 0.01)
    assert checkpoint.load(tmp_path / "r" / "latest.npz").meta["schedule_progress"] == 1.0

    stop = threading.Event()
    steps_cfg = TrainConfig(**SMALL, lr=0.01, schedule="cosine", steps=20)
    Trainer.start(tiny_text, steps_cfg, tmp_path / "h").run(
        lambda e: stop.set() if isinstance(e, Progress) and e.step == 10 else None, stop)  # fmt: skip
    events = []
    Trainer.resume(tmp_path / "h" / "latest.npz", steps=10_000, minutes=0.01).run(events.append)
    lrs = progress_lrs(events)
    assert lrs[0] == pytest.approx(steps_cfg.lr_at(10, 0.5), rel=0.05)  # where it was: half-way down
    assert lrs[-1] < 0.01 * (COSINE_FLOOR + 0.01) and lrs == sorted(lrs, reverse=True)


def test_the_default_is_a_cosine_that_holds_its_peak_without_a_budget(tiny_text, tmp_path):
    """The cosine is the default; an open-ended library run (no --steps, no --minutes: the CLI always
    gives one) has nothing to decay over, so every update gets the peak learning rate."""
    assert TrainConfig().schedule == "cosine"
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, lr=0.01), tmp_path / "r")
    lrs = [trainer.train_step()[2] for _ in range(3)]
    assert lrs == [0.01, 0.01, 0.01]


def test_checkpoints_without_a_schedule_resume_as_they_ran(tiny_text, tmp_path):
    """A checkpoint written before --schedule existed (no schedule, no schedule_progress) that
    decayed by --lr-decay resumes on the step schedule; a garbled progress is refused in one line."""
    cfg = TrainConfig(**SMALL, lr=0.01, schedule="step", lr_decay=0.5, decay_every=2, steps=3)
    Trainer.start(tiny_text, cfg, tmp_path / "r").run()
    path = tmp_path / "r" / "latest.npz"
    old = checkpoint.load(path)
    del old.meta["train"]["schedule"], old.meta["schedule_progress"]
    checkpoint.save(old, tmp_path / "old.npz")
    resumed = Trainer.resume(tmp_path / "old.npz", steps=6)
    assert resumed.cfg.schedule == "step" and resumed.cfg.lr_at(4) == pytest.approx(0.0025)
    old.meta["schedule_progress"] = 2.5
    checkpoint.save(old, tmp_path / "bad.npz")
    with pytest.raises(CheckpointError, match="schedule_progress 2.5 is not a share between 0 and 1"):
        Trainer.resume(tmp_path / "bad.npz")
    # one that ran a constant learning rate resumes constant, not on today's default cosine
    constant = checkpoint.load(path)
    constant.meta["train"]["lr_decay"] = 1.0
    del constant.meta["train"]["schedule"], constant.meta["schedule_progress"]
    checkpoint.save(constant, tmp_path / "constant.npz")
    resumed = Trainer.resume(tmp_path / "constant.npz", steps=6)
    assert resumed.cfg.schedule == "constant" and resumed.cfg.lr_at(4) == pytest.approx(0.01)
