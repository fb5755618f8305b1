#!/bin/sh
# Install ALL Subtype Workstation from this unpacked folder.
#   sudo ./install.sh                 -> /opt/labapp, /usr/local/bin, menu entry for all users
#   ./install.sh --prefix DIR         -> DIR (a user install: ~/.local/bin, your menu only)
#   --bin DIR / --menu DIR            where the command links / the .desktop file go instead
# The case database and settings live in each user's data folder and are never touched here.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" = 0 ]; then
    PREFIX=/opt/labapp; BIN=/usr/local/bin; APPS=/usr/share/applications
else
    PREFIX=$HOME/.local/opt/labapp; BIN=$HOME/.local/bin; APPS=$HOME/.local/share/applications
fi
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --bin) BIN=$2; shift 2 ;;
        --menu) APPS=$2; shift 2 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
if [ ! -x "$HERE/labapp-batch" ]; then
    echo "install.sh: run it from the unpacked labapp-... folder" >&2; exit 1
fi
if [ "$HERE" != "$PREFIX" ]; then
    if [ -e "$PREFIX" ]; then
        echo "Replacing the previous installation in $PREFIX"
        rm -rf "$PREFIX"
    fi
    mkdir -p "$(dirname "$PREFIX")"
    cp -a "$HERE" "$PREFIX"
fi
chmod -R u+rwX,go+rX,go-w "$PREFIX"
mkdir -p "$BIN" "$APPS"
for exe in labapp labapp-batch labapp-report labapp-users; do
    if [ -x "$PREFIX/$exe" ]; then ln -sf "$PREFIX/$exe" "$BIN/$exe"; fi
done
if [ -x "$PREFIX/labapp" ]; then
    sed -e "s#/opt/labapp#$PREFIX#g" "$PREFIX/labapp.desktop" > "$APPS/labapp.desktop"
    [ -f "$PREFIX/labapp.png" ] || sed -i '/^Icon=/d' "$APPS/labapp.desktop"
    chmod 0644 "$APPS/labapp.desktop"
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$APPS" 2>/dev/null || true
fi
echo "Installed in $PREFIX; commands: $BIN/labapp, $BIN/labapp-batch, $BIN/labapp-report, $BIN/labapp-users"
echo "Check it: $BIN/labapp-batch $PREFIX/_internal/resources/samples --out /tmp/labapp-check"
