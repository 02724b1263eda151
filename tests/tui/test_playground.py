"""Pilot tests of the playground: ghost text, Tab, temperature, heatmap, lens, layers, help."""

import numpy as np
import pytest
from click.testing import CliRunner

from rnntui import checkpoint
from rnntui.cli import main
from rnntui.generate import next_word, probabilities
from rnntui.tui.app import TEMPERATURES, PlaygroundApp
from rnntui.tui.help import HelpScreen
from rnntui.tui.widgets.heatmap import GUTTER, Heatmap
from rnntui.tui.widgets.lens import Lens
from rnntui.tui.widgets.next_tokens import NextTokens
from rnntui.tui.widgets.prompt import Prompt

from .conftest import reference_suggestion


def app_for(path, **kwargs):
    return PlaygroundApp(checkpoint.load(path), str(path), cursor_blink=False, **kwargs)


async def test_typing_shows_the_beam_continuation_and_tab_accepts_a_word(tiny_ckpt):
    """The ghost text is the test's own slow beam-then-greedy continuation; Tab takes its first
    word, Shift+Tab the rest."""
    app = app_for(tiny_ckpt)
    ckpt = checkpoint.load(tiny_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just")
        prompt = app.query_one(Prompt)
        assert prompt.text == "The just"
        suggestion = prompt.suggestion
        assert suggestion  # the model always has a guess
        assert suggestion == reference_suggestion(ckpt.model, ckpt.vocab, "The just")
        await pilot.press("tab")
        assert prompt.text == "The just" + next_word(suggestion)
        rest = prompt.suggestion
        assert rest == reference_suggestion(ckpt.model, ckpt.vocab, prompt.text)
        await pilot.press("shift+tab")
        assert prompt.text == "The just" + next_word(suggestion) + rest
        # each keystroke advanced the trace by one token only
        assert app.trace.text == prompt.text and len(app.trace) == len(prompt.text)


async def test_ghost_text_finishes_the_likeliest_word_not_the_likeliest_letter(tmp_path):
    """On a model where the beam and greedy disagree, the playground shows the beam's word."""
    from rnntui.checkpoint import Checkpoint

    from .test_generate_core import PRIMES, word_model

    model, vocab = word_model()
    path = checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={}), tmp_path / "abcde.npz")
    app = app_for(path)
    differ = 0
    async with app.run_test(size=(120, 40)) as pilot:
        prompt = app.query_one(Prompt)
        for prime in PRIMES[:12]:
            prompt.clear()
            await pilot.press(*prime)
            assert prompt.suggestion == reference_suggestion(model, vocab, prime, width=4)
            differ += prompt.suggestion != reference_suggestion(model, vocab, prime, width=1)
    assert differ >= 1


async def test_no_ghost_text_when_the_cursor_is_not_at_the_end(tiny_ckpt):
    app = app_for(tiny_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The man", "left", "left")
        assert app.query_one(Prompt).suggestion == ""
        await pilot.press("end")
        assert app.query_one(Prompt).suggestion != ""


async def test_temperature_keys_change_the_shown_distribution(tiny_ckpt):
    app = app_for(tiny_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The j")
        panel = app.query_one(NextTokens)
        before = panel.probs.copy()
        t0 = app.temperature
        await pilot.press("f3", "f3")
        assert app.temperature > t0
        after = panel.probs.copy()
        np.testing.assert_allclose(after, probabilities(app.trace.gen.logits, app.temperature))
        assert after.max() < before.max()  # hotter: flatter
        for _ in TEMPERATURES:
            await pilot.press("f2")
        assert app.temperature == 0.0 and panel.probs.max() == 1.0
        assert "T=0" in panel.border_title


async def test_heatmap_has_one_column_per_token_and_two_units_per_row(tiny_ckpt):
    app = app_for(tiny_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just man")
        heat = app.query_one(Heatmap)
        hidden = app.ckpt.model.cfg.hidden
        assert heat.columns == len("The just man")
        assert list(heat.units) == list(range(hidden))  # 24 units fit in 12 rows
        for y in range(hidden // 2):
            cells = heat.render_line(y).text[GUTTER:]
            assert cells.rstrip() == "▄" * len("The just man")
        assert "tokens" in heat.render_line(hidden // 2).text
        assert heat.render_line(hidden // 2).text.rstrip().endswith("The·just·man")


async def test_heatmap_shows_the_last_tokens_and_a_selection_of_units_when_small(tiny_ckpt):
    app = app_for(tiny_ckpt, text="The just man is happy, said Socrates; " * 4)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        heat = app.query_one(Heatmap)
        assert heat.columns == heat.size.width - GUTTER < len(app.trace)
        assert len(heat.units) == 2 * (heat.size.height - 2) < app.ckpt.model.cfg.hidden
        assert "most varying" in heat.border_title
        assert heat.unit in heat.units
        # the shown columns are the latest tokens
        np.testing.assert_array_equal(heat.acts[-heat.columns :], app.trace.activations(0)[-heat.columns :])


async def test_unit_keys_and_click_recolour_the_text_by_that_unit(tiny_ckpt):
    app = app_for(tiny_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The man", "ctrl+n", "ctrl+n")
        lens = app.query_one(Lens)
        assert app.unit == 2 and lens.mode == "unit"
        np.testing.assert_array_equal(lens.values, app.trace.activations(0)[:, 2])
        await pilot.press("ctrl+s", "ctrl+s", "ctrl+s", "ctrl+s")  # unit, copies, counting, match, surprise
        assert lens.mode == "surprise" and lens.values == app.trace.bits
        heat = app.query_one(Heatmap)
        await pilot.click(Heatmap, offset=(12, 1 + 3))  # border, then the 4th row: units 6 and 7
        assert app.unit == int(heat.units[6]) and lens.mode == "unit"


async def test_the_lens_draws_what_it_was_shown_while_the_trace_reads_on(tiny_ckpt):
    """A key read by the Trace before the lens is shown the new numbers (fast typing in a browser
    tab) must not leave the lens with more spans than values: it keeps its own copies."""
    app = app_for(tiny_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The man")
        lens = app.query_one(Lens)
        shown = (list(lens.spans), list(lens.values))
        app.trace.set_text("The man is")  # the Trace's lists grow; the lens has not been told yet
        assert (lens.spans, lens.values) == shown
        lens.render()  # drawn in between: spans and values still pair up


async def test_layer_key_switches_the_heatmap_to_the_second_layer(tiny_ckpt_2layer):
    app = app_for(tiny_ckpt_2layer)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"just", "ctrl+l")
        heat = app.query_one(Heatmap)
        assert heat.layer_index == 1 and "layer 2/2" in heat.border_title
        np.testing.assert_array_equal(heat.acts, app.trace.activations(1))
        await pilot.press("ctrl+l")
        assert heat.layer_index == 0


async def test_generate_appends_a_seeded_sample(tiny_ckpt):
    texts = []
    for _ in range(2):
        app = app_for(tiny_ckpt, seed=3)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press(*"The", "ctrl+g")
            texts.append(app.query_one(Prompt).text)
    assert texts[0] == texts[1] and texts[0].startswith("The") and len(texts[0]) > 3 + 60


async def test_help_screen_opens_and_closes(tiny_ckpt):
    app = app_for(tiny_ckpt)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_too_small_says_so(tiny_ckpt):
    app = app_for(tiny_ckpt)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        notice = app.query_one("#too-small")
        assert notice.display and "60×20" in str(notice.render())
        assert not app.query_one(Heatmap).display or app.query_one(Heatmap).region.area == 0


@pytest.mark.parametrize("content", [b"not a checkpoint", b"PK\x03\x04garbage"])
def test_play_refuses_a_bad_checkpoint_in_one_line(tmp_path, content):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(content)
    result = CliRunner().invoke(main, ["play", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "Traceback" not in result.output


def test_play_refuses_a_missing_checkpoint(tmp_path):
    result = CliRunner().invoke(main, ["play", str(tmp_path / "nope.npz")])
    assert result.exit_code == 1 and "no such checkpoint" in result.output


async def test_word_level_model_finishes_the_word_being_typed(tmp_path):
    from rnntui.checkpoint import Checkpoint

    from .conftest import tiny_model

    model, vocab = tiny_model(level="word")
    path = checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={}), tmp_path / "words.npz")
    app = app_for(path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just ma")
        prompt = app.query_one(Prompt)
        assert ("ma" + prompt.suggestion).split()[0] in vocab.tokens
        await pilot.press("tab")
        assert prompt.text.split()[-1] in vocab.tokens and len(app.trace) == 2


async def test_growing_back_from_too_small_restores_the_editor(tiny_ckpt):
    app = app_for(tiny_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The")
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        await pilot.resize_terminal(100, 30)
        await pilot.pause()
        await pilot.pause()
        assert not app.screen.has_class("-too-small")
        assert isinstance(app.focused, Prompt) and app.focused.suggestion
        await pilot.press("j")
        assert app.query_one(Prompt).text == "Thej"


async def test_gated_playground_shows_the_gates_and_the_lstm_cell_state(tiny_gated_ckpt):
    """A GRU or LSTM: the ghost text is still the slow reference's, a gates panel beside the memory
    heatmap shows each gate of the heatmap's units per token, and Ctrl+T switches an LSTM's heatmap
    to the cell state c (a GRU has none: a notice, nothing changes)."""
    from rnntui.tui.widgets.gates import GatesMap

    app = app_for(tiny_gated_ckpt)
    ckpt = checkpoint.load(tiny_gated_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just")
        prompt = app.query_one(Prompt)
        assert prompt.suggestion == reference_suggestion(ckpt.model, ckpt.vocab, "The just")
        gates = app.query_one(GatesMap)
        heatmap = app.query_one(Heatmap)
        assert gates.names == ckpt.model.cell.GATES
        assert gates.gates.shape == (len("The just"), len(gates.names), 24)
        assert set(gates.units) <= set(heatmap.units) | {app.unit} and len(gates.units) > 0
        np.testing.assert_allclose(gates.gates, app.trace.gate_activations(0))
        lines = [gates.render_line(y).text for y in range(gates.size.height)]
        for name in gates.names:
            assert any(line.startswith(name) for line in lines)
        assert heatmap.border_title.startswith("memory h")
        await pilot.press("ctrl+t")
        if ckpt.model.cfg.cell == "lstm":
            assert heatmap.border_title.startswith("cell state c")
            np.testing.assert_allclose(heatmap.acts, app.trace.activations(0, cell_state=True))
            await pilot.press("alt+c")  # the same key for a browser tab, where Ctrl+T is the browser's
        assert heatmap.border_title.startswith("memory h")
        await pilot.press("ctrl+l")  # the second layer's gates
        np.testing.assert_allclose(app.query_one(GatesMap).gates, app.trace.gate_activations(1))


async def test_a_vanilla_playground_has_no_gates_panel(tiny_ckpt):
    from rnntui.tui.widgets.gates import GatesMap

    app = app_for(tiny_ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The")
        assert not app.query(GatesMap)


async def test_gates_panel_fills_on_start_and_follows_a_resize(tmp_path):
    """With text given at start (play --text) the gates panel shows it before any key, and a resize
    refits its units and columns."""
    from rnntui.checkpoint import Checkpoint, save
    from rnntui.tui.widgets.gates import GatesMap

    from .conftest import tiny_model

    model, vocab = tiny_model(cell="lstm")
    path = save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "lstm.npz")
    app = app_for(path, text="The just man is happy")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gates = app.query_one(GatesMap)
        assert gates.columns == len("The just man is happy") and len(gates.units) > 0
        big = len(gates.units)
        await pilot.resize_terminal(100, 28)
        await pilot.pause()
        assert 0 < len(gates.units) < big
        assert gates.columns == min(len(gates.gates), gates.size.width - GUTTER)
