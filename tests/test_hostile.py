"""Hostile input, by class: each case must end in one clear line on stderr, a non-zero exit, no
traceback, no hang (the cases that could hang run in a subprocess with a timeout), and must leave
what was saved untouched.

    A  sizes that cannot fit in memory: refused before anything is allocated
    B  files that are not regular files: pipes, devices, directories
    C  checkpoints whose arrays are not finite
    D  checkpoint metadata and .npy headers that are valid but pathological, and the token cache's JSON
"""

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import checkpoint
from rnntui.cli import main
from rnntui.train import TrainConfig, Trainer

RNNTUI = [sys.executable, "-m", "rnntui.cli"]
TINY = TrainConfig(hidden=16, embed=4, seq=8, batch=2, steps=3, eval_every=2)
TINY_ARGS = ["--hidden", "16", "--embed", "4", "--seq", "8", "--batch", "2"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """(corpus, checkpoint) of a tiny trained run, shared by the module's tests (never modified)."""
    folder = tmp_path_factory.mktemp("hostile")
    corpus = folder / "tiny.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    Trainer.start(corpus, TINY, folder / "run").run()
    return corpus, folder / "run" / "latest.npz"


def arrays_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def npz(path: Path, arrays: dict[str, np.ndarray], headers: dict[str, bytes] | None = None) -> Path:
    """Write ``arrays`` as an .npz, plus entries given as raw .npy bytes (a header, maybe no data)."""
    with zipfile.ZipFile(path, "w") as z:
        for name, a in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asarray(a), allow_pickle=False)
            z.writestr(f"{name}.npy", buf.getvalue())
        for name, raw in (headers or {}).items():
            z.writestr(f"{name}.npy", raw)
    return path


def header(shape: tuple[int, ...], dtype=np.float32, version=(1, 0)) -> bytes:
    """The bytes of a .npy header for ``shape`` and no data at all."""
    buf = io.BytesIO()
    d = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape}
    (np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0)(
        buf, d
    )
    return buf.getvalue()


def with_meta(arrays: dict, change) -> dict:
    """A copy of a checkpoint's arrays whose metadata ``change(meta)`` has edited in place."""
    meta = json.loads(arrays["meta"].tobytes())
    change(meta)
    return arrays | {"meta": np.frombuffer(json.dumps(meta).encode(), np.uint8)}


def one_line(result) -> str:
    """The single ``Error: ...`` line of a failed CliRunner run."""
    assert result.exit_code not in (0, None), result.output
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def run_one_line(*args: str, timeout: float = 60, **kwargs) -> str:
    """``rnntui ARGS`` in a subprocess (so a hang is a failure, not a stuck suite): its one stderr line."""
    proc = subprocess.run([*RNNTUI, *args], capture_output=True, text=True, timeout=timeout, **kwargs)
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr and len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# -- A: sizes that cannot fit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        ["--hidden", "300000"],
        ["--hidden", "40000", "--layers", "200"],
        ["--batch", "1", "--embed", "10000000000"],
    ],
    ids=["hidden", "layers", "embed"],
)
def test_a_model_too_big_for_memory_is_refused_before_allocating(made, tmp_path, options):
    corpus, _ = made
    line = run_one_line("train", str(corpus), "--no-tui", "--out", str(tmp_path), "--seq", "8", *options)
    assert (
        "needs about" in line
        and "TB of memory" in line
        and "is available" in line
        and "lower --hidden" in line
    )
    assert not (tmp_path / "tiny").exists()  # nothing was started


def test_resuming_on_a_machine_too_small_is_refused(made, tmp_path, monkeypatch):
    from rnntui import memory

    _, ckpt = made
    saved = ckpt.read_bytes()
    monkeypatch.setattr(memory, "available_bytes", lambda: 10_000)  # a machine with 10 kB left
    line = one_line(invoke("train", "--resume", str(ckpt), "--steps", "9", "--no-tui"))
    assert "needs about" in line and "but 10.0 kB is available" in line
    assert ckpt.read_bytes() == saved


def test_a_checkpoint_whose_shapes_would_not_fit_is_refused_for_every_command(made, tmp_path):
    """The metadata says H = 200000 and the headers agree; the data is absent. Loading must refuse
    on the sizes alone (without the check, allocating the model is a 320 GB MemoryError)."""
    corpus, good = made
    H = 200_000
    arrays = with_meta(arrays_of(good), lambda m: m["model"].update(hidden=H))
    V, E = arrays["param/embed"].shape
    fake = {"param/embed": header((V, E)), "param/Wxh0": header((E, H)), "param/Whh0": header((H, H)),
            "param/bh0": header((H,)), "param/Why": header((H, V)), "param/by": header((V,))}  # fmt: skip
    big = npz(tmp_path / "big.npz", {"meta": arrays["meta"]}, fake)
    for args in (["sample", str(big)], ["eval", str(big), str(corpus)], ["inspect", "health", str(big)],
                 ["train", "--resume", str(big), "--no-tui"], ["play", str(big)]):  # fmt: skip
        line = one_line(invoke(*args))
        assert "parameters) needs about" in line and "GB of memory" in line, args


def test_an_array_header_too_big_for_memory_is_refused_before_it_is_read(made, tmp_path):
    _, good = made
    arrays = arrays_of(good)
    del arrays["state/h"]
    bad = npz(tmp_path / "carry.npz", arrays, {"state/h": header((1, 10**12, 16))})
    line = one_line(invoke("sample", str(bad)))
    assert "needs about" in line and "TB of memory" in line


def test_sampling_more_than_memory_holds_is_refused(made):
    _, ckpt = made
    assert "lower --length" in one_line(invoke("sample", str(ckpt), "--length", str(10**15)))


def test_inspecting_more_tokens_than_memory_holds_is_refused_before_reading(made, tmp_path):
    _, ckpt = made
    sparse = tmp_path / "huge.txt"  # 1 TB that takes no disk: it must not be read at all
    with open(sparse, "wb") as f:
        f.truncate(10**12)
    line = one_line(
        invoke("inspect", "unit", str(ckpt), "0", "--text", str(sparse), "--max-tokens", "10000000000000")
    )
    assert (
        "running the model over 1,000,000,000,000 tokens needs about" in line and "lower --max-tokens" in line
    )


def test_eval_streams_a_file_of_any_size(made, tmp_path):
    """eval reads its FILE a block at a time: the score of a file of many blocks is that of the text
    read whole, and memory does not grow with the file."""
    from rnntui.corpus import read_text
    from rnntui.train import mean_loss

    corpus, ckpt = made
    long = tmp_path / "long.txt"
    long.write_text(corpus.read_text() * 300)  # 5.8 MB: two 4 MiB blocks
    result = invoke("eval", str(ckpt), str(long))
    assert result.exit_code == 0, result.output
    model = checkpoint.load(ckpt)
    ids = model.vocab.encode(read_text(long))
    expected = mean_loss(model.model, ids, batch=1, seq=256)
    assert f"{len(ids) - 1:,} predictions  loss {expected:.4f} nats/char" in result.stdout


# -- B: files that are not regular files -------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    return path


@pytest.fixture
def zero(tmp_path):
    path = tmp_path / "zero.txt"
    path.symlink_to("/dev/zero")
    return path


SPECIAL_IDS = ["train", "resume", "sample", "prime-file", "eval-ckpt", "eval-file", "play", "inspect",
               "inspect-text", "sentences"]  # fmt: skip


@pytest.mark.parametrize("special", ["fifo", "zero"])
@pytest.mark.parametrize(
    "args",
    [
        ["train", "{x}", "--no-tui", "--out", "{tmp}"],
        ["train", "--resume", "{x}", "--no-tui"],
        ["sample", "{x}"],
        ["sample", "{ckpt}", "--prime-file", "{x}"],
        ["eval", "{x}", "{corpus}"],
        ["eval", "{ckpt}", "{x}"],
        ["play", "{x}"],
        ["inspect", "health", "{x}"],
        ["inspect", "unit", "{ckpt}", "0", "--text", "{x}"],
        ["inspect", "sentences", "{ckpt}", "{x}"],
    ],
    ids=[
        "train",
        "resume",
        "sample",
        "prime-file",
        "eval-ckpt",
        "eval-file",
        "play",
        "inspect",
        "inspect-text",
        "sentences",
    ],  # fmt: skip
)
def test_a_pipe_or_a_device_is_refused_at_once(made, tmp_path, request, special, args):
    corpus, ckpt = made
    x = request.getfixturevalue(special)
    subs = {"{x}": str(x), "{ckpt}": str(ckpt), "{corpus}": str(corpus), "{tmp}": str(tmp_path)}
    line = run_one_line(*[subs.get(a, a) for a in args], timeout=60)
    kind = "a named pipe" if special == "fifo" else "a character device"
    assert line == f"Error: {x}: is {kind}; rnntui reads only regular files"


@pytest.mark.parametrize("args", [["eval", "{ckpt}", "{dir}"], ["sample", "{ckpt}", "--prime-file", "{dir}"]])
def test_a_directory_as_a_text_is_refused(made, tmp_path, args):
    _, ckpt = made
    line = one_line(invoke(*[{"{ckpt}": str(ckpt), "{dir}": str(tmp_path)}.get(a, a) for a in args]))
    assert "is a directory" in line


def test_a_pipe_in_the_token_cache_or_as_the_run_lock_does_not_block_training(made, tmp_path):
    """A cache JSON or a .lock that is a pipe is not a valid cache or lock: rebuilt, taken over."""
    from rnntui.tokencache import tokenize

    corpus = tmp_path / "c.txt"
    corpus.write_text(made[0].read_text())
    cache = tokenize(corpus).cache
    json_path = cache.with_suffix(".json")
    json_path.unlink()
    os.mkfifo(json_path)
    run = tmp_path / "runs" / "c"
    run.mkdir(parents=True)
    os.mkfifo(run / ".lock")
    args = ["train", str(corpus), "--no-tui", "--out", str(tmp_path / "runs"), "--steps", "2", *TINY_ARGS]
    proc = subprocess.run([*RNNTUI, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (run / "latest.npz").is_file() and json_path.is_file()  # the pipe was replaced by a real cache


def test_prime_and_sentences_files_are_read_with_a_bound(made, tmp_path):
    _, ckpt = made
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(10**12)  # sparse: refused by its size, never read
    assert "larger than the 1 MiB read here" in one_line(
        invoke("sample", str(ckpt), "--prime-file", str(big))
    )
    assert "larger than the 1 MiB read here" in one_line(invoke("inspect", "sentences", str(ckpt), str(big)))
    many = tmp_path / "many.txt"
    many.write_text("the cat\n" * 501)
    assert "compare at most 500" in one_line(invoke("inspect", "sentences", str(ckpt), str(many)))


# -- C: arrays that are not finite --------------------------------------------------------------------


@pytest.mark.parametrize(
    "key,value",
    [
        ("param/Whh0", np.nan),
        ("param/by", np.inf),
        ("opt/m", -np.inf),
        ("opt/v", np.nan),
        ("state/h", np.nan),
    ],  # fmt: skip
)
def test_a_checkpoint_with_a_non_finite_array_is_refused_naming_it(made, tmp_path, key, value):
    _, good = made
    arrays = arrays_of(good)
    arrays[key] = arrays[key].copy()
    arrays[key].reshape(-1)[3] = value
    bad = npz(tmp_path / "nan.npz", arrays)
    said = (
        f"{bad}: array '{key}' is not finite (value {np.float32(value)} at flat index 3); "
        "the run diverged or the file was damaged"
    )
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load(bad)
    assert str(err.value) == said
    for args in (["sample", str(bad)], ["play", str(bad)], ["train", "--resume", str(bad), "--no-tui"]):
        assert one_line(invoke(*args)) == f"Error: {said}"


# -- D: pathological metadata and headers ---------------------------------------------------------------


def _deep(n: int) -> bytes:
    return b'{"format": "rnntui-checkpoint", "x": ' + b"[" * n + b"]" * n + b"}"


def meta_bytes(data: bytes):
    return lambda a: a | {"meta": np.frombuffer(data, np.uint8)}


def edit(where: str, **changes):
    """Set ``changes`` in the metadata object ``where`` ("" is the top level)."""
    return lambda a: with_meta(a, lambda m: (m[where] if where else m).update(changes))


def edit_tokens(change):
    return lambda a: with_meta(a, lambda m: change(m["vocab"]["tokens"]))


META_CASES = {
    "nested-300000": (meta_bytes(_deep(300_000)), "nested more than 64"),
    "nested-65": (meta_bytes(_deep(65)), "nested more than 64"),
    "not-utf8": (meta_bytes(b'{"a": "\xff"}'), "not valid JSON"),
    "a-list": (meta_bytes(b"[1, 2]"), "format 'list'"),
    "not-bytes": (lambda a: a | {"meta": np.arange(4, dtype=np.float32)}, "metadata is not a byte array"),
    "2-d-bytes": (lambda a: a | {"meta": np.zeros((2, 2), np.uint8)}, "metadata is not a byte array"),
    "hidden-string": (edit("model", hidden="16"), "not a positive integer"),
    "hidden-negative": (edit("model", hidden=-16), "not a positive integer"),
    "layers-float": (edit("model", layers=1.0), "not a positive integer"),
    "layers-bool": (edit("model", layers=True), "not a positive integer"),
    "layers-10**30": (edit("model", layers=10**30), "layers but the file holds fewer arrays"),
    "model-a-list": (edit("", model=[1]), "metadata is incomplete ('model' and 'vocab' must be objects)"),
    "vocab-a-string": (edit("", vocab="abc"), "metadata is incomplete ('model' and 'vocab' must be objects)"),
    "vocab-size-zero": (
        edit("model", vocab_size=0),
        "metadata has model vocab_size 0, not a positive integer",
    ),
    "embed-float": (edit("model", embed=2.5), "metadata has model embed 2.5, not a positive integer"),
    "tokens-a-string": (
        edit("vocab", tokens="abc"),
        "(vocabulary level, lowercase or tokens of the wrong kind)",
    ),
    "tokens-ints": (edit_tokens(lambda t: t.__setitem__(0, 5)), "distinct non-empty strings"),
    "tokens-repeated": (
        edit_tokens(lambda t: t.__setitem__(1, t[0])),
        "(vocabulary tokens must be distinct non-empty strings)",
    ),
    "char-token-of-two": (
        edit_tokens(lambda t: t.__setitem__(1, "ab")),
        "(a char-level vocabulary holds single characters)",
    ),
    "level-unknown": (edit("vocab", level="byte"), "wrong kind"),
    "step-string": (edit("", step="3"), "'step' is not a int"),
    "corpus-path-int": (edit("corpus", path=7), "corpus.path is not a string"),
    "corpus-sha256-int": (edit("corpus", sha256=5), "metadata field corpus.sha256 is not a string"),
    "corpus-files-none": (edit("corpus", files=None), "corpus.files is not a list"),
    "corpus-files-ints": (edit("corpus", files=[1, 2]), "corpus.files is not a list"),
    "best-val-string": (edit("", best_val="low"), "'best_val' is not a number"),
    "another-format": (edit("", format="numpy-weights"), "not an rnntui checkpoint (format 'numpy-weights')"),
    "a-newer-version": (
        edit("", version=checkpoint.VERSION + 1),
        f"checkpoint format version {checkpoint.VERSION + 1} is newer than this rnntui reads "
        f"({checkpoint.VERSION}); upgrade rnntui",
    ),
    "vocab-shorter-than-the-model": (
        edit_tokens(lambda t: t.pop()),
        "vocabulary has 14 tokens but the model expects 15",  # the tiny corpus has 15 characters
    ),
}


@pytest.mark.parametrize("case", list(META_CASES))
def test_pathological_metadata_is_one_clear_line(made, tmp_path, case):
    change, match = META_CASES[case]
    _, good = made
    bad = npz(tmp_path / "bad.npz", change(arrays_of(good)))
    line = one_line(invoke("sample", str(bad)))
    assert match in line and line.startswith(f"Error: {bad}: ")


VALID_ODDITIES = {
    "no-corpus": lambda a: with_meta(a, lambda m: m.pop("corpus")),  # e.g. an imported model
    "corpus-without-files": lambda a: with_meta(
        a, lambda m: m.update(corpus={"path": "a.txt", "sha256": "00"})
    ),
    "lowercase-vocab": edit("vocab", lowercase=True),
    "one-stream-carry": lambda a: a | {"state/h": a["state/h"][:, :1]},
}


@pytest.mark.parametrize("case", list(VALID_ODDITIES))
def test_unusual_but_valid_metadata_loads(made, tmp_path, case):
    """What the checks must let through: no corpus recorded, a one-file corpus from before several
    files were possible, a lowercasing vocabulary (kept as it is), a memory carried for one stream."""
    _, good = made
    loaded = checkpoint.load(npz(tmp_path / "odd.npz", VALID_ODDITIES[case](arrays_of(good))))
    assert loaded.vocab.lowercase == (case == "lowercase-vocab")
    assert loaded.carry is not None and loaded.carry.shape[1] == (1 if case == "one-stream-carry" else 2)


HEADER_CASES = {
    "meta-over-64-MiB": ({"meta": header((1 << 27,), np.uint8)}, "more than the 67,108,864 rnntui reads"),
    "npy-version-3": ({"param/by": b"\x93NUMPY\x03\x00" + header((3,))[8:]}, "not one rnntui writes"),
    "object-dtype": ({"param/by": header((3,), object)}, "holds pickled objects"),
    "truncated-data": ({"param/by": header((15,))}, "array 'param/by' is truncated"),  # V = 15
    "garbage-header": ({"param/by": b"\x93NUMPY\x01\x00\x10\x00{'descr': <f4,}  \n"}, "unreadable .npz"),
    "negative-shape": ({"param/by": header((-15,))}, "(unreadable .npz: negative shape (-15,))"),
    "meta-of-exactly-64-MiB": (
        {"meta": header((1 << 26,), np.uint8)},
        "array 'meta' is truncated",
    ),  # allowed
    "half-the-data": ({"param/by": header((15,)) + bytes(30)}, "array 'param/by' is truncated"),
}


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_pathological_npy_headers_are_one_clear_line(made, tmp_path, case):
    raw, match = HEADER_CASES[case]
    _, good = made
    arrays = {k: v for k, v in arrays_of(good).items() if k not in raw}
    bad = npz(tmp_path / "bad.npz", arrays, raw)
    line = one_line(invoke("sample", str(bad)))
    assert match in line and line.startswith(f"Error: {bad}: ")


def test_a_version_2_npy_entry_from_another_writer_loads_the_same(made, tmp_path):
    """NumPy writes format 2.0 for headers over 64 kB (a structured dtype with many fields); any
    writer may choose it. Its arrays read the same as 1.0's."""
    _, good = made
    arrays = arrays_of(good)
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arrays["param/Whh0"], version=(2, 0))
    assert buf.getvalue()[6:8] == b"\x02\x00"
    bad = npz(
        tmp_path / "v2.npz",
        {k: v for k, v in arrays.items() if k != "param/Whh0"},
        {"param/Whh0": buf.getvalue()},
    )
    assert np.array_equal(checkpoint.load(bad).model.params["Whh0"], arrays["param/Whh0"])


def _lying_zip(path: Path, arrays: dict, key: str, keep: int) -> Path:
    """An .npz whose deflated entry ``key`` holds only the first ``keep`` bytes of its .npy but whose
    directory claims the full size (its CRC is of the bytes kept, so zipfile itself finds nothing
    wrong: the read simply comes up short)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arrays[key])
    full = buf.getvalue()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, a in arrays.items():
            if name != key:
                b = io.BytesIO()
                np.lib.format.write_array(b, a)
                z.writestr(f"{name}.npy", b.getvalue())
        z.writestr(f"{key}.npy", full[:keep])
    raw = bytearray(path.read_bytes())
    entry = raw.rfind(b"PK\x01\x02", 0, raw.find(f"{key}.npy".encode(), raw.find(b"PK\x01\x02")))
    raw[entry + 24 : entry + 28] = len(full).to_bytes(4, "little")  # the central directory's size field
    path.write_bytes(bytes(raw))
    assert zipfile.ZipFile(path).getinfo(f"{key}.npy").file_size == len(full)
    return path


@pytest.mark.parametrize("short", ["no-data", "half-the-data"])
def test_an_array_that_ends_before_its_stated_size_is_refused_not_left_half_read(made, tmp_path, short):
    """The sizes agree on paper; the bytes run out while reading. Without the check the rest of the
    array would keep whatever it held before: a model silently half initialised."""
    _, good = made
    arrays = arrays_of(good)
    header_len = len(header(arrays["param/Why"].shape))
    keep = header_len if short == "no-data" else header_len + arrays["param/Why"].nbytes // 2
    bad = _lying_zip(tmp_path / "short.npz", arrays, "param/Why", keep)
    said = f"{bad}: not an rnntui checkpoint (array 'param/Why': unexpected end of data)"
    with pytest.raises(checkpoint.CheckpointError) as err:
        checkpoint.load(bad)
    assert str(err.value) == said
    assert one_line(invoke("sample", str(bad))) == f"Error: {said}"


def test_a_checkpoint_path_that_cannot_be_opened_names_why(tmp_path):
    loop = tmp_path / "loop.npz"
    loop.symlink_to(tmp_path / "other.npz")
    (tmp_path / "other.npz").symlink_to(loop)
    said = f"{loop}: cannot be read (Too many levels of symbolic links)"
    assert one_line(invoke("sample", str(loop))) == f"Error: {said}"


def test_a_safetensors_file_is_known_by_its_layout_under_any_name(made, tmp_path):
    from rnntui import interop

    _, good = made
    exported = interop.export(checkpoint.load(good), tmp_path / "m.safetensors")
    renamed = exported.rename(tmp_path / "weights.bin")
    loaded = checkpoint.load(renamed)
    assert np.array_equal(loaded.model.params["Whh0"], checkpoint.load(good).model.params["Whh0"])


def test_a_checkpoint_too_big_for_memory_names_its_parts_and_the_way_out(made, tmp_path, monkeypatch):
    """The training state read besides the weights (optimiser moments, the carried memory, the
    curves) is one part of the figure; a 1.2 MB loss curve makes it the part shown."""
    from rnntui import memory

    _, good = made
    arrays = arrays_of(good) | {"history/train": np.zeros(300_000, np.float32)}
    big = npz(tmp_path / "big.npz", arrays)
    n_params = sum(a.size for k, a in arrays.items() if k.startswith("param/"))
    state = sum(a.nbytes for k, a in arrays.items() if k.split("/")[0] in ("opt", "state", "history"))
    total = 2 * 4 * n_params + state
    monkeypatch.setattr(memory, "available_bytes", lambda: 10)
    said = (
        f"{big}: this model ({n_params:,} parameters) needs about {memory.human(total)} of memory "
        f"(optimiser state, memory and history {memory.human(state)}) but 10 B is available; "
        "it needs a bigger machine"
    )
    assert one_line(invoke("sample", str(big))) == f"Error: {said}"


def test_a_fortran_ordered_array_from_another_writer_loads_the_same(made, tmp_path):
    _, good = made
    arrays = arrays_of(good)
    arrays["param/Whh0"] = np.asfortranarray(arrays["param/Whh0"])
    loaded = checkpoint.load(npz(tmp_path / "f.npz", arrays))
    assert np.array_equal(loaded.model.params["Whh0"], checkpoint.load(good).model.params["Whh0"])


@pytest.mark.parametrize("damage", ["deep", "huge", "a-list"])
def test_a_pathological_token_cache_json_is_rebuilt_silently(made, tmp_path, damage):
    from rnntui.tokencache import tokenize

    corpus = tmp_path / "c.txt"
    corpus.write_text(made[0].read_text())
    first = tokenize(corpus)
    json_path = first.cache.with_suffix(".json")
    if damage == "deep":
        json_path.write_bytes(b"[" * 300_000 + b"]" * 300_000)
    elif damage == "huge":
        with open(json_path, "wb") as f:
            f.truncate(10**12)  # sparse: must not be read
    else:
        json_path.write_text("[1, 2, 3]")
    again = tokenize(corpus)
    assert not again.reused and np.array_equal(again.ids, first.ids)
    assert json.loads(json_path.read_text())["format"] == "rnntui-token-cache"


RESUME_CASES = {
    "hidden-float": (edit("train", hidden=1.5), "--hidden must be an integer (got 1.5))"),
    "level-none": (edit("train", level=None), "--level must be a string (got None))"),
    "seed-string": (edit("train", seed="x"), "--seed must be an integer (got 'x'))"),
    "train-missing": (lambda a: with_meta(a, lambda m: m.pop("train")), "has no usable training state"),
    "pos-past-the-text": (
        edit("data", pos=10**12),
        "(pos 1000000000000, epoch 0) is not in the text",
    ),
    "pos-negative": (edit("data", pos=-1), "is not in the text"),
    "rng-garbage": (edit("rng", state={"state": -1, "inc": 1}), "has no usable training state"),
    "rng-another-kind": (edit("rng", bit_generator="MT19937"), "has no usable training state"),
}


@pytest.mark.parametrize("case", list(RESUME_CASES))
def test_resuming_from_garbled_training_state_is_one_clear_line(made, tmp_path, case):
    change, match = RESUME_CASES[case]
    _, good = made
    bad = npz(tmp_path / "bad.npz", change(arrays_of(good)))
    before = bad.read_bytes()
    assert match in one_line(invoke("train", "--resume", str(bad), "--steps", "9", "--no-tui"))
    assert bad.read_bytes() == before


def test_a_plot_larger_than_a_terminal_is_refused(made):
    _, ckpt = made
    for option in ("--width", "--height"):
        result = invoke("inspect", "pca", str(ckpt), option, str(10**9))  # a usage error: click's usual lines
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert f"Error: Invalid value for '{option}': 1000000000 is not in the range" in result.stderr


def test_a_word_level_stop_string_is_found_without_decoding_the_whole_text_again(tmp_path, monkeypatch):
    """--stop at word level looked at the whole text after every token: quadratic time, a hang at
    --length 100000. Now only the newest piece and the tail before it are searched; the result is
    the first occurrence, as before."""
    from rnntui.corpus import Vocab
    from rnntui.generate import sample_text

    corpus = tmp_path / "w.txt"
    corpus.write_text('the cat sat on the mat, "said the dog." the end.\n' * 60)
    Trainer.start(
        corpus, TrainConfig(level="word", hidden=16, embed=4, seq=8, batch=2, steps=3), tmp_path / "r"
    ).run()
    ckpt = checkpoint.load(tmp_path / "r" / "latest.npz")
    full = sample_text(ckpt.model, ckpt.vocab, length=400, prime="the", temperature=1.5, seed=3)
    monkeypatch.setattr(Vocab, "decode", lambda self, ids: pytest.fail("decoded the whole text again"))
    for stop in ("the", ", ", '"', "dog.", "\n"):
        cut = sample_text(ckpt.model, ckpt.vocab, length=400, prime="the", temperature=1.5, seed=3, stop=stop)
        at = full.find(stop, len("the"))
        assert at >= 0 and cut == full[: at + len(stop)], stop
