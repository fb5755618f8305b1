#!/bin/sh
# Remove ALL Subtype Workstation (program files, commands, menu entry). The case database,
# reports and settings in each user's data folder (~/.local/share/ALL-Workstation,
# ~/.config/ALL-Workstation) are kept; delete them by hand only if the lab no longer needs them.
set -eu
if [ "$(id -u)" = 0 ]; then
    PREFIX=/opt/labapp; BIN=/usr/local/bin; APPS=/usr/share/applications
else
    PREFIX=$HOME/.local/opt/labapp; BIN=$HOME/.local/bin; APPS=$HOME/.local/share/applications
fi
# --prefix DIR, --bin DIR, --menu DIR: the same places install.sh was given.
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --bin) BIN=$2; shift 2 ;;
        --menu) APPS=$2; shift 2 ;;
        *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
for exe in labapp labapp-batch labapp-report labapp-users; do
    if [ -L "$BIN/$exe" ] && [ "$(readlink "$BIN/$exe")" = "$PREFIX/$exe" ]; then rm -f "$BIN/$exe"; fi
done
rm -f "$APPS/labapp.desktop"
if [ -x "$PREFIX/labapp-batch" ] && [ -d "$PREFIX/_internal" ]; then
    rm -rf "$PREFIX"
fi
echo "Removed $PREFIX. Case data kept in each user's ~/.local/share/ALL-Workstation."
