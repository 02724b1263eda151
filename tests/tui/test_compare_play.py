"""``rnntui play A --compare B``: model B reads along and the lens shows who is less surprised."""

import numpy as np

from rnntui import inspect as ins
from rnntui.checkpoint import Checkpoint
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.widgets.lens import Lens

from .conftest import tiny_model


async def test_play_compare_lens_shows_the_difference_in_surprise():
    (ma, vocab), (mb, _) = tiny_model(cell="rnn"), tiny_model(cell="lstm", seed=3)
    a, b = Checkpoint(model=ma, vocab=vocab, meta={}), Checkpoint(model=mb, vocab=vocab, meta={})
    app = PlaygroundApp(a, "a", cursor_blink=False, compare=b, compare_source="b")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just")
        lens = app.query_one(Lens)
        assert lens.mode == "compare"
        np.testing.assert_allclose(lens.values, np.asarray(app.trace.bits) - np.asarray(app.other.bits))
        ids = vocab.encode("\nThe just", what="text")
        for trace, model in ((app.trace, ma), (app.other, mb)):
            np.testing.assert_allclose(trace.bits, ins.token_bits(model.params, ids), rtol=1e-4, atol=1e-4)
        assert "B less surprised on" in lens.border_title
        for mode in ("surprise", "unit", "copies", "counting", "match", "compare"):
            await pilot.press("ctrl+s")
            assert lens.mode == mode
