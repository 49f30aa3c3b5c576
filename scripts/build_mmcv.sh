#!/usr/bin/env bash
# Build mmcv (full, with its CPU ops) once per machine and keep the wheel in a cache.
#
#   scripts/build_mmcv.sh [PYTHON [CONSTRAINTS]]    prints the path of the cached wheel
#
# mmcv 2.x is published for Linux only as a source package (OpenMMLab's own wheel index serves CUDA builds
# per torch version, and none for torch 2.14). Its setup.py hard-codes `-std=c++14` (c++17 for torch 2.0);
# torch 2.14's headers need C++20, so for torch >= 2 the unpacked sdist is switched to `-std=c++20` before the
# build. Against the images' torch 1.8.1 (Python 3.8) it builds unchanged. Nothing else is changed.
# The images take theirs from OpenMMLab's wheel index (dockerfiles/pins); this build is for the test stacks.
# CONSTRAINTS: the stack's constraints file (constraints.txt, or constraints-images.txt for .venv-images).
#
# Idempotent: the wheel is keyed by mmcv version, torch version and Python tag; a second call returns at once.
# Safe: builds in a temporary folder inside the cache and renames the finished wheel into place, under a lock,
# so an interrupted build never leaves a wheel that a later install would take. ~11 min on 2 cores with ninja.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${1:-${PY:-$ROOT/.venv/bin/python}}
if [[ "$PY" == */* ]]; then  # absolute, without resolving the venv's symlink (the build runs in another folder)
    PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"
fi
CONSTRAINTS=${2:-$ROOT/constraints.txt}
VERSION=${MMCV_VERSION:-2.0.1}
JOBS=${MAX_JOBS:-$(nproc)}
TORCH=$("$PY" -c 'import torch; print(torch.__version__.split("+")[0])')
PYTAG=$("$PY" -c 'import sys; print("cp%d%d" % sys.version_info[:2])')
CACHE=${YMIR_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ymir-executors/wheels}/torch-$TORCH-$PYTAG
mkdir -p "$CACHE"

find_wheel() { find "$CACHE" -maxdepth 1 -name "mmcv-$VERSION-*.whl" | head -n 1; }

exec 9>"$CACHE/.mmcv-$VERSION.lock"
flock 9
wheel=$(find_wheel)
if [ -n "$wheel" ]; then
    echo "$wheel"
    exit 0
fi

work=$(mktemp -d "$CACHE/.build-XXXXXX")
trap 'rm -rf "$work"' EXIT
# ninja lets torch's extension builder compile MAX_JOBS files at once (without it the build is serial: ~23 min);
# a setuptools with bdist_wheel (and wheel) for `pip wheel --no-build-isolation`
"$PY" -m pip install -q -U -c "$CONSTRAINTS" ninja wheel setuptools >&2
echo "building mmcv $VERSION with ops for torch $TORCH ($PYTAG), $JOBS jobs; about 11 min on 2 cores (6 for torch 1.8)" >&2
"$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$VERSION" -d "$work" >&2
tar -xzf "$work/mmcv-$VERSION.tar.gz" -C "$work"
src="$work/mmcv-$VERSION"
if [ "${TORCH%%.*}" -ge 2 ]; then
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    grep -q -- '-std=c++20' "$src/setup.py"
fi
(cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$JOBS \
    "$PY" -m pip wheel -q --no-deps --no-build-isolation . -w "$work/dist" >&2)
built=$(find "$work/dist" -name "mmcv-$VERSION-*.whl" | head -n 1)
test -n "$built"
mv "$built" "$CACHE/"    # a rename within one file system: the wheel appears whole or not at all
find_wheel
