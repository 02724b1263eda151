import numpy as np
import pytest

from rnntui.corpus import UNK, CorpusError, build_vocab, join_words, read_text, split_train_val, split_words


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
