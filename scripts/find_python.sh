#!/usr/bin/env bash
# Print the path of a Python interpreter of the given version (e.g. 3.8): on PATH as python3.8, or one that
# pyenv installed. Exits 1 with a message saying how to get one when there is none.
#
#   scripts/find_python.sh 3.8
set -euo pipefail
want=${1:?usage: find_python.sh MAJOR.MINOR}
ok() { [ -x "$1" ] && [ "$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$want" ]; }
candidates=()
[ -n "${PYTHON38:-}" ] && candidates+=("$PYTHON38")
command -v "python$want" >/dev/null 2>&1 && candidates+=("$(command -v "python$want")")
root=${PYENV_ROOT:-$HOME/.pyenv}
for d in "$root"/versions/"$want".*; do
    [ -d "$d" ] && candidates+=("$d/bin/python$want")
done
for c in "${candidates[@]}"; do
    if ok "$c"; then
        echo "$c"
        exit 0
    fi
done
echo "no Python $want found (looked for \$PYTHON38, python$want on PATH and pyenv's $root/versions/$want.*);" \
     "the images' stack needs one: install it, e.g. 'pyenv install $want', or set PYTHON38=/path/to/python$want" >&2
exit 1
