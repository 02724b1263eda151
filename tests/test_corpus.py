import numpy as np
import pytest

from rnntui.corpus import (
    UNK,
    CorpusError,
    build_vocab,
    corpus_files,
    iter_corpus,
    join_words,
    read_corpus,
    read_text,
    split_train_val,
    split_words,
    vocab_from_counts,
)


def test_char_vocab_is_sorted_and_roundtrips():
    text = "banana bread\n"
    vocab = build_vocab(text, "char")
    assert list(vocab.tokens) == sorted(set(text))
    ids = vocab.encode(text)
    assert ids.dtype == np.uint16
    assert vocab.decode(ids) == text


def test_char_vocab_refuses_unseen_characters_by_name():
    vocab = build_vocab("abc", "char")
    with pytest.raises(CorpusError, match="never saw: z"):
        vocab.encode("abz", what="the prime")


def test_word_tokens_split_punctuation_and_keep_newlines():
    assert split_words("Well, said he--I don't know.\nYes!") == [
        "Well", ",", "said", "he", "-", "-", "I", "don't", "know", ".", "\n", "Yes", "!",
    ]  # fmt: skip


def test_word_vocab_min_count_maps_rare_words_to_unk_and_lowercases():
    text = "The cat. the cat! A dog."
    vocab = build_vocab(text, "word", lowercase=True, min_count=2)
    assert vocab.tokens[0] == UNK
    assert "the" in vocab.tokens and "cat" in vocab.tokens and "dog" not in vocab.tokens
    ids = vocab.encode("the dog")
    assert vocab.tokens[ids[1]] == UNK


def test_word_vocab_max_vocab_keeps_most_frequent():
    vocab = build_vocab("a a a b b c", "word", max_vocab=3)
    assert vocab.tokens == (UNK, "a", "b")


def test_detokenised_words_read_like_prose():
    words = split_words('He said, "Justice is good." (Yes.)\nAnd then: no.')
    assert join_words(words) == 'He said, "Justice is good." (Yes.)\nAnd then: no.'


def test_split_is_deterministic_and_takes_validation_from_the_end():
    ids = np.arange(100)
    train, val = split_train_val(ids, 0.05)
    assert len(val) == 5 and val[0] == 95 and train[-1] == 94


def test_read_text_normalises_crlf_and_bom(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\n")
    assert read_text(p) == "one\ntwo\nthree\n"


@pytest.mark.parametrize(
    "content,match",
    [
        (b"", "empty"),
        (b"   \n\t ", "empty"),
        (b"\xff\xfe\x00a", "not valid utf-8 at byte 0"),
        (b"ab\x00cd", "binary"),
    ],
)
def test_read_text_refuses_non_text(tmp_path, content, match):
    p = tmp_path / "bad.txt"
    p.write_bytes(content)
    with pytest.raises(CorpusError, match=match):
        read_text(p)


def test_read_text_missing_and_directory(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        read_text(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match="directory"):
        read_text(tmp_path)


def test_single_distinct_token_is_refused():
    with pytest.raises(CorpusError, match="only 1 distinct"):
        build_vocab("aaaa", "char")


# -- several files, or a folder -----------------------------------------------------------------------


def test_a_folder_is_every_txt_below_it_sorted_each_file_once(tmp_path):
    top = tmp_path / "texts"
    (top / "b" / "deep").mkdir(parents=True)
    (top / ".hidden").mkdir()
    for rel in ("z.txt", "a.txt", "b/m.txt", "b/deep/a.txt", ".hidden/x.txt", "b/notes.md", ".dot.txt"):
        (top / rel).write_text(rel + "\n")
    (top / "b" / "loop").symlink_to(top, target_is_directory=True)  # a link back up: walked once
    (top / "b" / "same.txt").symlink_to(top / "a.txt")  # a second name for a file: read once
    outside = tmp_path / "other"
    outside.mkdir()
    (outside / "o.txt").write_text("o\n")
    (top / "link").symlink_to(outside, target_is_directory=True)  # a linked folder is followed
    found = [p.relative_to(top).as_posix() for p in corpus_files([top])]
    assert found == ["a.txt", "b/deep/a.txt", "b/m.txt", "link/o.txt", "z.txt"]
    # files keep the order given; a file named again (here through the folder) is read once
    again = corpus_files([top / "z.txt", top])
    assert [p.relative_to(top).as_posix() for p in again][:2] == ["z.txt", "a.txt"] and len(again) == 5


def test_files_are_joined_with_a_blank_line(tmp_path):
    texts = {"1.txt": "no newline", "2.txt": "one newline\n", "3.txt": "blank line\n\n", "4.txt": "last"}
    files = []
    for name, text in texts.items():
        (tmp_path / name).write_text(text)
        files.append(tmp_path / name)
    assert read_corpus(files) == "no newline\n\none newline\n\nblank line\n\nlast"
    assert read_corpus(files[:1]) == read_text(files[0])  # one file: its text, nothing added
    blocks = list(iter_corpus(files, block_bytes=3))
    assert "".join(t for _, t in blocks) == read_corpus(files)
    assert {i for i, _ in blocks} == {0, 1, 2, 3, None}  # the separators belong to no file


@pytest.mark.parametrize(
    "make,needle",
    [
        (lambda p: p.write_bytes(b"ok \xff\xfe"), "bad.txt: not valid utf-8 at byte 3"),
        (lambda p: p.write_text(""), "bad.txt: is empty"),
        (lambda p: p.symlink_to(p.parent / "gone"), "bad.txt: a broken symbolic link"),
        (lambda p: p.symlink_to("/proc/self/mem"), "bad.txt: cannot be read"),  # EIO, even for root
    ],
)
def test_a_bad_member_of_a_folder_is_named_with_its_path(tmp_path, make, needle):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "good.txt").write_text("fine text\n")
    make(folder / "bad.txt")
    with pytest.raises(CorpusError) as err:
        read_corpus(corpus_files([folder]))
    assert str(folder / needle.split(":")[0]) in str(err.value) and needle.split(": ")[1] in str(err.value)


def test_a_folder_without_texts_and_a_missing_path_are_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match="no \\*.txt files below it"):
        corpus_files([tmp_path / "empty"])
    with pytest.raises(CorpusError, match="missing.txt: no such file"):
        corpus_files([tmp_path / "missing.txt"])


def test_word_vocab_ranks_by_count_then_alphabetically_and_keeps_words_at_min_count():
    counts = {"b": 2, "a": 2, "c": 5, "d": 1, "e": 3}
    assert vocab_from_counts("word", counts).tokens == (UNK, "c", "e", "a", "b", "d")
    assert vocab_from_counts("word", counts, min_count=2).tokens == (UNK, "c", "e", "a", "b")
    assert vocab_from_counts("word", counts, min_count=3).tokens == (UNK, "c", "e")
    assert vocab_from_counts("word", counts, max_vocab=4).tokens == (UNK, "c", "e", "a")
    assert vocab_from_counts("word", counts, max_vocab=10).tokens == (UNK, "c", "e", "a", "b", "d")
    lower = vocab_from_counts("word", counts, lowercase=True)
    assert lower.lowercase and lower.level == "word" and not vocab_from_counts("word", counts).lowercase
    # char level: the sorted characters that occur, whatever their counts
    chars = vocab_from_counts("char", {"b": 1, "a": 9, "\n": 2})
    assert chars.tokens == ("\n", "a", "b") and chars.level == "char"


def test_too_few_tokens_are_refused_with_the_number_found():
    with pytest.raises(CorpusError, match=r"^the text has only 1 distinct word token\(s\); a language model"):
        vocab_from_counts("word", {"a": 4})
    with pytest.raises(CorpusError, match=r"only 0 distinct word token"):
        vocab_from_counts("word", {"a": 1}, min_count=2)
    with pytest.raises(CorpusError, match=r"only 1 distinct word token"):
        vocab_from_counts("word", {"a": 4, "b": 2}, max_vocab=1)
    assert vocab_from_counts("word", {"a": 4, "b": 2}, max_vocab=3).tokens == (UNK, "a", "b")
    assert len(vocab_from_counts("char", {"a": 1, "b": 1})) == 2  # two characters are enough
    with pytest.raises(CorpusError, match=r"unknown level 'line'; choose char or word"):
        vocab_from_counts("line", {"a": 1, "b": 1})


@pytest.mark.parametrize(
    "n,frac,n_val", [(100, 0.05, 5), (10, 0.25, 2), (10, 0.0, 0), (7, 1.0, 7), (3, 0.5, 2)]
)
def test_split_keeps_every_token_once_and_rounds_the_validation_share(n, frac, n_val):
    ids = np.arange(n)
    train, val = split_train_val(ids, frac)
    assert len(val) == n_val and np.array_equal(np.concatenate([train, val]), ids)


def test_build_vocab_keeps_case_and_every_word_by_default():
    vocab = build_vocab("The the cat sat", "word")
    assert vocab.tokens == (UNK, "The", "cat", "sat", "the") and not vocab.lowercase
    with pytest.raises(CorpusError, match=r"^unknown level 'bytes'; choose char or word$"):
        build_vocab("abc", "bytes")
