# Sourced by the lent-GPU scripts (session.sh, compare_recipes.sh) after they set OUT and PY:
# logs everything to $OUT/session.log, prints the machine and library versions, installs any
# carried wheels (.whl/), and unpacks the carried data set into $DATA.
mkdir -p "$OUT"
exec > >(tee "$OUT/session.log") 2>&1
export PYTHONUNBUFFERED=1
T0=$(date +%s)
stamp() { echo "=== [$(( $(date +%s) - T0 )) s] $*"; }

stamp "machine"
nvidia-smi -L || true
if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
$PY -c "import sys, torch, torchvision, numpy, cv2, onnxruntime; print(sys.version.split()[0], 'torch', torch.__version__, 'torchvision', torchvision.__version__, 'numpy', numpy.__version__, 'cv2', cv2.__version__, 'ort', onnxruntime.__version__, 'cuda', torch.cuda.is_available())"

stamp "data"
DATA=/tmp/all-taleqani
mkdir -p "$DATA" && tar -xf .devdata/Original.tar -C "$DATA" && find "$DATA/Original" -type f | wc -l
