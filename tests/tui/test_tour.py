"""Pilot tests of the guided tour: it is walked screen by screen on a char, a word and a gated model,
and what each screen shows is checked against numbers computed here, independently of rnntui.tour
(plain NumPy from the checkpoint's arrays, the model's own backward for the learning step)."""

import numpy as np
import pytest

from rnntui import checkpoint, inspect
from rnntui.model import RNN
from rnntui.tui.app import PlaygroundApp
from rnntui.tui.tour.app import TourApp
from rnntui.tui.tour.draw import num
from rnntui.tui.tour.screen import TourScreen
from rnntui.tui.tour.steps import TokenBar
from rnntui.tui.widgets.prompt import Prompt

from .conftest import tiny_model


async def settle(pilot) -> None:
    """Let the tour's worker finish (the learning and fading screens) and its message be handled."""
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def shown(app) -> str:
    """The text of the tour's current screen: its sentences and its body."""
    screen = app.screen
    assert isinstance(screen, TourScreen)
    return str(screen.query_one("#tour-explain").render()) + "\n" + str(screen.step.render())


def by_hand(params, ids):
    """A one-layer vanilla model over ids from h = 0: hs (T+1, H) with hs[0] = 0, and the logits after
    each token (T, V), in float64."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    hs = [np.zeros(p["Whh0"].shape[0])]
    for tid in ids:
        hs.append(np.tanh(p["embed"][tid] @ p["Wxh0"] + hs[-1] @ p["Whh0"] + p["bh0"]))
    hs = np.array(hs)
    return p, hs, hs[1:] @ p["Why"] + p["by"]


def mean_loss(logits, ids) -> float:
    z = logits[:-1]
    m = z.max(axis=1, keepdims=True)
    logz = (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]
    return float((logz - z[np.arange(len(ids) - 1), ids[1:]]).mean())


async def test_the_whole_tour_from_the_playground_on_a_char_model_and_back(tiny_ckpt):
    ckpt = checkpoint.load(tiny_ckpt)
    model, vocab = ckpt.model, ckpt.vocab
    weights = model.flat.copy()
    text = "The just man"
    ids = np.array([vocab.id_of(c) for c in text])
    p, hs, logits = by_hand(model.params, ids)
    t = len(ids) - 1
    app = PlaygroundApp(ckpt, "tiny.npz", text=text, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f10")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TourScreen) and len(screen.steps) == 7  # no gates screen for a vanilla RNN
        # 1) tokens with their ids
        body = shown(app)
        assert "12 tokens" in body and f"T {vocab.id_of('T')}" in body and f"j {vocab.id_of('j')}" in body
        assert f"V = {len(vocab)}" in body
        # 2) embedding: the row of the last token, and its nearest neighbour by cosine
        await pilot.press("space")
        body = shown(app)
        E = p["embed"]
        cos = E @ E[ids[t]] / (np.linalg.norm(E, axis=1) * np.linalg.norm(E[ids[t]]))
        cos[ids[t]] = -np.inf
        near = int(np.argmax(cos))
        assert (
            f"x_t = embed[{ids[t]}]" in body
            and f"embed[{near}]" in body
            and f"cosine {cos[near]:+.2f}" in body
        )
        assert num(E[ids[t], 0]) in body
        # 3) the memory update
        await pilot.press("right")
        body = shown(app)
        xw, hw = E[ids[t]] @ p["Wxh0"], hs[t] @ p["Whh0"]
        for value in (xw[0], hw[0], (xw + hw + p["bh0"])[0], hs[t + 1][0]):
            assert num(value) in body
        share = np.abs(xw).sum() / (np.abs(xw).sum() + np.abs(hw).sum())
        assert f"input {share:.0%}" in body
        # moving the time step changes h_t shown
        await pilot.press("shift+left")
        assert screen.state.t == t - 1 and num(hs[t][0]) in shown(app)
        await pilot.press("shift+right")
        # 4) the output at T = 0.7, then F3 to 0.85, and the dice
        await pilot.press("space")
        body = shown(app)
        top = int(np.argmax(logits[t]))
        for T in (0.7, 0.85):
            z = np.exp((logits[t] - logits[t].max()) / T)
            probs = z / z.sum()
            assert f"p at T={T:g}" in body and f"{probs[top]:6.1%}" in body
            assert f"argmax, the likeliest: '{inspect.display_token(vocab.tokens[top])}'" in body
            await pilot.press("f3")
            body = shown(app)
        assert "throw 1" in body
        await pilot.press("r")
        assert "throw 2" in shown(app)
        await pilot.press("f2")
        sample = screen.state.output().sample
        # 5) feeding back: the dice's choice is the next input
        await pilot.press("space")
        body = shown(app)
        assert f" 1 read '{inspect.display_token(vocab.tokens[sample])}'" in body
        # 6) learning: the loss before and after one SGD step, against the trainer's gradient
        await pilot.press("space")
        await settle(pilot)
        body = shown(app)
        twin = RNN(model.cfg, model.dtype)
        twin.flat[...] = model.flat
        twin.loss_and_grads(ids.reshape(-1, 1), twin.zero_state(1))
        g = twin.grad.astype(np.float64)
        norm = float(np.sqrt((g * g).sum()))
        scale = min(1.0, 5.0 / norm)
        stepped = twin.flat.astype(np.float64) - 0.1 * scale * g
        twin.flat[...] = stepped
        _, _, after = by_hand(twin.params, ids)
        assert f"mean loss {mean_loss(logits, ids):.3f} → {mean_loss(after, ids):.3f}" in body

        def token_p(z):  # the probability each next token got, (T-1,)
            z = z[:-1] - z[:-1].max(axis=1, keepdims=True)
            return np.exp(z[np.arange(len(ids) - 1), ids[1:]]) / np.exp(z).sum(axis=1)

        pb, pa = token_p(logits), token_p(after)
        up = int(np.sum(pa > pb))
        assert f"{up} of {len(ids) - 1} next tokens got likelier" in body
        # at the last token, the line is about the prediction made after the one before it
        went = "went up" if pa[-1] > pb[-1] else "went down"
        assert f"p {pb[-1]:.1%} → {pa[-1]:.1%} ({went}) (the last token predicts nothing)" in body
        assert "the model is unchanged when you leave" in body
        # 7) fading memory
        await pilot.press("space")
        await settle(pilot)
        body = shown(app)
        curve = inspect.fading_memory(p, ids, 24).norms
        assert f"{curve[0]:.4g}" in body and f"{curve[1]:.4g}" in body
        await pilot.press("space")  # the last screen stays
        assert screen.page == 6
        # Esc: back to the playground, the model untouched
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TourScreen) and isinstance(app.focused, Prompt)
        np.testing.assert_array_equal(model.flat, weights)
        await pilot.press(*"!")  # the playground still works
        assert app.trace.text == text + "!"


async def test_the_tour_on_a_word_model_moves_through_time_and_clicks_a_token(tmp_path):
    model, vocab = tiny_model(level="word")
    path = checkpoint.save(checkpoint.Checkpoint(model=model, vocab=vocab, meta={}), tmp_path / "w.npz")
    ckpt = checkpoint.load(path)
    words = ["The", "just", "man", "is", "happy"]
    ids = np.array([vocab.id_of(w) for w in words])
    p, hs, logits = by_hand(ckpt.model.params, ids)
    app = TourApp(ckpt, "The just man is happy")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TourScreen) and screen.state.t == 4
        body = shown(app)
        assert "5 tokens (words and punctuation)" in body and f"just {vocab.id_of('just')}" in body
        await pilot.press("3", "ctrl+left", "ctrl+left")
        assert screen.state.t == 2 and num(hs[3][0]) in shown(app)
        # a click on the first token of the bar
        bar = screen.query_one(TokenBar)
        x0 = next(x for x, _, i in bar.cells if i == 0)
        await pilot.click(TokenBar, offset=(x0 + 1, 0))
        assert screen.state.t == 0
        assert "h_{t−1}·Whh" in shown(app) and "memory 0%" in shown(app)  # the memory starts empty
        await pilot.press("4")
        z = np.exp((logits[0] - logits[0].max()) / 0.7)
        assert f"{(z / z.sum()).max():6.1%}" in shown(app)
        for key in "567":
            await pilot.press(key)
            await settle(pilot)
            assert screen.page == int(key) - 1 and "computing" not in shown(app)
        await pilot.press("escape")
        await pilot.pause()
    assert app.return_code == 0


async def test_the_tour_of_a_gated_model_has_a_gates_screen(tiny_gated_ckpt):
    ckpt = checkpoint.load(tiny_gated_ckpt)
    model = ckpt.model
    weights = model.flat.copy()
    app = TourApp(ckpt, "What is justice?")
    H = model.cfg.hidden
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert len(screen.steps) == 8
        for _ in range(7):
            await pilot.press("space")
            await settle(pilot)
            assert "computing" not in shown(app)
        ids = screen.state.tokens.ids
        # the gates at the last step, from the cell's own NumPy twin over the text
        p64 = {k: np.asarray(v, np.float64) for k, v in model.params.items()}
        trace = inspect.state_trace_from_inputs(p64, p64["embed"][ids])
        body = shown(app)
        for name, values in zip(model.cell.GATES, trace.gates[-1, 0], strict=True):
            assert f"gate {name}" in body and f"mean {values.mean():.2f}" in body
        await pilot.press("ctrl+l")
        body = shown(app)
        assert "layer 2 of 2" in body
        for values in trace.gates[-1, 1]:
            assert f"mean {values.mean():.2f}" in body
        await pilot.press("3")
        assert num(trace.hs[-1, 1, 0]) in shown(app)  # layer 2's h_t
        assert H == len(screen.state.memory().h)
    np.testing.assert_array_equal(model.flat, weights)


# -- snapshots: each screen at 120×40 and 80×24 ------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("page", range(1, 8))
def test_tour_screens(snap_compare, tiny_ckpt, page, size):
    app = TourApp(checkpoint.load(tiny_ckpt), "The just man")

    async def open_page(pilot) -> None:
        await pilot.press(str(page))
        await settle(pilot)

    assert snap_compare(app, run_before=open_page, terminal_size=size)


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_tour_gates_screen(snap_compare, tmp_path, size):
    model, vocab = tiny_model(cell="lstm")
    path = checkpoint.save(checkpoint.Checkpoint(model=model, vocab=vocab, meta={}), tmp_path / "lstm.npz")
    assert snap_compare(TourApp(checkpoint.load(path), "The just man"), press=["8"], terminal_size=size)
