#!/usr/bin/env bash
# A built-in suite on a lent GPU machine, in commands of bounded length: each call runs
# `spare3d bench` until LIMIT_S seconds have passed, then writes the report of what is done.
# The stage store is resumable, so a second call continues where the first stopped (on a
# machine still warm, its data and runs are there; on a fresh one the generation stages run
# again and give the same bytes).
#
#   benchmarks/bench_gpu.sh SUITE SCALE OUT [LIMIT_S] [EXPERIMENT...]
#
# e.g. `benchmarks/bench_gpu.sh paper-ssl gpu "$OUT" 460 t2i-methods t2i-ssl` then the same
# with `i2p p2i`. Data are generated on the host (the suites' mesh engine, one process per
# core); training and evaluation take the GPU. Needs only this checkout (PYTHONPATH, no
# install) and python3 with torch, torchvision, numpy, scipy, tqdm, pyyaml, matplotlib,
# kornia, timm, scikit-learn, trimesh, manifold3d and embreex.
# Environment: WORKERS (generation processes, default: the cores), DEVICE (default auto),
# STORE (the stage store, default datasets/output/bench of this checkout), PYTHON.
# Writes OUT/results.sqlite, OUT/results.csv, OUT/report/ (report.md, report.html, figures)
# and OUT/bench.log; exits with the bench's status (124: stopped at LIMIT_S, run it again).
set -uo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 SUITE SCALE OUT [LIMIT_S] [EXPERIMENT...]" >&2
    exit 2
fi
SUITE="$1" SCALE="$2" OUT="$3" LIMIT="${4:-540}"
shift $(( $# < 4 ? $# : 4 ))
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
STORE="${STORE:-$ROOT/datasets/output/bench}"
spare3d() { "$PYTHON" -m spare3d_bench.cli "$@"; }

EXPERIMENTS=()
for e in "$@"; do EXPERIMENTS+=(--experiment "$e"); done
mkdir -p "$OUT"
T0=$(date +%s)
# timeout runs a program, not the spare3d function, hence the module spelled out
timeout -s TERM "$LIMIT" "$PYTHON" -m spare3d_bench.cli bench "$SUITE" --scale "$SCALE" \
    --device "${DEVICE:-auto}" --workers "${WORKERS:-$(nproc)}" --root "$STORE" --quiet "${EXPERIMENTS[@]}" \
    > "$OUT/bench.log" 2>&1
RC=$?
echo "bench exit $RC after $(( $(date +%s) - T0 )) s" | tee -a "$OUT/bench.log"
[ -f "$STORE/results.sqlite" ] || { tail -20 "$OUT/bench.log" >&2; exit "$RC"; }
cp "$STORE/results.sqlite" "$OUT/results.sqlite"
spare3d results export "$STORE/results.sqlite" --csv --out "$OUT/results.csv"
spare3d report "$STORE/results.sqlite" --out "$OUT/report" --gallery 1 >> "$OUT/bench.log" 2>&1 \
    || echo "report failed: see $OUT/bench.log" >&2
tail -5 "$OUT/bench.log"
exit "$RC"
