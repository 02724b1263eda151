"""Checkpoints: exact round trip, and every kind of bad file refused with one clear message."""

import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

from rnntui import checkpoint
from rnntui.checkpoint import CheckpointError
from rnntui.train import TrainConfig, Trainer


@pytest.fixture
def saved(tiny_text, tmp_path):
    trainer = Trainer.start(
        tiny_text, TrainConfig(hidden=16, embed=4, seq=8, batch=2, steps=3), tmp_path / "run"
    )
    trainer.run()
    return trainer, tmp_path / "run" / "latest.npz"


def test_round_trip_is_exact_and_readable_without_rnntui(saved):
    trainer, path = saved
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, not mkstemp's 0600
    ckpt = checkpoint.load(path)
    assert np.array_equal(ckpt.model.flat, trainer.model.flat)
    assert ckpt.vocab.tokens == trainer.vocab.tokens
    assert ckpt.meta["step"] == 3 and ckpt.meta["corpus"]["sha256"] == trainer.corpus_sha
    with np.load(path, allow_pickle=False) as z:  # any npz reader sees plain arrays and JSON
        meta = json.loads(z["meta"].tobytes())
        assert meta["format"] == "rnntui-checkpoint" and meta["version"] == 1
        assert z["param/Whh0"].dtype == np.float32 and z["param/Whh0"].shape == (16, 16)
        assert z["opt/m"].shape == trainer.model.flat.shape


def rewrite(path, out, drop=(), change=None, meta_change=None):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k not in drop}
    if meta_change:
        meta = json.loads(arrays["meta"].tobytes())
        meta.update(meta_change)
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    arrays.update(change or {})
    np.savez(out, **arrays)
    return out


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda p, o: o.write_bytes(b""), "not an rnntui checkpoint"),
        (lambda p, o: o.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not an rnntui checkpoint"),
        (lambda p, o: o.write_bytes(np.random.default_rng(0).bytes(5000)), "not an rnntui checkpoint"),
        (lambda p, o: rewrite(p, o, drop=("param/Why",)), "missing array 'param/Why'"),
        (lambda p, o: rewrite(p, o, change={"param/by": np.zeros(3, np.float32)}), "shape"),
        (lambda p, o: rewrite(p, o, change={"param/by": np.zeros(1, np.float64)}), "dtype"),
        (lambda p, o: rewrite(p, o, meta_change={"version": 99}), "newer than this rnntui reads"),
        (lambda p, o: rewrite(p, o, drop=("meta",)), "no metadata"),
        (
            lambda p, o: rewrite(p, o, change={"meta": np.frombuffer(b"{not json", np.uint8)}),
            "not valid JSON",
        ),
    ],
    ids=[
        "zero-bytes",
        "truncated",
        "random-bytes",
        "missing-array",
        "wrong-shape",
        "wrong-dtype",
        "future-version",
        "no-meta",
        "bad-json",
    ],  # fmt: skip
)
def test_bad_checkpoints_are_refused(saved, tmp_path, make, match):
    _, path = saved
    bad = tmp_path / "bad.npz"
    make(path, bad)
    with pytest.raises(CheckpointError, match=match):
        checkpoint.load(bad)


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_pickle_payload_is_never_executed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    plain = tmp_path / "evil.npz"
    plain.write_bytes(pickle.dumps(_Boom()))
    # an npz whose array needs pickle (an object array holding the payload)
    inside = tmp_path / "evil-array.npz"
    buf = io.BytesIO()
    np.save(buf, np.array([_Boom()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(inside, "w") as z:
        z.writestr("meta.npy", buf.getvalue())
    for path in (plain, inside):
        with pytest.raises(CheckpointError):
            checkpoint.load(path)
    assert not (tmp_path / "PWNED").exists()


def test_missing_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "nope.npz")
    with pytest.raises(CheckpointError, match="is a directory"):
        checkpoint.load(tmp_path)
