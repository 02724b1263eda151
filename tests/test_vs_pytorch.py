"""An independent check of every cell: the same checkpoint rebuilt in PyTorch (``nn.RNN``, ``nn.GRU``,
``nn.LSTM`` with the weights loaded from the npz), loss and every gradient compared in float64.

A finite-difference check is self-consistent: it cannot see a convention error (a transposed gate
block, the reset gate applied in the wrong place) that the forward and backward share. PyTorch's
cells are the formulation the cells' docstrings cite, so agreement here means rnntui's GRU and
LSTM are the textbook ones. Needs the bench extra (``pip install -e '.[bench]'``).
"""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is in the bench extra: pip install -e '.[bench]'")

from rnntui import checkpoint  # noqa: E402
from rnntui.model import RNN  # noqa: E402
from rnntui.train import TrainConfig, Trainer  # noqa: E402


def torch_model(z, cell: str, layers: int, H: int):
    """Embedding -> nn.RNN/GRU/LSTM -> Linear from a checkpoint's arrays (float64)."""
    t = {k[6:]: torch.tensor(z[k], dtype=torch.float64) for k in z.files if k.startswith("param/")}
    rnn = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[cell](
        t["embed"].shape[1], H, num_layers=layers, dtype=torch.float64
    )
    with torch.no_grad():
        for layer in range(layers):
            getattr(rnn, f"weight_ih_l{layer}").copy_(t[f"Wxh{layer}"].T)
            getattr(rnn, f"weight_hh_l{layer}").copy_(t[f"Whh{layer}"].T)
            getattr(rnn, f"bias_ih_l{layer}").copy_(t[f"bh{layer}"])
            b_hh = torch.zeros_like(t[f"bh{layer}"])
            if cell == "gru":
                b_hh[2 * H :] = t[f"bhn{layer}"]  # the reset gate multiplies h Whh_n + b_hn
            getattr(rnn, f"bias_hh_l{layer}").copy_(b_hh)
    return t, rnn


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_loss_and_every_gradient_match_pytorch(tiny_text, tmp_path, cell, layers):
    H, T, B = 8, 7, 3
    trainer = Trainer.start(
        tiny_text, TrainConfig(hidden=H, embed=5, seq=T, batch=B, steps=4, cell=cell, layers=layers),
        tmp_path / "run",
    )  # fmt: skip
    trainer.run()  # trained a little: gates away from their initial values
    path = tmp_path / "run" / "latest.npz"
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(z["meta"].tobytes())["model"]["cell"] == cell
        t, rnn = torch_model(z, cell, layers, H)

    ckpt = checkpoint.load(path)
    model = RNN(ckpt.model.cfg, dtype=np.float64)
    model.flat[:] = ckpt.model.flat
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, ckpt.model.cfg.vocab_size, (T + 1, B))
    state0 = rng.standard_normal((layers, B, ckpt.model.cfg.state_size)) * 0.5
    loss, final = model.loss_and_grads(tokens, state0)

    embed = t["embed"].clone().requires_grad_(True)
    Why, by = t["Why"].clone().requires_grad_(True), t["by"].clone().requires_grad_(True)
    h0 = torch.tensor(state0[..., :H], requires_grad=True)
    x = embed[torch.tensor(tokens[:-1])]  # (T, B, E)
    if cell == "lstm":
        c0 = torch.tensor(state0[..., H:], requires_grad=True)
        out, (hT, cT) = rnn(x, (h0, c0))
        torch_final = torch.cat([hT, cT], dim=-1)
    else:
        out, hT = rnn(x, h0)
        torch_final = hT
    logits = out.reshape(T * B, H) @ Why + by
    torch_loss = torch.nn.functional.cross_entropy(logits, torch.tensor(tokens[1:]).reshape(-1))
    torch_loss.backward()

    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    np.testing.assert_allclose(final, torch_final.detach().numpy(), rtol=1e-10, atol=1e-12)

    def close(got, want, name):
        scale = max(np.abs(want).max(), 1e-8)
        assert np.abs(got - want).max() / scale < 1e-9, name

    close(model.grads["embed"], embed.grad.numpy(), "embed")
    close(model.grads["Why"], Why.grad.numpy(), "Why")
    close(model.grads["by"], by.grad.numpy(), "by")
    for layer in range(layers):
        close(model.grads[f"Wxh{layer}"], getattr(rnn, f"weight_ih_l{layer}").grad.numpy().T, f"Wxh{layer}")
        close(model.grads[f"Whh{layer}"], getattr(rnn, f"weight_hh_l{layer}").grad.numpy().T, f"Whh{layer}")
        b_ih = getattr(rnn, f"bias_ih_l{layer}").grad.numpy()
        b_hh = getattr(rnn, f"bias_hh_l{layer}").grad.numpy()
        if cell == "gru":
            # rnntui's bh is b_ih (+ b_hh for r and z, folded); bhn is b_hh's n block
            close(model.grads[f"bh{layer}"], b_ih, f"bh{layer}")
            np.testing.assert_allclose(b_ih[: 2 * H], b_hh[: 2 * H], rtol=1e-12, atol=1e-14)
            close(model.grads[f"bhn{layer}"], b_hh[2 * H :], f"bhn{layer}")
        else:
            close(model.grads[f"bh{layer}"], b_ih, f"bh{layer}")  # = b_hh's gradient: they are summed
    close(model.dh0[..., :H], h0.grad.numpy(), "h0")
    if cell == "lstm":
        close(model.dh0[..., H:], c0.grad.numpy(), "c0")
