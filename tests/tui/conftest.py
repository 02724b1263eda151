"""Fixtures for the TUI tests: a tiny deterministic model (seeded initialisation, no training, so
the pictures do not move when the kernels are tuned) and a TUI free of timing noise."""

import asyncio
import inspect
from pathlib import Path

import numpy as np
import pytest

from rnntui import checkpoint
from rnntui.checkpoint import Checkpoint
from rnntui.corpus import build_vocab
from rnntui.model import RNN, ModelConfig

TEXT = "The just man is happy, said Socrates; and the unjust man is miserable.\nWhat is justice?\n"


def tiny_model(hidden: int = 24, layers: int = 1, seed: int = 7, level: str = "char"):
    vocab = build_vocab(TEXT * 3, level)
    cfg = ModelConfig(vocab_size=len(vocab), embed=8, hidden=hidden, layers=layers)
    model = RNN.initialised(cfg, np.random.default_rng(seed))
    model.params["Why"][...] *= 40  # sharper predictions than a fresh init, so the panels show contrast
    return model, vocab


@pytest.fixture
def tiny_ckpt(tmp_path: Path) -> Path:
    model, vocab = tiny_model()
    return checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "tiny.npz")


@pytest.fixture
def tiny_ckpt_2layer(tmp_path: Path) -> Path:
    model, vocab = tiny_model(layers=2)
    return checkpoint.save(Checkpoint(model=model, vocab=vocab, meta={"step": 0}), tmp_path / "tiny2.npz")


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run ``async def`` tests (Textual's pilot) in a fresh event loop, without a plugin."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None
