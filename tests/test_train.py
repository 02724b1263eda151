import math
import os

import numpy as np
import pytest

from rnntui import checkpoint
from rnntui.checkpoint import CheckpointError
from rnntui.train import Evaluated, RunLock, RunLockedError, Stopped, TrainConfig, Trainer

SMALL = dict(hidden=32, embed=8, seq=16, batch=4, eval_every=10, save_every=1000)


def evaluations(events):
    return [e for e in events if isinstance(e, Evaluated)]


def test_a_tiny_text_is_memorised(tiny_text, tmp_path):
    cfg = TrainConfig(hidden=64, embed=16, seq=16, batch=4, steps=600, eval_every=200, lr=5e-3, val_frac=0.1)
    events = []
    Trainer.start(tiny_text, cfg, tmp_path / "run").run(events.append)
    first, last = evaluations(events)[0], evaluations(events)[-1]
    assert last.train_loss < 0.1 < first.train_loss


def test_republic_loss_falls_far_below_uniform_guess(republic, tmp_path):
    cfg = TrainConfig(hidden=128, steps=100, eval_every=100, save_every=1000, val_frac=0.01)
    trainer = Trainer.start(republic, cfg, tmp_path / "run")
    events = []
    trainer.run(events.append)
    uniform = math.log(len(trainer.vocab))
    assert len(trainer.vocab) == 80
    assert evaluations(events)[-1].val_loss < 0.6 * uniform  # ln 80 = 4.38 nats; ~2.1 expected here


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_same_seed_gives_bit_identical_weights(tiny_text, tmp_path, cell):
    runs = []
    for i, seed in enumerate((3, 3, 4)):
        cfg = TrainConfig(**SMALL, steps=15, seed=seed, cell=cell)
        trainer = Trainer.start(tiny_text, cfg, tmp_path / f"r{i}")
        trainer.run()
        runs.append(trainer.model.flat.copy())
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


@pytest.mark.parametrize(
    "optimizer,cell",
    [("adam", "rnn"), ("adagrad", "rnn"), ("sgd", "rnn"), ("adam", "gru"), ("sgd", "gru"), ("adam", "lstm"),
     ("adagrad", "lstm")],
)  # fmt: skip
def test_interrupted_and_resumed_run_ends_with_the_same_weights(tiny_text, tmp_path, optimizer, cell):
    """Exact resume for every cell (the LSTM's carried cell state included) and every optimiser."""
    cfg = TrainConfig(**SMALL, steps=70, optimizer=optimizer, layers=2, cell=cell)  # 70 steps: an epoch
    straight = Trainer.start(tiny_text, cfg, tmp_path / "straight")
    straight.run()
    assert straight.epoch >= 1

    stop_at(Trainer.start(tiny_text, cfg, tmp_path / "split"), 33)  # Ctrl-C at step 33 (of 70)
    resumed = Trainer.resume(tmp_path / "split" / "latest.npz")
    # the default cosine's clock is the uninterrupted run's, to the last bit (not just close to it)
    assert [resumed.schedule_progress(k) for k in range(33, 71)] == [k / 70 for k in range(33, 71)]
    resumed.run()
    assert resumed.step == straight.step == 70
    assert np.array_equal(resumed.model.flat, straight.model.flat)
    for k in straight.opt_state:
        assert np.array_equal(resumed.opt_state[k], straight.opt_state[k])
    assert resumed.train_history == straight.train_history
    assert np.array_equal(resumed.carry, straight.carry)


def stop_at(trainer: Trainer, step: int) -> None:
    """Run ``trainer`` and interrupt it (as Ctrl-C does) once ``step`` updates are done."""
    import threading

    stop = threading.Event()
    done = trainer.run(lambda event: getattr(event, "step", 0) >= step and stop.set(), stop)
    assert done.reason == "interrupted" and done.step == step


def test_stop_event_saves_and_reports_interrupted(tiny_text, tmp_path):
    stop_at(Trainer.start(tiny_text, TrainConfig(**SMALL, steps=10_000), tmp_path / "run"), 5)
    assert checkpoint.load(tmp_path / "run" / "latest.npz").meta["step"] == 5


def test_best_checkpoint_tracks_lowest_validation_loss(tiny_text, tmp_path):
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, steps=40), tmp_path / "run")
    trainer.run()
    best = checkpoint.load(tmp_path / "run" / "best.npz")
    vals = [v for _, v in trainer.val_history]
    assert best.meta["best_val"] == pytest.approx(min(vals))


def test_resume_refuses_another_corpus(tiny_text, tmp_path):
    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=3), tmp_path / "run").run()
    other = tmp_path / "other.txt"
    other.write_text(tiny_text.read_text().replace("cat", "cot"))
    with pytest.raises(CheckpointError, match="not the text this checkpoint was trained on"):
        Trainer.resume(tmp_path / "run" / "latest.npz", other)


def test_divergence_stops_cleanly_and_keeps_the_last_good_checkpoint(tiny_text, tmp_path):
    cfg = TrainConfig(**{**SMALL, "save_every": 1}, steps=500, optimizer="sgd", lr=1e30, clip=0)
    trainer = Trainer.start(tiny_text, cfg, tmp_path / "run")
    done = trainer.run()
    assert done.reason == "diverged" and "lower --lr" in done.message
    ckpt = checkpoint.load(tmp_path / "run" / "latest.npz")
    assert ckpt.meta["step"] < 500 and np.isfinite(ckpt.model.flat).all()
    trainer.model.flat[0] = np.nan
    with pytest.raises(FloatingPointError):
        trainer.save()
    assert np.isfinite(checkpoint.load(tmp_path / "run" / "latest.npz").model.flat).all()


def test_crash_mid_write_leaves_the_old_checkpoint_intact(tiny_text, tmp_path, monkeypatch):
    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, steps=3), tmp_path / "run")
    trainer.run()
    path = tmp_path / "run" / "latest.npz"
    before = path.read_bytes()

    def exploding_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(np, "savez", exploding_savez)
    trainer.step += 1
    with pytest.raises(OSError):
        trainer.save()
    assert path.read_bytes() == before
    assert not [p for p in path.parent.iterdir() if p.suffix == ".tmp"]  # the temp file is gone


def test_a_second_training_in_the_same_folder_is_refused(tmp_path):
    (tmp_path / ".lock").write_text(str(os.getppid()))  # a live process holds it
    with pytest.raises(RunLockedError, match="in use"):
        with RunLock(tmp_path):
            pass
    (tmp_path / ".lock").write_text("999999999")  # stale: no such process
    with RunLock(tmp_path):
        assert (tmp_path / ".lock").read_text() == str(os.getpid())
    assert not (tmp_path / ".lock").exists()


def test_text_shorter_than_one_chunk_is_refused(tmp_path):
    p = tmp_path / "short.txt"
    p.write_text("abcdefg")
    with pytest.raises(ValueError, match="too few"):
        Trainer.start(p, TrainConfig(), tmp_path / "run")


def test_stopped_event_is_last(tiny_text, tmp_path):
    events = []
    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=4), tmp_path / "run").run(events.append)
    assert isinstance(events[-1], Stopped) and events[-1].reason == "steps"


def test_recurrent_spectra_are_recorded_at_every_evaluation_and_survive_resume(tiny_text, tmp_path):
    from rnntui.inspect import recurrent_spectra

    trainer = Trainer.start(tiny_text, TrainConfig(**SMALL, steps=20, layers=2), tmp_path / "run")
    trainer.run()
    ckpt = checkpoint.load(tmp_path / "run" / "latest.npz")
    assert ckpt.spectra_history.shape == (2, 5)  # evaluations at steps 10 and 20; step + 2 per layer
    assert list(ckpt.spectra_history[:, 0]) == [10, 20]
    np.testing.assert_allclose(ckpt.spectra_history[-1, 1:], recurrent_spectra(trainer.model.params).ravel())
    resumed = Trainer.resume(tmp_path / "run" / "latest.npz", steps=30)
    resumed.run()
    assert [row[0] for row in resumed.spectra_history] == [10, 20, 30]


# -- several files ----------------------------------------------------------------------------------


def _texts(tmp_path):
    folder = tmp_path / "texts"
    (folder / "more").mkdir(parents=True)
    (folder / "one.txt").write_text("the cat sat on the mat.\n" * 30)
    (folder / "more" / "two.txt").write_text("the dog sat on the log.\n" * 30)
    return folder


def test_a_folder_trains_as_one_corpus_and_resume_checks_every_file(tmp_path):
    from rnntui.corpus import read_corpus, sha256_text

    folder = _texts(tmp_path)
    files = [folder / "more" / "two.txt", folder / "one.txt"]  # sorted by path: more/ before one.txt
    trainer = Trainer.start(folder, TrainConfig(**SMALL, steps=6), tmp_path / "run")
    assert trainer.corpus_files == files
    assert trainer.corpus_sha == sha256_text(read_corpus(files))
    trainer.run()
    recorded = checkpoint.load(tmp_path / "run" / "latest.npz").meta["corpus"]["files"]
    assert recorded == [{"path": str(f.resolve()), "sha256": sha256_text(f.read_text())} for f in files]
    assert checkpoint.corpus_files({"corpus": {"files": recorded}}) == [
        (f.resolve(), sha256_text(f.read_text())) for f in files
    ]

    resumed = Trainer.resume(tmp_path / "run" / "latest.npz", steps=9)  # from the recorded files
    resumed.run()
    assert resumed.step == 9
    with pytest.raises(CheckpointError, match="trained on 2 file"):
        Trainer.resume(tmp_path / "run" / "latest.npz", folder / "one.txt")
    (folder / "one.txt").write_text("the cat sat on the hat.\n" * 30)  # one file edited
    with pytest.raises(CheckpointError, match=f"{folder / 'one.txt'} is not the text"):
        Trainer.resume(tmp_path / "run" / "latest.npz")


def test_old_checkpoints_recording_one_path_still_resume(tiny_text, tmp_path):
    """A checkpoint written before several files were possible records corpus.path, not files."""
    Trainer.start(tiny_text, TrainConfig(**SMALL, steps=3), tmp_path / "run").run()
    ckpt = checkpoint.load(tmp_path / "run" / "latest.npz")
    files = ckpt.meta["corpus"].pop("files")
    ckpt.meta["corpus"]["path"] = files[0]["path"]
    checkpoint.save(ckpt, tmp_path / "run" / "latest.npz")
    resumed = Trainer.resume(tmp_path / "run" / "latest.npz", steps=5)
    resumed.run()
    assert resumed.step == 5 and resumed.corpus_files == [tiny_text.resolve()]
