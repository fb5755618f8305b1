#!/usr/bin/env bash
# Create .venv with everything needed to run, train and test (idempotent; about 3 minutes).
# torch/torchvision are pinned to the releases kept on the build machines' disk.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.14.1" "torchvision==0.29.1"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[train,test,lab]"
echo "setup-dev: .venv ready ($(.venv/bin/python -c 'import lab_app; print("labapp", lab_app.__version__)'))"
