#!/usr/bin/env bash
# CI: build the cpu bundle and check it the way a clinic PC runs it (pytest tests/installer -m installer).
#
# Needs a model to bundle: resources/models/<name>/ (the release model). Until that exists, a tiny
# test model is trained (about 20 s) from the shared data set with the development .venv; without
# either there is nothing to check and the script says so and exits 0.
# Sample images: resources/samples, else two images per class copied from the data set.
# LABAPP_SKIP_INSTALLER_CHECK=1 skips the whole check (e.g. for a quick local CI run).
#
# The Windows twin is installer/windows/ci-windows.ps1 (.github/workflows/windows-installer.yml);
# the steps match one for one:
#   build          build.sh --flavor cpu                  | build.ps1 --flavor cpu (PowerShell 5.1)
#   bundle checks  pytest tests/installer -m installer    | the same, on the built bundle
#   install        test_linux_install_and_uninstall_keep_data (tarball install.sh)
#                                                         | setup.exe /VERYSILENT /TASKS=...,shareddata
#   batch report   test_batch_report_offline_without_python | installed labapp-batch.exe --report
#   real window    test_gui_on_x11 (Xvfb, xcb plugin)     | labapp.exe --screenshot, windows plugin
#   lab network    test_batch_loads_the_postgresql_driver (psycopg and its libpq are bundled),
#                  test_batch_report_to_a_postgresql_store (a throwaway PostgreSQL 15, tests/fixtures_pg.py)
#                                                         | the driver check; no server there
#   uninstall      uninstall.sh; case database unchanged  | unins000.exe; both databases unchanged
set -euo pipefail
cd "$(dirname "$0")/.."
T0=$(date +%s)
if [ -n "${LABAPP_SKIP_INSTALLER_CHECK:-}" ]; then
    echo "ci-check: skipped (LABAPP_SKIP_INSTALLER_CHECK is set)"
    exit 0
fi
mkdir -p build
# Build-machine packages: the X11 libraries the bundle takes along for Qt's xcb plugin, Xvfb
# for the test that starts the GUI on a real (virtual) X server, and PostgreSQL (initdb/pg_ctl)
# for the frozen batch's lab-network check.
APT_PKGS="libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxkbcommon-x11-0 xvfb postgresql"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && command -v dpkg-query >/dev/null; then
    need=""
    for p in $APT_PKGS; do
        [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need="$need $p"
    done
    if [ -n "$need" ]; then
        echo "ci-check: apt-get install$need"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends $need; } >build/ci-apt.log 2>&1 ||
            echo "ci-check: WARNING: apt-get failed (see build/ci-apt.log); building without$need"
    fi
fi
DATA=${LABAPP_DATASET_DIR:-$(cd .. && pwd)/shared/data/all-taleqani}/Original
CLASSES="Benign Early Pre Pro"
WORK=build/ci-installer
BUILD_ARGS=(--flavor cpu --dist dist)

if ! ls resources/models/*/model.json >/dev/null 2>&1; then
    if [ ! -d "$DATA" ] || [ ! -x .venv/bin/python ]; then
        echo "ci-check: no model in resources/models and no data set ($DATA) to train a test model:"
        echo "ci-check: nothing to bundle, installer check NOT run."
        exit 0
    fi
    echo "ci-check: resources/models is empty; training a tiny test model for the bundle"
    rm -rf "$WORK/model-data" "$WORK/model-run"
    for c in $CLASSES; do
        mkdir -p "$WORK/model-data/$c"
        find "$DATA/$c" -maxdepth 1 -type f -iname '*.jpg' | sort | sed -n '1,8p' |
            while read -r f; do ln -s "$f" "$WORK/model-data/$c/"; done
    done
    .venv/bin/python -m model.train "$WORK/model-data" --out "$WORK/model-run" --epochs 1 \
        --img-size 64 --name ci-test-model >"$WORK/train.log" 2>&1 || { cat "$WORK/train.log"; exit 1; }
    BUILD_ARGS+=(--model-dir "$WORK/model-run/model")
fi

if [ -z "$(find resources/samples -type f \( -iname '*.jpg' -o -iname '*.png' -o -iname '*.tif*' \
              -o -iname '*.bmp' \) -print -quit 2>/dev/null)" ]; then
    if [ -d "$DATA" ]; then
        rm -rf "$WORK/samples"
        mkdir -p "$WORK/samples"
        for c in $CLASSES; do
            find "$DATA/$c" -maxdepth 1 -type f -iname '*.jpg' | sort | sed -n '20,21p' |
                while read -r f; do cp "$f" "$WORK/samples/"; done
        done
        export LABAPP_TEST_SAMPLES=$PWD/$WORK/samples
        echo "ci-check: resources/samples is empty; testing with $LABAPP_TEST_SAMPLES"
    fi
fi

bash installer/build.sh "${BUILD_ARGS[@]}"
T1=$(date +%s)
export LABAPP_BUNDLE=$PWD/dist/labapp-cpu
set +e
.venv/bin/python -m pytest tests/installer -m installer -v -rs -p no:cacheprovider
rc=$?
set -e
echo "ci-check: build $((T1 - T0)) s, installer tests $(($(date +%s) - T1)) s, bundle $(du -sm "$LABAPP_BUNDLE" | cut -f1) MB"
exit $rc
