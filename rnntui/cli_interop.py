"""``rnntui export`` and ``rnntui import``: a model to and from PyTorch, as a ``.safetensors`` file.

The layout (names, shapes, the bias equivalence, the metadata) is in ``rnntui.interop``; this file
parses the arguments, refuses to overwrite a file unless told to, and reports in one line. Only
click is imported at module level, so registering these keeps ``rnntui --help`` fast.
"""

from __future__ import annotations

from pathlib import Path

import click


def _not_over(out: Path, force: bool) -> None:
    """Refuse to replace an existing ``out`` without --force (it may be a training run's checkpoint)."""
    if out.is_dir():
        raise click.ClickException(f"{out}: is a directory; give the file to write")
    if (out.exists() or out.is_symlink()) and not force:
        raise click.ClickException(f"{out} already exists; pass --force to replace it")


def _is_zip(path: Path) -> bool:
    """Whether ``path`` starts as a zip (an .npz) does; False when it cannot be read at all (then
    ``checkpoint.load`` says why, in its own words)."""
    from rnntui.safeio import open_regular

    try:
        with open_regular(path) as f:
            return f.read(4) == b"PK\x03\x04"
    except (OSError, ValueError):
        return False


def _describe(ckpt) -> str:
    cfg = ckpt.model.cfg
    layers = f", {cfg.layers} layers" if cfg.layers > 1 else ""
    return (f"{cfg.cell} (E={cfg.embed}, H={cfg.hidden}{layers}), {ckpt.vocab.level} level, "
            f"V={len(ckpt.vocab)}, {ckpt.model.flat.size:,} parameters")  # fmt: skip


@click.command(
    name="export",
    epilog="""\b
Examples:
  rnntui export runs/republic/best.npz republic.safetensors
  rnntui export republic republic.safetensors      (the shipped model, by name)
  rnntui export runs/republic/best.npz republic.npz    (weights only, for shipping)
Load it in PyTorch: examples/pytorch_bridge.py, and the README's 'PyTorch' section.""",
)
@click.argument("checkpoint", metavar="CKPT")
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def export_command(checkpoint: str, out: Path, force: bool) -> None:
    """Write the model in CKPT (a checkpoint, or a shipped model's name) to OUT as safetensors, under
    PyTorch's names and layouts: nn.Embedding -> nn.RNN/GRU/LSTM -> nn.Linear, float32, with the
    cell, sizes and vocabulary in its metadata.

    An OUT ending in .npz is a weights-only rnntui checkpoint instead: CKPT without its optimiser
    state, carried memory and data position (a third of the size with Adam), keeping its training
    options and loss histories. It plays, samples, evaluates, inspects and fine-tunes (--init-from)
    like CKPT; --resume refuses it. The shipped models are such files."""
    from rnntui import checkpoint as ckpt_mod
    from rnntui import interop, shipped
    from rnntui.cli import _expected_errors, _fail

    _not_over(out, force)
    try:
        ckpt = shipped.load(checkpoint)
        if out.suffix == ".npz":
            from rnntui.shipped import weights_only

            ckpt_mod.save(weights_only(ckpt), out)
        else:
            interop.export(ckpt, out)
    except _expected_errors() as err:
        raise _fail(err) from None
    if out.suffix == ".npz":
        click.echo(f"wrote {out}: {_describe(ckpt)}, weights only ({out.stat().st_size / 1e6:.1f} MB)")
        return
    rnn = f"{interop.TORCH[ckpt.model.cfg.cell]}({ckpt.model.cfg.embed}, {ckpt.model.cfg.hidden}, "
    click.echo(f"wrote {out}: {_describe(ckpt)}; embedding (nn.Embedding), rnn "
               f"({rnn}num_layers={ckpt.model.cfg.layers})), decoder (nn.Linear)")  # fmt: skip


@click.command(
    name="import",
    epilog="""\b
Examples:
  rnntui import model.safetensors runs/imported.npz
  rnntui play runs/imported.npz       (or read the .safetensors directly: rnntui play model.safetensors)
The file's layout and metadata: the README's 'PyTorch' section.""",
)
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def import_command(source: Path, out: Path, force: bool) -> None:
    """Make a weights-only rnntui checkpoint OUT from IN, a safetensors file of PyTorch names and
    layouts (what rnntui export writes, or a PyTorch model saved as the README shows). OUT opens in
    play, sample, eval, compare and inspect, and starts a new run with train --init-from."""
    from rnntui import checkpoint as ckpt_mod
    from rnntui.cli import _expected_errors, _fail

    _not_over(out, force)
    if _is_zip(source):
        raise click.ClickException(
            f"{source}: is an rnntui checkpoint (.npz) already, not a safetensors file"
        )
    try:
        ckpt = ckpt_mod.load(source)  # a safetensors file, by its name or its first bytes
        ckpt_mod.save(ckpt, out)
    except _expected_errors() as err:
        raise _fail(err) from None
    click.echo(f"wrote {out}: {_describe(ckpt)}, weights only; open it with: rnntui play {out}")
