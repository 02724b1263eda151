"""Checkpoints: exact round trip, and every kind of bad file refused with one clear message."""

import errno
import io
import json
import os
import pickle
import re
import zipfile

import numpy as np
import pytest
from test_hostile import arrays_of

from rnntui import checkpoint
from rnntui.checkpoint import Checkpoint, CheckpointError
from rnntui.model import RNN, ModelConfig
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
        assert meta["format"] == "rnntui-checkpoint" and meta["version"] == 2
        assert meta["model"]["cell"] == "rnn"
        assert z["param/Whh0"].dtype == np.float32 and z["param/Whh0"].shape == (16, 16)
        assert z["opt/m"].shape == trainer.model.flat.shape


@pytest.mark.parametrize("cell,gates", [("gru", 3), ("lstm", 4)])
def test_gated_checkpoints_record_the_cell_and_its_state(tiny_text, tmp_path, cell, gates):
    """Version 2: the cell in the metadata, each gate's block in the weights, and for the LSTM the
    carried cell state c beside h; all of it back exactly on load."""
    trainer = Trainer.start(
        tiny_text, TrainConfig(hidden=6, embed=4, seq=8, batch=2, steps=3, cell=cell), tmp_path / "run"
    )
    trainer.run()
    path = tmp_path / "run" / "latest.npz"
    ckpt = checkpoint.load(path)
    assert ckpt.model.cfg.cell == cell
    assert np.array_equal(ckpt.model.flat, trainer.model.flat)
    assert np.array_equal(ckpt.carry, trainer.carry)
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(z["meta"].tobytes())["model"]["cell"] == cell
        assert z["param/Whh0"].shape == (6, gates * 6) and z["param/Wxh0"].shape == (4, gates * 6)
        assert z["state/h"].shape == (1, 2, 6)
        assert ("state/c" in z.files) == (cell == "lstm")
        if cell == "lstm":
            np.testing.assert_array_equal(z["state/c"], trainer.carry[..., 6:])
    if cell == "lstm":
        assert np.abs(trainer.carry[..., 6:]).max() > 0  # the cell state is live, not zeros
        broken = rewrite(path, tmp_path / "no-c.npz", drop=("state/c",))
        with pytest.raises(CheckpointError, match="missing array 'state/c'"):
            checkpoint.load(broken)


def test_version_1_files_load_as_vanilla_and_resume(saved, tmp_path):
    """A file written before cells existed (version 1, no cell in its metadata) loads as a vanilla
    RNN and resumes exactly."""
    trainer, path = saved
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes())
    del meta["model"]["cell"]
    old = rewrite(path, tmp_path / "run" / "v1.npz", meta_change={"version": 1, "model": meta["model"]})
    ckpt = checkpoint.load(old)
    assert ckpt.model.cfg.cell == "rnn" and np.array_equal(ckpt.model.flat, trainer.model.flat)
    resumed = Trainer.resume(old, steps=5)
    resumed.run()
    assert resumed.step == 5


def test_an_unknown_cell_is_refused(saved, tmp_path):
    trainer, path = saved
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes())
    meta["model"]["cell"] = "transformer"
    bad = rewrite(path, tmp_path / "bad.npz", meta_change={"model": meta["model"]})
    with pytest.raises(CheckpointError, match="unknown cell 'transformer'"):
        checkpoint.load(bad)


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
    with pytest.raises(
        CheckpointError, match="^" + re.escape(f"{plain}: is a Python pickle, which rnntui never loads")
    ):
        checkpoint.load(plain)
    with pytest.raises(CheckpointError):
        checkpoint.load(inside)
    assert not (tmp_path / "PWNED").exists()
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x81 not a zip, not a pickle")
    with pytest.raises(
        CheckpointError, match="^" + re.escape(f"{junk}: not an rnntui checkpoint (not an .npz file)")
    ):
        checkpoint.load(junk)


def test_missing_and_directory(tmp_path):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "nope.npz")
    with pytest.raises(CheckpointError, match="is a directory"):
        checkpoint.load(tmp_path)


def test_corpus_files_of_every_kind_of_metadata():
    files = [{"path": "/a/x.txt", "sha256": "11"}, {"path": "/b/y.txt"}]
    assert checkpoint.corpus_files({"corpus": {"files": files}}) == [
        (checkpoint.Path("/a/x.txt"), "11"),
        (checkpoint.Path("/b/y.txt"), None),
    ]
    # before several files were possible: one path and its sha256
    assert checkpoint.corpus_files({"corpus": {"path": "/c/z.txt", "sha256": "22"}}) == [
        (checkpoint.Path("/c/z.txt"), "22")
    ]
    assert checkpoint.corpus_files({"corpus": {"path": "/c/z.txt"}}) == [(checkpoint.Path("/c/z.txt"), None)]
    for meta in ({}, {"corpus": None}, {"corpus": {}}, {"corpus": {"path": ""}}):
        assert checkpoint.corpus_files(meta) == []


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("at", [0, 3, 4, 9, 10])
def test_a_non_finite_value_is_found_in_any_block_and_named_by_its_index(bad, at):
    a = np.arange(11, dtype=np.float32).reshape(11, 1)
    assert checkpoint._finite(a, "param/x", checkpoint.Path("c.npz"), block=4) is a
    a[at] = bad
    with pytest.raises(CheckpointError) as err:
        checkpoint._finite(a, "param/x", checkpoint.Path("c.npz"), block=4)
    assert str(err.value) == (
        f"c.npz: array 'param/x' is not finite (value {np.float32(bad)} at flat index {at:,}); "
        "the run diverged or the file was damaged"
    )


def test_the_histories_come_back_exactly(saved, tmp_path):
    """The dashboard's curves after a resume: every training loss, every (step, val) pair and every
    spectra row (a 2-layer model: step, then radius and largest singular value per layer)."""
    trainer, _ = saved
    ckpt = checkpoint.load(trainer.run_dir / "latest.npz")
    model = RNN.initialised(ModelConfig(vocab_size=len(ckpt.vocab), embed=4, hidden=5, layers=2),
                            np.random.default_rng(0))  # fmt: skip
    rng = np.random.default_rng(1)
    histories = {"train_history": rng.random(7).astype(np.float32), "val_history": rng.random((3, 2)),
                 "spectra_history": rng.random((3, 5))}  # fmt: skip
    path = checkpoint.save(Checkpoint(model=model, vocab=ckpt.vocab, meta={"step": 7}, **histories),
                           tmp_path / "h.npz")  # fmt: skip
    back = checkpoint.load(path)
    for name, values in histories.items():
        assert getattr(back, name).dtype == values.dtype
        np.testing.assert_array_equal(getattr(back, name), values)


def test_write_atomically_writes_beside_the_target_and_cleans_up_on_any_error(tmp_path):
    target = tmp_path / "new" / "deeper" / "run.npz"  # folders that do not exist yet are made
    during = []

    def write(f):
        f.write(b"whole")
        during.extend(p.name for p in target.parent.iterdir())

    checkpoint.write_atomically(target, write)
    assert target.read_bytes() == b"whole"
    assert len(during) == 1 and during[0].startswith(".run.npz.") and during[0].endswith(".tmp")
    assert [p.name for p in target.parent.iterdir()] == ["run.npz"]  # renamed, in the same folder

    def fails(exc):
        def write(f):
            f.write(b"part")
            raise exc

        return write

    with pytest.raises(ValueError, match="^not an OSError$"):  # passed on as it was
        checkpoint.write_atomically(target, fails(ValueError("not an OSError")))
    with pytest.raises(OSError) as err:  # disk full: says the earlier file is safe, names the file
        checkpoint.write_atomically(target, fails(OSError(errno.ENOSPC, "No space left on device")))
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert err.value.strerror == "No space left on device; any earlier checkpoint there is untouched"
    assert [p.name for p in target.parent.iterdir()] == ["run.npz"] and target.read_bytes() == b"whole"


def test_an_array_larger_than_one_read_comes_back_exactly(tmp_path):
    """Arrays are read 16 MiB at a time; a word model's embedding (70,000 x 64 floats, 17.9 MB) takes
    two reads, the second a partial one."""
    from rnntui.corpus import Vocab

    vocab = Vocab(level="word", tokens=tuple(f"w{i}" for i in range(70_000)))
    model = RNN(ModelConfig(vocab_size=len(vocab), embed=64, hidden=4))
    model.params["embed"][...] = np.random.default_rng(0).standard_normal(model.params["embed"].shape)
    assert model.params["embed"].nbytes > 1 << 24
    back = checkpoint.load(checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={}), tmp_path / "w.npz"))
    np.testing.assert_array_equal(back.model.params["embed"], model.params["embed"])


def test_a_file_without_histories_loads_with_empty_ones_and_the_metadata_is_the_callers(saved, tmp_path):
    """An older or imported file has no history arrays: each comes back empty, of its dtype and width
    (a 1-layer model's spectra rows are step, radius, largest singular value); the format's own keys
    are not part of ``meta``."""
    _, path = saved
    bare = tmp_path / "bare.npz"
    np.savez(bare, **{k: v for k, v in arrays_of(path).items() if not k.startswith("history/")})
    ckpt = checkpoint.load(bare)
    assert ckpt.train_history.shape == (0,) and ckpt.train_history.dtype == np.float32
    assert ckpt.val_history.shape == (0, 2) and ckpt.val_history.dtype == np.float64
    assert ckpt.spectra_history.shape == (0, 3) and ckpt.spectra_history.dtype == np.float64
    assert not {"format", "version", "model", "vocab"} & set(ckpt.meta) and ckpt.meta["step"] == 3


@pytest.mark.parametrize(
    "key,bad,message",
    [
        ("history/val", np.zeros((2, 3)), "array 'history/val' has shape (2, 3), expected (K, 2)"),
        ("history/spectra", np.zeros((2, 5)), "array 'history/spectra' has shape (2, 5), expected (K, 3)"),
        ("param/Whh0", np.zeros((16, 15), np.float32), "array 'param/Whh0'"),
        ("opt/m", np.zeros(5, np.float32), "array 'opt/m'"),
        ("state/h", np.zeros((1, 2, 15), np.float32), "array 'state/h'"),
    ],
)
def test_an_array_of_the_wrong_shape_is_refused_naming_the_file_and_the_array(
    saved, tmp_path, key, bad, message
):
    _, path = saved
    broken = tmp_path / "broken.npz"
    np.savez(broken, **(arrays_of(path) | {key: bad}))
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(broken)
    assert str(err.value).startswith(f"{broken}: ") and message in str(err.value)


def test_an_lstm_cell_state_must_match_its_memory(tiny_text, tmp_path):
    trainer = Trainer.start(tiny_text, TrainConfig(hidden=6, embed=4, seq=8, batch=2, steps=2, cell="lstm"),
                            tmp_path / "run")  # fmt: skip
    trainer.run()
    arrays = arrays_of(tmp_path / "run" / "latest.npz")
    broken = tmp_path / "broken.npz"
    np.savez(broken, **(arrays | {"state/c": arrays["state/c"][:, :1]}))  # one stream where h has two
    with pytest.raises(CheckpointError, match=re.escape(f"{broken}: ") + ".*'state/c'"):
        checkpoint.load(broken)
