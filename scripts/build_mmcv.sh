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
# so an interrupted build never leaves a wheel that a later install would take.
#
# Fast: the ops are compiled with `-g0 -O1` (MMCV_CFLAGS) instead of Python's `-g -O3`: measured on one op file
# against torch 2.14's headers, 24 s -> 12-14 s and a 40-70x smaller object (no debug information); the test
# stacks run the ops on tiny inputs, and the images install OpenMMLab's own wheels. Appended to CFLAGS, which
# the extension builder places after Python's flags (the last -O/-g wins). A precompiled torch header did not
# pay (60 s and 755 MB to make, and g++ did not take it for the op files). With the unity build below, the
# three stacks' builds side by side (make -j3) took about 12 min on 2 cores, 2026-12-03 (about 21 one after the
# other before).
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
echo "building mmcv $VERSION with ops for torch $TORCH ($PYTAG), $JOBS jobs (the three stacks side by side: about 12 min on 2 cores)" >&2
"$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation "mmcv==$VERSION" -d "$work" >&2
tar -xzf "$work/mmcv-$VERSION.tar.gz" -C "$work"
src="$work/mmcv-$VERSION"
if [ "${TORCH%%.*}" -ge 2 ]; then
    sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$src/setup.py"
    grep -q -- '-std=c++20' "$src/setup.py"
fi
# Unity build of the op wrappers: mmcv/ops/csrc/pytorch/*.cpp (63 thin files that bind each op to its device
# kernels) are compiled a group at a time, each group one translation unit that #includes its files, so torch's
# headers - most of each file's compile time - are parsed once per group instead of once per file. The files'
# text is unchanged: they move to a unity/ folder beside setup.py's glob, which then finds the group files. Left
# on their own: pybind.cpp and info.cpp (the module) and the files that define statics or `using namespace` that
# would leak into the next file of a group. The CPU kernels (pytorch/cpu) stay one file each: several define
# helper templates of the same name (PreCalc, bilinear_interpolate_gradient). MMCV_UNITY=0: the plain build.
unity() {  # FOLDER GROUPS
    local dir=$1 groups=$2 i=0 f
    mkdir "$dir/unity"
    for f in "$dir"/*.cpp; do
        case "$(basename "$f")" in
            pybind.cpp|info.cpp|psamask.cpp|sparse_*.cpp|contour_expand.cpp|scatter_points.cpp) continue ;;
        esac
        mv "$f" "$dir/unity/"
        echo "#include \"unity/$(basename "$f")\"" >> "$dir/unity_$(( i % groups )).cpp"
        i=$(( i + 1 ))
    done
}
[ "${MMCV_UNITY:-1}" = 0 ] || unity "$src/mmcv/ops/csrc/pytorch" "$(( JOBS * 2 ))"
(cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$JOBS CFLAGS="${CFLAGS:-} ${MMCV_CFLAGS:--g0 -O1}" \
    "$PY" -m pip wheel -q --no-deps --no-build-isolation . -w "$work/dist" >&2)
built=$(find "$work/dist" -name "mmcv-$VERSION-*.whl" | head -n 1)
test -n "$built"
mv "$built" "$CACHE/"    # a rename within one file system: the wheel appears whole or not at all
find_wheel
