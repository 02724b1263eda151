"""Nucleus sampling in the TUI: Ctrl+O steps the playground's top-p, the next-token panel strikes
the tokens outside the nucleus, Ctrl+G samples only inside it; N does the same on the dashboard."""

import numpy as np
import pytest

from rnntui import checkpoint
from rnntui.generate import Generator, nucleus, probabilities
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.widgets.next_tokens import NextTokens

from .conftest import tiny_model


def brute_nucleus(probs, p):
    order = sorted(range(len(probs)), key=lambda i: (-probs[i], i))
    kept, mass = set(), 0.0
    for i in order:
        if mass >= p * sum(probs):
            break
        kept.add(i)
        mass += probs[i]
    return kept


@pytest.mark.parametrize("level", ["char", "word"])
async def test_ctrl_o_keeps_the_nucleus_in_the_panel_and_generate_samples_inside_it(tmp_path, level):
    model, vocab = tiny_model(level=level, cell="lstm" if level == "word" else "rnn")
    ckpt = checkpoint.Checkpoint(model=model, vocab=vocab, meta={"step": 0})
    app = PlaygroundApp(ckpt, "tiny.npz", text="The just ", cursor_blink=False, seed=3)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+o", "ctrl+o")
        assert app.top_p == 0.9
        panel = app.query_one(NextTokens)
        probs = probabilities(app.trace.gen.logits, app.temperature)
        assert set(np.flatnonzero(panel.kept).tolist()) == brute_nucleus(probs.tolist(), 0.9)
        assert f"T=0.7 · p=0.9 keeps {len(brute_nucleus(probs.tolist(), 0.9))}" in panel.border_title
        before = list(app.trace.ids)
        await pilot.press("ctrl+g")
        await pilot.pause()
        ids = app.trace.ids
        assert len(ids) > len(before) and ids[: len(before)] == before
        gen = Generator(model, vocab)
        gen.feed([vocab.id_of("\n")] if vocab.id_of("\n") is not None else [])
        gen.feed(before)
        for tid in ids[len(before) :]:  # every sampled token was inside the nucleus it was drawn from
            assert nucleus(probabilities(gen.logits, app.temperature), 0.9)[tid]
            gen.feed([tid])
        for _ in range(4):
            await pilot.press("ctrl+o")
        assert app.top_p == 1.0 and panel.kept.all() and panel.border_title == "next token · T=0.7"
