#!/usr/bin/env bash
# The packages a lent GPU box lacks (Python 3.12, torch preinstalled, no package registry),
# as wheels fetched here and carried there, at the versions requirements.lock pins.
#
#   benchmarks/gpu_wheels.sh list [ssl|all]            # the pinned requirements of the set
#   benchmarks/gpu_wheels.sh fetch [ssl|all] [DIR]     # here: their cp312 manylinux wheels into DIR (.whl)
#   benchmarks/gpu_wheels.sh install [DIR]             # there: install DIR's wheels, no index, and print versions
#
# Sets:
#   ssl  kornia, kornia_rs, timm (10 MB): benchmarks/ssl_gpu.sh and ssl_throughput.py. The box's
#        own timm may be older than the lock's, whose LARS never waits for the device.
#   all  those, and trimesh, manifold3d, embreex (26 MB): bench_gpu.sh, which generates on the
#        box's host without OpenCascade.
# DIR (default .whl, which git ignores) then travels with the device call (carry: [".whl"]),
# beside the data, within the 64 MiB a call carries.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
LOCK="$ROOT/requirements.lock"

packages() {  # packages SET: the names of a set
    case "$1" in
        ssl) echo "kornia kornia_rs timm" ;;
        all) echo "kornia kornia_rs timm trimesh manifold3d embreex" ;;
        *) echo "unknown set '$1': ssl or all" >&2; exit 2 ;;
    esac
}

pinned() {  # pinned SET: NAME==VERSION of each package of the set, from the lock
    local name line names
    names="$(packages "$1")" || exit 2
    for name in $names; do
        line="$(grep -i -E "^${name}==" "$LOCK" || true)"
        [[ -n "$line" ]] || { echo "$LOCK pins no version of $name" >&2; exit 2; }
        echo "$line"
    done
}

case "${1:-}" in
    list)
        pinned "${2:-ssl}" ;;
    fetch)
        specs="$(pinned "${2:-ssl}")"
        dir="${3:-$ROOT/.whl}"
        mkdir -p "$dir"
        # shellcheck disable=SC2086  # one argument per requirement
        python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --abi cp312 --abi abi3 --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
            --platform manylinux2014_x86_64 --platform any --dest "$dir" $specs
        ls -l "$dir"
        du -sh "$dir" ;;
    install)
        dir="${2:-$ROOT/.whl}"
        shopt -s nullglob
        wheels=("$dir"/*.whl)
        (( ${#wheels[@]} )) || { echo "$dir: no wheels (benchmarks/gpu_wheels.sh fetch, then carry it)" >&2; exit 2; }
        python3 -m pip install --quiet --no-index --no-deps "${wheels[@]}"
        python3 -m pip list 2>/dev/null | grep -i -E "^(torch|torchvision|kornia|kornia.rs|timm|trimesh|manifold3d|embreex) " \
            || true ;;
    *)
        sed -n '2,16p' "$0" >&2
        exit 2 ;;
esac
