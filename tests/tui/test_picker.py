"""The model picker (Alt+M or F12 in the playground): a list of the shipped models; Enter ends the
app with the picked name (``rnntui play`` then opens it), Esc goes back to typing."""

import shutil

import pytest
from textual.widgets import OptionList

from rnntui import checkpoint, shipped
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.picker import ModelPicker


@pytest.fixture
def shipped_two(tiny_ckpt, tiny_ckpt_2layer, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(tiny_ckpt, folder / "alpha.npz")
    shutil.copy(tiny_ckpt_2layer, folder / "beta.npz")
    monkeypatch.setattr(shipped, "SHIPPED", folder)
    return folder


async def test_alt_m_lists_the_shipped_models_and_enter_returns_the_picked_one(shipped_two):
    app = PlaygroundApp(checkpoint.load(shipped_two / "alpha.npz"), "shipped model: alpha", text="The j",
                        cursor_blink=False, shipped_name="alpha")  # fmt: skip
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f12")
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert [label.split()[0] for label in labels] == ["alpha", "beta"]
        assert labels[0].endswith("(open)") and "H=24x2" in labels[1]
        assert options.highlighted == 0  # the open model
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ModelPicker) and app.is_running
        await pilot.press("alt+m")
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
    assert app.return_value == ("beta", "The j")  # the model to open, and the text to go on with


async def test_picking_the_open_model_changes_nothing(shipped_two):
    alpha = checkpoint.load(shipped_two / "alpha.npz")
    app = PlaygroundApp(alpha, "shipped model: alpha", cursor_blink=False, shipped_name="alpha")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f12")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert app.is_running and not isinstance(app.screen, ModelPicker)
        await pilot.press("ctrl+q")
    assert app.return_value is None


async def test_a_terminals_alt_m_opens_the_picker_and_types_nothing(shipped_two):
    """A terminal sends Alt+M as the key alt+m with the character "m" (a pilot's press has none):
    the prompt must not type the m, so the app's binding opens the picker."""
    from textual import events

    from rnntui.tui.widgets.prompt import Prompt

    app = PlaygroundApp(checkpoint.load(shipped_two / "alpha.npz"), "shipped model: alpha", text="The j",
                        cursor_blink=False, shipped_name="alpha")  # fmt: skip
    async with app.run_test(size=(120, 40)) as pilot:
        app.post_message(events.Key("alt+m", "m"))
        await pilot.pause()
        assert isinstance(app.screen, ModelPicker)
        assert app.query_one(Prompt).text == "The j"
