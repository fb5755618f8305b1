#!/usr/bin/env bash
# Several training recipes at once on one lent GPU (device tool, 15 minutes a session), each a
# fixed schedule (--keep last) on the same block split, so their last epochs compare recipes,
# not lucky epochs. One training run keeps an H100 busy for a small part of each step (batch 32
# of MobileNetV2 is launch-bound), so parallel runs cost little more wall time than one.
#
# Prepare here: bash bench/gpu/pack_dataset.sh (docs/gpu-training.md); leave the bundled model
# and the screenshots out of the transfer. Run there, carrying .devdata:
#   bash bench/gpu/compare_recipes.sh
# Back come NAME.pt (the kept weights) for each recipe, runs.tar (run.json, split.json, the
# training log and model.json of each) and session.log. Re-export a run here against the
# original files with: python -m model.export RUN --data-dir ../shared/data/all-taleqani/Original
#
# A 5-fold block cross-validation of one recipe is five recipes that differ only in the fold
# (the default RECIPES below): MAX_MINUTES=7.8 bash bench/gpu/compare_recipes.sh
# and back here: tar -xf runs.tar && labapp-crossval fold*/model
set -u
OUT=${OUT:-/tmp/gpu-out}
EPOCHS=${EPOCHS:-80}
IMG=${IMG:-224}
MAX_MINUTES=${MAX_MINUTES:-7.0}   # per run, training loop only
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}            # DEVICE=cpu rehearses the script on a machine without a GPU
THREADS=${THREADS:-3}
# One recipe per line: NAME then labapp-train options. At most 6 (8 files come back).
# Default: the 5-fold block cross-validation of the plain 224 px recipe (docs/model-development.md,
# What next). Session 5 ran "plain-s1 --seed 1", "ema-s0 --seed 0 --ema 0.998", "jitter-s0 --seed 0
# --color-jitter 0.25" and "swap-s0 --seed 0 --context-swap 0.5" (an option since removed); the refit of plain-s1 on every
# image ("refit --seed 1 --refit bench/gpu/recipe-plain-224-s1") is 2.2.0 (the weights of the bundled 2.3.0), trained on
# the development CPU in session 8.
RECIPES=${RECIPES:-"$(for i in 1 2 3 4 5; do echo "fold$i --seed 0 --fold $i/5"; done)"}
# shellcheck source=bench/gpu/common.sh
source "$(dirname "$0")/common.sh"

stamp "train, in parallel, ${IMG} px, ${EPOCHS} epochs, --keep last"
names=()
pids=()
mkdir -p /tmp/runs
while read -r name opts; do
    [ -n "$name" ] || continue
    names+=("$name")
    # shellcheck disable=SC2086  # the options are meant to split into words
    $PY -m model.train "$DATA/Original" --out "/tmp/runs/$name" --img-size "$IMG" --epochs "$EPOCHS" \
        --patience "$EPOCHS" --keep last --device "$DEVICE" --threads "$THREADS" \
        --max-minutes "$MAX_MINUTES" --model-version "recipe-$name" $opts \
        --note "Recipe comparison on a lent NVIDIA GPU (bench/gpu/compare_recipes.sh) from a lossless jpegtran copy of Original/." \
        >"/tmp/runs-$name.log" 2>&1 &
    pids+=($!)
done <<<"$RECIPES"
# Wait for the runs by pid: a bare wait would also wait for the tee above, which never ends.
wait "${pids[@]}"
stamp "trained"
for name in "${names[@]}"; do
    echo "--- $name"; tail -4 "/tmp/runs-$name.log"
    cp "/tmp/runs/$name/best.pt" "$OUT/$name.pt" 2>/dev/null || echo "$name: no best.pt"
    cp "/tmp/runs-$name.log" "/tmp/runs/$name/train.log" 2>/dev/null
done
(cd /tmp/runs && tar -cf "$OUT/runs.tar" ./*/run.json ./*/split.json ./*/train.log ./*/model/model.json 2>/dev/null)
stamp "done"
