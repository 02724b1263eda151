"""The ``rnntui`` command line: train, sample, eval.

Heavy imports (NumPy, Numba, the model) happen inside each command, so ``rnntui --help`` starts
in a blink. Every expected failure becomes one ``Error: ...`` line and a non-zero exit.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import click

from rnntui.cli_inspect import inspect_group, text_bar  # click only at import time: --help stays fast
from rnntui.cli_interop import export_command, import_command

DEFAULT_STEPS = 5000
EVAL_SEQ = 256  # eval: predictions per chunk of the one sequence it reads
PRIME_LIMIT = 1 << 20  # sample --prime-file: at most 1 MiB (the prime is fed a token at a time)


def _fail(err: BaseException) -> click.ClickException:
    """One line for a person: OS errors as 'path: reason', others as their first line."""
    if isinstance(err, MemoryError):  # the estimates (rnntui.memory) said it fits, yet it did not
        return click.ClickException("ran out of memory; lower --hidden, --layers, --batch or --seq")
    if isinstance(err, OSError) and err.strerror:
        where = err.filename if err.filename is not None else "error"
        return click.ClickException(f"{where}: {err.strerror}")
    text = str(err).strip()
    return click.ClickException(text.splitlines()[0] if text else repr(err))


def _expected_errors():
    """The exception types that mean bad input or environment, not a bug in rnntui."""
    from rnntui.checkpoint import CheckpointError
    from rnntui.corpus import CorpusError
    from rnntui.train import RunLockedError

    return (
        CorpusError,
        CheckpointError,
        RunLockedError,
        ValueError,
        OSError,
        FloatingPointError,
        MemoryError,
    )


class _Positive(click.ParamType):
    """A number that must be > 0 (or >= 0 with ``zero_ok``), worded for a person when it is not."""

    def __init__(self, kind: type = int, zero_ok: bool = False) -> None:
        self.kind, self.zero_ok = kind, zero_ok
        self.name = ("non-negative " if zero_ok else "positive ") + ("integer" if kind is int else "number")

    def convert(self, value, param, ctx):
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a {self.name}", param, ctx)
        if number < 0 or (number == 0 and not self.zero_ok) or number != number:
            self.fail(f"{value!r} is not a {self.name}", param, ctx)
        return number


POS_INT, POS_FLOAT = _Positive(int), _Positive(float)
NONNEG_INT, NONNEG_FLOAT = _Positive(int, zero_ok=True), _Positive(float, zero_ok=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
             invoke_without_command=True)  # fmt: skip
@click.version_option(package_name="rnntui")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Watch a recurrent neural network learn language, and look inside it.

    With no command, opens the playground on the small model that ships with rnntui.

    \b
    Quick start:
      rnntui                       (the playground on the shipped model)
      rnntui train corpora/republic.txt --no-tui
      rnntui sample runs/republic/latest.npz --prime "Socrates" --temperature 0.7
      rnntui eval runs/republic/latest.npz some_text.txt
      rnntui play runs/republic/latest.npz
      rnntui export runs/republic/latest.npz republic.safetensors   (to PyTorch; rnntui import: back)
    """
    if ctx.invoked_subcommand is None:
        ctx.invoke(play)


# -- train ----------------------------------------------------------------------------------------


main.add_command(inspect_group, name="inspect")
main.add_command(export_command)  # to PyTorch, as safetensors (rnntui.interop)
main.add_command(import_command)  # and back


@main.command(
    epilog="""\b
Examples:
  rnntui train corpora/republic.txt --no-tui --steps 3000
  rnntui train corpora/republic.txt --level word --lowercase --min-count 3 --minutes 10
  rnntui train --resume runs/republic/latest.npz --steps 6000
  rnntui train corpora/shakespeare.txt --init-from republic --steps 1000   (fine-tune the shipped model)
  rnntui train act1.txt act2.txt act3.txt     (several files: one corpus)
  rnntui train texts/                         (every *.txt below texts/)"""
)
@click.argument("corpus", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--resume", "resume", type=click.Path(path_type=Path), help="Continue the run saved in this checkpoint."
)
@click.option(
    "--init-from",
    metavar="CKPT",
    help="Fine-tune: a new run starting from this checkpoint's weights (or a shipped model's, by name: "
    "republic), with a fresh optimiser state. Options not given are the checkpoint's (its shape, which "
    "cannot change, vocabulary and training options), except --steps/--minutes; the vocabulary grows "
    "for tokens the text has and it lacks.",
)
@click.option(
    "--level", type=click.Choice(["char", "word"]), default="char", help="Tokens: characters or words."
)
@click.option("--lowercase", is_flag=True, help="Word level: fold case.")
@click.option("--min-count", type=POS_INT, default=1, help="Word level: rarer words become <unk>.")
@click.option("--max-vocab", type=POS_INT, help="Word level: keep at most this many tokens.")
@click.option(
    "--val-frac", type=float, default=0.05, help="Share of the text (from the end) held out for validation."
)
@click.option("--embed", type=POS_INT, help="Embedding size E  [default: 64 char, 128 word]")
@click.option("--hidden", type=POS_INT, default=256, help="Hidden units H per layer.")
@click.option("--layers", type=POS_INT, default=1, help="Stacked recurrent layers L.")
@click.option(
    "--cell",
    type=click.Choice(["rnn", "gru", "lstm"]),
    default="rnn",
    show_default=True,
    help="Recurrent cell: vanilla tanh RNN, or the gated GRU / LSTM.",
)
@click.option("--seq", type=POS_INT, default=64, help="Time steps T of backpropagation per chunk.")
@click.option("--batch", type=POS_INT, default=32, help="Parallel streams B through the text.")
@click.option("--optimizer", type=click.Choice(["adam", "adagrad", "sgd"]), default="adam")
@click.option("--lr", type=POS_FLOAT, help="Learning rate  [default: adam 2e-3, adagrad 0.1, sgd 1.0]")
@click.option(
    "--schedule", type=click.Choice(["constant", "step", "cosine"]), default="cosine",
    help="Learning rate over the run: cosine (down to a tenth of --lr at the end of the budget, --steps "
    "or --minutes; a resume carries on); constant; step (times --lr-decay every --decay-every steps; "
    "giving --lr-decay alone implies it).",
)  # fmt: skip
@click.option(
    "--lr-decay",
    type=POS_FLOAT,
    default=1.0,
    help="--schedule step: multiply the learning rate by this every --decay-every steps.",
)
@click.option("--decay-every", type=POS_INT, default=1000)
@click.option("--warmup", type=NONNEG_INT, default=0, help="Ramp the learning rate up over the first N steps")
@click.option("--clip", type=NONNEG_FLOAT, default=5.0, help="Clip gradients to this global norm (0: off).")
@click.option(
    "--dropout", type=float, default=0.0, metavar="P",
    help="Drop this share of the non-recurrent connections while training (each layer's input, the top "
    "layer's output); off when evaluating, sampling and playing.",
)  # fmt: skip
@click.option(
    "--weight-decay", type=NONNEG_FLOAT, default=0.0, metavar="W",
    help="Decoupled (AdamW-style) weight decay on the weight matrices, not biases or the embedding.",
)  # fmt: skip
@click.option("--steps", type=POS_INT, help=f"Stop at this step  [default: {DEFAULT_STEPS} unless --minutes]")
@click.option("--minutes", type=POS_FLOAT, help="Stop after this much wall time.")
@click.option(
    "--eval-every", type=POS_INT, default=200, help="Evaluate on the validation split every N steps."
)
@click.option("--save-every", type=POS_INT, default=500, help="Write latest.npz every N steps.")
@click.option("--seed", type=NONNEG_INT, default=0, help="Same seed and config give bit-identical weights.")
@click.option("--name", help="Run name: checkpoints go to OUT/NAME/  [default: the first CORPUS's stem]")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), help="Folder of runs.")
@click.option("--force", is_flag=True, help="Start afresh even if OUT/NAME already holds a run.")
@click.option("--encoding", default="utf-8", help="Text encoding of CORPUS.")
@click.option(
    "--tui/--no-tui",
    default=None,
    help="Dashboard or plain progress bar  [default: dashboard when stdout is a terminal]",
)
@click.pass_context
def train(ctx: click.Context, corpus: tuple[Path, ...], resume: Path | None, init_from: str | None,
          name: str | None, out: Path, force: bool, encoding: str, tui: bool | None,
          **options) -> None:  # fmt: skip
    """Train a model on CORPUS: one or more text files, or folders (every *.txt below them, sorted),
    read as one text with a blank line between files.

    Checkpoints go to OUT/NAME/latest.npz (every --save-every steps, at the end, and on Ctrl-C or
    SIGTERM) and OUT/NAME/best.npz (lowest validation loss). --resume continues a run exactly;
    --init-from starts a new run from a trained model's weights (fine-tuning).
    """
    import os

    from click.core import ParameterSource

    DEFAULT = ParameterSource.DEFAULT
    from rnntui.train import Trainer, config_from_options

    if resume is None and not corpus:
        raise click.UsageError("give a CORPUS (text files or folders) to train on, or --resume CKPT")
    if resume is not None and init_from is not None:
        raise click.UsageError("--resume continues a run; --init-from starts a new one: give one of them")
    if options["steps"] is None and options["minutes"] is None and resume is None:
        options["steps"] = DEFAULT_STEPS
    # --lr-decay alone means the step schedule (as before the cosine was the default)
    step_implied = (
        ctx.get_parameter_source("lr_decay") != DEFAULT and ctx.get_parameter_source("schedule") == DEFAULT
    )
    if step_implied:
        options["schedule"] = "step"

    def note(line: str) -> None:  # tokenising a corpus the first time (later runs use the cache)
        click.echo(line, err=True)

    try:
        if resume is not None:
            budget = {k: options[k] for k in ("steps", "minutes", "eval_every", "save_every")}
            trainer = Trainer.resume(resume, corpus or None, encoding, on_note=note, **budget)
        else:
            run_dir = out / (name or Path(os.path.abspath(corpus[0])).stem)
            if (run_dir / "latest.npz").exists() and not force:
                raise click.ClickException(
                    f"{run_dir} already holds a run; continue it with --resume {run_dir / 'latest.npz'}, "
                    "or pass --name NEW or --force"
                )
            if init_from is not None:  # the options given on the command line; the rest are the model's
                given = {k: v for k, v in options.items() if ctx.get_parameter_source(k) != DEFAULT}
                if step_implied:
                    given["schedule"] = "step"
                given["steps"] = options["steps"]
                trainer = Trainer.fine_tune(corpus, init_from, run_dir, encoding, on_note=note, **given)
                for line in fine_tune_summary(trainer):
                    click.echo(line, err=True)
            else:
                cfg = config_from_options(**options)
                trainer = Trainer.start(corpus, cfg, run_dir, encoding, on_note=note)
        trainer.run_dir.mkdir(parents=True, exist_ok=True)  # fail before the banner if OUT is unusable
        if tui is None:
            tui = sys.stdout.isatty()
        stopped = _train_with_dashboard(trainer) if tui else _train_with_progress(trainer)
    except _expected_errors() as err:
        raise _fail(err) from None
    except KeyboardInterrupt:  # a second Ctrl-C: stop at once; checkpoints on disk are always whole
        click.echo("interrupted; the last checkpoint written is intact", err=True)
        sys.exit(130)
    if stopped is not None and stopped.reason == "diverged":
        raise click.ClickException(stopped.message)


def fine_tune_summary(trainer) -> list[str]:
    """What fine-tuning did, for the first lines of output: where the weights came from, what was
    kept and reset, and how the vocabulary grew."""
    from rnntui.inspect import display_token

    init = trainer.init_from
    added = trainer.vocab.tokens[init["base_vocab"] :]
    shown = " ".join(display_token(t) for t in added[:20]) + (" …" if len(added) > 20 else "")
    grown = (
        f"{len(added)} new token(s) added after the model's {init['base_vocab']} (V = {len(trainer.vocab)}): "
        f"{shown}; their rows start as in a fresh model, the old tokens keep their ids and rows"
        if added
        else f"no new tokens: the text uses only the model's {init['base_vocab']}"
    )
    return [
        f"fine-tuning from {init['path']} (its step {init['step']}): all its weights, a fresh "
        f"{trainer.cfg.optimizer} optimiser state, counting steps from 0",
        f"vocabulary: {grown}",
    ]


def _train_with_dashboard(trainer):
    """Run the trainer under the Textual dashboard (quit and Ctrl-C save first)."""
    from rnntui.tui.dashboard import TrainApp  # Textual loads only here

    app = TrainApp(trainer)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: app.stop.set())  # save, then exit
    try:
        app.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.stop.set()  # however the app ended, the trainer stops and saves
        if app.state != "starting":
            app.done.wait()
    if app.error:
        raise click.ClickException(app.error)
    if app.stopped is not None and app.stopped.reason != "diverged":
        click.echo(app.stopped.message)
    return app.stopped


def _train_with_progress(trainer):
    """Run the trainer under a rich progress bar; Ctrl-C / SIGTERM stop it after the current step."""
    import math

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from rnntui.train import Evaluated, nats_to_bits
    from rnntui.train import Progress as StepProgress

    stop = threading.Event()
    console = Console(stderr=True)

    def on_signal(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        console.print(f"[yellow]{signal.Signals(signum).name}: finishing this step and saving…[/]")

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    cfg = trainer.cfg
    total = cfg.steps
    columns = [
        TextColumn("[bold]step {task.fields[step]:>6}"),
        BarColumn(),
        TextColumn("{task.fields[loss]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    v = len(trainer.vocab)
    console.print(
        f"[bold]rnntui[/] {trainer.corpus_label} · {cfg.level} level · V={v} · "
        f"{trainer.model.flat.size:,} parameters · {len(trainer.train_ids):,} train / "
        f"{len(trainer.val_ids):,} val tokens · uniform guess {math.log(v):.2f} nats"
    )
    console.print(f"checkpoints → {trainer.run_dir}/latest.npz, best.npz (* = new best validation loss)")
    console.print("[dim]  step │ nats train/val │ bits        │ perplexity    │ |grad| clip │ tok/s[/]")
    try:
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(
                "train", total=total, completed=trainer.step, step=trainer.step, loss="", rate=""
            )

            def on_event(event) -> None:
                if isinstance(event, StepProgress):
                    fields = {"step": event.step, "loss": f"loss {event.loss:.3f}",
                              "rate": f"{event.tokens_per_s / 1000:.0f}k tok/s"}  # fmt: skip
                    if total is None and event.deadline is not None:  # a --minutes budget: bar of time
                        bar.update(task, total=event.deadline, completed=event.elapsed, **fields)
                    else:
                        bar.update(task, completed=event.step, **fields)
                elif isinstance(event, Evaluated):
                    tr, va = event.train_loss, event.val_loss
                    bits_tr, bits_va, best = nats_to_bits(tr), nats_to_bits(va), " *" if event.best else ""
                    bar.console.print(
                        f"{event.step:>6} │ {tr:6.3f} {va:6.3f} │ {bits_tr:5.3f} {bits_va:5.3f}"
                        f" │ {math.exp(tr):6.2f} {math.exp(min(va, 700)):6.2f} │ {event.grad_norm:6.2f}"
                        f" {event.clip_rate:4.0%} │ {event.tokens_per_s / 1000:4.0f}k{best}"
                    )

            stopped = trainer.run(on_event, stop)
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
    if stopped.reason != "diverged":
        click.echo(str(trainer.last_saved))
    return stopped


# -- sample ---------------------------------------------------------------------------------------


@main.command(
    epilog="""\b
Examples:
  rnntui sample runs/republic/latest.npz --prime "Socrates" --temperature 0.7 --seed 1
  rnntui sample runs/republic/best.npz --length 2000 --top-k 5 > babble.txt
  rnntui sample runs/republic/best.npz --top-p 0.9 --mark-copies"""
)
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--length", type=NONNEG_INT, default=500, help="Tokens to generate.")
@click.option(
    "--temperature",
    "-t",
    type=NONNEG_FLOAT,
    default=0.8,
    help="Softmax temperature; 0 always takes the likeliest token.",
)
@click.option(
    "--top-k", type=NONNEG_INT, default=0, help="Sample only among the k likeliest tokens (0: all)."
)
@click.option(
    "--top-p",
    type=click.FloatRange(0.0, 1.0, min_open=True),
    default=1.0,
    help="Nucleus sampling: only among the likeliest tokens whose mass reaches p (1: all).",
)
@click.option("--prime", default="", help="Text to start from (fed through the model first).")
@click.option(
    "--prime-file", type=click.Path(path_type=Path), help="Read the prime text from a file (up to 1 MiB)."
)
@click.option("--seed", type=NONNEG_INT, help="Make the sample reproducible.")
@click.option("--stop", help="Stop after this string appears in the generated text.")
@click.option("--mark-copies", is_flag=True,
              help="Mark the spans (20+ characters, or 5+ words) copied verbatim from the training text, "
                   "and report them with the novel share by span length on standard error.")  # fmt: skip
def sample(checkpoint: Path, length: int, temperature: float, top_k: int, top_p: float, prime: str,
           prime_file: Path | None, seed: int | None, stop: str | None,
           mark_copies: bool) -> None:  # fmt: skip
    """Generate text from the model in CHECKPOINT to standard output.

    With --mark-copies the copied spans are shown reversed on a terminal, and between ⟦ and ⟧ when
    the output goes elsewhere."""
    from rnntui import memory, shipped
    from rnntui.corpus import read_text
    from rnntui.generate import sample_need, sample_text

    if prime and prime_file:
        raise click.UsageError("give --prime or --prime-file, not both")
    try:
        if prime_file is not None:
            prime = read_text(prime_file, limit=PRIME_LIMIT)  # fed a token at a time: a page, not a book
        ckpt = shipped.load(checkpoint)
        memory.require(sample_need(ckpt.vocab, length), f"--length {length:,}", "lower --length")
        text = sample_text(ckpt.model, ckpt.vocab, length=length, prime=prime, temperature=temperature,
                           top_k=top_k, top_p=top_p, seed=seed, stop=stop)  # fmt: skip
    except _expected_errors() as err:
        raise _fail(err) from None
    if mark_copies:
        _echo_marked(ckpt, text)
    else:
        click.echo(text)


def _echo_marked(ckpt, text: str) -> None:
    """``text`` with its copies from the training text marked; the copy report on standard error."""
    import numpy as np

    from rnntui import copies
    from rnntui.memory import MemoryLimitError
    from rnntui.trainingtext import CorpusMissingError

    try:
        ref = copies.reference_of(ckpt)
    except (CorpusMissingError, MemoryLimitError, OSError) as err:
        click.echo(text)
        raise _fail(CorpusMissingError(f"cannot mark copies: {err}")) from None
    found = copies.check_text(ref, text)
    inside = np.zeros(len(text) + 1, bool)
    for a, b in found.chars:
        inside[a:b] = True
    cuts = np.flatnonzero(np.diff(inside.astype(np.int8), prepend=0)).tolist() + [len(text)]
    tty = sys.stdout.isatty()
    out, at = [], 0
    for cut in cuts:
        piece = text[at:cut]
        if piece and inside[at]:
            piece = click.style(piece, reverse=True) if tty else f"⟦{piece}⟧"
        out.append(piece)
        at = cut
    click.echo("".join(out))
    for line in copies.report_lines(ref, found, text):
        click.echo(line, err=True)


# -- play ---------------------------------------------------------------------------------------


SHIPPED_MODEL = Path(__file__).parent / "data" / "republic.npz"


@main.command(
    epilog="""\b
Examples:
  rnntui play                              (the model shipped with rnntui)
  rnntui play runs/republic/best.npz --text "Socrates"
Train your own with: rnntui train corpora/republic.txt"""
)
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path))
@click.option("--model", "model_name", metavar="NAME",
              help="A shipped model, by name (rnntui models lists them), instead of CHECKPOINT")  # fmt: skip
@click.option("--text", default="", help="Start with this text in the editor.")
@click.option("--seed", type=NONNEG_INT, default=0, help="Seed of the generate key's sampling.")
@click.option(
    "--compare", "compare_path", type=click.Path(path_type=Path),
    help="A second model (same vocabulary) that reads along: the lens shows who is less surprised.",
)  # fmt: skip
def play(
    checkpoint: Path | None, model_name: str | None, text: str, seed: int, compare_path: Path | None
) -> None:
    """Type with the model in CHECKPOINT: its guesses, next-token odds and memory, live.

    Without CHECKPOINT, uses the small model trained on Plato's Republic that ships with rnntui, or
    the shipped model --model NAME; Alt+M (or F12) in the playground picks another shipped model.
    With --compare B, model B reads the same text and the lens colours each token by the difference
    in the two models' surprise.
    """
    from rnntui import checkpoint as ckpt_mod
    from rnntui import shipped

    if checkpoint is not None and model_name is not None:
        raise click.UsageError("give CHECKPOINT or --model, not both")
    try:
        path = shipped.resolve(checkpoint) if checkpoint is not None else SHIPPED_MODEL
        if model_name is not None:
            path = shipped.model_path(model_name)
        ckpt = ckpt_mod.load(path)
        other = None if compare_path is None else shipped.load(compare_path)
    except _expected_errors() as err:
        raise _fail(err) from None
    if other is not None and (
        other.vocab.tokens != ckpt.vocab.tokens or other.vocab.level != ckpt.vocab.level
    ):
        raise click.ClickException(
            f"{path} and {compare_path} have different vocabularies; compare models trained on the same "
            "text and level"
        )
    from rnntui.tui.app import PlaygroundApp  # Textual loads only here: --help stays fast

    # the shipped model this is, named by --model, by CHECKPOINT (resolve found a name) or by nothing
    name = model_name or (
        "republic" if checkpoint is None else None if path == checkpoint else checkpoint.name
    )
    source = str(path) if name is None else f"shipped model: {name}"
    while True:  # the model picker (Alt+M) ends the app with the name of the model to open next
        app = PlaygroundApp(ckpt, source, text=text, seed=seed, compare=other,
                            compare_source=str(compare_path), shipped_name=name)  # fmt: skip
        picked = app.run()
        if not isinstance(picked, tuple):
            break
        name, text = picked
        try:
            ckpt, other = ckpt_mod.load(shipped.model_path(name)), None
        except _expected_errors() as err:
            raise _fail(err) from None
        source = f"shipped model: {name}"
    if checkpoint is None:
        click.echo("Train your own: rnntui train corpora/republic.txt; rnntui play runs/republic/latest.npz")


# -- tour -----------------------------------------------------------------------------------------


@main.command(
    epilog="""\b
Examples:
  rnntui tour                              (the shipped model, on a sentence of its own)
  rnntui tour runs/republic/best.npz --text "Socrates asked"
Keys: Space/→ next screen · ← back · Shift+←/→ time step · F2/F3 temperature · R dice · Esc leave"""
)
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path))
@click.option("--text", default="", show_default=False, help="Text to walk through  [default: a sentence]")
def tour(checkpoint: Path | None, text: str) -> None:
    """A guided tour of one time step of the network, on live numbers from your text.

    Screen by screen: the tokens, the embedding, the memory update, the output and its softmax, feeding
    the choice back, one learning step (on a copy: nothing is saved), fading memory, and a gated cell's
    gates. Without CHECKPOINT, uses the small model that ships with rnntui. F10 in the playground
    opens the same tour.
    """
    from rnntui import shipped

    try:
        ckpt = shipped.load(checkpoint if checkpoint is not None else SHIPPED_MODEL)
        from rnntui import tour as tour_mod

        tour_mod.tokens(ckpt.vocab, text)  # a vocabulary that cannot spell any text fails here, in one line
    except _expected_errors() as err:
        raise _fail(err) from None
    from rnntui.tui.tour.app import TourApp  # Textual loads only here: --help stays fast

    TourApp(ckpt, text).run()


@main.command()
def models() -> None:
    """List the models that ship with rnntui: name, cell, level, size and validation loss.

    Open one with: rnntui play --model NAME (or Alt+M in the playground)."""
    from rnntui import shipped

    try:
        infos = shipped.list_models()
    except _expected_errors() as err:
        raise _fail(err) from None
    click.echo(f"{'name':<16} {'cell':<5} {'level':<5} {'size':<16} {'parameters':>10} {'file':>8}  "
               "val loss   trained on")  # fmt: skip
    for m in infos:
        size = f"H={m.hidden}" + (f"x{m.layers}" if m.layers > 1 else "") + f", V={m.vocab}"
        unit = "char" if m.level == "char" else "word"
        click.echo(f"{m.name:<16} {m.cell:<5} {m.level:<5} {size:<16} {m.params:>10,} "
                   f"{m.file_bytes / 1e6:>6.1f}MB  {m.val_loss:.3f}/{unit}  {m.corpus}")  # fmt: skip


# -- serve ----------------------------------------------------------------------------------------

SERVE_EXTRA_HINT = "rnntui serve needs the serve extra: pip install -e '.[serve]' in rnntui's checkout"
DEFAULT_MAX_SESSIONS = 6  # README "For teachers": a typing tab costs ~0.13 core; 6 keep 2 cores at ~40%


@main.command(
    epilog="""\b
Examples:
  rnntui serve                             (the shipped model, at http://127.0.0.1:8000/)
  rnntui serve runs/republic/best.npz --host 0.0.0.0 --max-sessions 4
Needs the serve extra: pip install -e '.[serve]' in rnntui's checkout"""
)
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path))
@click.option("--model", "model_name", metavar="NAME",
              help="A shipped model, by name, instead of CHECKPOINT  [default: republic]")  # fmt: skip
@click.option("--host", default="127.0.0.1", help="Address to listen on (0.0.0.0: all of this machine's).")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, help="Port to listen on.")
@click.option("--max-sessions", type=POS_INT, default=DEFAULT_MAX_SESSIONS,
              help="Tabs at once; the next visitor gets a 'room is full' page that retries.")  # fmt: skip
def serve(checkpoint: Path | None, model_name: str | None, host: str, port: int, max_sessions: int) -> None:
    """Serve the playground on CHECKPOINT to browser tabs: each tab gets its own copy of the app.

    Without CHECKPOINT (or --model), serves the small model trained on Plato's Republic that ships
    with rnntui. Prints the address to open; Ctrl-C stops the server and every app it started.
    """
    if checkpoint is not None and model_name is not None:
        raise click.UsageError("give CHECKPOINT or --model, not both")
    from rnntui import checkpoint as ckpt_mod
    from rnntui.shipped import SHIPPED, resolve, shipped_models

    # the arguments first, so a wrong one is named whether or not the serve extra is installed
    if model_name is not None and model_name not in shipped_models():
        raise click.UsageError(f"--model {model_name}: the shipped models are {', '.join(shipped_models())}")
    try:
        path = resolve(checkpoint) if checkpoint is not None else SHIPPED / f"{model_name or 'republic'}.npz"
        ckpt_mod.load(path)  # fail here, in one line, rather than in every tab
    except _expected_errors() as err:
        raise _fail(err) from None
    try:
        from rnntui import serve as serve_mod  # aiohttp and textual-serve load only here
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] in ("textual_serve", "aiohttp", "aiohttp_jinja2", "jinja2"):
            raise click.ClickException(SERVE_EXTRA_HINT) from None
        raise
    label = str(path) if checkpoint is not None else f"shipped model: {model_name or 'republic'}"
    try:
        serve_mod.serve(path.resolve(), label, host=host, port=port, max_sessions=max_sessions)
    except OSError as err:  # the port is taken, the address is not this machine's, ...
        reason = os.strerror(err.errno) if err.errno else str(err)
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None


# -- eval -----------------------------------------------------------------------------------------


@main.command(name="eval")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--encoding", default="utf-8", help="Text encoding of FILE.")
@click.option("--ngram", "ngram_order", type=click.IntRange(min=0),
              help="Orders of the n-gram baseline, 1..N (0: none)  [default: 8 char, 4 word]")  # fmt: skip
def eval_(checkpoint: Path, file: Path, encoding: str, ngram_order: int | None) -> None:
    """Score the text in FILE with the model in CHECKPOINT: loss, bits and perplexity, and beside them
    what counting alone gets: an n-gram model (interpolated Witten–Bell) of the checkpoint's training
    split, order by order (when that corpus is on this machine).

    The text is read as one sequence from an empty memory, exactly as the model would see it, a
    block at a time: a FILE of any size is scored in bounded memory.
    """
    import math

    from rnntui import memory, shipped
    from rnntui.corpus import BLOCK_BYTES, iter_text
    from rnntui.train import nats_to_bits, sequence_loss

    chars = 0

    def counted(blocks):
        nonlocal chars
        for block in blocks:
            chars += len(block)
            yield block

    try:
        ckpt = shipped.load(checkpoint)
        cfg = ckpt.model.cfg
        need = {"workspace": memory.workspace_bytes(cfg, EVAL_SEQ, 1), "a block of text": 8 * BLOCK_BYTES}
        memory.require(memory.Need(need), f"scoring with {checkpoint}", "it needs a bigger machine")
        ids = ckpt.vocab.encode_blocks(counted(iter_text(file, encoding)), what=str(file))
        nats, predictions = sequence_loss(ckpt.model, ids, seq=EVAL_SEQ)  # the file, a block at a time
    except _expected_errors() as err:
        raise _fail(err) from None
    if predictions < 1:
        raise click.ClickException(f"{file}: needs at least two tokens to score")
    unit = "char" if ckpt.vocab.level == "char" else "token"
    line = (
        f"{file}: {predictions:,} predictions  loss {nats:.4f} nats/{unit}  "
        f"{nats_to_bits(nats):.4f} bits/{unit}  perplexity {math.exp(nats):.2f}"
    )
    if unit == "token":  # bits per character makes word and char models comparable
        line += f"  {nats_to_bits(nats) * predictions / chars:.4f} bits/char"
    click.echo(line)
    if ngram_order != 0:
        _echo_ngram(ckpt, file, encoding, nats, unit, ngram_order)


def _echo_ngram(ckpt, file: Path, encoding: str, nats: float, unit: str, order: int | None) -> None:
    """The n-gram baseline's loss on FILE, order by order, against the model's ``nats``."""
    from rnntui import ngram
    from rnntui.corpus import iter_text
    from rnntui.memory import MemoryLimitError
    from rnntui.trainingtext import CorpusMissingError

    try:
        model, about = ngram.baseline_of(ckpt, order)
        table, _ = ngram.stream_losses(
            model, ckpt.vocab.encode_blocks(iter_text(file, encoding), what=str(file))
        )
    except (CorpusMissingError, MemoryLimitError) as err:
        click.echo(f"n-gram baseline: none ({err})")
        return
    except _expected_errors() as err:
        raise _fail(err) from None
    click.echo(f"n-gram baseline ({about}), on the same predictions:")
    for line in ngram.describe_losses(nats, table, unit):
        click.echo(line)


@main.command(short_help="The same text through two models: losses, who wins where, memory.")
@click.argument("model_a", metavar="A", type=click.Path(path_type=Path))
@click.argument("model_b", metavar="B", type=click.Path(path_type=Path))
@click.option(
    "--text", "text_file", type=click.Path(path_type=Path),
    help="Compare on this text file  [default: A's validation split]",
)  # fmt: skip
@click.option(
    "--max-tokens", type=click.IntRange(min=2), default=20_000, help="Read at most this many tokens."
)
@click.option("--show", type=click.IntRange(min=0), default=600, help="Tokens of the lens to print.")
@click.option(
    "-k", "max_k", type=click.IntRange(min=1, max=200), default=30, help="Fading memory: tokens back."
)
@click.option(
    "--color/--no-color", default=None, help="Colour the lens  [default: when stdout is a terminal]"
)
def compare(model_a: Path, model_b: Path, text_file: Path | None, max_tokens: int, show: int, max_k: int,
            color: bool | None) -> None:  # fmt: skip
    """Read one text with two models A and B (any cells, the same vocabulary): each one's mean loss,
    a lens colouring every token by the difference in surprise (orange where B is less surprised,
    blue where A is), the places where one wins most clearly, and both fading-memory curves with
    their half-lives.

    \b
    Example:
      rnntui compare runs/rnn/best.npz runs/lstm/best.npz --text corpora/republic.txt
    """
    import math

    import numpy as np

    from rnntui.cli_inspect import _load, _text_ids
    from rnntui.corpus import join_words
    from rnntui.inspect import compare_models

    a, b = _load(model_a), _load(model_b)
    if a.vocab.tokens != b.vocab.tokens or a.vocab.level != b.vocab.level:
        raise click.ClickException(
            f"{model_a} and {model_b} have different vocabularies ({a.vocab.level}, V={len(a.vocab)} vs "
            f"{b.vocab.level}, V={len(b.vocab)}); compare models trained on the same text and level"
        )
    ids, source = _text_ids(a, text_file, max_tokens, "compare")
    cmp = compare_models(a.model.params, b.model.params, ids, K=max_k)
    unit = "char" if a.vocab.level == "char" else "token"
    click.echo(f"on {source}:")
    for name, path, ckpt, bits in (("A", model_a, a, cmp.bits_a), ("B", model_b, b, cmp.bits_b)):
        cfg = ckpt.model.cfg
        layers = f"x{cfg.layers}" if cfg.layers > 1 else ""
        about = f"{cfg.cell}, H={cfg.hidden}{layers}, {ckpt.model.flat.size:,} params"
        click.echo(f"  {name}: {path} ({about}): {bits.mean() * math.log(2):.4f} nats/{unit} "
                   f"= {bits.mean():.4f} bits/{unit}")  # fmt: skip
    d = cmp.diff
    click.echo(f"  B is less surprised on {(d > 0).mean():.0%} of tokens; on average by {d.mean():+.4f} "
               f"bits/{unit}")  # fmt: skip
    tokens = [a.vocab.tokens[int(i)] for i in ids]
    glue = "".join if a.vocab.level == "char" else join_words
    # the places where one model wins clearly: the best 12-token windows each way
    width = 12 if unit == "char" else 5
    if len(d) > width:
        window = np.convolve(d, np.ones(width), "valid")
        for who, pick in (("B", int(np.argmax(window))), ("A", int(np.argmin(window)))):
            gain = abs(window[pick])
            if (window[pick] > 0) != (who == "B"):
                continue
            before = glue(tokens[max(0, pick - 3 * width) : pick + 1]).replace("\n", "⏎")
            inside = glue(tokens[pick + 1 : pick + 1 + width]).replace("\n", "⏎")
            click.echo(f"  {who} wins most clearly, by {gain:.1f} bits over {width} tokens: "
                       f"…{before}[{inside}]")  # fmt: skip
    click.echo(
        f"\nfading memory (||d h_last / d x_(last-k)||, relative to its peak, mean of {cmp.windows} windows):"
    )
    for name, curve, hl, fit in (("A", cmp.memory_a, cmp.half_life_a, cmp.fitted_a),
                                 ("B", cmp.memory_b, cmp.half_life_b, cmp.fitted_b)):  # fmt: skip
        half = f"{hl:.1f} tokens" if hl is not None else f"more than {len(curve) - 1} tokens"
        fitted = f"{fit:.1f} tokens" if fit is not None else "no decay"
        click.echo(f"  {name}: half-life {half}; exponential fit over all k: {fitted}; "
                   f"left at k = {len(curve) - 1}: {curve[-1]:.3f}")  # fmt: skip
    click.echo("    k  A                      B")
    for k in range(len(cmp.memory_a)):
        if k > 10 and k % 5:
            continue
        ca, cb = cmp.memory_a[k], cmp.memory_b[k]
        click.echo(f"  {k:3d}  {text_bar(ca, 16)} {ca:5.3f}  {text_bar(cb, 16)} {cb:5.3f}")
    if show:
        if color is None:
            color = sys.stdout.isatty()
        key = "orange: B less surprised, blue: A" if color else "[+n]: B less surprised by n bits, [-n]: A"
        click.echo(f"\nlens (first {min(show, len(d))} tokens): bits(A) - bits(B) per token; {key}")
        click.echo(_compare_lens(tokens[1 : show + 1], d[:show], color, a.vocab.level))


def _compare_lens(tokens: list[str], diff, color: bool, level: str) -> str:
    """Tokens with their surprise difference: a background colour each (colour), or the tokens where
    the models differ by a bit or more marked [±n] (plain)."""
    out = []
    for tok, v in zip(tokens, diff, strict=True):
        text = tok if level == "char" else f"{tok} "
        if color:
            strength = min(1.0, abs(float(v)) / 4.0)  # 4 bits: full colour
            base = (249, 115, 22) if v > 0 else (59, 130, 246)
            rgb = tuple(int(28 + (c - 28) * strength) for c in base)
            out.append(click.style(text, bg=rgb, fg="white"))
        elif abs(v) >= 1.0:
            out.append(f"{tok}[{v:+.0f}]" + (" " if level != "char" else ""))
        else:
            out.append(text)
    return "".join(out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
