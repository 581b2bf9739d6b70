#!/usr/bin/env bash
# SimCLR, MoCo v2, CLSA and DisCo pretrained on the same drawings, then probed on the same
# test drawings beside randomly initialised encoders: one prepared script. The pose data are
# split 70/10/20 by model: each run keeps as best.pt the epoch with the highest kNN pose
# accuracy on the validation split, and the probes score the test split, which no choice saw.
#
#   benchmarks/ssl_gpu.sh prepare ARCHIVE [SCALE]   # where OpenCascade is: make the pose data
#   benchmarks/ssl_gpu.sh run ARCHIVE OUT [SCALE]   # pretrain, probe, report
#
# Scales:
#   gpu (default)  one H100/H200 with a 16-core host that has torch but may lack OpenCascade,
#                  a 10-minute command of its own (docs/benchmarks.md has a first H200 run):
#                  pose data of 2,500 models (27,500 drawings), 3 primitives, 128 px, shipped
#                  as a .tar.xz (31 MB) under the 64 MiB a GPU call carries; ResNet-18 encoders
#                  (DisCo: a MobileNet-v3 student of the MoCo run), batch 256, 8 epochs.
#   cpu            the 2-core CPU protocol of docs/pretraining.md: 500 models at 64 px, 4 epochs.
#   tiny           seconds on a CPU, to check the script (the test suite runs it).
# METHODS (environment; default "simclr moco clsa disco") picks the methods; disco needs moco.
# EPOCHS (environment) overrides the scale's epochs.
# SEED (environment; default 0) the pretrainings' seed (initialisation, order, augmentation).
# RANDOM_SEEDS (environment; default 0) the initialisation seeds of the random encoders, e.g.
# "0 1 2 3 4": the table then also gives the range of their accuracies.
# `run` needs only this checkout (PYTHONPATH, no install) and python3 with torch, torchvision,
# numpy, tqdm, pyyaml, kornia, timm and scikit-learn (benchmarks/gpu_wheels.sh brings kornia
# and timm to a GPU box that lacks them); it writes OUT/results.md and
# OUT/results.json (kNN and linear accuracy of each encoder on the test split, with 95% intervals:
# the pose, and its elevation, seen from above or from below),
# rewritten as each probe finishes so that a run cut short keeps the rows it finished.
# Each probe runs beside the next method's pretraining, whose time it shares.
set -euo pipefail
EPOCHS_OVERRIDE="${EPOCHS:-}"
METHODS="${METHODS:-simclr moco clsa disco}"
RANDOM_SEEDS="${RANDOM_SEEDS:-0}"
SEED="${SEED:-0}"
[[ "$SEED" =~ ^[0-9]+$ ]] || { echo "SEED '$SEED': a whole number" >&2; exit 2; }
[[ "$RANDOM_SEEDS" =~ ^[0-9]+(\ [0-9]+)*$ ]] \
    || { echo "RANDOM_SEEDS '$RANDOM_SEEDS': seeds separated by spaces, e.g. '0 1 2'" >&2; exit 2; }
# Pose-preserving augmentation: no rotation, crops that keep most of the drawing (and CLSA's
# strong views neither rotate nor shear).
AUG=(--crop 0.9 --rotate 0)
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
spare3d() { "$PYTHON" -m spare3d_bench.cli "$@"; }

scale() {
    case "$1" in
        gpu) MODELS=2500 SIZE=128 EPOCHS=8 BATCH=256 QUEUE=8192 DEVICE=auto STUDENT=mobilenet_v3_large ;;
        cpu) MODELS=500 SIZE=64 EPOCHS=4 BATCH=64 QUEUE=4096 DEVICE=cpu STUDENT=mobilenet_v3_large ;;
        tiny) MODELS=12 SIZE=32 EPOCHS=1 BATCH=16 QUEUE=64 DEVICE=cpu STUDENT=resnet18 ;;
        *) echo "unknown scale '$1' (gpu, cpu or tiny)" >&2; exit 2 ;;
    esac
    EPOCHS="${EPOCHS_OVERRIDE:-$EPOCHS}"
}

prepare() {
    local archive="$1"
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    spare3d generate poses --csg "$MODELS" --primitives 3 --size "$SIZE" --layout packed --split 0.7,0.1,0.2 --seed 3 \
        --workers "$(nproc)" --out "$WORK/poses" --quiet
    tar -C "$WORK" --exclude=.spare3d -cJf "$archive" poses
    ls -l "$archive"
}

run() {
    local archive="$1" out="$2"
    mkdir -p "$out/data" "$out/runs"
    tar -C "$out/data" -xJf "$archive"
    local data="$out/data/poses" runs="$out/runs" rows="$out/rows.tsv"
    local common=(--data "$data" --epochs "$EPOCHS" --batch-size "$BATCH" --device "$DEVICE" --seed "$SEED" --quiet)
    # The protocol's recipes, as the documented tables were measured: SimCLR at lr 0.075
    # whatever the batch (its default now scales with the batch); the MoCo family with
    # AdamW and a projection head with batch norm (MoCo v2's own head has none).
    local adam=(--optimizer adamw --lr 1e-3 --weight-decay 1e-4 --warmup 0.5 --head-bn yes)
    : > "$rows"
    timed() {  # timed NAME COMMAND...: run COMMAND and note its wall time
        local name="$1" t0; shift
        t0=$(date +%s%N)
        "$@"
        printf '%s\t%s\n' "$name" $(( ($(date +%s%N) - t0) / 1000000 )) >> "$rows"
    }
    # Each probe (and the random encoders' one) runs in the background while the next method
    # pretrains, so a process's start-up and the probe's feature pass overlap GPU work; the
    # table is rewritten whenever one finishes, so a run cut short keeps every finished row.
    local pids=() m
    "$PYTHON" "$ROOT/benchmarks/ssl_gpu_table.py" baseline "$out" "$DEVICE" "$(echo $RANDOM_SEEDS | tr ' ' ,)" \
        resnet18 "$STUDENT" &
    pids+=($!)
    for m in $METHODS; do
        case "$m" in
            simclr) timed simclr spare3d pretrain --method simclr --out "$runs/simclr" --lr 0.075 --weight-decay 1e-6 --warmup 0.5 \
                        "${AUG[@]}" "${common[@]}" ;;
            moco) timed moco spare3d pretrain --method moco --queue "$QUEUE" --out "$runs/moco" "${adam[@]}" \
                      "${AUG[@]}" "${common[@]}" ;;
            clsa) timed clsa spare3d pretrain --method clsa --strong-geometry no --queue "$QUEUE" --out "$runs/clsa" \
                      "${adam[@]}" "${AUG[@]}" "${common[@]}" ;;
            disco) timed disco spare3d pretrain --method disco --model "$STUDENT-embed" --teacher "$runs/moco" \
                       --queue "$QUEUE" --out "$runs/disco" "${adam[@]}" "${AUG[@]}" "${common[@]}" ;;
            *) echo "unknown method '$m' in METHODS" >&2; exit 2 ;;
        esac
        { spare3d probe "$runs/$m" --data "$data" --device "$DEVICE" --name probe \
            && "$PYTHON" "$ROOT/benchmarks/ssl_gpu_table.py" table "$out" $METHODS; } &
        pids+=($!)
    done
    local pid failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [ "$failed" = 0 ] || { echo "a probe failed" >&2; exit 1; }
    "$PYTHON" "$ROOT/benchmarks/ssl_gpu_table.py" table "$out" $METHODS
}

case "${1:-}" in
    prepare) [ $# -ge 2 ] || { echo "usage: $0 prepare ARCHIVE [SCALE]" >&2; exit 2; }
             scale "${3:-gpu}"; prepare "$2" ;;
    run) [ $# -ge 3 ] || { echo "usage: $0 run ARCHIVE OUT [SCALE]" >&2; exit 2; }
         scale "${4:-gpu}"; run "$2" "$3" ;;
    *) echo "usage: $0 prepare ARCHIVE [SCALE] | run ARCHIVE OUT [SCALE]" >&2; exit 2 ;;
esac
