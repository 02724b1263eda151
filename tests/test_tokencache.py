"""The streaming reader, block-boundary cases, and the token cache beside the corpus."""

import json
import os
import random
import re
import subprocess

import numpy as np
import pytest

from rnntui import tokencache
from rnntui.corpus import CorpusError, build_vocab, iter_text, iter_words, read_text, split_words
from rnntui.tokencache import CACHE_DIR, tokenize
from rnntui.train import TrainConfig, Trainer

TRICKY = "Ünïcödé — “quoted” 😀 text.\r\nΣοφίαΣ ΟΔΟΣ\rwell-born don't\n\tend Σ\r\n"


@pytest.fixture
def xdg(tmp_path, monkeypatch):
    """A private $XDG_CACHE_HOME, so no test writes to the real one."""
    path = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))
    return path


def write(path, text: str):
    path.write_bytes(text.encode("utf-8"))
    return path


# -- the streaming reader ---------------------------------------------------------------------------


@pytest.mark.parametrize("block", [1, 2, 3, 5, 7, 4096])
def test_blocks_of_any_size_join_to_the_whole_text(tmp_path, block):
    p = tmp_path / "t.txt"
    p.write_bytes(b"\xef\xbb\xbf" + TRICKY.encode("utf-8") + b"x\r")  # BOM; a CR at the very end
    blocks = list(iter_text(p, block_bytes=block))
    assert "".join(blocks) == read_text(p) == TRICKY.replace("\r\n", "\n").replace("\r", "\n") + "x\n"
    if block == 1:
        assert len(blocks) > 20  # really streamed, multi-byte characters split across reads


@pytest.mark.parametrize("at", [0, 1, 4, 9])
def test_a_bad_byte_is_reported_at_the_same_offset_when_streamed(tmp_path, at):
    p = tmp_path / "bad.txt"
    p.write_bytes("é".encode() * 5 + b"\xff" + b"abc" if at == 9 else b"ab" * at + b"\xc3(" + b"rest")
    with pytest.raises(CorpusError) as whole:
        read_text(p)
    for block in (1, 2, 3):
        with pytest.raises(CorpusError) as streamed:
            list(iter_text(p, block_bytes=block))
        assert str(streamed.value) == str(whole.value)
    assert f"at byte {2 * at if at != 9 else 10}" in str(whole.value)


def test_streamed_words_match_the_whole_text_at_every_split():
    text = TRICKY.replace("\r\n", "\n").replace("\r", "\n") * 3 + "trailing-word"
    rng = random.Random(0)
    for lowercase in (False, True):
        whole = split_words(text, lowercase)
        for _ in range(200):
            cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, 12)))
            blocks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
            assert [w for ws in iter_words(blocks, lowercase) for w in ws] == whole


@pytest.mark.parametrize("level", ["char", "word"])
@pytest.mark.parametrize("lowercase", [False, True])
def test_tokenising_in_tiny_blocks_equals_tokenising_the_whole_text(tmp_path, xdg, level, lowercase):
    p = write(tmp_path / "t.txt", TRICKY * 7)
    text = read_text(p)
    vocab = build_vocab(text, level, lowercase=lowercase)
    for block in (1, 3, 7, 64):
        tok = tokenize(p, level, lowercase=lowercase, block_bytes=block, cache=False)
        assert tok.vocab.tokens == vocab.tokens
        assert np.array_equal(tok.ids, vocab.encode(text)) and tok.ids.dtype == np.uint16
        assert tok.sha256 == tokencache.hashlib.sha256(text.encode()).hexdigest()


def test_streamed_errors_are_the_same_one_liners(tmp_path, xdg):
    (tmp_path / "nul.txt").write_bytes(b"text" * 100 + b"\x00")
    (tmp_path / "blank.txt").write_bytes(b" \r\n\t" * 100)
    with pytest.raises(CorpusError, match="binary"):
        tokenize(tmp_path / "nul.txt", block_bytes=7)
    with pytest.raises(CorpusError, match="empty"):
        tokenize(tmp_path / "blank.txt", block_bytes=7)
    with pytest.raises(CorpusError, match="no such file"):
        tokenize(tmp_path / "missing.txt")
    with pytest.raises(CorpusError, match="unknown encoding"):
        tokenize(tmp_path / "blank.txt", encoding="no-such-codec")
    assert not (tmp_path / CACHE_DIR).exists() or not list((tmp_path / CACHE_DIR).glob("*.npy"))


# -- the cache --------------------------------------------------------------------------------------


def forbid_tokenising(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the corpus was read again")

    monkeypatch.setattr(tokencache, "iter_corpus", boom)


def test_cache_is_written_beside_the_corpus_and_reused(tmp_path, xdg, monkeypatch):
    p = write(tmp_path / "t.txt", TRICKY * 5)
    first = tokenize(p, "word")
    assert not first.reused and first.cache.parent == tmp_path / CACHE_DIR
    assert sorted(f.suffix for f in first.cache.parent.iterdir()) == [".json", ".npy"]  # no temp files
    stamp = first.cache.stat().st_mtime_ns
    forbid_tokenising(monkeypatch)
    second = tokenize(p, "word")
    assert second.reused and isinstance(second.ids, np.memmap) and not second.ids.flags.writeable
    assert np.array_equal(second.ids, first.ids) and second.vocab == first.vocab
    assert second.sha256 == first.sha256 and first.cache.stat().st_mtime_ns == stamp


def test_changed_corpus_or_options_rebuild(tmp_path, xdg, monkeypatch):
    p = write(tmp_path / "t.txt", TRICKY * 5 + "once only\n")
    a = tokenize(p, "word")
    b = tokenize(p, "word", min_count=2)  # another option: its own cache
    assert not b.reused and b.cache != a.cache and len(b.vocab) < len(a.vocab)
    assert tokenize(p, "word").reused and tokenize(p, "word", min_count=2).reused
    write(p, TRICKY * 5 + "new words here\n")  # a new size; an equal size would need a new mtime
    c = tokenize(p, "word")
    assert not c.reused and c.sha256 != a.sha256 and "new" in c.vocab.tokens
    assert np.array_equal(c.ids, c.vocab.encode(read_text(p)))


def test_touched_but_unchanged_corpus_is_rehashed_not_retokenised(tmp_path, xdg, monkeypatch):
    p = write(tmp_path / "t.txt", TRICKY * 5)
    a = tokenize(p)
    os.utime(p, ns=(1, 1))
    monkeypatch.setattr(tokencache, "_encoded_blocks", None)  # pass 2 would fail
    b = tokenize(p)
    assert b.reused and b.sha256 == a.sha256 and np.array_equal(a.ids, b.ids)
    forbid_tokenising(monkeypatch)
    assert tokenize(p).reused  # and the JSON now records the new mtime


@pytest.mark.parametrize("damage", ["truncate", "json", "out-of-range", "stat-kept"])
def test_damaged_cache_is_rebuilt_silently(tmp_path, xdg, damage):
    p = write(tmp_path / "t.txt", TRICKY * 5)
    first = tokenize(p)
    npy, js = first.cache, first.cache.with_suffix(".json")
    del first
    if damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:-10])
    elif damage == "json":
        js.write_text("{not json")
    else:  # an id outside the vocabulary, with the file's size and mtime put back as they were
        st = npy.stat()
        with open(npy, "r+b") as f:
            f.seek(-2, os.SEEK_END)
            f.write(np.array([60000 if damage == "out-of-range" else 0], np.uint16).tobytes())
        os.utime(npy, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = tokenize(p)
    expected = again.vocab.encode(read_text(p))
    if damage == "stat-kept":  # an in-range change that keeps size and mtime cannot be seen
        assert again.reused
    else:
        assert not again.reused and np.array_equal(again.ids, expected)
        assert tokenize(p).reused


def test_unwritable_corpus_folder_falls_back_to_xdg_then_memory(tmp_path, xdg, monkeypatch):
    p = write(tmp_path / "t.txt", TRICKY * 5)
    (tmp_path / CACHE_DIR).write_text("a file where the cache folder would go")  # mkdir fails
    a = tokenize(p)
    assert a.cache is not None and a.cache.is_relative_to(xdg) and not a.reused
    assert tokenize(p).reused
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / CACHE_DIR))  # a file: nowhere to write
    b = tokenize(p)
    assert b.cache is None and not b.reused and np.array_equal(a.ids, b.ids)


def test_read_only_corpus_folder(tmp_path, xdg):
    """The corpus on a read-only filesystem: a tmpfs written, then remounted read-only, so that
    even root (as in CI) cannot write beside it; a chmod would not stop root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)]
    made = subprocess.run(mount, capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        p = write(folder / "t.txt", TRICKY * 5)
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True, capture_output=True)
        tok = tokenize(p)
        assert tok.cache.is_relative_to(xdg) and not tok.reused
        assert not (folder / CACHE_DIR).exists()
        assert tokenize(p).reused
    finally:
        subprocess.run(["umount", str(folder)], check=False)


def test_ids_are_uint32_only_when_the_vocabulary_needs_it(tmp_path, xdg):
    codes = [c for c in range(0x100, 0x100 + 70_000) if not 0xD800 <= c < 0xE000][:66_000]
    big = write(tmp_path / "big.txt", "".join(map(chr, codes)) + "\n")
    tok = tokenize(big)
    assert len(tok.vocab) > 65536 and tok.ids.dtype == np.uint32
    assert np.load(tok.cache, allow_pickle=False).dtype == np.uint32
    assert tok.vocab.decode(tok.ids[:5]) == "".join(map(chr, codes[:5]))
    small = tokenize(write(tmp_path / "small.txt", "abc\n" * 10))
    assert (
        small.ids.dtype == np.uint16
        and json.loads(small.cache.with_suffix(".json").read_text())["ids"]["dtype"] == "uint16"
    )


# -- training from the cache -----------------------------------------------------------------------


def test_training_is_identical_from_cache_memory_and_first_run(tmp_path, xdg, monkeypatch):
    corpus = write(tmp_path / "c.txt", "the cat sat on the mat. the dog sat on the log.\n" * 40)
    cfg = TrainConfig(hidden=32, embed=8, seq=16, batch=4, steps=12, eval_every=6, save_every=1000)
    cold = Trainer.start(corpus, cfg, tmp_path / "cold")
    warm = Trainer.start(corpus, cfg, tmp_path / "warm")
    assert isinstance(warm.train_ids, np.memmap)
    monkeypatch.setattr(tokencache, "_cache_places", lambda files, options: [])
    memory = Trainer.start(corpus, cfg, tmp_path / "memory")
    assert not isinstance(memory.train_ids, np.memmap)
    for t in (cold, warm, memory):
        t.run()
    assert np.array_equal(cold.model.flat, warm.model.flat)
    assert np.array_equal(cold.model.flat, memory.model.flat)
    assert cold.val_history == warm.val_history == memory.val_history
    assert cold.corpus_sha == warm.corpus_sha == memory.corpus_sha


def test_resume_after_the_corpus_was_touched(tmp_path, xdg):
    corpus = write(tmp_path / "c.txt", "the cat sat on the mat. the dog sat on the log.\n" * 40)
    cfg = TrainConfig(hidden=32, embed=8, seq=16, batch=4, steps=5, save_every=1000)
    Trainer.start(corpus, cfg, tmp_path / "run").run()
    os.utime(corpus, ns=(1, 1))
    resumed = Trainer.resume(tmp_path / "run" / "latest.npz", steps=8)
    resumed.run()
    assert resumed.step == 8


def test_unseen_characters_are_named_beyond_ascii_too():
    vocab = build_vocab("abc", "char")
    with pytest.raises(CorpusError, match="never saw: é"):
        vocab.encode("aé", what="the prime")


def test_validation_loss_streams_the_same_numbers_as_one_stacked_grid():
    from rnntui.model import RNN, ModelConfig
    from rnntui.train import mean_loss

    model = RNN.initialised(ModelConfig(vocab_size=7, embed=4, hidden=8, layers=1), np.random.default_rng(0))
    ids = np.random.default_rng(1).integers(0, 7, 1000).astype(np.uint16)
    for batch, seq in ((4, 16), (3, 7), (1, 50)):
        b = max(1, min(batch, (len(ids) - 1) // seq))
        n = (len(ids) - 1) // b
        grid = np.stack([ids[i * n : i * n + n + 1] for i in range(b)], axis=1).astype(np.int32)
        h, total = model.zero_state(b), 0.0
        for t in range(0, n, seq):
            losses, h = model.token_losses(grid[t : t + seq + 1], h)
            total += float(losses.sum(dtype=np.float64))
        assert mean_loss(model, ids, batch, seq) == total / (n * b)


@pytest.mark.parametrize("cache", [True, False])
def test_a_corpus_that_changes_while_it_is_read_is_refused(tmp_path, xdg, monkeypatch, cache):
    p = write(tmp_path / "t.txt", TRICKY * 5)
    count = tokencache._count

    def count_then_edit(*args):
        result = count(*args)
        write(p, TRICKY * 6)  # between the counting and the encoding pass
        return result

    monkeypatch.setattr(tokencache, "_count", count_then_edit)
    with pytest.raises(CorpusError, match="changed while it was being read"):
        tokenize(p, cache=cache)
    monkeypatch.undo()
    assert np.array_equal(tokenize(p).ids, build_vocab(read_text(p)).encode(read_text(p)))


def test_inspect_reads_the_training_corpus_through_the_cache(tmp_path, xdg, monkeypatch):
    from rnntui import checkpoint, inspect

    corpus = write(tmp_path / "c.txt", "the cat sat on the mat. the dog sat on the log.\n" * 40)
    cfg = TrainConfig(level="word", hidden=16, embed=8, seq=8, batch=2, steps=2, save_every=1000)
    Trainer.start(corpus, cfg, tmp_path / "run").run()
    ckpt = checkpoint.load(tmp_path / "run" / "latest.npz")
    forbid_tokenising(monkeypatch)
    ids, val = inspect.training_corpus_ids(ckpt)
    assert isinstance(ids, np.memmap) and np.array_equal(ids, ckpt.vocab.encode(read_text(corpus)))
    assert len(val) == ckpt.meta["corpus"]["val_tokens"]


def test_ids_replaced_by_another_process_before_their_json_are_not_trusted(tmp_path, xdg):
    """Process A writes its ids; the corpus is edited and process B re-tokenises it, replacing the
    .npy; only then does A write its JSON. A's JSON describes the file A wrote (inode, size,
    mtime), so A's vocabulary is never paired with B's ids."""
    p = write(tmp_path / "c.txt", "abcabcabc abc\n" * 50)
    options = {"level": "char", "encoding": "utf-8"}
    npy = tokencache._cache_places([p], options)[0]
    stat_a = p.stat()
    vocab_a, n_a, sha_a, shas_a = tokencache._count([p], options, 1 << 22)
    ids_a = tokencache._write_ids(npy, [stat_a], [p], options, vocab_a, n_a, 1 << 22)
    write(p, "xyzxyzxyz xyz\n" * 50)
    os.utime(p, ns=(stat_a.st_atime_ns + 10**9, stat_a.st_mtime_ns + 10**9))
    tokenize(p)  # process B
    tokencache._write_meta(npy, tokencache._meta([stat_a], [p], options, vocab_a, sha_a, shas_a, ids_a))
    assert tokencache._open_ids(npy, tokencache._read_meta(npy, options)) is None
    assert tokenize(p).vocab.decode(tokenize(p).ids[:3]) == "xyz"  # and the next run rebuilds


# -- several files ----------------------------------------------------------------------------------


def test_several_files_share_one_cache_keyed_on_the_set_of_files(tmp_path, xdg, monkeypatch):
    from rnntui.corpus import read_corpus

    (tmp_path / "sub").mkdir()
    a = write(tmp_path / "a.txt", "the first text\n" * 30)
    b = write(tmp_path / "sub" / "b.txt", "and the second one, without a final newline" * 20)
    first = tokenize([a, b], "word")
    joined = read_corpus([a, b])
    assert not first.reused and first.cache.parent == tmp_path / CACHE_DIR  # the folder holding both
    assert first.cache.name.startswith("a.txt+1.word-")
    assert np.array_equal(first.ids, first.vocab.encode(joined))
    assert first.sha256 == tokencache.hashlib.sha256(joined.encode()).hexdigest()
    assert first.file_sha256 == tuple(
        tokencache.hashlib.sha256(read_text(p).encode()).hexdigest() for p in (a, b)
    )
    assert tokenize(a, "word").cache != first.cache  # one file alone is another corpus
    reordered = tokenize([b, a], "word")
    assert reordered.cache != first.cache and not np.array_equal(reordered.ids, first.ids)
    with monkeypatch.context() as m:
        forbid_tokenising(m)
        assert tokenize([a, b], "word").reused
    os.utime(b, ns=(1, 1))  # touched, same text: hashed again, the ids kept
    with monkeypatch.context() as m:
        m.setattr(tokencache, "_encoded_blocks", None)
        assert tokenize([a, b], "word").reused
    write(b, "the second text is new now\n" * 20)
    changed = tokenize([a, b], "word")
    assert not changed.reused
    assert changed.file_sha256[0] == first.file_sha256[0] and changed.file_sha256[1] != first.file_sha256[1]
    assert np.array_equal(changed.ids, changed.vocab.encode(read_corpus([a, b])))


def edit_between_passes(monkeypatch, edit):
    """Run ``edit`` after tokenize's counting pass, before its encoding pass."""
    count = tokencache._count

    def count_then_edit(*args):
        result = count(*args)
        edit()
        return result

    monkeypatch.setattr(tokencache, "_count", count_then_edit)


@pytest.mark.parametrize("cache", [True, False])
def test_the_file_that_changed_while_several_were_read_is_named(tmp_path, xdg, monkeypatch, cache):
    a = write(tmp_path / "a.txt", "the first text\n" * 30)
    b = write(tmp_path / "b.txt", "the second text\n" * 30)
    edit_between_passes(monkeypatch, lambda: write(b, "the second text\n" * 31))  # its own characters
    with pytest.raises(CorpusError, match="^" + re.escape(f"{b} changed while it was being read; run again")):
        tokenize([a, b], cache=cache)


@pytest.mark.parametrize("several", [False, True])
def test_an_edit_that_keeps_size_and_times_is_caught_by_the_token_count(tmp_path, xdg, monkeypatch, several):
    """Same bytes count, same inode and mtime: only the number of tokens read tells."""
    a = write(tmp_path / "a.txt", "é" * 100 + "ab" * 100)
    files = [write(tmp_path / "z.txt", "first\n" * 5), a] if several else [a]
    st = a.stat()

    def same_size_fewer_characters():
        write(a, "ab" * 200)  # the same 400 bytes, 400 characters instead of 300
        os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))

    edit_between_passes(monkeypatch, same_size_fewer_characters)
    what = "the corpus" if several else str(a)
    message = f"{what} changed while it was being read; run again"
    with pytest.raises(CorpusError, match="^" + re.escape(message)):
        tokenize(files, cache=False)


def test_a_cache_is_reused_only_for_the_same_files_unchanged(tmp_path, xdg, monkeypatch):
    a = write(tmp_path / "a.txt", "the first text\n" * 30)
    b = write(tmp_path / "b.txt", "the second text\n" * 30)
    assert not tokenize([a, b]).reused
    assert tokenize([a, b]).reused
    write(b, "the second text\n" * 29 + "the other text\n")  # new contents
    again = tokenize([a, b])
    assert not again.reused and "other" in again.vocab.decode(again.ids)
    assert tokenize([a, b]).reused


def test_the_cache_json_records_each_files_absolute_path_and_hash(tmp_path, xdg, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    a, b = write(tmp_path / "a.txt", TRICKY), write(tmp_path / "sub" / "b.txt", "more text\n")
    tok = tokenize([a.relative_to(tmp_path), b.relative_to(tmp_path)], "char")
    files = json.loads(tok.cache.with_suffix(".json").read_text(encoding="utf-8"))["corpus"]["files"]
    assert [f["path"] for f in files] == [str(a.resolve()), str(b.resolve())]
    assert tuple(f["sha256"] for f in files) == tok.file_sha256


@pytest.mark.parametrize("cache", [True, False])
def test_a_file_removed_once_read_is_named_and_nothing_is_cached(tmp_path, xdg, monkeypatch, cache):
    a = write(tmp_path / "a.txt", "the first text\n" * 30)
    b = write(tmp_path / "b.txt", "the second text\n" * 30)
    encoded = tokencache._encoded_blocks

    def encode_then_remove(*args):
        yield from encoded(*args)
        b.unlink()  # both passes have read it: only the check after them can tell

    monkeypatch.setattr(tokencache, "_encoded_blocks", encode_then_remove)
    with pytest.raises(CorpusError, match="^" + re.escape(f"{b} changed while it was being read; run again")):
        tokenize([a, b], cache=cache)
    if cache:  # the half-written cache was not kept
        assert not list((tmp_path / CACHE_DIR).glob("*.json"))


@pytest.mark.parametrize("level", ["char", "word"])
def test_both_passes_read_the_corpus_in_blocks_of_the_given_size(tmp_path, xdg, monkeypatch, level):
    """A 200 MB corpus must not be read into memory whole: every block either pass reads is at most
    ``block_bytes`` long (in characters, which here are one byte each)."""
    p = write(tmp_path / "t.txt", "the cat sat on the mat.\n" * 400)
    longest = []
    real = tokencache.iter_corpus

    def spy(files, encoding, block_bytes):
        for i, text in real(files, encoding, block_bytes):
            longest.append(len(text))
            yield i, text

    monkeypatch.setattr(tokencache, "iter_corpus", spy)
    tok = tokenize(p, level, block_bytes=256)
    assert max(longest) <= 256 and sum(longest) == 2 * len(read_text(p))  # two passes, each whole
    assert np.array_equal(tok.ids, build_vocab(read_text(p), level).encode(read_text(p)))


def test_max_vocab_and_min_count_shape_the_cached_vocabulary(tmp_path, xdg):
    text = "a a a a b b b c c d " * 10 + "e"
    p = write(tmp_path / "t.txt", text)
    capped = tokenize(p, "word", max_vocab=3)
    assert capped.vocab.tokens == build_vocab(text, "word", max_vocab=3).tokens
    assert len(capped.vocab) < len(tokenize(p, "word").vocab)
    assert tokenize(p, "word", min_count=11).vocab.tokens == build_vocab(text, "word", min_count=11).tokens


# -- what the cache keys on, where it lives, what it refuses (from the mutation run) ------------------


def test_a_lowercasing_vocabulary_comes_back_from_the_cache_still_lowercasing(tmp_path, xdg, monkeypatch):
    p = write(tmp_path / "t.txt", "The King and the Queen. " * 20)
    assert not tokenize(p, "word").vocab.lowercase  # by default a word vocabulary keeps case
    first = tokenize(p, "word", lowercase=True)
    forbid_tokenising(monkeypatch)
    again = tokenize(p, "word", lowercase=True)
    assert again.reused and again.cache == first.cache and again.vocab == first.vocab
    assert (
        again.vocab.lowercase
        and again.vocab.encode("THE KING").tolist() == first.vocab.encode("the king").tolist()
    )


def test_a_base_vocabulary_is_part_of_the_cache_key(tmp_path, xdg):
    p = write(tmp_path / "t.txt", "abcabc xyz\n" * 10)
    plain = tokenize(p)
    base_a, base_b = build_vocab("zq"), build_vocab("qz!")
    grown_a, grown_b = tokenize(p, base=base_a), tokenize(p, base=base_b)
    assert len({plain.cache, grown_a.cache, grown_b.cache}) == 3  # three caches, none taken for another
    assert grown_a.vocab.tokens[:2] == base_a.tokens and grown_b.vocab.tokens[:3] == base_b.tokens
    again = tokenize(p, base=base_a)
    assert again.reused and again.vocab == grown_a.vocab and np.array_equal(again.ids, grown_a.ids)


def test_the_fallback_cache_is_under_xdg_rnntui_tokens_named_by_the_files_path(tmp_path, xdg, monkeypatch):
    p = write(tmp_path / "t.txt", "abc\n" * 10)
    places = tokencache._cache_places([p], {"level": "char", "encoding": "utf-8"})
    assert places[0].parent == tmp_path / CACHE_DIR and places[0].name.startswith("t.txt.char-")
    assert places[1].parent == xdg / "rnntui" / "tokens" and places[1].name.endswith(places[0].name)
    where = places[1].name[: -len(places[0].name) - 1]
    assert re.fullmatch(r"[0-9a-f]{16}", where)
    (tmp_path / "sub").mkdir()
    other = write(tmp_path / "sub" / "t.txt", "abc\n")  # the same name elsewhere: another place
    assert tokencache._cache_places([other], {"level": "char", "encoding": "utf-8"})[1] != places[1]
    key = places[0].name.split("-")[-1].removesuffix(".npy")
    assert re.fullmatch(r"[0-9a-f]{12}", key)
    same_options = tokencache._cache_places([p], {"encoding": "utf-8", "level": "char"})  # any order
    assert same_options == places
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    at_home = tokencache._cache_places([p], {"level": "char", "encoding": "utf-8"})[1]
    assert at_home.parent == tmp_path / "home" / ".cache" / "rnntui" / "tokens"  # without $XDG_CACHE_HOME


def test_a_large_corpus_is_announced_once_with_its_size(tmp_path, xdg, monkeypatch):
    p = write(tmp_path / "t.txt", "abc\n" * 500_000)  # 2.0 MB
    notes = []
    monkeypatch.setattr(tokencache, "NOTE_BYTES", 2_000_000)
    tokenize(p, on_note=notes.append, cache=False)
    assert notes == [f"tokenising {p} (2.0 MB) at char level…"]
    monkeypatch.setattr(tokencache, "NOTE_BYTES", 2_000_001)
    notes.clear()
    tokenize(p, on_note=notes.append, cache=False)
    assert notes == []


def test_a_cached_pickle_is_never_unpickled(tmp_path, xdg):
    """A cache .npy replaced by an object array whose unpickling would run code: refused, the corpus
    tokenised again, and the code never run."""
    p = write(tmp_path / "t.txt", "abcabc\n" * 10)
    first = tokenize(p)
    want, cache = np.array(first.ids), first.cache
    del first  # its ids are a memory map of the file replaced below
    ran = tmp_path / "ran"
    replace_ids(cache, np.array([_Touch(ran)], dtype=object), allow_pickle=True)
    again = tokenize(p)
    assert not ran.exists() and not again.reused and np.array_equal(again.ids, want)


class _Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (self.path.__class__.touch, (self.path,))


def test_cached_ids_out_of_the_vocabulary_are_not_trusted(tmp_path, xdg):
    p = write(tmp_path / "t.txt", "abcabc\n" * 10)
    first = tokenize(p)
    V, want, cache = len(first.vocab), np.array(first.ids), first.cache
    del first  # its ids are a memory map of the file replaced below
    for bad in (V, V + 7):
        ids = want.copy()
        ids[5] = bad  # an id past the vocabulary
        replace_ids(cache, ids)
        again = tokenize(p)
        assert not again.reused and np.array_equal(again.ids, want)
        del again
    ids = want.copy()
    ids[5] = V - 1  # the last id is fine
    replace_ids(cache, ids)
    assert tokenize(p).reused


def replace_ids(cache, array, **save):
    """Put ``array`` in the cache's .npy and record it in its .json, as if rnntui had written it:
    only the content can then tell it is wrong."""
    np.save(cache, array, **save)
    meta = json.loads(cache.with_suffix(".json").read_text())
    st = cache.stat()
    meta["ids"] |= {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}
    cache.with_suffix(".json").write_text(json.dumps(meta))


def test_ids_held_in_memory_are_refused_when_they_would_not_fit(tmp_path, xdg, monkeypatch):
    """No cache folder (cache=False): the ids go to memory, 2 bytes a token here; refused, naming the
    file and what to free, when they would not fit."""
    from rnntui import memory

    p = write(tmp_path / "t.txt", "abc\n" * 1000)  # 4,000 tokens: 8,000 bytes of uint16 ids
    monkeypatch.setattr(memory, "available_bytes", lambda: 8_000)
    assert len(tokenize(p, cache=False).ids) == 4000
    monkeypatch.setattr(memory, "available_bytes", lambda: 7_999)
    with pytest.raises(memory.MemoryLimitError) as refused:
        tokenize(p, cache=False)
    assert str(refused.value) == (
        f"{p} held in memory (no cache folder takes its ids) needs about 8.0 kB of memory but 8.0 kB is "
        "available; free some disk or memory"
    )
