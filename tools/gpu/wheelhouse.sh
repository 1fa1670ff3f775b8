#!/usr/bin/env bash
# Wheels for a GPU machine without network (Python 3.12, x86-64 Linux, torch/lightning/torchmetrics already there):
# this package, sam2 (built here without its CUDA extension) and the dependencies such a machine lacks, into .whl/
# (ignored by git). Then tools/gpu/table.sh runs there. docs/benchmarks.md, "On a GPU", says how.
# Usage: bash tools/gpu/wheelhouse.sh [OUT_DIR]   (run in the repository root, with `make install` done)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-.whl}
py=.venv/bin/python
[[ -x $py ]] || { echo "no $py: run 'make install' first" >&2; exit 1; }
mkdir -p "$out" && rm -f "$out"/*.whl
rm -rf build  # pip wheel . builds in the checkout: no stale module from an earlier build
# The versions this checkout's tests run with (pip freeze of .venv), so the GPU machine runs the same code.
# Each name must be found (pip freeze's spelling), or the machine there would lack it.
pinned() {
    local found
    found=$($py -m pip freeze | grep -i -E "^($1)==") || true
    if [[ $(wc -l <<<"$found") -ne $(tr '|' '\n' <<<"$1" | wc -l) ]]; then
        echo "not all of $1 in $py's environment (found: ${found//$'\n'/ }); run 'make install'" >&2
        exit 1
    fi
    echo "$found"
}
# typing_extensions too: pydantic_core needs a newer one than such a machine may have
binary="albumentations|albucore|pydantic|pydantic_core|annotated-types|typing-inspection|typing_extensions"
binary+="|stringzilla|simsimd|jsonargparse|docstring_parser|typeshed_client|hydra-core|omegaconf|pysodmetrics"
source_only="antlr4-python3-runtime|iopath"
found=$(pinned "$binary")
mapfile -t binaries <<<"$found"
found=$(pinned "$source_only")
mapfile -t sources <<<"$found"
sam2=$(pinned sam2)
$py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$out" "${binaries[@]}"
$py -m pip wheel -q --no-deps -w "$out" "${sources[@]}"
SAM2_BUILD_CUDA=0 $py -m pip wheel -q --no-deps --no-build-isolation -w "$out" "$sam2"
$py -m pip wheel -q --no-deps -w "$out" .
ls "$out"
du -sh "$out"
