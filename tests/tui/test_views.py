"""Pilot tests of the inspection views (F4..F9): each opens on a tiny model and shows the numbers
``rnntui.inspect`` (or an independent computation) gives for the same text."""

import numpy as np
import pytest

from rnntui import checkpoint, inspect
from rnntui.checkpoint import Checkpoint
from rnntui.generate import Generator
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.views import VIEWS, HealthView, MapView, MemoryView, SentencesView, SoftmaxView, UnitView
from rnntui.tui.widgets.prompt import Prompt
from rnntui.tui.widgets.scatter import Scatter

from .conftest import TEXT, tiny_model


def app_for(ckpt: Checkpoint) -> PlaygroundApp:
    return PlaygroundApp(ckpt, "tiny.npz", cursor_blink=False)


async def settle(pilot, until=lambda: True, rounds: int = 100) -> None:
    """Let the view's workers finish and their messages be handled; with ``until``, keep letting them
    until it holds (a keystroke's worker may start only after the first rounds on a loaded machine)."""
    for i in range(rounds):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if i >= 2 and until():
            return


def rendered(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_softmax_view_lists_the_models_argmax_and_follows_typing_and_temperature(tiny_ckpt):
    ckpt = checkpoint.load(tiny_ckpt)
    app = app_for(ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just", "f5")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, SoftmaxView) and isinstance(app.focused, Prompt)

        def argmax_after(text: str) -> int:  # independent of the app: a fresh generator
            gen = Generator(ckpt.model, ckpt.vocab)
            gen.feed(ckpt.vocab.encode("\n" + text))
            return int(np.argmax(gen.logits))

        best = argmax_after("The just")
        assert int(view.geometry.ids[0]) == best
        lines = rendered(app, "#softmax").splitlines()
        first_row = lines[[line.startswith("next") for line in lines].index(True) + 1]
        assert first_row.startswith(inspect.display_token(ckpt.vocab.tokens[best]))
        # typing in the view reads the new text (and the playground's text follows)
        await pilot.press(*" man")
        await settle(pilot)
        assert int(view.geometry.ids[0]) == argmax_after("The just man")
        assert "T=0.7" in rendered(app, "#softmax")
        entropy = view.geometry.entropy
        await pilot.press("f3", "f3")
        assert view.geometry.temperature == 1.0 and view.geometry.entropy > entropy
        assert "T=1" in rendered(app, "#softmax")
        await pilot.press("escape")
        await pilot.pause()
        assert app.main_prompt.text == "The just man" and app.trace.text == "The just man"


async def test_memory_view_strip_covers_the_tokens_and_matches_inspect(tiny_ckpt):
    ckpt = checkpoint.load(tiny_ckpt)
    app = app_for(ckpt)
    text = "What is justice? said"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*text, "f6")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, MemoryView)
        assert view.strip_tokens == len(text)  # every character fits under the text at 120 columns
        ids = ckpt.vocab.encode("\n" + text)  # the playground reads from a newline's memory
        expected = inspect.fading_memory(ckpt.model.params, ids, K=len(text) - 1).norms
        np.testing.assert_allclose(view.memory.norms, expected, rtol=1e-6)
        lines = rendered(app, "#memory").splitlines()
        assert lines[1] == text.replace(" ", "␣")  # the strip's text row, then its shade row
        assert len(lines[2]) == len(text) and set(lines[2]) <= set(" ░▒▓█")
        assert "half-life" in rendered(app, "#memory")


async def test_sentence_view_has_an_n_by_n_matrix_and_a_point_per_sentence(tiny_ckpt_2layer):
    ckpt = checkpoint.load(tiny_ckpt_2layer)
    app = app_for(ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f7")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, SentencesView)
        S = len(view.lines)
        assert S == 4 and view.matrix.shape == (S, S)
        np.testing.assert_allclose(np.diag(view.matrix), 1.0, atol=1e-9)
        cells = [
            tok for line in rendered(app, "#cosines").splitlines()[1 : S + 1] for tok in line.split()[1:]
        ]
        assert len(cells) == S * S
        np.testing.assert_allclose(np.array(cells, float).reshape(S, S), view.matrix, atol=0.006)
        # a fifth sentence, on the second layer
        area = view.query_one("#sentences")
        area.move_cursor(area.document.end)  # after the last line's newline
        await pilot.press(*"The man.", "ctrl+l")
        await settle(pilot, until=lambda: view.matrix.shape == (5, 5))
        assert view.matrix.shape == (5, 5)
        known = [[c for c in s if ckpt.vocab.id_of(c) is not None] for s in view.lines]  # k, G, q are not
        ids = [ckpt.vocab.encode("".join(chars)) for chars in known]
        vectors = inspect.sentence_vectors(ckpt.model.params, ids)[:, 1]
        np.testing.assert_allclose(view.matrix, inspect.cosine_matrix(vectors.astype(float)), atol=1e-6)
        scatter = view.query_one(Scatter)
        assert sorted(i for _, _, i in scatter.placed) == list(range(5))


async def test_map_view_shows_the_neighbours_of_the_cursor_token_or_a_typed_one(tiny_ckpt):
    ckpt = checkpoint.load(tiny_ckpt)
    app = app_for(ckpt)
    vocab = ckpt.vocab
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just man", "left", "left", "f4")  # the cursor sits after "m"
        await settle(pilot)
        view = app.screen
        assert isinstance(view, MapView)
        m = vocab.id_of("m")
        assert view.query_id == m
        ids, cos = inspect.neighbours(inspect.token_vectors(ckpt.model.params, "input"), m, 10)
        np.testing.assert_array_equal(view.neighbour_ids, ids)
        listed = rendered(app, "#neighbours").splitlines()
        assert listed[1].split()[0] == inspect.display_token(vocab.tokens[ids[0]])
        scatter = view.query_one(Scatter)
        assert scatter.placed and scatter.placed[0][2] == 0 and scatter.labels[0] == "m"  # placed first
        await pilot.press("e", "ctrl+o")
        await settle(pilot)
        assert view.space == "projected" and view.query_id == vocab.id_of("e")
        ids, _ = inspect.neighbours(
            inspect.token_vectors(ckpt.model.params, "projected"), vocab.id_of("e"), 10
        )
        np.testing.assert_array_equal(view.neighbour_ids, ids)
        await pilot.press("backspace", *"Q")
        await settle(pilot)
        assert view.query_id is None and "not in the" in rendered(app, "#neighbours")


async def test_map_view_places_tokens_by_direction_so_a_long_vector_squeezes_nothing(tmp_path):
    """The map is the PCA of unit vectors (the geometry the neighbours are ranked by): a token whose
    vector is 30 times longer (at word level "." and "?" are) moves no point on it."""

    async def map_points(scale: float) -> tuple[np.ndarray, list[str]]:
        model, vocab = tiny_model()
        model.params["embed"][vocab.id_of("e")] *= scale
        path = checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "m.npz")
        app = app_for(checkpoint.load(path))
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("f4", *"Q")  # a token not in the vocabulary: no query, only the map
            await settle(pilot, until=lambda: app.screen.order is not None)
            scatter = app.screen.query_one(Scatter)
            return scatter.xy.copy(), list(scatter.labels)

    xy, labels = await map_points(1.0)
    xy_long, labels_long = await map_points(30.0)
    assert labels == labels_long and "e" in labels and len(labels) > 10
    np.testing.assert_allclose(xy_long, xy, atol=1e-9)
    assert np.ptp(xy[:, 0]) > 0.1 and np.ptp(xy[:, 1]) > 0.1  # spread out on both axes


@pytest.fixture
def ckpt_with_corpus(tmp_path):
    """A tiny model whose recorded training corpus exists, so the unit and health views find it."""
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TEXT * 12, encoding="utf-8")
    model, vocab = tiny_model(layers=2)
    meta = {"step": 5, "corpus": {"path": str(corpus)}, "train": {"val_frac": 0.5}}
    return Checkpoint(model=model, vocab=vocab, meta=meta)


async def test_unit_view_shows_top_contexts_on_the_validation_split(ckpt_with_corpus):
    ckpt = ckpt_with_corpus
    app = app_for(ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+l", "ctrl+n", "ctrl+n", "f8")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, UnitView)
        val = inspect.training_corpus_ids(ckpt)[1]
        assert view.sample.source.startswith("the validation split") and len(view.sample.tokens) == len(val)
        hs = inspect.hidden_trace(ckpt.model.params, val)
        drive = inspect.preactivations(ckpt.model.params, val, hs)[:, 1, 2]
        top = int(inspect.top_contexts(drive, 5, gap=30)[0][0])
        text = rendered(app, "#unit")
        assert f"h {hs[top, 1, 2]:+.2f} a {drive[top]:+6.1f}" in text
        assert "most negative" in text and "position in line" in text
        assert "unit 2 of layer 2/2" in view.query_one("#unit-scroll").border_title
        await pilot.press("ctrl+n")
        await settle(pilot)
        assert "unit 3 of layer 2/2" in view.query_one("#unit-scroll").border_title


async def test_health_view_shows_spectra_and_the_histogram(ckpt_with_corpus):
    ckpt = ckpt_with_corpus
    app = app_for(ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f9")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, HealthView)
        spectra = inspect.recurrent_spectra(ckpt.model.params)
        np.testing.assert_allclose(view.spectra, spectra)
        T = len(inspect.training_corpus_ids(ckpt)[1])
        assert view.counts.shape == (2, HealthView.BINS) and (view.counts.sum(axis=1) == T * 24).all()
        assert f"spectral radius {spectra[1, 0]:.3f}" in rendered(app, "#health")
        assert "over training" not in rendered(app, "#health")  # no history recorded


async def test_health_view_shows_the_spectra_recorded_over_training(tiny_ckpt):
    ckpt = checkpoint.load(tiny_ckpt)
    ckpt.spectra_history = np.array([[100, 0.8, 1.1], [200, 1.25, 1.9], [300, 1.5, 2.5]])
    app = app_for(ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f9")
        await settle(pilot)
        lines = rendered(app, "#health").splitlines()
        start = [line.startswith("over training") for line in lines].index(True)
        assert [line.split()[:4] for line in lines[start + 1 : start + 4]] == [
            ["100", "0.800", "/", "1.100"],
            ["200", "1.250", "/", "1.900"],
            ["300", "1.500", "/", "2.500"],
        ]


@pytest.mark.parametrize("level,layers", [("word", 2), ("char", 1)])
async def test_every_view_opens_for_word_and_char_models_and_esc_returns(level, layers):
    model, vocab = tiny_model(layers=layers, level=level)
    app = app_for(Checkpoint(model=model, vocab=vocab, meta={"step": 0}))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"the just man is ")
        for key, name, _ in VIEWS:
            await pilot.press(key)
            await settle(pilot)
            assert app.screen.NAME == name
            assert app.screen.query_one("#view-tabs").render()
        await pilot.press("f1")
        await pilot.press("f5")  # from the help screen straight to a view
        await settle(pilot)
        assert app.screen.NAME == "softmax"
        await pilot.press("escape")
        await pilot.pause()
        assert not hasattr(app.screen, "NAME") and app.focused is app.main_prompt
        assert app.main_prompt.text == "the just man is "


async def test_a_view_opened_in_a_small_terminal_says_so(tiny_ckpt):
    app = app_for(checkpoint.load(tiny_ckpt))
    async with app.run_test(size=(70, 20)) as pilot:
        await pilot.press("f9")
        await settle(pilot)
        assert app.screen.NAME == "health" and app.screen.has_class("-too-small")
        assert "70×20" in str(app.screen.query_one("#too-small").render())


@pytest.mark.parametrize("cell", ["gru", "lstm"])
async def test_every_view_opens_on_a_gated_model_with_inspects_numbers(cell):
    """Each view on a GRU/LSTM: the memory view's curve is inspect's (through the gates), the health
    view lists the gates and names the candidate block, the others draw without error."""
    model, vocab = tiny_model(cell=cell, layers=2)
    ckpt = Checkpoint(model=model, vocab=vocab, meta={"step": 0})
    app = app_for(ckpt)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just man is happy")
        for key, name, _ in VIEWS:
            await pilot.press(key)
            await settle(pilot)
            assert app.screen.NAME == name
            if name == "memory":
                await pilot.pause(0.5)  # the view recomputes once typing pauses
                await settle(pilot)
                ids = np.asarray([vocab.id_of("\n"), *app.trace.ids])  # read from a newline, as the trace
                got = app.screen.memory.norms
                want = inspect.fading_memory(model.params, ids, K=len(got) - 1).norms
                np.testing.assert_allclose(got, want, rtol=1e-6)
            if name == "health":
                text = rendered(app, "#health")
                assert model.cell.RECURRENT in text
                for gate in model.cell.GATES:
                    assert gate in text


VIEW_MODULES = ["base", "samples", "map", "softmax", "memory", "sentences", "unit", "health"]


@pytest.mark.parametrize("module", VIEW_MODULES)
def test_no_view_module_imports_the_app(module):
    """The views are given the playground; none imports the app class back (no circle)."""
    import subprocess
    import sys

    code = f"import sys, rnntui.tui.views.{module}; print('rnntui.tui.app' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


async def test_the_ghost_text_view_charts_both_models_accuracy_by_letters_seen():
    """F11 on play A --compare B, no corpus on disk: both models scored on the playground's text, as
    autocomplete.accuracy scores them, in the table and as two pairs of curves on one chart."""
    from rnntui import autocomplete
    from rnntui.tui.views.autocomplete import AccuracyChart, AutocompleteView

    (ma, vocab), (mb, _) = tiny_model(cell="rnn"), tiny_model(cell="gru", seed=3)
    a, b = Checkpoint(model=ma, vocab=vocab, meta={}), Checkpoint(model=mb, vocab=vocab, meta={})
    app = PlaygroundApp(a, "a", cursor_blink=False, compare=b, compare_source="b")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"The just man is the happy man. ", "f11")
        view = app.screen
        assert isinstance(view, AutocompleteView)
        await settle(pilot, until=lambda: bool(view.curves))
        ids = np.asarray(app.trace.ids, np.int64)
        want = [autocomplete.accuracy(m, vocab, ids, max_words=300) for m in (ma, mb)]
        assert [name for name, _ in view.curves] == ["A", "B"]
        for (_, got), w in zip(view.curves, want, strict=True):
            np.testing.assert_array_equal(got.words, w.words)
            np.testing.assert_array_equal(got.top1, w.top1)
            np.testing.assert_array_equal(got.top3, w.top3)
        assert want[0].words[0] >= 5  # the text's whole words were scored
        table = rendered(app, "#accuracy").splitlines()
        first = table[1].split()  # letters 0: words, A top-1, A top-3, B top-1, B top-3
        assert first[:2] == ["0", str(want[0].words[0])]
        assert first[2:] == [f"{s[0]:.0%}" for w in want for s in (w.top1_share, w.top3_share)]
        assert len(view.query_one(AccuracyChart).curves) == 2
