"""benchmarks/bench_quality.py's own arithmetic: nanoGPT's split, exactly, and its --run specs."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_quality import label, nanogpt_val_frac, parse_run  # noqa: E402

from rnntui.corpus import split_train_val  # noqa: E402


@pytest.mark.parametrize("n", [1_115_394, 1001, 12_345, 10, 99_999])
def test_rnntui_holds_out_exactly_nanogpts_last_characters(n):
    """nanoGPT: train = data[:int(n * 0.9)], val = data[int(n * 0.9):] (tiny-shakespeare has 1,115,394)."""
    ids = np.arange(n)
    train, val = split_train_val(ids, nanogpt_val_frac("x" * n))
    assert np.array_equal(train, ids[: int(n * 0.9)]) and np.array_equal(val, ids[int(n * 0.9) :])


def test_a_run_spec_is_a_cell_and_train_config_fields():
    cfg = parse_run("gru hidden=320 dropout=0.25 weight_decay=0.1 schedule=cosine warmup=200 lowercase=true")
    assert (cfg.cell, cfg.hidden, cfg.dropout, cfg.weight_decay, cfg.schedule, cfg.warmup, cfg.lowercase) == (
        "gru", 320, 0.25, 0.1, "cosine", 200, True)  # fmt: skip
    assert label(cfg) == "gru lowercase=True hidden=320 warmup=200 dropout=0.25 weight_decay=0.1"
    # the label names what differs from the default, where the cosine is
    assert label(parse_run("rnn schedule=constant")) == "rnn schedule=constant"
    with pytest.raises(SystemExit, match="'steps=5' is not a key=value setting"):
        parse_run("rnn steps=5")
    with pytest.raises(SystemExit, match="'level=word' is not"):  # this benchmark is char level
        parse_run("rnn level=word")
    assert parse_run("rnn level=word", fixed=("steps",)).level == "word"  # bench_defaults may set it
