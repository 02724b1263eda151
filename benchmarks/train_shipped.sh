#!/usr/bin/env bash
# Train the three models rnntui ships (README "The shipped models"), each in at most $MINUTES of wall
# time (default 30, evaluations included), then write weights-only copies of each run's best.npz and
# report what the closing note of issue 11 asks for: validation loss, size, the word probe, samples.
#
#   bash benchmarks/train_shipped.sh                      # all three: a quiet machine, ~95 minutes
#   bash benchmarks/train_shipped.sh republic             # one (or two) of them, by name
#   MINUTES=1 OUT=/tmp/ship bash benchmarks/train_shipped.sh   # a trial of the commands
#   INSTALL=1 bash benchmarks/train_shipped.sh            # and copy them into rnntui/data/
#
#   republic        char level, vanilla RNN, H = 512             341,584 parameters
#   republic-lstm   char level, LSTM, H = 250 (the same size:    340,200 parameters; a GRU at H = 292
#                   the pair the side-by-side view opens on)     has exactly the vanilla model's 341,584)
#   republic-words  word level (--lowercase --min-count 5), vanilla RNN, H = 256, E = 128
#
# The settings are the ones the shipped models were trained with (README "The shipped models" has
# their losses; BENCHMARKS.md "The shipped models" how they were chosen). OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are unset for
# the training commands only: this machine sets them, and they halve rnntui's speed.
set -euo pipefail
cd "$(dirname "$0")/.."

MINUTES=${MINUTES:-30}
OUT=${OUT:-runs/shipped}
CORPUS=corpora/republic.txt
ALL=(republic republic-lstm republic-words)
if [ $# -gt 0 ]; then NAMES=("$@"); else NAMES=("${ALL[@]}"); fi

options() {  # the rnntui train options of one shipped model
    case $1 in
        republic) echo "--cell rnn --hidden 512 --dropout 0.1 --weight-decay 0.1 --schedule cosine --warmup 200" ;;
        republic-lstm) echo "--cell lstm --hidden 250 --dropout 0.25 --weight-decay 0.1 --schedule cosine --warmup 200" ;;
        republic-words) echo "--level word --lowercase --min-count 5 --hidden 256 --embed 128 --dropout 0.5 --weight-decay 0.1 --schedule cosine --warmup 200" ;;
        *) echo "train_shipped.sh: no shipped model named $1 (${ALL[*]})" >&2; exit 2 ;;
    esac
}

for name in "${NAMES[@]}"; do
    opts=$(options "$name")
    echo "== $name: rnntui train $CORPUS --no-tui --minutes $MINUTES --seed 0 $opts"
    # shellcheck disable=SC2086  # opts is a list of options
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE rnntui train "$CORPUS" --no-tui --minutes "$MINUTES" \
        --out "$OUT" --name "$name" --force --seed 0 $opts
    mkdir -p "$OUT/weights"
    rnntui export "$OUT/$name/best.npz" "$OUT/weights/$name.npz" --force
done

echo "== the held-out tail (the last 5% of $CORPUS, as training held it out), and three samples at T = 0.7"
for name in "${NAMES[@]}"; do
    python - "$OUT/weights/$name.npz" <<'PY'
import sys
from rnntui import checkpoint
from rnntui.shipped import val_loss
ckpt = checkpoint.load(sys.argv[1])
cfg = ckpt.model.cfg
print(f"{sys.argv[1]}: {cfg.cell} H={cfg.hidden} {ckpt.vocab.level} V={len(ckpt.vocab)}, "
      f"{ckpt.model.flat.size:,} parameters, step {ckpt.meta['step']}, "
      f"best validation loss {val_loss(ckpt.meta, ckpt.val_history):.4f} nats/token")
PY
    ls -l "$OUT/weights/$name.npz"
    for seed in 1 2 3; do
        echo "-- sample (seed $seed):"
        rnntui sample "$OUT/weights/$name.npz" --temperature 0.7 --seed "$seed" --length 300 --prime "Socrates"
    done
done

if [[ " ${NAMES[*]} " == *" republic-words "* ]]; then
    echo "== the word probe (34 pairs, rnntui/data/republic_word_pairs.txt) and a few analogies"
    rnntui inspect probe "$OUT/weights/republic-words.npz"  # the table: input vectors; the counts: all three
    for triple in "he man woman" "said asked answered" "king tyrant just"; do
        # shellcheck disable=SC2086
        rnntui inspect analogy "$OUT/weights/republic-words.npz" $triple || true
    done
fi
du -ch "$OUT"/weights/*.npz | tail -1

if [ "${INSTALL:-0}" = 1 ]; then
    for name in "${NAMES[@]}"; do cp "$OUT/weights/$name.npz" rnntui/data/; done
    echo "installed into rnntui/data/: $(ls rnntui/data)"
fi
