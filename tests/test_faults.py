"""Faults, tried for real on a training subprocess: signals save, SIGKILL never leaves a bad file."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rnntui import checkpoint

TINY = ["--hidden", "16", "--embed", "4", "--seq", "8", "--batch", "2", "--eval-every", "50"]


RNNTUI = [sys.executable, "-m", "rnntui.cli"]


def start_training(corpus: Path, out: Path, *extra: str) -> subprocess.Popen:
    """``rnntui train CORPUS`` (tiny model) as a background process."""
    return start("train", str(corpus), "--no-tui", "--out", str(out), *TINY, *extra)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([*RNNTUI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(*args: str, **kwargs) -> subprocess.CompletedProcess:
    """``rnntui ARGS`` to completion, output captured."""
    return subprocess.run([*RNNTUI, *args], capture_output=True, text=True, timeout=120, **kwargs)


def wait_for(path: Path, proc: subprocess.Popen, newer_than: float = 0.0, timeout: float = 90) -> None:
    """Wait until ``path`` exists and was written after ``newer_than`` (an mtime)."""
    end = time.monotonic() + timeout
    while not (path.exists() and path.stat().st_mtime_ns > newer_than):
        if proc.poll() is not None:
            raise AssertionError(f"training exited early: {proc.stderr.read()}")
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError("no checkpoint appeared")
        time.sleep(0.02)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_exits_zero_and_the_run_resumes(tiny_text, tmp_path, sig):
    latest = tmp_path / "tiny" / "latest.npz"
    proc = start_training(tiny_text, tmp_path, "--steps", "1000000", "--save-every", "20")
    wait_for(latest, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and str(latest) in out
    assert f"{sig.name}: finishing this step and saving…" in err
    step = checkpoint.load(latest).meta["step"]
    assert step >= 20
    resumed = run("train", "--resume", str(latest), "--steps", str(step + 5), "--no-tui")
    assert resumed.returncode == 0, resumed.stderr
    assert checkpoint.load(latest).meta["step"] == step + 5


def test_sigkill_at_random_times_never_leaves_a_bad_checkpoint(tiny_text, tmp_path):
    """Kill training (saving every step, so often mid-write) five times; each time the newest
    checkpoint loads, no temp file is taken for a checkpoint, and training resumes from it."""
    rng = random.Random(0)
    latest = tmp_path / "tiny" / "latest.npz"
    proc = start_training(tiny_text, tmp_path, "--steps", "1000000", "--save-every", "1")
    steps_seen = []
    for _ in range(5):
        wait_for(
            latest, proc, newer_than=latest.stat().st_mtime_ns if latest.exists() else 0
        )  # this process saves
        time.sleep(rng.uniform(0.05, 0.6))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        ckpt = checkpoint.load(latest)  # must always load
        assert np.isfinite(ckpt.model.flat).all()
        steps_seen.append(ckpt.meta["step"])
        leftovers = [
            p.name for p in latest.parent.iterdir() if p.name not in ("latest.npz", "best.npz", ".lock")
        ]
        assert all(name.endswith(".tmp") for name in leftovers)  # only temp files, never a bad .npz
        proc = start("train", "--resume", str(latest), "--steps", "1000000", "--save-every", "1", "--no-tui")
    wait_for(latest, proc, newer_than=latest.stat().st_mtime_ns)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert steps_seen == sorted(steps_seen) and steps_seen[-1] > steps_seen[0]
    assert checkpoint.load(latest).meta["step"] >= steps_seen[-1]


def test_output_folder_that_is_a_file_gives_a_clear_error(tiny_text, tmp_path):
    blocker = tmp_path / "notadir"
    blocker.write_text("x")
    proc = run("train", str(tiny_text), "--no-tui", "--out", str(blocker), *TINY)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and proc.stderr.strip().startswith("Error")
    assert os.path.isfile(blocker)


def test_a_full_disk_gives_a_clear_error_and_keeps_the_previous_checkpoint(tiny_text, tmp_path):
    """A real write failure: the resumed run may write at most a few kB (RLIMIT_FSIZE), less than
    one checkpoint, as on a nearly full disk."""
    first = start_training(tiny_text, tmp_path, "--steps", "3")
    assert first.wait(timeout=120) == 0
    latest = tmp_path / "tiny" / "latest.npz"
    before = {p.name: p.read_bytes() for p in latest.parent.glob("*.npz")}

    def small_files_only():
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    proc = run("train", "--resume", str(latest), "--steps", "6", "--no-tui", preexec_fn=small_files_only)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("Error:") and ".npz: File too large" in error and "untouched" in error
    assert {p.name: p.read_bytes() for p in latest.parent.glob("*.npz")} == before
    assert not [p for p in latest.parent.iterdir() if p.suffix == ".tmp"]


def test_two_trainings_in_one_run_folder_are_refused(tiny_text, tmp_path):
    latest = tmp_path / "tiny" / "latest.npz"
    first = start_training(tiny_text, tmp_path, "--steps", "1000000", "--save-every", "20")
    wait_for(latest, first)
    second = run("train", "--resume", str(latest), "--steps", "1000000", "--no-tui")
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=60)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert "in use by another training" in second.stderr.strip().splitlines()[-1]
    assert first.returncode == 0
    checkpoint.load(latest)  # whole, never interleaved


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only filesystem (a tmpfs mounted ro): even root cannot write there."""
    ro = tmp_path / "ro"
    ro.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {made.stderr.decode().strip()}")
    yield ro
    subprocess.run(["umount", str(ro)], check=False)


def test_a_read_only_output_folder_gives_a_clear_error(tiny_text, read_only_dir):
    proc = run("train", str(tiny_text), "--no-tui", "--out", str(read_only_dir), *TINY)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"Error: {read_only_dir / 'tiny'}: Read-only file system"
