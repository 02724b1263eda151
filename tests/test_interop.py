"""rnntui <-> PyTorch through safetensors, without torch: export then import is the identity, the
layout is PyTorch's, and every malformed or hostile file is one clear line (rnntui.interop).
The same files in PyTorch itself: tests/test_interop_torch.py."""

import json
import os
import struct

import numpy as np
import pytest
from click.testing import CliRunner
from safetensors.numpy import save

from rnntui import checkpoint, interop, memory
from rnntui.checkpoint import Checkpoint, CheckpointError
from rnntui.cli import main
from rnntui.corpus import UNK, Vocab
from rnntui.model import RNN, ModelConfig

CHARS = Vocab("char", tuple(" .abcdehilmnost"))
WORDS = Vocab("word", (UNK, "the", "cat", "sat", "on", "mat", ".", "\n"), lowercase=True)


def model(cell: str, layers: int, vocab: Vocab, E: int = 3, H: int = 5, seed: int = 0) -> RNN:
    """A model whose every parameter, biases included, is random (no zeros a mapping could hide in)."""
    m = RNN(ModelConfig(len(vocab), E, H, layers, cell))
    m.flat[:] = np.random.default_rng(seed).standard_normal(m.flat.size)
    return m


def exported(tmp_path, cell="gru", layers=2, vocab=CHARS, name="m.safetensors", step=12):
    m = model(cell, layers, vocab)
    path = interop.export(Checkpoint(m, vocab, {"step": step}), tmp_path / name)
    return m, path


def parts(path) -> tuple[dict, bytes]:
    """(header, tensor bytes) of a safetensors file."""
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8 : 8 + n]), raw[8 + n :]


def build(path, header, data: bytes = b"") -> None:
    body = json.dumps(header).encode() if not isinstance(header, bytes) else header
    path.write_bytes(struct.pack("<Q", len(body)) + body + data)


@pytest.mark.parametrize("vocab", [CHARS, WORDS], ids=["char", "word"])
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_export_then_import_is_the_identity(tmp_path, cell, layers, vocab):
    m, path = exported(tmp_path, cell, layers, vocab)
    back = checkpoint.load(path)  # the .safetensors read directly ...
    result = CliRunner().invoke(main, ["import", str(path), str(tmp_path / "w.npz")])
    assert result.exit_code == 0, result.output
    again = checkpoint.load(tmp_path / "w.npz")  # ... and through rnntui import's weights-only .npz
    for ckpt in (back, again):
        assert ckpt.model.cfg == m.cfg and ckpt.vocab == vocab
        assert ckpt.model.params.keys() == m.params.keys()
        for name, w in m.params.items():
            np.testing.assert_array_equal(ckpt.model.params[name], w, err_msg=name)
        assert ckpt.meta["step"] == 12 and ckpt.opt_state == {} and ckpt.carry is None
    assert again.meta["imported_from"]["path"] == str(path)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_the_file_holds_pytorch_names_layouts_and_the_equivalent_biases(tmp_path, cell):
    m, path = exported(tmp_path, cell, layers=2)
    header, _ = parts(path)
    meta = header.pop("__metadata__")
    G, H, E, V = {"rnn": 1, "gru": 3, "lstm": 4}[cell], 5, 3, len(CHARS)
    assert {k: tuple(v["shape"]) for k, v in header.items()} == {
        "embedding.weight": (V, E),
        "rnn.weight_ih_l0": (G * H, E), "rnn.weight_hh_l0": (G * H, H),
        "rnn.bias_ih_l0": (G * H,), "rnn.bias_hh_l0": (G * H,),
        "rnn.weight_ih_l1": (G * H, H), "rnn.weight_hh_l1": (G * H, H),
        "rnn.bias_ih_l1": (G * H,), "rnn.bias_hh_l1": (G * H,),
        "decoder.weight": (V, H), "decoder.bias": (V,),
    }  # fmt: skip
    assert {v["dtype"] for v in header.values()} == {"F32"}
    t = interop.to_tensors(m)
    p = m.params
    np.testing.assert_array_equal(t["embedding.weight"], p["embed"])
    np.testing.assert_array_equal(t["rnn.weight_ih_l1"], p["Wxh1"].T)
    np.testing.assert_array_equal(t["rnn.weight_hh_l1"], p["Whh1"].T)
    np.testing.assert_array_equal(t["rnn.bias_ih_l1"], p["bh1"])
    np.testing.assert_array_equal(t["decoder.weight"], p["Why"].T)
    np.testing.assert_array_equal(t["decoder.bias"], p["by"])
    want_hh = np.r_[np.zeros(2 * H), p["bhn1"]] if cell == "gru" else np.zeros(G * H)
    np.testing.assert_array_equal(t["rnn.bias_hh_l1"], want_hh)
    assert meta == {"rnntui": "1", "format": "pt", "cell": cell, "layers": "2", "embed": "3", "hidden": "5",
                    "level": "char", "lowercase": "false", "tokens": json.dumps(list(CHARS.tokens)),
                    "step": "12"} | ({"nonlinearity": "tanh"} if cell == "rnn" else {})  # fmt: skip


def test_import_folds_two_biases_into_one(tmp_path):
    """A file with both of PyTorch's biases non-zero: bh = b_ih + b_hh, but the GRU's n block keeps
    b_in in bh and b_hn in bhn."""
    H = 5
    for cell in ("lstm", "gru"):
        m = model(cell, 1, CHARS)
        t = interop.to_tensors(m)
        b_ih = np.linspace(-1, 1, t["rnn.bias_hh_l0"].size, dtype=np.float32)
        b_hh = np.linspace(0.5, -0.25, b_ih.size, dtype=np.float32)
        t["rnn.bias_ih_l0"], t["rnn.bias_hh_l0"] = b_ih, b_hh
        (tmp_path / "b.safetensors").write_bytes(save(t, interop.metadata(m.cfg, CHARS)))
        p = checkpoint.load(tmp_path / "b.safetensors").model.params
        if cell == "gru":
            np.testing.assert_array_equal(p["bh0"], np.r_[b_ih[: 2 * H] + b_hh[: 2 * H], b_ih[2 * H :]])
            np.testing.assert_array_equal(p["bhn0"], b_hh[2 * H :])
        else:
            np.testing.assert_array_equal(p["bh0"], b_ih + b_hh)


# -- malformed and hostile files --------------------------------------------------------------------


def edit_meta(**change):
    def edit(header, data):
        meta = header["__metadata__"]
        for k, v in change.items():
            if v is None:
                meta.pop(k, None)
            else:
                meta[k] = v
        return header, data

    return edit


def edit_tensor(name, **change):
    def edit(header, data):
        header[name] |= change
        return header, data

    return edit


def add_tensor(name, shape=(2,)):
    def edit(header, data):
        size = 4 * int(np.prod(shape))
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [len(data), len(data) + size]}
        return header, data + bytes(size)

    return edit


def shift(name, by):
    def edit(header, data):
        header[name]["data_offsets"] = [o + by for o in header[name]["data_offsets"]]
        return header, data

    return edit


def drop_tensor(name):
    def edit(header, data):
        del header[name]
        return header, data

    return edit


def nan_in(name):
    def edit(header, data):
        begin = header[name]["data_offsets"][0]
        return header, data[:begin] + struct.pack("<f", float("nan")) + data[begin + 4 :]

    return edit


def meta_not_strings(header, data):
    header["__metadata__"]["layers"] = 2
    return header, data


HOSTILE = {  # name: (edit of a valid 2-layer GRU file's (header, data), words the one line must hold)
    "no metadata": (drop_tensor("__metadata__"), "has no metadata of strings"),
    "metadata not strings": (meta_not_strings, "has no metadata of strings"),
    "not rnntui's": (edit_meta(rnntui=None), "no 'rnntui' entry"),
    "newer layout": (edit_meta(rnntui="2"), "layout version 2 is newer than this rnntui reads (1)"),
    "no vocabulary": (edit_meta(tokens=None), "has no vocabulary"),
    "tokens not a list": (edit_meta(tokens='{"a": 1}'), "'tokens' is not a JSON list"),
    "tokens not JSON": (edit_meta(tokens="[oops"), "'tokens' is not a JSON list"),
    "repeated tokens": (edit_meta(tokens=json.dumps(["a"] * len(CHARS))), "tokens must be distinct"),
    "fewer tokens than rows": (
        edit_meta(tokens=json.dumps(list("abc"))),
        "'embedding.weight' has shape (15, 3)",
    ),
    "no cell": (edit_meta(cell=None), "lacks 'cell'"),
    "a cell rnntui lacks": (edit_meta(cell="transformer"), "cell 'transformer' is not one rnntui has"),
    "cell disagrees with shapes": (
        edit_meta(cell="lstm"),
        "'rnn.weight_ih_l0' has shape (15, 3), expected (20, 3)",
    ),
    "hidden disagrees": (edit_meta(hidden="6"), "has shape (15, 3), expected (18, 3) for nn.GRU(E=3, H=6"),
    "layers not a number": (edit_meta(layers="two"), "metadata 'layers' is 'two', not a positive integer"),
    "zero layers": (edit_meta(layers="0"), "not a positive integer"),
    "a billion layers": (
        edit_meta(layers="999999999"),
        "says 999,999,999 layers but the file holds 11 tensors",
    ),
    "fewer layers said": (edit_meta(layers="1"), "_l1' is beyond the 1 layer(s) the metadata says"),
    "lowercase odd": (edit_meta(lowercase="maybe"), "'lowercase' is 'maybe', not true or false"),
    "level odd": (edit_meta(level="byte"), "metadata is incomplete"),
    "half precision": (edit_tensor("rnn.weight_hh_l0", dtype="F16"), "has dtype F16, expected F32"),
    "integers": (edit_tensor("decoder.bias", dtype="I32"), "has dtype I32, expected F32"),
    "shape not a list": (edit_tensor("decoder.bias", shape="15"), "has no valid shape"),
    "offsets of another size": (edit_tensor("decoder.bias", data_offsets=[0, 56]), "which do not hold (15,)"),
    "offsets out of order": (edit_tensor("decoder.bias", data_offsets=[-4, 56]), "which do not hold (15,)"),
    "overlapping": (shift("decoder.bias", 4), "of the data, not"),
    "a missing tensor": (drop_tensor("decoder.weight"), "missing tensor 'decoder.weight'"),
    "a missing weight": (drop_tensor("rnn.weight_hh_l1"), "missing tensor 'rnn.weight_hh_l1' (of nn.GRU(E=3"),
    "a missing bias": (
        drop_tensor("rnn.bias_hh_l1"),
        "missing tensor 'rnn.bias_hh_l1' (of nn.GRU(E=3, H=5, layers=2), "
        "V=15); the file has other rnn.bias_* tensors: bias=False has none",
    ),  # fmt: skip
    "a projection": (add_tensor("rnn.weight_hr_l0"), "an LSTM with projections (rnn.weight_hr_l0"),
    "bidirectional": (
        add_tensor("rnn.weight_ih_l0_reverse"),
        "a bidirectional RNN (rnn.weight_ih_l0_reverse)",
    ),
    "an unknown tensor": (add_tensor("attention.weight"), "unknown tensor 'attention.weight'"),
    "bytes left over": (lambda h, d: (h, d + bytes(8)), "take 1,860 bytes but the file holds 1,868"),
    "truncated": (lambda h, d: (h, d[:-4]), "take 1,860 bytes but the file holds 1,856"),
    "not finite": (nan_in("rnn.weight_hh_l1"), "array 'rnn.weight_hh_l1' is not finite (value nan"),
}


@pytest.fixture
def good(tmp_path):
    return parts(exported(tmp_path, "gru", 2)[1])


@pytest.mark.parametrize("case", HOSTILE)
def test_a_malformed_file_is_one_clear_line(tmp_path, good, case):
    edit, words = HOSTILE[case]
    header, data = edit(json.loads(json.dumps(good[0])), good[1])
    bad = tmp_path / "bad.safetensors"
    build(bad, header, data)
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(bad)
    assert words in str(err.value) and str(err.value).startswith(str(bad)) and "\n" not in str(err.value)
    out = tmp_path / "out.npz"
    result = CliRunner().invoke(main, ["import", str(bad), str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.count("\n") == 1 and result.output.startswith("Error: ") and words in result.output
    assert not out.exists() and not list(tmp_path.glob(".out.npz*"))


def raw_file(tmp_path, raw: bytes):
    path = tmp_path / "raw.safetensors"
    path.write_bytes(raw)
    return path


@pytest.mark.parametrize(
    "raw, words",
    [
        (b"", "(0 bytes, shorter than its 8-byte header length)"),
        (b"\x01\x02\x03", "(3 bytes, shorter than"),
        (struct.pack("<Q", 1 << 62) + b"{}", f"a header of {1 << 62:,} bytes, more than the 67,108,864"),
        (struct.pack("<Q", 1000) + b'{"a": 1}', "a header of 1,000 bytes in a file of 16"),
        (struct.pack("<Q", 8) + b"{garbage", "its header is not valid JSON"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "not UTF-8"),
        (struct.pack("<Q", 2) + b"[]", "its header is not a JSON object"),
        (struct.pack("<Q", 400) + b"[" * 200 + b"]" * 200, "nested more than 64 levels deep"),
    ],
    ids=[
        "empty",
        "short",
        "huge header length",
        "header past the end",
        "garbage",
        "not utf-8",
        "a list",
        "deep",
    ],
)
def test_a_garbage_header_is_one_clear_line(tmp_path, raw, words):
    with pytest.raises(CheckpointError, match="not a safetensors file") as err:
        checkpoint.load(raw_file(tmp_path, raw))
    assert words in str(err.value)


def test_what_safetensors_itself_refuses_is_one_line_too(tmp_path, monkeypatch):
    """Whatever the package finds after rnntui's own checks (none known: they are a superset)."""
    import safetensors
    import safetensors.numpy

    def refuse(data):
        raise safetensors.SafetensorError("Error while deserializing header: InvalidOffset\nmore")

    _, path = exported(tmp_path)
    monkeypatch.setattr(safetensors.numpy, "load", refuse)
    with pytest.raises(CheckpointError) as err:
        checkpoint.load(path)
    assert str(err.value).endswith(
        "not a valid safetensors file (Error while deserializing header: InvalidOffset)"
    )


def interop_tensor(header: dict, data: bytes, name: str) -> np.ndarray:
    begin, end = header[name]["data_offsets"]
    return np.frombuffer(data[begin:end], "<f4").reshape(header[name]["shape"])


def test_a_model_without_biases_imports_with_zeros(tmp_path, good):
    """PyTorch's bias=False: no rnn.bias_* tensor at all, or no decoder.bias."""
    header, data = good
    for names in (["decoder.bias"], [n for n in header if n.startswith("rnn.bias_")]):
        kept = {n: e for n, e in json.loads(json.dumps(header)).items() if n not in names}
        body, offset = b"", 0
        for e in sorted((e for n, e in kept.items() if n != "__metadata__"), key=lambda e: e["data_offsets"]):
            begin, end = e["data_offsets"]
            body += data[begin:end]
            e["data_offsets"] = [offset, offset + end - begin]
            offset += end - begin
        build(tmp_path / "nobias.safetensors", kept, body)
        p = checkpoint.load(tmp_path / "nobias.safetensors").model.params
        np.testing.assert_array_equal(p["Whh1"], interop_tensor(header, data, "rnn.weight_hh_l1").T)
        if names == ["decoder.bias"]:
            assert not p["by"].any() and p["bh0"].any()
        else:
            assert not any(p[f"{b}{k}"].any() for b in ("bh", "bhn") for k in (0, 1)) and p["by"].any()


def test_a_step_that_is_not_a_count_is_left_out(tmp_path, good):
    header, data = edit_meta(step="-3.5e9")(good[0], good[1])
    build(tmp_path / "s.safetensors", header, data)
    assert "step" not in checkpoint.load(tmp_path / "s.safetensors").meta


def test_a_safetensors_file_under_another_name_is_known_by_its_bytes(tmp_path):
    m, path = exported(tmp_path)
    os.rename(path, tmp_path / "model.bin")
    np.testing.assert_array_equal(checkpoint.load(tmp_path / "model.bin").model.flat, m.flat)


def test_an_npz_under_the_safetensors_name_is_read_as_the_npz_it_is(tmp_path):
    m = model("rnn", 1, CHARS)
    path = checkpoint.save(Checkpoint(m, CHARS, {}), tmp_path / "misnamed.safetensors")
    np.testing.assert_array_equal(checkpoint.load(path).model.flat, m.flat)


def test_a_named_pipe_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    result = CliRunner().invoke(main, ["import", str(fifo), str(tmp_path / "out.npz")])
    assert result.exit_code == 1 and "is a named pipe; rnntui reads only regular files" in result.output


def test_a_model_too_big_for_the_machine_is_refused_before_it_is_read(tmp_path, monkeypatch):
    _, path = exported(tmp_path)
    monkeypatch.setattr(memory, "available_bytes", lambda: 1000)
    with pytest.raises(memory.MemoryLimitError, match=r"this model \(445 parameters\) needs about"):
        checkpoint.load(path)


# -- the commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cmd", ["export", "import"])
def test_help(cmd):
    result = CliRunner().invoke(main, [cmd, "--help"])
    assert result.exit_code == 0 and "safetensors" in result.output


def test_export_writes_refuses_to_overwrite_and_names_what_it_cannot_read(tmp_path):
    runner = CliRunner()
    source = tmp_path / "m.npz"
    m = model("lstm", 2, WORDS)
    checkpoint.save(Checkpoint(m, WORDS, {"step": 3}), source)
    out = tmp_path / "m.safetensors"
    result = runner.invoke(main, ["export", str(source), str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {out}: lstm (E=3, H=5, 2 layers), word level, V=8")
    assert "nn.LSTM(3, 5, num_layers=2)" in result.output
    np.testing.assert_array_equal(checkpoint.load(out).model.flat, m.flat)
    again = runner.invoke(main, ["export", str(source), str(out)])
    assert (
        again.exit_code == 1 and again.output == f"Error: {out} already exists; pass --force to replace it\n"
    )
    assert runner.invoke(main, ["export", str(source), str(out), "--force"]).exit_code == 0
    missing = runner.invoke(main, ["export", str(tmp_path / "nope.npz"), str(tmp_path / "x.safetensors")])
    assert (
        missing.exit_code == 1 and missing.output == f"Error: {tmp_path / 'nope.npz'}: no such checkpoint\n"
    )
    shipped = runner.invoke(main, ["export", "republic", str(tmp_path / "r.safetensors")])
    assert shipped.exit_code == 0 and "rnn (E=64, H=512), char level, V=80" in shipped.output


def test_import_writes_a_weights_only_checkpoint_that_every_reader_opens(tmp_path, tiny_text):
    runner = CliRunner()
    vocab = Vocab("char", tuple(sorted(set(tiny_text.read_text()))))
    m, path = exported(tmp_path, "lstm", 2, vocab)
    out = tmp_path / "w.npz"
    result = runner.invoke(main, ["import", str(path), str(out)])
    assert result.exit_code == 0 and result.output == (
        f"wrote {out}: lstm (E=3, H=5, 2 layers), char level, V={len(vocab)}, {m.flat.size:,} parameters, "
        f"weights only; open it with: rnntui play {out}\n"
    )
    with np.load(
        out, allow_pickle=False
    ) as z:  # weights and metadata: no optimiser, memory or history to speak of
        assert {k for k in z.files if not k.startswith("history/")} == {
            "meta",
            *(f"param/{k}" for k in m.params),
        }
    assert runner.invoke(main, ["import", str(path), str(out)]).exit_code == 1  # exists: --force
    assert runner.invoke(main, ["import", str(path), str(out), "--force"]).exit_code == 0
    npz = runner.invoke(main, ["import", str(out), str(tmp_path / "again.npz")])
    assert (
        npz.exit_code == 1
        and npz.output == f"Error: {out}: is an rnntui checkpoint (.npz) already, not a safetensors file\n"
    )
    for source in (out, path):  # the weights-only .npz, and the .safetensors read directly
        sample = runner.invoke(
            main, ["sample", str(source), "--length", "20", "--seed", "0", "--prime", "the"]
        )
        assert sample.exit_code == 0 and sample.stdout.startswith("the"), sample.output
        scored = runner.invoke(main, ["eval", str(source), str(tiny_text)])
        assert scored.exit_code == 0 and "nats/char" in scored.stdout, scored.output
        health = runner.invoke(main, ["inspect", "health", str(source), "--text", str(tiny_text)])
        assert health.exit_code == 0 and health.output.startswith(f"imported from {path} (sha256 "), (
            health.output
        )
        resumed = runner.invoke(main, ["train", "--resume", str(source)])
        assert resumed.exit_code == 1 and resumed.output == (
            f"Error: {source}: holds weights only, no training state to resume; start a new run from them "
            f"with: rnntui train CORPUS --init-from {source}\n"
        )
    assert scored.stdout == runner.invoke(main, ["eval", str(out), str(tiny_text)]).stdout  # same model


def test_exporting_over_a_directory_or_from_garbage_is_one_line(tmp_path):
    runner = CliRunner()
    _, path = exported(tmp_path)
    folder = runner.invoke(main, ["export", str(path), str(tmp_path)])
    assert (
        folder.exit_code == 1
        and folder.output == f"Error: {tmp_path}: is a directory; give the file to write\n"
    )
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a checkpoint at all")
    bad = runner.invoke(main, ["export", str(junk), str(tmp_path / "x.safetensors")])
    assert bad.exit_code == 1 and "not an rnntui checkpoint" in bad.output and bad.output.count("\n") == 1
