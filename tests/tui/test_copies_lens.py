"""The playground's copies lens: the spans of the text found verbatim in the training split, checked
against a brute-force search; Ctrl+G turns it on; a missing corpus is said so."""

import numpy as np
import pytest

from rnntui.corpus import split_train_val
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.widgets.lens import Lens

from .conftest import TEXT, ckpt_for


async def settle(pilot) -> None:
    for _ in range(4):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def brute_marks(vocab, text: str, k: int) -> list[tuple[int, int]]:
    """Characters inside some run of >= k tokens that occurs in the training split (slow, obvious)."""
    from rnntui.copies import text_tokens

    train = split_train_val(vocab.encode(TEXT * 12), 0.1)[0].tolist()
    ids, spans = text_tokens(vocab, text)
    q = ids.tolist()
    joined = "," + ",".join(map(str, train)) + ","
    inside = np.zeros(len(text), bool)
    for i in range(len(q)):
        for j in range(i + k, len(q) + 1):
            if "," + ",".join(map(str, q[i:j])) + "," in joined:
                inside[spans[i][0] : spans[j - 1][1]] = True
    edges = np.flatnonzero(np.diff(np.r_[0, inside.astype(int), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def merged(chars) -> list[tuple[int, int]]:
    out = []
    for a, b in sorted(chars):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


@pytest.mark.parametrize("level", ["char", "word"])
async def test_the_copies_lens_marks_what_brute_force_finds(tmp_path, level):
    ckpt = ckpt_for(tmp_path, level)
    text = "Oh! " + TEXT[10:60] + " ok? " + TEXT[3:20]
    app = PlaygroundApp(ckpt, "tiny.npz", text=text, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s", "ctrl+s")  # surprise → unit → copies
        await settle(pilot)
        lens = app.query_one(Lens)
        assert lens.mode == "copies" and app.copies is not None and app.copies.text == text
        k = 20 if level == "char" else 5
        assert merged(lens.spans) == brute_marks(ckpt.vocab, text, k) != []
        assert f"of {k}+ {'characters' if level == 'char' else 'words'} copied" in lens.border_title


async def test_generate_turns_the_copies_lens_on_and_a_missing_corpus_is_said_so(tmp_path):
    app = PlaygroundApp(ckpt_for(tmp_path, "char", corpus=False), "tiny.npz", text="The", cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+g")
        await settle(pilot)
        lens = app.query_one(Lens)
        assert lens.mode == "copies" and lens.spans == []
        assert "training corpus is not on this machine" in lens.border_title


@pytest.mark.parametrize("level", ["char", "word"])
async def test_the_counting_lens_is_rnn_bits_minus_ngram_bits(tmp_path, level):
    from rnntui import ngram

    ckpt = ckpt_for(tmp_path, level)
    text = "What is justice? said Socrates; and the man is happy.\n"
    app = PlaygroundApp(ckpt, "tiny.npz", text=text, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s", "ctrl+s", "ctrl+s")  # surprise → unit → copies → counting
        await settle(pilot)
        lens = app.query_one(Lens)
        assert lens.mode == "counting" and app.counting is not None
        vocab = ckpt.vocab
        train = split_train_val(vocab.encode(TEXT * 12), 0.1)[0]
        model = ngram.build(train, len(vocab), ngram.DEFAULT_ORDER[level])
        nl = vocab.id_of("\n")
        head = [nl] if nl is not None else []
        counted = -np.log2(ngram.token_probs(model, np.array(head + app.trace.ids))[-1])[len(head) :]
        np.testing.assert_allclose(lens.values, np.asarray(app.trace.bits) - counted, rtol=1e-9, atol=1e-9)
        assert "memory beats counting on" in lens.border_title


async def test_the_match_lens_lists_the_selections_best_matches(monkeypatch):
    from textual.widgets.text_area import Selection

    from rnntui import checkpoint, inspect, match
    from rnntui.cli import SHIPPED_MODEL

    ckpt = checkpoint.load(SHIPPED_MODEL)  # trained: units that stay on (the corpus is in corpora/)
    monkeypatch.setattr("rnntui.tui.views.samples.MAX_TOKENS", 4000)  # a shorter search, a faster test
    text = "He said (and I agree) that"
    app = PlaygroundApp(ckpt, "shipped", text=text, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s", "ctrl+s", "ctrl+s", "ctrl+s")  # surprise → … → match
        lens = app.query_one(Lens)
        assert lens.mode == "match" and "nothing selected" in lens.border_title
        app.main_prompt.selection = Selection((0, 8), (0, 21))  # "(and I agree)"
        await settle(pilot)
        assert lens.mode == "match" and app.matched is not None
        hs = inspect.hidden_trace(ckpt.model.params, ckpt.vocab.encode("\n" + text))[:, 0]
        pattern = match.on_across(hs[9:22], 13, 0.3)[0]
        assert f"match · {int(pattern.sum())} unit(s) on (h > +0.3" in lens.border_title
        val = np.asarray(inspect.training_corpus_ids(ckpt)[1][:4000], np.int64)
        found = match.best_matches(pattern, inspect.hidden_trace(ckpt.model.params, val)[:, 0], 13, 0.3, 8)
        shown = [float(line.split()[0]) for line in lens.text.splitlines()]
        assert shown == pytest.approx([m.jaccard for m in found], abs=0.006)
        assert len(lens.spans) == len(found) and all(e - s >= 13 for s, e in lens.spans)
        await pilot.press("ctrl+down")
        await settle(pilot)
        assert app.threshold == pytest.approx(0.2) and "h > +0.2" in lens.border_title
