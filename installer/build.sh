#!/usr/bin/env bash
# Build the one-folder bundle (labapp + labapp-batch) and the Linux tarball.
#
#   installer/build.sh [--flavor cpu|cuda] [--dist DIR] [--model-dir DIR]... [--no-tarball]
#                      [--require-gui] [--python PY]
#
# Produces DIST/labapp-<flavor>/ and DIST/labapp-<version>-linux-x86_64-<flavor>.tar.gz.
# The build runs in its own venv (build/venv-<flavor>) made from installer/constraints-<flavor>.txt,
# never in the development .venv: the cpu venv has no torch, so the cpu bundle cannot pick it up.
# --model-dir bundles a model dir other than resources/models/* (test builds only).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FLAVOR=cpu
DIST=dist
PY=${PYTHON:-python3}
TARBALL=1
SPEC_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --flavor) FLAVOR=$2; shift 2 ;;
        --flavor=*) FLAVOR=${1#*=}; shift ;;
        --dist) DIST=$2; shift 2 ;;
        --dist=*) DIST=${1#*=}; shift ;;
        --model-dir) SPEC_ARGS+=(--model-dir "$(cd "$2" && pwd)"); shift 2 ;;
        --model-dir=*) SPEC_ARGS+=(--model-dir "$(cd "${1#*=}" && pwd)"); shift ;;
        --python) PY=$2; shift 2 ;;
        --no-tarball) TARBALL=0; shift ;;
        --require-gui) SPEC_ARGS+=(--require-gui); shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
case "$FLAVOR" in cpu|cuda) ;; *) echo "build.sh: --flavor must be cpu or cuda" >&2; exit 2 ;; esac
mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)

CONSTRAINTS=installer/constraints-$FLAVOR.txt
VENV=build/venv-$FLAVOR
WORK=build/pyi-$FLAVOR
T0=$(date +%s)
step() { echo "[build.sh $(($(date +%s) - T0))s] $*"; }

# 1. The build venv: exact pins, nothing else; made again when another Python is asked for.
PYVER=$("$PY" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
if [ -x "$VENV/bin/python" ]; then
    HAVE=$("$VENV/bin/python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null || echo none)
    if [ "$HAVE" != "$PYVER" ]; then
        step "removing $VENV (Python $HAVE; $PY is $PYVER)"
        rm -rf "$VENV"
    fi
fi
if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV with $PY (Python $PYVER)"
    "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check -c "$CONSTRAINTS")
step "installing pinned packages from $CONSTRAINTS"
if [ "$FLAVOR" = cuda ]; then
    "${PIP[@]}" torch torchvision
fi
# The project's own dependencies (no torch in them), the [lab] extra (psycopg 3 with its bundled
# libpq: a lab network's PostgreSQL case store) and the optional RTL report shaping.
"${PIP[@]}" "pyinstaller==6.*" arabic-reshaper python-bidi "$ROOT[lab]"
"$VENV/bin/python" installer/check_pins.py "$CONSTRAINTS" --flavor "$FLAVOR"
if [ "$FLAVOR" = cpu ] && "$VENV/bin/python" -c "import importlib.util,sys; sys.exit(importlib.util.find_spec('torch') is None)"; then
    echo "build.sh: torch is installed in $VENV; the cpu build venv must not have it. rm -r $VENV" >&2
    exit 1
fi

# The X11 libraries of Qt's xcb plugin are bundled from this machine; a missing one would make the
# GUI need it on every clinic PC instead.
if [ "$(uname -s)" = Linux ] && command -v ldconfig >/dev/null; then
    missing=""
    libs=$(ldconfig -p)
    for lib in libxcb-cursor.so.0:libxcb-cursor0 libxcb-icccm.so.4:libxcb-icccm4 \
               libxcb-keysyms.so.1:libxcb-keysyms1 libxkbcommon-x11.so.0:libxkbcommon-x11-0; do
        case "$libs" in *"${lib%%:*}"*) ;; *) missing="$missing ${lib##*:}" ;; esac
    done
    if [ -n "$missing" ]; then
        echo "build.sh: WARNING: not on this build machine (apt-get install$missing): the GUI of this" >&2
        echo "build.sh: WARNING: bundle will need them on the clinic PC." >&2
    fi
fi

# 2. PyInstaller (one spec, two executables, one folder).
step "running PyInstaller"
"$VENV/bin/python" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" installer/labapp.spec -- --flavor "$FLAVOR" ${SPEC_ARGS[@]+"${SPEC_ARGS[@]}"}
BUNDLE=$DIST/labapp-$FLAVOR
# Installed per machine: every user must read the bundle (model files are written 0600).
chmod -R u+rwX,go+rX,go-w "$BUNDLE"
SIZE=$(du -sm "$BUNDLE" | cut -f1)
step "bundle $BUNDLE: ${SIZE} MB"
# The newest glibc symbol version any bundled binary needs: the oldest Linux the bundle runs on.
GLIBC_MIN=""
if command -v objdump >/dev/null; then
    GLIBC_MIN=$(find "$BUNDLE" -type f \( -name '*.so' -o -name '*.so.*' -o -name 'labapp*' \) -print0 |
                xargs -0 objdump -T 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/^GLIBC_//' |
                sort -V | tail -n 1 || true)
    step "the bundle needs glibc >= ${GLIBC_MIN:-?} on the target PC (this machine: $(ldd --version | sed -n '1s/.* //p'))"
fi

# 3. Linux tarball: the bundle + .desktop file + install note + install script.
if [ "$TARBALL" = 1 ]; then
    VERSION=$("$VENV/bin/python" -c "import json,sys; print(json.load(open(sys.argv[1]))['app_version'])" \
              "$BUNDLE/_internal/build_info.json")
    NAME=labapp-$VERSION-linux-$(uname -m)-$FLAVOR
    STAGE=build/tar-$FLAVOR
    rm -rf "$STAGE"
    mkdir -p "$STAGE/$NAME"
    cp -a "$BUNDLE/." "$STAGE/$NAME/"
    cp installer/linux/labapp.desktop installer/linux/INSTALL.txt "$STAGE/$NAME/"
    if [ -n "$GLIBC_MIN" ]; then
        printf '\nThis build needs glibc %s or newer (check: ldd --version), measured when it was built.\n' \
            "$GLIBC_MIN" >>"$STAGE/$NAME/INSTALL.txt"
    fi
    install -m 0755 installer/linux/install.sh "$STAGE/$NAME/install.sh"
    install -m 0755 installer/linux/uninstall.sh "$STAGE/$NAME/uninstall.sh"
    if [ -f resources/icons/labapp.png ]; then cp resources/icons/labapp.png "$STAGE/$NAME/labapp.png"; fi
    step "writing $DIST/$NAME.tar.gz"
    if command -v pigz >/dev/null; then GZ="pigz -6"; else GZ="gzip -6"; fi
    tar -C "$STAGE" --owner=0 --group=0 --numeric-owner --sort=name -cf - "$NAME" | $GZ > "$DIST/$NAME.tar.gz.part"
    mv "$DIST/$NAME.tar.gz.part" "$DIST/$NAME.tar.gz"
    rm -rf "$STAGE"
    step "tarball $DIST/$NAME.tar.gz: $(du -sm "$DIST/$NAME.tar.gz" | cut -f1) MB"
fi
step "done in $(($(date +%s) - T0)) s"
