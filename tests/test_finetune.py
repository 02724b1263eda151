"""Fine-tuning (--init-from): weights carried over, the vocabulary grown, determinism and exact
resume, and that it really learns a new text faster than a fresh model."""

import hashlib
import re

import numpy as np
import pytest
from test_train import stop_at

from rnntui import checkpoint, finetune, shipped
from rnntui.checkpoint import CheckpointError
from rnntui.model import RNN, ModelConfig
from rnntui.train import TrainConfig, Trainer

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
SHAKESPEARE = ROOT / "corpora" / "shakespeare.txt"
SMALL = dict(hidden=24, embed=8, seq=16, batch=4, eval_every=10, save_every=1000)


@pytest.fixture
def base(tmp_path):
    """A tiny char model trained on a text without capitals, digits or '&'."""
    text = tmp_path / "base.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40)
    Trainer.start(text, TrainConfig(**SMALL, steps=20, seed=5), tmp_path / "base").run()
    return tmp_path / "base" / "latest.npz"


@pytest.fixture
def new_text(tmp_path):
    path = tmp_path / "new.txt"
    path.write_text("The Cat & The Dog sat on 2 logs.\n" * 40)
    return path


def test_old_rows_are_kept_and_new_rows_start_as_in_a_fresh_model(base, new_text, tmp_path):
    old = checkpoint.load(base)
    trainer = Trainer.fine_tune(new_text, base, tmp_path / "ft", steps=5)
    V0, V = len(old.vocab), len(trainer.vocab)
    added = trainer.vocab.tokens[V0:]
    assert trainer.vocab.tokens[:V0] == old.vocab.tokens  # the old tokens keep their ids
    assert added == tuple(sorted(set("The Cat & The Dog sat on 2 logs.\n") - set(old.vocab.tokens)))
    sha = hashlib.sha256(base.read_bytes()).hexdigest()
    assert trainer.init_from == {"path": str(base.resolve()), "sha256": sha, "step": 20, "base_vocab": V0,
                                 "added": len(added)}  # fmt: skip
    p, q = trainer.model.params, old.model.params
    assert np.array_equal(p["embed"][:V0], q["embed"]) and np.array_equal(p["Why"][:, :V0], q["Why"])
    assert np.array_equal(p["by"][:V0], q["by"])
    for name in p.keys() - finetune.TOKEN_ROWS.keys():
        assert np.array_equal(p[name], q[name]), name
    # the new tokens' rows are exactly what a fresh model of this size and seed would have
    fresh = RNN.initialised(ModelConfig(vocab_size=V, embed=8, hidden=24), np.random.default_rng(5))
    f = fresh.params
    assert np.array_equal(p["embed"][V0:], f["embed"][V0:]) and np.array_equal(
        p["Why"][:, V0:], f["Why"][:, V0:]
    )
    assert not p["by"][V0:].any()
    assert not np.array_equal(p["embed"][:V0], f["embed"][:V0])  # (and the old ones are not those)
    assert trainer.step == 0 and all(not s.any() for s in trainer.opt_state.values())  # a fresh optimiser
    trainer.run()
    saved = checkpoint.load(tmp_path / "ft" / "latest.npz")
    assert saved.meta["init_from"] == trainer.init_from and saved.meta["step"] == 5


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_a_gated_cell_is_fine_tuned_the_same_way(tmp_path, new_text, cell):
    text = tmp_path / "base.txt"
    text.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40)
    Trainer.start(text, TrainConfig(**SMALL, cell=cell, steps=5), tmp_path / "base").run()
    old = checkpoint.load(tmp_path / "base" / "latest.npz")
    trainer = Trainer.fine_tune(new_text, tmp_path / "base" / "latest.npz", tmp_path / "ft", steps=4)
    assert trainer.cfg.cell == cell and trainer.model.cfg.cell == cell
    V0, p, q = len(old.vocab), trainer.model.params, old.model.params
    assert len(trainer.vocab) > V0 and np.array_equal(p["Why"][:, :V0], q["Why"])
    for name in p.keys() - finetune.TOKEN_ROWS.keys():  # the cell's own weights, whatever their names
        assert np.array_equal(p[name], q[name]), name
    trainer.run()
    assert trainer.step == 4
    other = "lstm" if cell == "gru" else "gru"
    with pytest.raises(ValueError, match=f"--cell {other}: a fine-tuned model keeps the shape"):
        Trainer.fine_tune(new_text, tmp_path / "base" / "latest.npz", tmp_path / "x", cell=other)


def test_options_not_given_are_the_models_and_its_shape_cannot_change(base, new_text, tmp_path):
    trainer = Trainer.fine_tune(new_text, base, tmp_path / "a", seq=8, lr=1e-3)
    cfg = trainer.cfg
    assert (cfg.hidden, cfg.embed_size, cfg.batch, cfg.seed) == (24, 8, 4, 5)  # the base run's
    assert (cfg.seq, cfg.lr, cfg.steps) == (8, 1e-3, None)  # given; the budget is not inherited
    with pytest.raises(ValueError, match="--hidden 32: a fine-tuned model keeps the shape"):
        Trainer.fine_tune(new_text, base, tmp_path / "b", hidden=32)
    with pytest.raises(ValueError, match="--level word"):
        Trainer.fine_tune(new_text, base, tmp_path / "b", level="word")
    with pytest.raises(CheckpointError, match="nor the name of a shipped model"):
        Trainer.fine_tune(new_text, "no-such-model", tmp_path / "b")


def test_word_level_growth_is_bounded_like_a_fresh_run(tmp_path):
    base_text = tmp_path / "b.txt"
    base_text.write_text("the cat sat on the mat .\n" * 30)
    cfg = TrainConfig(**SMALL, level="word", steps=3)
    Trainer.start(base_text, cfg, tmp_path / "base").run()
    new = tmp_path / "n.txt"
    new.write_text("the owl sat on the owl .\n" * 30 + "a rare word\n")
    trainer = Trainer.fine_tune(new, tmp_path / "base" / "latest.npz", tmp_path / "ft", min_count=2)
    assert (
        trainer.vocab.tokens[: len(trainer.vocab) - 1]
        == checkpoint.load(tmp_path / "base" / "latest.npz").vocab.tokens
    )
    assert trainer.vocab.tokens[-1] == "owl"  # seen 60 times; "a", "rare", "word" once: below --min-count
    assert trainer.vocab.encode("a rare owl")[:2].tolist() == [0, 0]  # <unk>


def test_a_fine_tuned_run_is_deterministic_and_resumes_exactly(base, new_text, tmp_path):
    runs = []
    for name in ("one", "two"):
        t = Trainer.fine_tune(new_text, base, tmp_path / name, steps=40)  # 40 steps cross an epoch
        t.run()
        runs.append(t)
    assert runs[0].epoch >= 1 and np.array_equal(runs[0].model.flat, runs[1].model.flat)

    stop_at(Trainer.fine_tune(new_text, base, tmp_path / "split", steps=40), 17)
    resumed = Trainer.resume(tmp_path / "split" / "latest.npz")
    assert resumed.init_from == runs[0].init_from and resumed.vocab == runs[0].vocab
    resumed.run()
    assert np.array_equal(resumed.model.flat, runs[0].model.flat)
    for k in resumed.opt_state:
        assert np.array_equal(resumed.opt_state[k], runs[0].opt_state[k])
    assert resumed.train_history == runs[0].train_history
    assert checkpoint.load(tmp_path / "split" / "latest.npz").meta["init_from"] == runs[0].init_from


def test_the_shipped_model_learns_a_new_text_faster_than_a_fresh_one(tmp_path):
    """Republic (the shipped model) fine-tuned on Shakespeare, against a fresh model of the same
    shape on the same text, seed and budget: the same 80 steps, validation loss at the end."""
    budget = dict(steps=80, eval_every=80, save_every=1000, batch=16, seq=32, val_frac=0.1)
    tuned = Trainer.fine_tune(SHAKESPEARE, "republic", tmp_path / "tuned", **budget)
    assert tuned.vocab.tokens[80:] == ("&",)  # the one character the Republic never uses
    fresh = Trainer.start(SHAKESPEARE, tuned.cfg, tmp_path / "fresh")  # its shape and options, from scratch
    assert tuned.model.shapes["Whh0"] == fresh.model.shapes["Whh0"] and fresh.model.shapes["embed"][1] == 64
    before = tuned.evaluate()
    tuned.run()
    fresh.run()
    tuned_val, fresh_val = tuned.val_history[-1][1], fresh.val_history[-1][1]
    assert tuned_val < before  # it learns the new text, not only remembers the old one
    print(f"before {before:.3f}; after 80 steps: fine-tuned {tuned_val:.3f}, fresh {fresh_val:.3f}")
    assert tuned_val < fresh_val - 0.3, (tuned_val, fresh_val)


def test_cli_says_what_fine_tuning_did_first_and_health_shows_it(tmp_path):
    from click.testing import CliRunner

    from rnntui.cli import main

    runner = CliRunner()
    args = ["train", str(SHAKESPEARE), "--init-from", "republic", "--steps", "2", "--batch", "4",
            "--seq", "8", "--no-tui", "--out", str(tmp_path)]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    first, second = result.stderr.splitlines()[:2]
    base = shipped.SHIPPED / "republic.npz"
    step = checkpoint.load(base).meta["step"]
    assert first.startswith(f"fine-tuning from {base} (its step {step})")
    assert "fresh adam optimiser state" in first
    assert second.startswith("vocabulary: 1 new token(s) added after the model's 80 (V = 81): &")
    ckpt = tmp_path / "shakespeare" / "latest.npz"
    health = runner.invoke(main, ["inspect", "health", str(ckpt), "--max-tokens", "200"])
    assert health.exit_code == 0, health.output
    assert health.output.splitlines()[0].startswith(
        f"fine-tuned from {base} (its step {step}, sha256 "
        f"{finetune.file_sha256(base)[:16]}…); vocabulary 80 + 1 new token(s)"
    )
    assert "validation split" in health.output  # it finds its corpus through the grown vocabulary


def test_transplant_refuses_a_model_of_another_shape_naming_the_array():
    def fresh(**kw) -> RNN:
        cfg = dict(vocab_size=10, embed=4, hidden=6, layers=1) | kw
        return RNN.initialised(ModelConfig(**cfg), np.random.default_rng(0))

    src = fresh()
    refusals = [
        ({"layers": 2}, "the model to start from has other parameters than the new one"),
        ({"vocab_size": 12, "embed": 5}, "embed: shape (10, 4) does not fit the new model's (12, 5)"),
        ({"vocab_size": 12, "hidden": 7}, "Wxh0: shape (4, 6) does not fit the new model's (4, 7)"),
    ]
    for other, message in refusals:
        with pytest.raises(CheckpointError, match="^" + re.escape(message) + "$"):
            finetune.transplant(src, fresh(**other))
    dst = fresh(vocab_size=12)
    finetune.transplant(src, dst)  # the same shapes but two new tokens: the old rows copied, the new kept
    np.testing.assert_array_equal(dst.params["embed"][:10], src.params["embed"])
    np.testing.assert_array_equal(dst.params["Why"][:, :10], src.params["Why"])
