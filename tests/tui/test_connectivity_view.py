"""The fading-memory view follows the text's cursor and shows the connectivity to the next token:
||d logit_next / d x_(t-k)||, as inspect computes it (itself checked against finite differences)."""

import numpy as np
import pytest

from rnntui import checkpoint, inspect
from rnntui.tui.app import PlaygroundApp

from .conftest import tiny_model


async def settle(pilot) -> None:
    for _ in range(3):
        await pilot.pause(0.3)  # the view waits for typing to pause before it computes
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


@pytest.mark.parametrize("level,cell", [("char", "rnn"), ("word", "gru"), ("char", "lstm")])
async def test_the_connectivity_follows_the_cursor(level, cell):
    model, vocab = tiny_model(level=level, cell=cell)
    ckpt = checkpoint.Checkpoint(model=model, vocab=vocab, meta={"step": 0})
    text = "The just man is happy, said Socrates. "
    app = PlaygroundApp(ckpt, "tiny.npz", text=text, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f6")
        await settle(pilot)
        ids = list(app.trace.ids)
        nl = [vocab.id_of("\n")]
        at_end = app.screen.memory
        h = inspect.hidden_trace(model.params, np.array(nl + ids))[-1, -1]
        guess = int(np.argmax(inspect.logits_of(model.params, h)))  # at the end: the model's guess
        assert at_end.target == guess
        await pilot.press(*["left"] * 12)
        await settle(pilot)
        fm = app.screen.memory
        n = sum(1 for _, end in app.trace.spans if end <= len(text) - 12)
        assert 0 < n < len(ids) and fm.target == ids[n]  # the token right after the cursor
        want = inspect.fading_memory(model.params, np.array(nl + ids[:n]), K=min(40, n - 1), target=ids[n])
        np.testing.assert_allclose(fm.connectivity, want.connectivity, rtol=1e-6)
        np.testing.assert_allclose(fm.norms, want.norms, rtol=1e-6)
        assert "connectivity to the next token" in str(app.screen.query_one("#memory").render())
