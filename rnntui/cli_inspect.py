"""``rnntui inspect``: look inside a trained model from the command line (plain text output).

The math is in ``rnntui.inspect``; this file loads a checkpoint, finds the text to run on and prints.
Only click is imported at module level (NumPy, Numba and the model load inside each command), so
registering this group keeps ``rnntui --help`` fast.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

MAX_TOKENS = 60_000  # default cap on the text run through the model: a char-level validation split
SHADES = " ░▒▓█"
SENTENCES_LIMIT = 1 << 20  # sentences FILE: at most 1 MiB ...
COPIES_LIMIT = 1 << 20  # copies FILE: at most 1 MiB
MAX_SENTENCES = 500  # ... and 500 lines (their cosine matrix is printed, one column each)


@click.group(
    name="inspect",
    context_settings={"help_option_names": ["-h", "--help"], "show_default": True},
    epilog="""\b
Examples:
  rnntui inspect neighbours runs/republic/latest.npz e
  rnntui inspect analogy runs/words/latest.npz king man woman
  rnntui inspect unit runs/republic/latest.npz 17
  rnntui inspect memory runs/republic/latest.npz "The soul of the just man"
  rnntui inspect pca runs/republic/latest.npz -n 60
  rnntui inspect health runs/republic/latest.npz
  rnntui inspect gates runs/lstm/latest.npz
  rnntui inspect copies runs/republic/latest.npz sample.txt
  rnntui inspect autocomplete runs/republic/latest.npz --compare runs/lstm/latest.npz
  rnntui inspect match runs/republic/latest.npz "He said [(and I agree)] that" """,
)
def inspect_group() -> None:
    """Look inside a trained model: embeddings, memory, units, health."""


# -- shared helpers ---------------------------------------------------------------------------------


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message.strip().splitlines()[0] if message.strip() else "failed")


def _load(path: Path):
    """The checkpoint at ``path`` (or the shipped model of that name), or one clear error line."""
    from rnntui.checkpoint import CheckpointError
    from rnntui.shipped import load

    try:
        return load(path)
    except (CheckpointError, OSError, ValueError) as err:
        raise _fail(str(err)) from None


def _corpus_ids(ckpt):
    """(all ids, validation ids) of the checkpoint's training corpus, or None (see inspect)."""
    from rnntui.inspect import training_corpus_ids

    return training_corpus_ids(ckpt)


def _text_ids(ckpt, text_file: Path | None, max_tokens: int, command: str):
    """Token ids to run the model over: the first ``max_tokens`` of --text FILE (read no further),
    else of the checkpoint's validation split; refused if their traces would not fit in memory."""
    import numpy as np

    from rnntui.corpus import CorpusError, iter_text

    if text_file is not None:
        try:
            size = text_file.stat().st_size if text_file.is_file() else 0  # iter_text says what is wrong
            _fits(ckpt, min(max_tokens, size))  # a token takes at least a byte
            pieces, count = [], 0
            for block in ckpt.vocab.encode_blocks(iter_text(text_file), what=str(text_file)):
                pieces.append(block[: max_tokens - count])
                count += len(pieces[-1])
                if count >= max_tokens:
                    break
            ids = np.concatenate(pieces) if pieces else np.zeros(0, ckpt.vocab.dtype)
        except (CorpusError, OSError) as err:
            raise _fail(
                str(err) if not isinstance(err, FileNotFoundError) else f"{text_file}: no such file"
            ) from None
        source = str(text_file)
    else:
        corpus = _corpus_ids(ckpt)
        if corpus is None:
            from rnntui.checkpoint import corpus_files

            files = corpus_files(ckpt.meta)
            path = files[0][0] if len(files) == 1 else f"{len(files)} files" if files else "?"
            raise _fail(
                f"the training corpus ({path}) is not available; pass --text FILE to run `{command}` on"
            )
        ids, source = corpus[1][:max_tokens], "the validation split"
        _fits(ckpt, len(ids))
    if len(ids) < 2:
        raise _fail(f"{source}: needs at least two tokens")
    return ids, f"{source} ({len(ids):,} tokens)"


def _fits(ckpt, tokens: int) -> None:
    """Refuse running the model over ``tokens`` tokens when their traces would not fit in memory:
    every layer's memory (T, L, H), its pre-activations and the float64 copy correlations centre."""
    from rnntui.memory import FLOAT, MemoryLimitError, Need, require

    cfg = ckpt.model.cfg
    need = Need({"traces": tokens * (4 * FLOAT * cfg.layers * cfg.hidden + 64)})
    try:
        require(need, f"running the model over {tokens:,} tokens", "lower --max-tokens")
    except MemoryLimitError as err:
        raise _fail(str(err)) from None


def _token_id(vocab, word: str, what: str = "token") -> int:
    """The id of ``word`` in the vocabulary (char level also takes 'space', 'newline', '\\n', '\\t')."""
    from rnntui.inspect import token_id

    tid = token_id(vocab, word)
    if tid is not None:
        return tid
    hint = " (char level: give one character, or space/newline)" if vocab.level == "char" else ""
    raise _fail(
        f"unknown {what} {word!r}: not in the model's {len(vocab):,}-token {vocab.level} vocabulary{hint}"
    )


def _label(vocab, tid: int) -> str:
    from rnntui.inspect import display_token

    return display_token(vocab.tokens[int(tid)])


def _encode(ckpt, text: str):
    from rnntui.corpus import CorpusError

    try:
        ids = ckpt.vocab.encode(text, what="the text")
    except CorpusError as err:
        raise _fail(str(err)) from None
    if len(ids) == 0:
        raise _fail("the text has no tokens")
    return ids


def text_bar(fraction: float, width: int) -> str:
    """A horizontal bar of eighth-blocks, fraction in [0, 1] of ``width`` cells, padded to exactly
    ``width`` so the columns after it line up."""
    eighths = int(round(max(0.0, min(1.0, fraction)) * width * 8))
    return ("█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]).ljust(width)


_WHICH = click.option(
    "--vectors",
    "which",
    type=click.Choice(["input", "projected", "output"]),
    default="input",
    help="input: the embeddings; projected: embed·Wxh0, what a token adds to the first layer; "
    "output: the columns of Why the memory is dotted with.",
)
_CKPT = click.argument("checkpoint", type=click.Path(path_type=Path))


# -- neighbours, analogy ----------------------------------------------------------------------------


@inspect_group.command(short_help="Nearest tokens to WORD by cosine similarity.")
@_CKPT
@click.argument("word")
@click.option("-n", "count", type=click.IntRange(min=1), default=10, help="How many neighbours.")
@_WHICH
def neighbours(checkpoint: Path, word: str, count: int, which) -> None:
    """The tokens whose vectors are nearest to WORD's (cosine similarity) in CHECKPOINT.

    At char level WORD is one character (or space, newline).
    """
    from rnntui.inspect import neighbours as nearest_tokens
    from rnntui.inspect import token_vectors

    ckpt = _load(checkpoint)
    tid = _token_id(ckpt.vocab, word)
    vectors = token_vectors(ckpt.model.params, which)
    ids, cos = nearest_tokens(vectors, tid, count)
    kind = f"{which} vectors, {vectors.shape[1]} dims"
    click.echo(f"nearest to {_label(ckpt.vocab, tid)!r} by cosine ({kind}):")
    for rank, (i, c) in enumerate(zip(ids, cos, strict=True), 1):
        click.echo(f"{rank:>4}  {_label(ckpt.vocab, i):<16} {c:+.3f}")


@inspect_group.command(short_help="A - B + C by cosine, judged against random triples.")
@_CKPT
@click.argument("a")
@click.argument("b")
@click.argument("c")
@click.option("-n", "count", type=click.IntRange(min=1), default=5, help="How many answers.")
@_WHICH
def analogy(checkpoint: Path, a: str, b: str, c: str, count: int, which) -> None:
    """A - B + C: the tokens nearest to that vector (A, B, C excluded), e.g. king man woman.

    The answer is compared with the same sum for 300 random triples; if they do as well, it is noise.
    """
    import numpy as np

    from rnntui.inspect import analogy as solve
    from rnntui.inspect import token_vectors

    ckpt = _load(checkpoint)
    ids = [_token_id(ckpt.vocab, w) for w in (a, b, c)]
    unk = ckpt.vocab.unk_id
    vectors = token_vectors(ckpt.model.params, which)
    names = [_label(ckpt.vocab, i) for i in ids]
    skip = () if unk is None else (unk,)
    result = solve(vectors, *ids, n=count, rng=np.random.default_rng(0), skip=skip, names=names)
    click.echo(f"{names[0]} - {names[1]} + {names[2]} ≈")
    for rank, (i, cos) in enumerate(zip(result.ids, result.cosines, strict=True), 1):
        click.echo(f"{rank:>4}  {_label(ckpt.vocab, i):<16} {cos:+.3f}")
    click.echo(result.verdict)


@inspect_group.command(short_help="Word pairs: how many partners are among the 10 nearest neighbours.")
@_CKPT
@click.option(
    "--pairs",
    "pairs_file",
    type=click.Path(path_type=Path),
    help="Two related words a line  [default: the Republic list, rnntui/data/republic_word_pairs.txt]",
)
@click.option("-k", "k", type=click.IntRange(min=1), default=10, help="Nearest neighbours that count.")
@_WHICH
def probe(checkpoint: Path, pairs_file: Path | None, k: int, which) -> None:  # fmt: skip
    """For a word model in CHECKPOINT: for each pair of related words (he/she, soul/body, ...), each
    word's rank among the other's nearest neighbours by cosine; a pair is found when either is
    within the k nearest. A word the vocabulary lacks makes its pair a miss. The last lines give
    the count in each kind of vectors."""
    from rnntui.probe import PAIRS_FILE, load_pairs, word_probe

    ckpt = _load(checkpoint)
    try:
        pairs = load_pairs(pairs_file or PAIRS_FILE)
        results = {
            w: word_probe(ckpt.model.params, ckpt.vocab, pairs, k, w)
            for w in ("input", "projected", "output")
        }
    except (OSError, ValueError) as err:
        raise _fail(str(err)) from None
    shown = results[which]
    click.echo(f"{'pair':<26} {'rank b of a':>11} {'rank a of b':>11}  ({which} vectors)")
    for p in shown.pairs:
        ranks = "   not in the vocabulary" if p.rank_ab is None else f"{p.rank_ab:>11} {p.rank_ba:>11}"
        click.echo(f"{p.a + ' / ' + p.b:<26} {ranks}  {'found' if p.found else ''}")
    for w, r in results.items():
        missing = f"; {len(r.missing)} with a word not in the vocabulary" if r.missing else ""
        click.echo(f"{w:>9} vectors: {r.found}/{len(r.pairs)} pairs ({r.share:.0%}) have the partner among "
                   f"the {k} nearest{missing}")  # fmt: skip


# -- unit ---------------------------------------------------------------------------------------------


@inspect_group.command(short_help="A hidden unit's top contexts; units that track features.")
@_CKPT
@click.argument("unit", type=int)
@click.option("--layer", type=int, help="Layer of the unit (0 = bottom)  [default: the top layer]")
@click.option(
    "--text",
    "text_file",
    type=click.Path(path_type=Path),
    help="Run on this text file  [default: the checkpoint's validation split]",
)
@click.option("-n", "count", type=click.IntRange(min=1), default=5, help="Contexts to show each way.")
@click.option(
    "--max-tokens", type=click.IntRange(min=2), default=MAX_TOKENS, help="Read at most this many tokens."
)
def unit(
    checkpoint: Path, unit: int, layer: int | None, text_file: Path | None, count: int, max_tokens: int
) -> None:
    """What hidden UNIT does: where it is most positive and negative, and which simple features
    (quotes, parentheses, position in line, ...) it tracks; then the units that track each feature best.
    """
    import numpy as np

    from rnntui.inspect import correlations, features, hidden_trace, preactivations, rank_units, top_contexts

    ckpt = _load(checkpoint)
    L, H = ckpt.model.cfg.layers, ckpt.model.cfg.hidden
    layer = L - 1 if layer is None else layer
    if not 0 <= layer < L:
        raise _fail(f"layer {layer} is out of range: the model has {L} layer(s), 0..{L - 1}")
    if not 0 <= unit < H:
        raise _fail(f"unit {unit} is out of range: each layer has {H} units, 0..{H - 1}")
    ids, source = _text_ids(ckpt, text_file, max_tokens, "unit")
    hs = hidden_trace(ckpt.model.params, ids)  # (T, L, H)
    tokens = [ckpt.vocab.tokens[int(i)] for i in ids]
    values = hs[:, layer, unit]
    click.echo(
        f"unit {unit} of layer {layer} on {source}: mean {values.mean():+.2f}, "
        f"|h| > 0.95 at {np.mean(np.abs(values) > 0.95):.0%} of positions"
    )
    # ranked by the pre-activation a (h = tanh a): among the many positions where h sits at ±1, those
    # where the unit is driven hardest
    # (gated cells: the LSTM's cell state c, h = o tanh c; the GRU's h itself, a blend that needs no a)
    drive = preactivations(ckpt.model.params, ids, hs)[:, layer, unit]
    top, bottom = top_contexts(drive, count, gap=30 if ckpt.vocab.level == "char" else 8)
    shown = ckpt.model.cell.DRIVE  # None: ranked by h itself
    for title, picks in (("most positive", top), ("most negative", bottom)):
        what = f", and {shown[1]} {shown[0]}" if shown else ""
        click.echo(f"\n{title} (h after reading the «marked» token{what}):")
        for t in picks:
            extra = f"  {shown[0]} {drive[t]:+6.1f}" if shown else ""
            click.echo(f"  h {values[t]:+.3f}{extra}  {_snippet(ckpt.vocab, tokens, int(t))}")
    names, feats = features(tokens, ckpt.vocab.level)
    r = correlations(hs.reshape(len(ids), L * H), feats)  # (F, L*H)
    click.echo("\ncorrelation of this unit with each feature:")
    for f, name in enumerate(names):
        note = "  (constant in this text)" if np.ptp(feats[:, f]) == 0 else ""
        click.echo(f"  {name:<18} {r[f, layer * H + unit]:+.2f}{note}")
    click.echo("\nunits that track each feature best (layer/unit r):")
    for f, name in enumerate(names):
        if np.ptp(feats[:, f]) == 0:
            continue
        best = rank_units(r, 5)[f]
        click.echo(f"  {name:<18} " + "  ".join(f"{u // H}/{u % H} {r[f, u]:+.2f}" for u in best))


def _snippet(vocab, tokens: list[str], t: int) -> str:
    """The text up to token t, which is marked «like this», and a little after it, on one line."""
    from rnntui.inspect import snippet_parts

    left, mid, right = snippet_parts(tokens, t, vocab.level)
    return f"{left}«{mid}»{right}"


# -- memory -------------------------------------------------------------------------------------------


@inspect_group.command(short_help="Fading memory: how much each earlier token still moves h.")
@_CKPT
@click.argument("text")
@click.option(
    "-k", "max_k", type=click.IntRange(min=0, max=500), default=40, help="Look back at most this many tokens."
)
@click.option("--spectral", is_flag=True, help="Spectral norm (largest gain) instead of Frobenius.")
@click.option("--target", help="Connectivity to this next token  [default: the model's likeliest]")
def memory(checkpoint: Path, text: str, max_k: int, spectral: bool, target: str | None) -> None:
    """Fading memory: how much the token k steps back still moves the last memory of TEXT.

    Prints ||d h_last / d x_(last-k)|| (h: the top layer's memory, x: a token's embedding) against k on
    a log scale, an intensity strip under the text, the half-life in tokens and the share of units
    saturated near ±1; beside it the connectivity to the next token (Distill's "Memorization in
    RNNs"): ||d logit_target / d x_(last-k)||, how much each earlier token moves that token's logit.
    """
    import numpy as np

    from rnntui.inspect import SATURATED, display_token, fading_memory, hidden_trace, logits_of

    ckpt = _load(checkpoint)
    ids = _encode(ckpt, text)
    norm = "spectral" if spectral else "fro"
    params = ckpt.model.params
    if target is None:
        tid = int(np.argmax(logits_of(params, hidden_trace(params, ids)[-1, -1])))
    else:
        tid = _token_id(ckpt.vocab, target, "target")
    fm = fading_memory(params, ids, K=max_k, norm=norm, target=tid)
    curve = fm.norms
    peak = float(curve.max())
    floor = max(float(curve.min()), peak * 1e-12)
    decades = max(1, math.ceil(math.log10(peak / floor))) if peak > 0 else 1
    tokens = [ckpt.vocab.tokens[int(i)] for i in ids]
    click.echo(
        f"||d h_last / d x_(last-k)|| ({'spectral' if spectral else 'Frobenius'} norm), "
        f"log scale over {decades} decade(s); then ||d logit / d x_(last-k)|| of the next token "
        f"{display_token(ckpt.vocab.tokens[tid])!r}{' (the likeliest)' if target is None else ''}:"
    )
    for k, v in enumerate(curve):
        frac = 1 + math.log10(v / peak) / decades if v > 0 else 0.0
        tok = display_token(tokens[len(tokens) - 1 - k])
        click.echo(f"{k:>4} {tok[:12]:>12} {v:10.3e} {text_bar(frac, 40)} {fm.connectivity[k]:10.3e}")
    # the strip: each of the last tokens shaded by its influence (log scale, same decades)
    shown = tokens[-min(len(curve), 60) :]
    cells, shade = [], []
    for j, tok in enumerate(shown):
        v = curve[len(shown) - 1 - j]
        frac = 1 + math.log10(v / peak) / decades if v > 0 else 0.0
        label = display_token(tok) if ckpt.vocab.level == "char" else display_token(tok) + " "
        cells.append(label)
        shade.append(SHADES[min(len(SHADES) - 1, int(max(frac, 0.0) * (len(SHADES) - 1) + 0.5))] * len(label))
    click.echo(f"\nthe last tokens shaded by influence ({SHADES[-1]} = peak, same log scale):")
    click.echo("".join(cells) + "\n" + "".join(shade))
    hl, fit = fm.half_life, fm.fitted_half_life
    hl_text = f"{hl:.1f} tokens" if hl is not None else f"more than {len(curve) - 1} tokens"
    fit_text = f"{fit:.1f}" if fit is not None else "none (no decay)"
    click.echo(f"\nhalf-life: {hl_text} (exponential fit: {fit_text})")
    sat = ", ".join(
        f"layer {i}: {s:.0%} now, {m:.0%} over the text"
        for i, (s, m) in enumerate(zip(fm.saturated, fm.saturated_text, strict=True))
    )
    click.echo(f"units saturated (|h| > {SATURATED}): {sat}")


# -- pca ----------------------------------------------------------------------------------------------


@inspect_group.command(short_help="2D PCA map of the most frequent tokens' vectors.")
@_CKPT
@click.option("-n", "count", type=click.IntRange(min=2), default=40, help="Plot the N most frequent tokens.")
@click.option("--width", type=click.IntRange(min=20, max=1000), default=100, help="Plot width in characters.")
@click.option("--height", type=click.IntRange(min=5, max=1000), default=30, help="Plot height in lines.")
@_WHICH
def pca(checkpoint: Path, count: int, width: int, height: int, which) -> None:
    """A 2D map (PCA) of the token vectors of the N most frequent tokens.

    Frequency comes from the training corpus when it is on this machine, else the vocabulary's order.
    Labels that would collide are left out (and counted).
    """
    import numpy as np

    from rnntui.inspect import pca as principal
    from rnntui.inspect import place_labels, render_scatter, token_vectors

    ckpt = _load(checkpoint)
    vocab = ckpt.vocab
    corpus = _corpus_ids(ckpt)
    if corpus is not None:
        order = np.argsort(-np.bincount(corpus[0], minlength=len(vocab)), kind="stable")
        source = "corpus frequency"
    else:
        order = np.arange(len(vocab))
        source = "vocabulary order (corpus not available)"
    order = [int(i) for i in order if i != vocab.unk_id][:count]
    if len(order) < 2:
        raise _fail("need at least two tokens to draw a map")
    vectors = token_vectors(ckpt.model.params, which)[order]
    coords, _, explained = principal(np.asarray(vectors, np.float64), 2)
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    labels = [_label(vocab, i) for i in order]
    placed = place_labels(coords, labels, width, height)
    click.echo(
        f"PCA of the {which} vectors of the {len(order)} most frequent tokens ({source}); "
        f"axes explain {explained[0]:.0%} and {explained[1] if len(explained) > 1 else 0:.0%} of the variance"
    )
    click.echo("┌" + "─" * width + "┐")
    for line in render_scatter(placed, labels, width, height):
        click.echo("│" + line.ljust(width) + "│")
    click.echo("└" + "─" * width + "┘")
    missing = len(order) - len(placed)
    if missing:
        hidden = [labels[i] for i in sorted(set(range(len(order))) - {p[2] for p in placed})]
        click.echo(f"{missing} label(s) did not fit: {' '.join(hidden)}")


# -- health -------------------------------------------------------------------------------------------


@inspect_group.command(short_help="Spectral radius of Whh; how saturated the units are.")
@_CKPT
@click.option(
    "--text",
    "text_file",
    type=click.Path(path_type=Path),
    help="Run on this text file  [default: the checkpoint's validation split]",
)
@click.option(
    "--max-tokens", type=click.IntRange(min=2), default=MAX_TOKENS, help="Read at most this many tokens."
)
@click.option("--bins", type=click.IntRange(min=2, max=100), default=20, help="Histogram bins over [-1, 1].")
def health(checkpoint: Path, text_file: Path | None, max_tokens: int, bins: int) -> None:
    """Saturation and health: each recurrent matrix's spectral radius and largest singular value, and
    a histogram of hidden activations on validation text (how many sit near ±1)."""
    import numpy as np

    from rnntui.inspect import SATURATED, activation_histogram, hidden_trace, recurrent_spectra

    ckpt = _load(checkpoint)
    init = ckpt.meta.get("init_from")
    if init:
        click.echo(
            f"fine-tuned from {init['path']} (its step {init['step']}, sha256 {init['sha256'][:16]}…); "
            f"vocabulary {init['base_vocab']} + {init['added']} new token(s)"
        )
    origin = ckpt.meta.get("imported_from")
    if isinstance(origin, dict):  # rnntui import's, or a .safetensors file read directly
        click.echo(f"imported from {origin.get('path')} (sha256 {str(origin.get('sha256'))[:16]}…)")
    spectra = recurrent_spectra(ckpt.model.params)
    click.echo(
        f"step {ckpt.meta.get('step', '?')}; {ckpt.model.cell.RECURRENT} (H = {ckpt.model.cfg.hidden}):"
    )
    for layer, (radius, sigma) in enumerate(spectra):
        click.echo(f"  layer {layer}: spectral radius {radius:.3f}, largest singular value {sigma:.3f}")
    history = ckpt.spectra_history  # (K, 1 + 2L), recorded at every evaluation
    if len(history):
        click.echo("over training (step: spectral radius / largest singular value, per layer):")
        for row in history[np.unique(np.linspace(0, len(history) - 1, min(len(history), 10)).astype(int))]:
            pairs = "  ".join(f"{r:.3f} / {s:.3f}" for r, s in row[1:].reshape(-1, 2))
            click.echo(f"  {int(row[0]):>7}: {pairs}")
    try:
        ids, source = _text_ids(ckpt, text_file, max_tokens, "health")
    except click.ClickException as err:
        if text_file is not None:
            raise
        click.echo(f"(no activation histogram: {err.message})")
        return
    hs = hidden_trace(ckpt.model.params, ids)
    counts, edges, saturated = activation_histogram(hs, bins)
    if ckpt.model.cell.GATES:
        from rnntui.inspect import GATE_HIGH, GATE_LOW, gate_saturation

        sat = gate_saturation(ckpt.model.params, ids)
        click.echo(f"\ngates on {source}: units mostly open (> {GATE_HIGH}) / mostly shut (< {GATE_LOW}) "
                   "over half the text (per unit: `rnntui inspect gates`)")  # fmt: skip
        for lay in range(ckpt.model.cfg.layers):
            for g, name in enumerate(sat.names):
                opened, shut = int((sat.right[lay, g] > 0.5).sum()), int((sat.left[lay, g] > 0.5).sum())
                click.echo(f"  layer {lay} {name:<9} mean {sat.mean[lay, g].mean():.2f}   "
                           f"open {opened:>4}   shut {shut:>4}   of {ckpt.model.cfg.hidden}")  # fmt: skip
    for layer in range(len(counts)):
        click.echo(f"\nlayer {layer} activations on {source}: {saturated[layer]:.1%} with |h| > {SATURATED}")
        top = counts[layer].max()
        total = counts[layer].sum()
        for b, n in enumerate(counts[layer]):
            bar = text_bar(n / top if top else 0, 40)
            click.echo(f"  {edges[b]:+.1f}..{edges[b + 1]:+.1f} {n / total:6.1%} {bar}".rstrip())


# -- softmax, sentences --------------------------------------------------------------------------------


@inspect_group.command(short_help="logit = h·w + b for the likeliest next tokens.")
@_CKPT
@click.argument("text")
@click.option("--temperature", "-t", type=click.FloatRange(min=0, min_open=True), default=1.0)
@click.option("-n", "count", type=click.IntRange(min=1), default=10, help="How many tokens to show.")
def softmax(checkpoint: Path, text: str, temperature: float, count: int) -> None:
    """The softmax's geometry after TEXT: logit = h · w_token + b_token for the likeliest next tokens,
    with |w|, cos(h, w), and the probabilities at the temperature and at 1."""
    import numpy as np

    from rnntui.inspect import hidden_trace, softmax_geometry

    ckpt = _load(checkpoint)
    ids = _encode(ckpt, text)
    h = hidden_trace(ckpt.model.params, ids)[-1, -1]
    g = softmax_geometry(ckpt.model.params, h, temperature, count)
    click.echo(f"memory h: |h| = {np.linalg.norm(h):.2f}, {np.mean(np.abs(h) > 0.95):.0%} of units near ±1")
    click.echo(
        f"{'token':<14} {'h·w':>8} {'+ b':>7} {'= logit':>8} {'|w|':>6} {'cos':>6} "
        f"{'p@' + format(temperature, 'g'):>8} {'p@1':>8}"
    )
    for j, tid in enumerate(g.ids):
        click.echo(
            f"{_label(ckpt.vocab, tid)[:14]:<14} {g.dots[j]:8.2f} {g.biases[j]:+7.2f} {g.logits[j]:8.2f} "
            f"{g.w_norms[j]:6.2f} {g.cosines[j]:+6.2f} {g.probs[j]:8.1%} {g.probs_at_1[j]:8.1%}"
        )
    click.echo(
        f"entropy: {g.entropy:.2f} bits at temperature {temperature:g}, {g.entropy_at_1:.2f} bits at 1 "
        f"(uniform: {math.log2(len(ckpt.vocab)):.2f})"
    )


@inspect_group.command(short_help="Sentence vectors: cosine matrix and PCA map.")
@_CKPT
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--layer", type=int, help="Use this layer's memory  [default: all layers, concatenated]")
def sentences(checkpoint: Path, file: Path, layer: int | None) -> None:
    """Sentence vectors: the final memory after each line of FILE (from an empty memory), their
    cosine-similarity matrix and a 2D PCA map. FILE: up to 500 lines, 1 MiB."""
    from rnntui.corpus import CorpusError, read_text
    from rnntui.inspect import place_labels, render_scatter, sentence_map, sentence_vectors

    ckpt = _load(checkpoint)
    L = ckpt.model.cfg.layers
    if layer is not None and not 0 <= layer < L:
        raise _fail(f"layer {layer} is out of range: the model has {L} layer(s), 0..{L - 1}")
    try:
        lines = [s.strip() for s in read_text(file, limit=SENTENCES_LIMIT).splitlines() if s.strip()]
        ids = [ckpt.vocab.encode(s, what=f"{file} line {i + 1}") for i, s in enumerate(lines)]
    except (CorpusError, OSError) as err:
        raise _fail(str(err)) from None
    if len(lines) < 2:
        raise _fail(f"{file}: needs at least two non-empty lines (one sentence each)")
    if len(lines) > MAX_SENTENCES:
        raise _fail(f"{file}: has {len(lines):,} sentences; compare at most {MAX_SENTENCES} at a time")
    vecs = sentence_vectors(ckpt.model.params, ids)  # (S, L, H)
    vecs = vecs[:, layer] if layer is not None else vecs.reshape(len(lines), -1)
    cos, coords, explained = sentence_map(vecs)
    click.echo("cosine similarity of the sentence vectors:")
    click.echo("      " + "".join(f"{j + 1:>6}" for j in range(len(lines))))
    for i, s in enumerate(lines):
        click.echo(f"{i + 1:>5} " + "".join(f"{c:6.2f}" for c in cos[i]) + f"  {s[:50]}")
    labels = [str(i + 1) for i in range(len(lines))]
    placed = place_labels(coords, labels, 60, 15)
    click.echo(f"\nPCA map (axes explain {explained[0]:.0%} and {explained[1]:.0%} of the variance):")
    for line in render_scatter(placed, labels, 60, 15):
        click.echo("  │" + line)


@inspect_group.command(short_help="Gate saturation per unit: which units integrate (GRU, LSTM).")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("text_file", metavar="[TEXT]", required=False, type=click.Path(path_type=Path))
@click.option("--layer", type=click.IntRange(min=0), help="Only this layer  [default: every layer]")
@click.option(
    "--max-tokens", type=click.IntRange(min=2), default=MAX_TOKENS, help="Read at most this many tokens."
)
def gates(checkpoint: Path, text_file: Path | None, layer: int | None, max_tokens: int) -> None:
    """How often each unit's gates are shut (< 0.1) or wide open (> 0.9) on TEXT (a file; default: the
    validation split), per gate: a map of the units, as in Karpathy, Johnson & Fei-Fei (2015). Units
    in the top left of the forget gate's map (LSTM) or the update gate's (GRU) keep their memory for
    most of the text: the integrators a vanilla RNN cannot have."""
    from rnntui.inspect import GATE_HIGH, GATE_LOW, gate_saturation

    ckpt = _load(checkpoint)
    cfg = ckpt.model.cfg
    if cfg.cell == "rnn":
        raise _fail(f"{checkpoint}: a vanilla RNN has no gates; train one with --cell gru or --cell lstm")
    if layer is not None and layer >= cfg.layers:
        last = cfg.layers - 1
        raise _fail(f"layer {layer} is out of range: the model has {cfg.layers} layer(s), 0..{last}")
    ids, source = _text_ids(ckpt, text_file, max_tokens, "gates")
    sat = gate_saturation(ckpt.model.params, ids)
    click.echo(f"{cfg.cell.upper()} gates on {source}: the share of tokens where each unit's gate is "
               f"< {GATE_LOW} (left) and > {GATE_HIGH} (right)")  # fmt: skip
    for lay in range(cfg.layers) if layer is None else [layer]:
        if cfg.layers > 1:
            click.echo(f"\nlayer {lay}")
        for g, name in enumerate(sat.names):
            left, right, mean = sat.left[lay, g], sat.right[lay, g], sat.mean[lay, g]
            click.echo(
                f"\n{name}: mean {mean.mean():.2f}; units mostly open (> {GATE_HIGH} on over half the text): "
                f"{int((right > 0.5).sum())}, mostly shut: {int((left > 0.5).sum())}, of {len(mean)}"
            )
            for line in _saturation_map(left, right):
                click.echo("  " + line)


def _saturation_map(left, right, width: int = 41, height: int = 11) -> list[str]:
    """A text scatter of units: x = share of time left-saturated, y = share right-saturated (both 0..1,
    so every unit lies on or below the diagonal x + y = 1); shade = how many units share a cell."""
    import numpy as np

    grid = np.zeros((height, width), np.int64)
    cols = np.clip(np.round(np.asarray(left) * (width - 1)).astype(int), 0, width - 1)
    rows = np.clip(np.round((1 - np.asarray(right)) * (height - 1)).astype(int), 0, height - 1)
    np.add.at(grid, (rows, cols), 1)
    top = max(1, int(grid.max()))
    lines = []
    for r in range(height):
        label = "right 1 │" if r == 0 else "      0 │" if r == height - 1 else "        │"
        cells = "".join(SHADES[int(np.ceil(n / top * (len(SHADES) - 1)))] for n in grid[r])
        lines.append(label + cells)
    lines.append("        └" + "─" * width)
    axis = "         0" + " " * (width - 7) + "left 1"  # the 1 under the last column
    lines.append(f"{axis}   (densest cell: {top} units)")
    return lines


@inspect_group.command(short_help="Spans of FILE copied verbatim from the training text.")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--min-span", "k", type=click.IntRange(min=1),
              help="Shortest copy reported, in tokens  [default: 20 characters, or 5 words]")  # fmt: skip
def copies(checkpoint: Path, file: Path, k: int | None) -> None:
    """Which spans of FILE (any text, up to 1 MiB: a sample, or something written elsewhere) occur
    verbatim in the text the model in CHECKPOINT was trained on (its training split): each copied
    span with where it occurs, and the novel share by span length (torch-rnn's novel_substrings).
    Found with a suffix array of the training text, built once and cached beside its token cache."""
    from rnntui import copies as copies_mod
    from rnntui.corpus import CorpusError, read_text
    from rnntui.memory import MemoryLimitError
    from rnntui.trainingtext import CorpusMissingError

    ckpt = _load(checkpoint)
    try:
        text = read_text(file, limit=COPIES_LIMIT)
        ref = copies_mod.reference_of(ckpt, k)
    except (CorpusError, CorpusMissingError, MemoryLimitError, OSError) as err:
        raise _fail(str(err)) from None
    for line in copies_mod.report_lines(ref, copies_mod.check_text(ref, text), text):
        click.echo(line)


@inspect_group.command(short_help="Autocomplete accuracy by letters seen (top-1, top-3 of the beam).")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("--text", "text_file", type=click.Path(path_type=Path),
              help="Words of this file  [default: the validation split]")  # fmt: skip
@click.option("--words", "max_words", type=click.IntRange(min=1), default=300, help="Words to try.")
@click.option("--compare", "other", type=click.Path(path_type=Path), help="A second model, same vocabulary.")
def autocomplete(checkpoint: Path, text_file: Path | None, max_words: int, other: Path | None) -> None:
    """Autocomplete accuracy by letters seen (Distill's "Memorization in RNNs"): over the first
    words of the text, the share the playground's guess finishes right after 0, 1, 2, … of their
    letters are typed: top-1 (the beam's best word, the ghost text) and top-3 (among its three best).
    With --compare, a second model's curves beside the first's, on the same words."""
    from rnntui.autocomplete import MAX_LETTERS, accuracy

    ckpt = _load(checkpoint)
    models = [(checkpoint, ckpt)]
    if other is not None:
        b = _load(other)
        if b.vocab.tokens != ckpt.vocab.tokens or b.vocab.level != ckpt.vocab.level:
            raise _fail(f"{checkpoint} and {other} have different vocabularies; compare models of one text")
        models.append((other, b))
    ids, source = _text_ids(ckpt, text_file, MAX_TOKENS, "autocomplete")
    results = [accuracy(c.model, c.vocab, ids, max_words=max_words) for _, c in models]
    click.echo(f"autocomplete accuracy on the first {results[0].words[0]:,} words of {source}:")
    head = "".join(f"   {name}: top-1  top-3" for name, _ in zip("AB", models, strict=False))
    click.echo(f"{'letters':>7} {'words':>6}{head}")
    for j in range(MAX_LETTERS + 1):
        if results[0].words[j] == 0:
            break
        row = f"{j:>7} {results[0].words[j]:>6}"
        for r in results:
            row += f"      {r.top1_share[j]:6.1%} {r.top3_share[j]:6.1%}"
        bars = "  ".join(text_bar(r.top1_share[j], 20) for r in results)
        click.echo(f"{row}  {bars}".rstrip())
    for name, (path, _) in zip("AB", models, strict=False):
        click.echo(f"  {name}: {path}")


@inspect_group.command(short_help="Units on across a span of TEXT; where else they are on (LSTMVis).")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.argument("text")
@click.option("--threshold", type=click.FloatRange(-1.0, 1.0), default=0.3, help="A unit is on above this h.")
@click.option("--layer", type=click.IntRange(min=0), help="Layer of the units  [default: the top one]")
@click.option("--text", "text_file", type=click.Path(path_type=Path),
              help="Search this file  [default: the validation split]")  # fmt: skip
@click.option("-n", "count", type=click.IntRange(min=1), default=10, help="Matches to list.")
def match(checkpoint: Path, text: str, threshold: float, layer: int | None, text_file: Path | None,
          count: int) -> None:  # fmt: skip
    """Select and match (LSTMVis): the hidden units on (h > --threshold) at every token of the span of
    TEXT between [ and ] (the whole TEXT without brackets) form a pattern; the places of the
    validation text where the units on across as many tokens match it best (Jaccard index) are
    listed, with the units they share. TEXT is read from a newline's memory, as the playground does."""
    import numpy as np

    from rnntui.inspect import display_token, hidden_trace
    from rnntui.match import best_matches, on_across

    ckpt = _load(checkpoint)
    L = ckpt.model.cfg.layers
    layer = L - 1 if layer is None else layer
    if layer >= L:
        raise _fail(f"layer {layer} is out of range: the model has {L} layer(s), 0..{L - 1}")
    if text.count("[") > 1 or text.count("]") > 1 or ("[" in text) != ("]" in text):
        raise _fail('mark the span with one [ and one ], e.g. "He said [(and I agree)] that"')
    before, span = (text.split("[")[0], text.split("[")[1].split("]")[0]) if "[" in text else ("", text)
    vocab = ckpt.vocab
    nl = [vocab.id_of("\n")] if vocab.id_of("\n") is not None else []
    head = (nl + _encode(ckpt, before).tolist()) if before else nl
    chosen = _encode(ckpt, span).tolist()
    hs = hidden_trace(ckpt.model.params, np.array(head + chosen))[:, layer]  # (T, H)
    w = len(chosen)
    pattern = on_across(hs[len(head) :], w, threshold)[0]  # (H,)
    shown = "".join(vocab.tokens[i] for i in chosen) if vocab.level == "char" else span
    click.echo(f"{int(pattern.sum())} unit(s) of layer {layer} on (h > {threshold:g}) across {shown!r} "
               f"({w} token(s)): {' '.join(map(str, np.flatnonzero(pattern))) or '-'}")  # fmt: skip
    if not pattern.any():
        click.echo("no unit stays on across the span: lower --threshold or choose a shorter span")
        return
    ids, source = _text_ids(ckpt, text_file, MAX_TOKENS, "match")
    found = best_matches(pattern, hidden_trace(ckpt.model.params, ids)[:, layer], w, threshold, count)
    click.echo(f"best matches in {source}, by the Jaccard index of their on-units:")
    glue = "" if vocab.level == "char" else " "
    for m in found:
        toks = [display_token(vocab.tokens[int(i)]) for i in ids]
        left = glue.join(toks[max(0, m.start - 20) : m.start])[-30:]
        mid = glue.join(toks[m.start : m.start + w])
        right = glue.join(toks[m.start + w : m.start + w + 20])[:30]
        click.echo(f"  {m.jaccard:5.2f}  {left:>30}[{mid}]{right:<30}  shares {len(m.shared)}: "
                   f"{' '.join(map(str, m.shared[:12]))}{' …' if len(m.shared) > 12 else ''}")  # fmt: skip
