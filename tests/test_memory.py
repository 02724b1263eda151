"""The memory estimates against what a run really takes; what is available; bounded JSON; regular files."""

import json
import os
import random
import resource
import subprocess
import sys

import pytest

from rnntui import memory, safeio
from rnntui.model import ModelConfig, param_shapes

MEASURE = """
import json, sys
from rnntui import memory
from rnntui.model import default_parts
from rnntui.train import TrainConfig, Trainer

hidden, batch, seq, steps = (int(a) for a in sys.argv[1:5])
cell = sys.argv[7]
# load (or compile) the kernels of this very cell first: a compile's transient is not the run's memory
warm = Trainer.start(sys.argv[5], TrainConfig(hidden=8, batch=2, seq=4, cell=cell), sys.argv[6])
warm.train_step()
warm.evaluate()
del warm
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the high-water mark: compiling the kernels' transient does not count
before = memory._proc_fields("/proc/self/status")["VmRSS"]
cfg = TrainConfig(hidden=hidden, batch=batch, seq=seq, val_frac=0.5, cell=cell)
trainer = Trainer.start(sys.argv[5], cfg, sys.argv[6])
for _ in range(steps):
    trainer.train_step()
    trainer.evaluate()  # the second set of workspaces
peak = memory._proc_fields("/proc/self/status")["VmHWM"] - before
need = memory.training_need(trainer.model.cfg, batch=batch, seq=seq, parts=default_parts(), optimizer="adam")
print(json.dumps({"peak": peak, "estimate": need.total, "ratio": need.total / peak}))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "hidden,batch,seq,steps,cell",
    [(2000, 4, 8, 0, "rnn"), (1500, 4, 8, 0, "lstm"), (1024, 64, 128, 2, "rnn"), (256, 64, 128, 2, "gru")],
    ids=["initialisation-rnn", "initialisation-lstm", "workspaces-rnn", "workspaces-gru"],
)
def test_the_training_estimate_is_close_to_the_measured_peak(tmp_path, hidden, batch, seq, steps, cell):
    """Peak resident memory of a real run (a subprocess: its own high-water mark, reset once the
    kernels are loaded) against the estimate: within -15% .. +40% (the estimate counts address
    space, a little above what is touched, and the evaluation's workspaces at the training chunk's
    full size, an upper bound: its last chunk is shorter)."""
    corpus = tmp_path / "c.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log.\n" * 2000)
    args = [str(hidden), str(batch), str(seq), str(steps), str(corpus), str(tmp_path / "run"), cell]
    proc = subprocess.run([sys.executable, "-c", MEASURE, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert 0.85 <= got["estimate"] / got["peak"] <= 1.4, got


def test_param_count_is_exact_for_any_depth_without_listing_layers():
    for layers in (1, 2, 3, 9):
        cfg = ModelConfig(vocab_size=50, embed=7, hidden=11, layers=layers)
        assert memory.param_count(cfg) == sum(a * (b if b else 1) for a, b in _pairs(param_shapes(cfg)))
    huge = ModelConfig(vocab_size=50, embed=7, hidden=10**6, layers=10**12)  # counted at once
    assert memory.param_count(huge) > 10**24


def _pairs(shapes):
    return [(s[0], s[1] if len(s) > 1 else 0) for s in shapes.values()]


def test_available_memory_honours_an_address_space_limit():
    """Under ``ulimit -v`` the figure is what the limit leaves this process, not the machine's."""
    code = "from rnntui import memory; print(memory.available_bytes())"
    limit = 6 << 30

    def small():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=small, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert 0 < int(proc.stdout) < limit


def test_require_refuses_with_the_figures_in_one_line(monkeypatch):
    monkeypatch.setattr(memory, "available_bytes", lambda: 3 * 10**9)
    need = memory.Need({"weights and gradients": 4 * 10**9, "adam state": 2 * 10**9, "tiny": 10})
    with pytest.raises(memory.MemoryLimitError) as err:
        memory.require(need, "training this", "lower --hidden")
    assert str(err.value) == (
        "training this needs about 6.0 GB of memory (weights and gradients 4.0 GB, adam state 2.0 GB) "
        "but 3.0 GB is available; lower --hidden"
    )
    memory.require(memory.Need({"small": 10**9}), "this", "no advice needed")  # fits: no error


# -- bounded JSON -----------------------------------------------------------------------------------


def _nested(rng: random.Random, depth: int):
    if depth == 0:
        return rng.choice(['a"[{\\', "]}", 1.5, None, "\\\\", '"'])
    inner = _nested(rng, depth - 1)
    return rng.choice([[inner], {'k[\\"': inner}, [1, inner, "]"]])


def test_json_depth_matches_the_real_nesting_with_tricky_strings():
    rng = random.Random(0)
    for _ in range(300):
        depth = rng.randrange(0, 12)
        text = json.dumps(_nested(rng, depth)).encode()
        assert safeio.json_depth(text) == depth, text


@pytest.mark.parametrize(
    "text,depth",
    [
        (rb'["\\", [[1]]]', 3),  # an even run of backslashes: the quote after it ends the string
        (rb'["\\\"", [[1]]]', 3),  # an odd run (an escaped backslash, then an escaped quote)
        (rb'["a\\b\\", [[1]], "\\\\"]', 3),  # two separate runs, each even
        (b'"\\', 0),  # ends in a backslash: not valid JSON, but counted without an IndexError
        (b"", 0),
    ],
)
def test_json_depth_after_runs_of_backslashes(text, depth):
    assert safeio.json_depth(text) == depth


def test_parse_json_refuses_depth_without_recursing():
    for n in (65, 300_000, 5_000_000):
        with pytest.raises(ValueError, match="nested more than 64 levels deep"):
            safeio.parse_json(b"[" * n + b"]" * n)
    assert safeio.parse_json(b"[" * 64 + b"]" * 64) is not None
    with pytest.raises(ValueError) as err:
        safeio.parse_json(b'"\xff"')
    assert str(err.value) == "not UTF-8"
    with pytest.raises(ValueError) as err:
        safeio.parse_json(b"[[[]]]", max_depth=2)
    assert str(err.value) == "nested more than 2 levels deep"
    with pytest.raises(ValueError):  # a bad text is a ValueError like any other, whatever it ends in
        safeio.parse_json(b'"\\')


# -- regular files only ----------------------------------------------------------------------------------


def test_open_regular_names_what_a_path_is(tmp_path):
    fifo = tmp_path / "p"
    os.mkfifo(fifo)  # opened non-blocking: returns at once though nobody writes
    link = tmp_path / "z"
    link.symlink_to("/dev/zero")
    for path, kind in ((fifo, "a named pipe"), (link, "a character device"), (tmp_path, "a directory")):
        with pytest.raises(safeio.NotRegularFileError, match=f"is {kind}; rnntui reads only regular files"):
            safeio.open_regular(path)
    good = tmp_path / "ok.txt"
    good.write_bytes(b"x" * 10)
    with safeio.open_regular(good) as f:
        assert f.read() == b"x" * 10
    assert safeio.read_bounded(good, 10) == b"x" * 10
    with pytest.raises(ValueError, match="larger than the 9 bytes allowed here"):
        safeio.read_bounded(good, 9)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_workspace_bytes_is_what_the_model_allocates(cell):
    """Every buffer of a real workspace, counted, equals the estimate for that cell exactly."""
    import numpy as np

    from rnntui.model import RNN

    cfg = ModelConfig(vocab_size=80, embed=16, hidden=32, layers=2, cell=cell)
    model = RNN(cfg)
    model.parts = 2
    held = 0
    for ws in model._workspaces(8, 5):
        for value in vars(ws).values():
            for part in value if isinstance(value, list) else [value]:
                if part is None:  # dropout's masked copies: made on first use (training_need counts them)
                    continue
                arrays = [part] if isinstance(part, np.ndarray) else list(vars(part).values())
                held += sum(a.nbytes for a in arrays if isinstance(a, np.ndarray))
    assert held == memory.workspace_bytes(cfg, 8, 5)


@pytest.mark.parametrize(
    "n,shown",
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (1500, "1.5 kB"), (999_999, "1000.0 kB"),
     (1e6, "1.0 MB"), (312e6, "312.0 MB"), (1e9, "1.0 GB"), (2.8e9, "2.8 GB"), (1e12, "1.0 TB")],
)  # fmt: skip
def test_human_sizes_switch_unit_exactly_at_each_power_of_1000(n, shown):
    assert memory.human(n) == shown


def test_a_need_describes_its_four_largest_parts_of_at_least_a_mebibyte():
    mib = 1 << 20
    need = memory.Need({"tiny": mib - 1, "edge": mib, "a": 5 * mib, "b": 4 * mib, "c": 3 * mib, "d": 2 * mib})
    assert need.describe() == "a 5.2 MB, b 4.2 MB, c 3.1 MB, d 2.1 MB"
    assert memory.Need({"tiny": mib - 1, "edge": mib, "x": 2 * mib}).describe() == "x 2.1 MB, edge 1.0 MB"
    assert need.total == 16 * mib - 1


def test_training_need_is_the_sum_of_its_parts_as_the_refusal_names_them():
    """A hand computation of each part for a small model (V 50, E 8, H 32, 2 layers; B 4, T 16): the
    parts are what a refusal lists, so their names and sizes are what a user reads."""
    cfg = ModelConfig(vocab_size=50, embed=8, hidden=32, layers=2)
    P, F = memory.param_count(cfg), 4
    work = memory.workspace_bytes(cfg, 16, 4)
    need = memory.training_need(cfg, batch=4, seq=16, parts=2, optimizer="adam", dropout=True)
    assert need.parts == {
        "weights and gradients": F * 2 * P + F * (P + 32 * 50),  # + a second thread's gradient, Why^T
        "adam state": F * P * 2,
        "workspaces (2 threads)": 2 * work,
        "carried memory": F * 3 * 2 * 4 * 32,
        "dropout masks": 2 * F * 16 * 4 * (8 + 2 * 32),
    }
    one = memory.training_need(cfg, batch=4, seq=16, parts=1, optimizer="sgd")
    assert one.parts == {"weights and gradients": F * 2 * P + F * 32 * 50, "sgd state": 0,
                         "workspaces (1 thread)": 2 * work, "carried memory": F * 3 * 2 * 4 * 32}  # fmt: skip
    adagrad = memory.training_need(cfg, batch=1, seq=16, parts=2, optimizer="adagrad")
    assert adagrad.parts["adagrad state"] == F * P
    assert (
        "workspaces (1 thread)" in memory.training_need(cfg, batch=1, seq=256, parts=2, optimizer="sgd").parts
    )
    # one stream of 16 steps with no optimiser state: initialising the weights is the peak
    start = memory.training_need(cfg, batch=1, seq=16, parts=2, optimizer="sgd")
    assert start.parts == {
        "weights and gradients": F * 2 * P,
        "initialising them (float64)": memory.init_bytes(cfg),
    }
