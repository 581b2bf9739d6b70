#!/usr/bin/env bash
# The view-comparison experiment, prepared to run first time: view-comparison pretraining
# on pair data, then T2I answered directly (no T2I label) and after fine-tuning, beside the
# same network trained from scratch and the supervised early-fusion model on the same T2I
# data; one seed each, every number on the same test questions.
#
#   benchmarks/view_comparison_gpu.sh prepare ARCHIVE [SCALE]   # where OpenCascade is: make the data
#   benchmarks/view_comparison_gpu.sh run ARCHIVE OUT [SCALE]   # train, evaluate, report
#
# Scales:
#   gpu (default)  one H100/H200 with a 16-core host that has torch but may lack OpenCascade,
#                  under 10 minutes: pairs of 4,000 models and T2I questions of 2,000 others,
#                  5 primitives, 128 px; the paper's VGG-16 network (four encoders) and its
#                  12-channel variant. The archive is about 45 MB: under the 64 MiB a GPU call carries.
#   cpu            the 2-core CPU protocol of docs/pretraining.md (about 25 minutes with prepare):
#                  pairs of 2,000 models, T2I of 500 others, 3 primitives, 64 px, ResNet-18.
#   tiny           seconds on a CPU, to check the script (the test suite runs it).
# `prepare` generates pairs and T2I questions (packed; other seeds for T2I, so no model is
# shared) and packs them as ARCHIVE (.tar.xz). `run` needs only this checkout (PYTHONPATH,
# no install) and python3 with torch, torchvision, numpy, tqdm and pyyaml; it writes
# OUT/results.md and OUT/results.json, and the runs under OUT/runs.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
spare3d() { "$PYTHON" -m spare3d_bench.cli "$@"; }

scale() {
    # VARIANTS: the view-comparison networks to pretrain, as name:--arch switches (comma-separated).
    case "$1" in
        gpu) PAIRS=4000 T2I=2000 PRIMS=5 SIZE=128 BACKBONE=vgg16 BATCH=64 VC_EPOCHS=20 FT_EPOCHS=20 SUP_EPOCHS=30
             VC_LR=1e-4 FT_LR=5e-5 SUP_LR=2e-4 DEVICE=auto
             VARIANTS="four-branch:hidden=4096 twelve-channel:hidden=1024,branches=1,dropout=0" ;;
        cpu) PAIRS=2000 T2I=500 PRIMS=3 SIZE=64 BACKBONE=resnet18 BATCH=16 VC_EPOCHS=8 FT_EPOCHS=15 SUP_EPOCHS=15
             VC_LR=3e-4 FT_LR=1e-4 SUP_LR=1e-4 DEVICE=cpu VARIANTS="twelve-channel:hidden=256,branches=1,dropout=0" ;;
        tiny) PAIRS=24 T2I=24 PRIMS=3 SIZE=32 BACKBONE=resnet18 BATCH=4 VC_EPOCHS=1 FT_EPOCHS=1 SUP_EPOCHS=1
              VC_LR=1e-3 FT_LR=1e-3 SUP_LR=1e-3 DEVICE=cpu VARIANTS="twelve-channel:hidden=32,branches=1,dropout=0" ;;
        *) echo "unknown scale '$1' (gpu, cpu or tiny)" >&2; exit 2 ;;
    esac
}

prepare() {
    local archive="$1"
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    local common=(--primitives "$PRIMS" --size "$SIZE" --layout packed --workers "$(nproc)" --quiet)
    spare3d generate pairs --csg "$PAIRS" --seed 1 --split 0.9,0.1,0 --out "$WORK/pairs" "${common[@]}"
    spare3d generate t2i --csg "$T2I" --seed 2 --split 0.5,0.1,0.4 --out "$WORK/t2i" "${common[@]}"
    tar -C "$WORK" --exclude=.spare3d -cJf "$archive" pairs t2i
    ls -l "$archive"
}

run() {
    local archive="$1" out="$2"
    mkdir -p "$out/data" "$out/runs"
    tar -C "$out/data" -xJf "$archive"
    local pairs="$out/data/pairs" t2i="$out/data/t2i" runs="$out/runs" rows="$out/rows.tsv"
    local train=(--device "$DEVICE" --batch-size "$BATCH" --optimizer adamw --weight-decay 0.05 --quiet)
    : > "$rows"
    timed() {  # timed NAME RUN COMMAND...: run COMMAND, evaluate RUN on the T2I test split, note the row
        local name="$1" run="$2" t0; shift 2
        t0=$(date +%s%N)
        "$@"
        local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
        spare3d evaluate "$run" --data "$t2i" --name test --device "$DEVICE"
        printf '%s\t%s\t%s\n' "$name" "$run" "$ms" >> "$rows"
    }
    local variant name switches arch
    for variant in $VARIANTS; do
        name="${variant%%:*}" switches="${variant#*:}"
        arch=()
        for s in ${switches//,/ }; do arch+=(--arch "$s"); done
        timed "view comparison ($name), pretrained on pairs, direct (no T2I label)" "$runs/vc-$name" \
            spare3d pretrain --method view-comparison --model "$BACKBONE-compare" "${arch[@]}" --data "$pairs" \
            --out "$runs/vc-$name" --epochs "$VC_EPOCHS" --lr "$VC_LR" "${train[@]}"
        timed "view comparison ($name), fine-tuned on T2I" "$runs/ft-$name" \
            spare3d train --init "$runs/vc-$name" --data "$t2i" --out "$runs/ft-$name" --epochs "$FT_EPOCHS" \
            --lr "$FT_LR" "${train[@]}"
    done
    timed "the same network ($name) from scratch on T2I" "$runs/scratch-$name" \
        spare3d train --model "$BACKBONE-compare" "${arch[@]}" --data "$t2i" --out "$runs/scratch-$name" \
        --epochs "$FT_EPOCHS" --lr "$FT_LR" "${train[@]}"
    timed "supervised early fusion on T2I" "$runs/early-fusion" \
        spare3d train --model "$BACKBONE-early" --data "$t2i" --out "$runs/early-fusion" --epochs "$SUP_EPOCHS" \
        --lr "$SUP_LR" "${train[@]}"
    "$PYTHON" - "$out" <<'EOF'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
table = ["| T2I protocol | model | test accuracy | 95% CI | questions | training s |", "|---|---|---|---|---|---|"]
record = []
for line in (out / "rows.tsv").read_text().splitlines():
    name, run, ms = line.split("\t")
    e = json.loads((Path(run) / "eval" / "test.json").read_text())
    lo, hi = e["ci95"]
    table.append(f"| {name} | {e['model']} | {100 * e['accuracy']:.1f}% | {100 * lo:.1f}-{100 * hi:.1f}% | "
                 f"{e['questions']} | {int(ms) / 1000:.0f} |")
    record.append({"protocol": name, "seconds": int(ms) / 1000, **e})
(out / "results.md").write_text("\n".join(table) + "\n")
(out / "results.json").write_text(json.dumps(record, indent=1) + "\n")
print("\n".join(table))
EOF
}

case "${1:-}" in
    prepare) [ $# -ge 2 ] || { echo "usage: $0 prepare ARCHIVE [SCALE]" >&2; exit 2; }
             scale "${3:-gpu}"; prepare "$2" ;;
    run) [ $# -ge 3 ] || { echo "usage: $0 run ARCHIVE OUT [SCALE]" >&2; exit 2; }
         scale "${4:-gpu}"; run "$2" "$3" ;;
    *) echo "usage: $0 prepare ARCHIVE [SCALE] | run ARCHIVE OUT [SCALE]" >&2; exit 2 ;;
esac
