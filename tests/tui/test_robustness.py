"""The playground under rough input: a 10 kB paste, emoji, control characters (issue 6)."""

from rnntui import checkpoint
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.widgets.prompt import Prompt

PASTE = ("The just man is happy, said Socrates; and the unjust man is miserable.\nWhat is justice?\n" * 120)[
    :10_000
]


async def test_a_10kb_paste_then_each_key_costs_one_model_step(tiny_ckpt):
    app = PlaygroundApp(checkpoint.load(tiny_ckpt), str(tiny_ckpt), cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        prompt = app.query_one(Prompt)
        prompt.insert(PASTE)
        await pilot.pause()
        assert prompt.text == PASTE and app.trace.text == PASTE
        reread = []
        set_text = app.trace.set_text
        app.trace.set_text = lambda text: reread.append(set_text(text)) or reread[-1]
        await pilot.press(*"Socrates")
        assert prompt.text.endswith("Socrates") and app.trace.text == prompt.text
        assert reread and max(reread) <= 1  # one model step per key, not a re-read of 10 kB
        assert prompt.suggestion  # still guessing after the paste


async def test_emoji_and_control_characters_do_not_crash_the_playground(tiny_ckpt):
    app = PlaygroundApp(checkpoint.load(tiny_ckpt), str(tiny_ckpt), cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        prompt = app.query_one(Prompt)
        await pilot.press(*"The ")
        prompt.insert("😀\x07\x1b[31m é ")
        await pilot.pause()
        await pilot.press(*"man")
        await pilot.pause()
        assert prompt.text.endswith("man")
        assert app.is_running  # no crash, no traceback screen
