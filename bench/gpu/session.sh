#!/usr/bin/env bash
# The one prepared command for a lent GPU machine (device tool, 15 minutes a session):
#   1. train the bundled model on CUDA (images preloaded and augmented on the GPU, bf16 autocast);
#   2. install it as the bundled model there and run the CUDA tests (CPU ONNX vs CUDA torch
#      parity, auto device choice) and labapp-batch --device cuda on the samples;
#   3. run the throughput benchmark on CUDA;
#   4. train the plain recipe with seed 1, for the seed spread on the fixed split (2.0.0 is the
#      plain recipe with seed 0).
# Everything worth keeping is copied to $OUT (at most 8 files come back).
#
# Prepare here: bash bench/gpu/pack_dataset.sh; reportlab's wheel in .whl/ (docs/gpu-training.md).
# Run there, from the repository root, carrying .devdata and .whl:  bash bench/gpu/session.sh
set -u
OUT=${OUT:-/tmp/gpu-out}
EPOCHS=${EPOCHS:-80}
IMG=${IMG:-224}
VERSION=${VERSION:-2.4.0}   # the new model's version (model.json, folder name)
MAX_MINUTES=${MAX_MINUTES:-5.5}
BUDGET_S=${BUDGET_S:-560}   # the whole script; a device command may run 600 s
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}   # DEVICE=cpu rehearses the script on a machine without a GPU
# Acquisition robustness (docs/robustness.md): colour constancy and a mild acquisition-shift
# augmentation; WHITE_BALANCE=0 ACQUISITION=0 repeats the 2.0.0 recipe.
WHITE_BALANCE=${WHITE_BALANCE:-1}
ACQUISITION=${ACQUISITION:-0.4}
ROBUST_ARGS=(--acquisition "$ACQUISITION")
[ "$WHITE_BALANCE" != 0 ] && ROBUST_ARGS+=(--white-balance)
# shellcheck source=bench/gpu/common.sh
source "$(dirname "$0")/common.sh"

stamp "train ${IMG} px, ${EPOCHS} epochs"
RUN=/tmp/run-gpu
$PY -m model.train "$DATA/Original" --out "$RUN" --img-size "$IMG" --epochs "$EPOCHS" \
    --patience 30 --device "$DEVICE" --seed 0 --max-minutes "$MAX_MINUTES" --model-version "$VERSION" \
    "${ROBUST_ARGS[@]}" \
    --note "Trained on a lent NVIDIA GPU from a lossless jpegtran copy of Original/ (pixel-identical; bench/gpu/pack_dataset.sh), re-exported on the CPU against the original files."
echo "train exit: $?"
for f in best.pt run.json split.json; do cp "$RUN/$f" "$OUT/" 2>/dev/null || echo "missing $f"; done

if [ -f "$RUN/model/model.json" ]; then
    stamp "CUDA tests with the new model"
    # The new model becomes the only bundled one, in a resources folder of its own (the
    # checkout's resources/models is never touched, so a rehearsal here is safe).
    RES=/tmp/gpu-resources
    rm -rf "$RES" && mkdir -p "$RES/models" && cp -r resources/fonts "$RES/" \
        && cp -r "$RUN/model" "$RES/models/mobilenetv2-all-$VERSION"
    export LABAPP_RESOURCES=$RES
    cp "$RUN/model/model.json" "$OUT/model-gpu-export.json"
    # Only the device tests: the whole files took over 120 s there (every engine start pays for
    # CUDA's initialisation), which a 15-minute lease cannot spare.
    LABAPP_DATASET_DIR=$DATA timeout 120 $PY -m pytest -q -p no:cacheprovider -rs \
        tests/unit/test_model_lifecycle.py -k "cuda or auto_device" 2>&1 | tail -8
    timeout 60 $PY -m lab_app.cli resources/samples --out /tmp/samples-cuda --device "$DEVICE" --quiet
    echo "labapp-batch --device $DEVICE on the samples: exit $?"
    stamp "robustness on split 0's validation fields (256 of them)"
    LABAPP_DATASET_DIR=$DATA timeout 150 $PY bench/robustness.py --model "$RUN/model" --limit 256 \
        --json "$OUT/robustness.json" | tail -25
    stamp "throughput on CUDA"
    LABAPP_DATASET_DIR=$DATA timeout 90 $PY bench/throughput.py --device "$DEVICE" --memory-n 0 | tee "$OUT/throughput-cuda.md"
fi
LEFT=$(( BUDGET_S - $(date +%s) + T0 ))
if [ "${SEED_CHECK:-1}" != 0 ] && [ "$LEFT" -gt 150 ]; then
    # The plain recipe's seed spread: a measurement for the notes, not a selection.
    stamp "seed 1, ${LEFT} s left"
    $PY -m model.train "$DATA/Original" --out /tmp/run-seed1 --img-size "$IMG" --epochs "$EPOCHS" \
        --patience 30 --device "$DEVICE" --seed 1 --max-minutes "$(( (LEFT - 45) / 60 )).$(( ((LEFT - 45) % 60) * 10 / 60 ))" \
        >/tmp/seed1.log 2>&1
    tail -3 /tmp/seed1.log
    cp /tmp/run-seed1/run.json "$OUT/run-seed1.json" 2>/dev/null || echo "seed 1 run.json missing"
fi
stamp "done"
