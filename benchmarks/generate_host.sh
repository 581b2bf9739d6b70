#!/usr/bin/env bash
# The mesh engine on a many-core host (a GPU box without OpenCascade): time the SPARE3D-CSG
# T2I set of datasets/recipes/spare3d-csg-t2i-mesh.yaml (28 primitives, 200 px) with one
# worker per core, and project a 40,000-question set from the rate.
#
#   benchmarks/generate_host.sh [QUESTIONS] [WORKERS] [LIMIT_S]
#
# QUESTIONS models, one question each (default 5000); WORKERS processes (default: the
# cores); LIMIT_S stops the job after that many seconds (default 0: none) and takes the
# rate from the questions done by then (the job is resumable; `spare3d status` counts
# them while it runs). The status is printed every 30 s, so a run cut short by its caller
# still shows its progress. Needs only this checkout (PYTHONPATH, no install) and python3
# with numpy, opencv, scipy, tqdm, pyyaml, trimesh, embreex and manifold3d.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
N="${1:-5000}" WORKERS="${2:-$(nproc)}" LIMIT="${3:-0}"
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
status() { "$PYTHON" -m spare3d_bench.cli status "$OUT/t2i"; }

echo "T2I, mesh engine, $N models of 28 primitives at 200 px, $WORKERS workers on $(nproc) cores"
t0=$(date +%s%N)
timeout "$LIMIT" "$PYTHON" -m spare3d_bench.cli generate --recipe "$ROOT/datasets/recipes/spare3d-csg-t2i-mesh.yaml" \
    --csg "$N" --workers "$WORKERS" --out "$OUT/t2i" --quiet &
job=$!
next=30
while kill -0 "$job" 2>/dev/null; do
    sleep 1
    if [ $(( ($(date +%s%N) - t0) / 1000000000 )) -ge "$next" ]; then
        echo "${next} s: $(status)"
        next=$((next + 30))
    fi
done
rc=0
wait "$job" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
line="$(status)"
echo "$line"
done_n="$(sed -E 's/.*: ([0-9]+) done.*/\1/' <<<"$line")"
case "$rc" in
    0) how="all $N questions, assembled" ;;
    124) how="stopped at the ${LIMIT} s limit" ;;
    *) echo "spare3d generate failed (exit $rc)" >&2; exit "$rc" ;;
esac
"$PYTHON" - "$done_n" "$ms" "$how" <<'EOF'
import sys

done, ms, how = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rate = done / (ms / 1000)
print(f"{done} questions in {ms / 1000:.1f} s ({how}): {rate:.1f} questions/s")
if rate:
    print(f"5,000 questions: {5000 / rate / 60:.1f} min; 40,000: {40000 / rate / 60:.1f} min at this rate")
EOF
