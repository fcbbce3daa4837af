#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md and the GPU tests, in parts that each fit a 10-minute
# command on a lent machine (H100/H200), most important first within each part.
#
#   bash scripts/gpu_benchmarks.sh PART [RESULTS_DIR [ARCHIVE]]
#
# PART: quick (issue #19's figures in one call of under 10 minutes, after the `kit` step: ROCKET/MiniRocket
# on the GPU vs aeon on the host, ResNet50 trained by train.py with the augmentation on the GPU and compiled,
# the loader/training table with device-side normalisation and augmentation), 1 (face-image training: the
# loader vs ResNet50 bf16 channels-last, train.py with bf16-mixed and torch.compile, the hybrid), 2 (the GPU
# tests, the model table with MFU, ROCKET/MiniRocket vs aeon), 3 (torch.compile model rows, framework
# overhead of the AU nets on the GPU), 4 (ResNet50 framework overhead, and the steady state on
# 4x longer epochs: the loader benchmark and train.py), or all. ONLY="step names" runs just those steps.
# Logs and JSON go to RESULTS_DIR (default gpu_results/); with ARCHIVE, RESULTS_DIR is packed into that
# .tgz after every step (so a cut-off run still returns what it finished). Every step has its own time
# limit; `summary.txt` lists each step's exit code and seconds.
# Needs the project's dependencies (W&B is not needed: WANDB_MODE=disabled) and 16 CPU cores for the
# loader workers (WORKERS to change). On a lent machine that lacks some of them, carry the wheels of
# `bash scripts/device_kit.sh` (.whl): the `kit` step installs them into $KIT (on PYTHONPATH) first, e.g.
#   device run (carry .whl): bash scripts/gpu_benchmarks.sh quick /tmp/gpu_results $OUT/gpu_results.tgz
# SMOKE=1 rehearses the commands on the CPU with tiny sizes (tests/test_gpu_benchmarks_script.py), so a
# lent machine's minutes are not spent on a typo.
set -u
SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
if [ "${1:-}" != __call ]; then  # (steps re-enter the script as `__call FUNCTION ARGS` under `timeout`)
    PART=${1:-all}
    RESULTS=${2:-gpu_results}
    ARCHIVE=${3:-}
    mkdir -p "$RESULTS"
    RESULTS=$(cd "$RESULTS" && pwd)
    if [ -n "${SMOKE:-}" ]; then  # tiny sizes on the CPU
        export DEVICE=${DEVICE:-cpu} WORKERS=${WORKERS:-0} FACES_PER_CLASS=${FACES_PER_CLASS:-4} FACE_PARTS=${FACE_PARTS:-2}
        export SERIES=${SERIES:-24} KERNELS=${KERNELS:-84} IMAGE_SIZE=${IMAGE_SIZE:-64} BATCH=${BATCH:-8}
        export TRAIN_SIZES="--data.init_args.image_size $IMAGE_SIZE --data.init_args.batch_size $BATCH
            --trainer.precision 32-true --trainer.limit_train_batches 2 --trainer.limit_val_batches 1"
        export RESNET_ARGS="--model.init_args.net.init_args.backbone resnet18"
        export HYBRID_ARGS="--model.init_args.net.init_args.img_size $IMAGE_SIZE"
        export COMPILE=${COMPILE-} IMAGE_MODEL=${IMAGE_MODEL:-resnet18} IMAGE_MODELS=${IMAGE_MODELS:-mobilenetv2_100}
        export MODEL_ARGS="--batch-size 2 --steps 1 --warmup 1 --rounds 1 --image-size $IMAGE_SIZE --frames 32"
        export OVERHEAD_ARGS="--subjects 12 --frames 100 150 --epochs 1" IMAGE_EPOCHS=1
    fi
    export PY=${PYTHON:-python3} WORKERS=${WORKERS:-12} FACES=${FACES:-/tmp/gpu_faces} RESULTS ARCHIVE
    export KIT=${KIT:-/tmp/facedep_kit} KIT_WHEELS=${KIT_WHEELS:-.whl} DEVICE=${DEVICE:-cuda} SERIES=${SERIES:-2000} KERNELS=${KERNELS:-10000}
    export FACE_PARTS=${FACE_PARTS:-4} IMAGE_SIZE=${IMAGE_SIZE:-224} BATCH=${BATCH:-128} TRAIN_SIZES=${TRAIN_SIZES:-}
    export IMAGE_MODEL=${IMAGE_MODEL:-resnet50} COMPILE=${COMPILE-facedep.experiment.callbacks.CompileModel}
    export RESNET_ARGS=${RESNET_ARGS:-} HYBRID_ARGS=${HYBRID_ARGS:-} IMAGE_MODELS=${IMAGE_MODELS:-resnet50 mobilenetv2_100 hybrid}
    export MODEL_ARGS=${MODEL_ARGS:---batch-size 128 --steps 10 --warmup 3 --rounds 3}
    export OVERHEAD_ARGS=${OVERHEAD_ARGS:---subjects 200 --epochs 5} IMAGE_EPOCHS=${IMAGE_EPOCHS:-3}
    export PYTHONUNBUFFERED=1 WANDB_MODE=disabled PYTHONPATH="$PWD:$KIT${PYTHONPATH:+:$PYTHONPATH}"
fi

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to NAME.log, record rc and seconds
    local name=$1 limit=$2 start rc
    shift 2
    if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
    echo "=== $name (limit ${limit} s, $(date +%T))"
    start=$(date +%s)
    timeout "$limit" bash "$SCRIPT" __call "$@" >"$RESULTS/$name.log" 2>&1
    rc=$?
    echo "$name rc=$rc $(($(date +%s) - start)) s" | tee -a "$RESULTS/summary.txt"
    tail -n "${TAIL:-20}" "$RESULTS/$name.log"
    if [ -n "$ARCHIVE" ]; then tar czf "$ARCHIVE" -C "$RESULTS" .; fi
}

environment() {
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || echo "no nvidia-smi"
    $PY - <<'EOF'
import os, platform, torch, timm, pytorch_lightning, torchmetrics, albumentations
print(f"python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), timm {timm.__version__}, "
      f"lightning {pytorch_lightning.__version__}, torchmetrics {torchmetrics.__version__}, "
      f"albumentations {albumentations.__version__}; {os.cpu_count()} CPU cores")
print(torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0)) if torch.cuda.is_available() else print("no CUDA")
EOF
}

kit() {  # the wheels of scripts/device_kit.sh carried as $KIT_WHEELS (.whl): installed into $KIT, unresolved
    if [ ! -d "$KIT_WHEELS" ]; then echo "no $KIT_WHEELS here: using the installed packages"; return 0; fi
    if cmp -s "$KIT_WHEELS/SHA256SUMS" "$KIT/SHA256SUMS"; then echo "kit already in $KIT"; return 0; fi
    (cd "$KIT_WHEELS" && sha256sum --quiet -c SHA256SUMS) || return 1
    local want have
    want=$(cat "$KIT_WHEELS/PYTHON" 2>/dev/null) have=$($PY -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ "$want" != "$have" ]; then echo "$KIT_WHEELS holds wheels for Python ${want:-?}, this is $have: not installed"; return 1; fi
    $PY -m pip install -q --no-index --no-deps --disable-pip-version-check --target "$KIT" \
        "$KIT_WHEELS"/*.whl "$KIT_WHEELS"/aeon/*.whl
    $PY -c "import albumentations, jsonargparse, optuna, aeon, numba, numpy; print('kit:', 'albumentations',
albumentations.__version__, 'jsonargparse', jsonargparse.__version__, 'aeon', aeon.__version__, 'numba',
numba.__version__, 'numpy', numpy.__version__)" && cp "$KIT_WHEELS/SHA256SUMS" "$KIT/"
}

faces() {  # FACE_PARTS x 4 x FACES_PER_CLASS drawn faces (6,000 by default), 256 px JPEGs with face boxes,
    # one process per part, one manifest
    [ -f "$FACES/manifest.csv" ] && return 0
    $PY - "$FACES" "${FACES_PER_CLASS:-$((1500 / FACE_PARTS))}" "$FACE_PARTS" <<'EOF'
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import pandas as pd
from datamodules.synthetic.faces import make_face_demo

out = Path(sys.argv[1])
def part(i: int) -> Path:
    return make_face_demo(out / f"p{i}", images_per_class=int(sys.argv[2]), size=256, seed=i, face_boxes=True)
with ProcessPoolExecutor(int(sys.argv[3])) as pool:
    manifests = list(pool.map(part, range(int(sys.argv[3]))))
tables = []
for i, manifest in enumerate(manifests):
    table = pd.read_csv(manifest)
    table["path"] = f"p{i}/" + table["path"]
    table["subject_id"] = f"p{i}/" + table["subject_id"].astype(str)
    tables.append(table)
pd.concat(tables).to_csv(out / "manifest.csv", index=False)
print(f"{sum(len(t) for t in tables)} faces in {out / 'manifest.csv'}")
EOF
}

faces_x4() {  # the same faces 4 times under distinct ids and hard-linked paths (a manifest that lists one
    # file under two subjects is refused): longer epochs for steady-state rates
    $PY - "$FACES" <<'EOF'
import os, sys
from pathlib import Path
import pandas as pd
faces = Path(sys.argv[1])
table = pd.read_csv(faces / "manifest.csv")
copies = []
for k in range(4):
    for path in table["path"]:
        link = faces / "x4" / f"k{k}" / path
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            os.link(faces / path, link)
    copies.append(table.assign(subject_id=table["subject_id"].astype(str) + f"#{k}", path=f"k{k}/" + table["path"]))
pd.concat(copies).to_csv(faces / "x4" / "manifest.csv", index=False)
print(f"{4 * len(table)} rows in {faces / 'x4' / 'manifest.csv'}")
EOF
}

train() {  # train NAME CONFIG EXTRA...: scripts/train.py on the drawn faces, random init, StepTimer on
    local name=$1 config=$2
    shift 2
    $PY scripts/train.py --config "$config" --data.init_args.manifest "$FACES/manifest.csv" \
        --data.init_args.num_workers "$WORKERS" --run.output_dir "$RESULTS/runs" --run.name "$name" \
        --tracking.wandb disabled --trainer.enable_progress_bar false \
        '--trainer.callbacks+=facedep.experiment.step_timer.StepTimer' "$@" $TRAIN_SIZES
    cp "$RESULTS/runs/$name/step_times.json" "$RESULTS/$name.step_times.json" || return 1
    $PY - "$RESULTS/runs/$name" <<'EOF'
import json, sys
from pathlib import Path
run = Path(sys.argv[1])
timing, metrics = json.loads((run / "step_times.json").read_text()), json.loads((run / "metrics.json").read_text())
for e in timing["epochs"]:
    print(f"epoch {e['epoch']}: {e['samples_per_s']:.0f} samples/s, waiting {100 * e['wait_fraction']:.1f} %, "
          f"step {e['step_ms']:.1f} ms, wait {e['wait_ms']:.1f} ms, {e['steps']} steps")
print(f"fed: {timing['fed']}; fit {metrics.get('fit_seconds')} s, total {metrics.get('total_seconds')} s")
EOF
    rm -rf "$RESULTS/runs/$name/checkpoints"
}

part1() {
    step kit 90 kit
    step environment 60 environment
    step faces 150 faces
    step images_resnet50 240 $PY scripts/benchmark.py images --data "$FACES" --image-size "$IMAGE_SIZE" \
        --batch-size "$BATCH" --workers 0 6 "$WORKERS" --epochs 2 --model "$IMAGE_MODEL" --bf16 --channels-last \
        --normalize-on-device --augment-on-device --train-workers "$WORKERS" --train-epochs "$IMAGE_EPOCHS" \
        --device "$DEVICE" --json "$RESULTS/images_resnet50.json"
    step train_resnet50 150 train resnet50_bf16 configs/images/resnet50.yaml --trainer.max_epochs 3 \
        --model.init_args.net.init_args.pretrained false $RESNET_ARGS
    step train_resnet50_compiled 200 train resnet50_bf16_compiled configs/images/resnet50.yaml \
        --trainer.max_epochs 3 --model.init_args.net.init_args.pretrained false $RESNET_ARGS \
        ${COMPILE:+"--trainer.callbacks+=$COMPILE"}
    # issue #19: augmentation of the uint8 batches on the GPU, fewer workers, compiled (target >= 4,000 images/s)
    step train_resnet50_gpu_aug_compiled 200 train resnet50_gpu_aug_compiled configs/images/resnet50.yaml \
        --trainer.max_epochs 3 --model.init_args.net.init_args.pretrained false $RESNET_ARGS \
        --data.init_args.augment_on_device true --data.init_args.num_workers 4 \
        ${COMPILE:+"--trainer.callbacks+=$COMPILE"}
    step train_hybrid 150 train hybrid_bf16 configs/images/hybrid_affectnet.yaml --trainer.max_epochs 2 \
        --model.init_args.net.init_args.pretrained false --data.init_args.normalize_on_device true $HYBRID_ARGS
}

part2() {
    step kit 90 kit
    step environment 60 environment
    step pytest_gpu 240 $PY -m pytest -q -p no:cacheprovider -o addopts= -m gpu tests
    step models_images 200 $PY scripts/benchmark.py models --device "$DEVICE" --models $IMAGE_MODELS $MODEL_ARGS \
        --inference --variants fp32 bf16 channels_last bf16+channels_last --json "$RESULTS/models_images.json"
    step models_au 120 $PY scripts/benchmark.py models --device "$DEVICE" --models inception_time lstm gru transformer \
        $MODEL_ARGS --inference --variants fp32 bf16 --json "$RESULTS/models_au.json"
    # issue #19: ROCKET / MiniRocket on the GPU against aeon on this machine's CPU (aeon from the kit, or
    # AEON_PYTHON: a venv with aeon==1.6.0, see docs/benchmarks.md; without either only our rates are recorded)
    SERIES=4000 step rocket_gpu 240 rocket_gpu
}

part3() {
    step kit 90 kit
    step environment 60 environment
    step models_compile 300 $PY scripts/benchmark.py models --device "$DEVICE" --models $IMAGE_MODELS $MODEL_ARGS \
        --variants bf16+channels_last ${COMPILE:+bf16+channels_last+compile} --json "$RESULTS/models_compile.json"
    step overhead_inception 120 $PY scripts/benchmark.py overhead --device "$DEVICE" $OVERHEAD_ARGS \
        --net inception --json "$RESULTS/overhead_inception.json"
    step overhead_lstm 120 $PY scripts/benchmark.py overhead --device "$DEVICE" $OVERHEAD_ARGS \
        --net lstm --json "$RESULTS/overhead_lstm.json"
}

rocket_gpu() {  # ours on $DEVICE vs aeon on this machine's CPU (in this interpreter, or AEON_PYTHON's)
    $PY scripts/benchmark.py rocket --device "$DEVICE" --series "$SERIES" --kernels "$KERNELS" --threads "$(nproc)" \
        ${AEON_PYTHON:+--aeon-python "$AEON_PYTHON"} --json "$RESULTS/rocket_gpu.json"
}

quick() {  # issue #19 on a lent GPU in one call (`kit` first): each step archived as it ends
    step kit 90 kit
    step environment 30 environment
    step rocket_gpu 150 rocket_gpu
    step faces 90 faces
    step faces_x4 30 faces_x4
    # ResNet50 end to end: the augmentation of the uint8 batches on the GPU, 4 workers, compiled (>= 4,000 images/s)
    FACES=$FACES/x4 step train_resnet50_gpu_aug_compiled_x4 240 train resnet50_gpu_aug_compiled_x4 \
        configs/images/resnet50.yaml --trainer.max_epochs 2 --model.init_args.net.init_args.pretrained false \
        --data.init_args.augment_on_device true --data.init_args.num_workers 4 \
        ${COMPILE:+"--trainer.callbacks+=$COMPILE"}
    # the loader / training table again (device-side normalisation since the normalize_batch fix, and augmentation)
    step images_resnet50 180 $PY scripts/benchmark.py images --data "$FACES" --image-size "$IMAGE_SIZE" \
        --batch-size "$BATCH" --workers 4 "$WORKERS" --epochs 1 --model "$IMAGE_MODEL" --bf16 --channels-last \
        --normalize-on-device --augment-on-device --train-workers "$WORKERS" --train-epochs 1 --device "$DEVICE" \
        --json "$RESULTS/images_resnet50.json"
}

if [ "${1:-}" = __call ]; then
    shift
    "$@"
    exit $?
fi
part4() {  # ResNet50 overhead vs a plain loop; steady state on 24,000-row epochs (14,400 training images)
    step kit 90 kit
    step faces 150 faces
    step faces_x4 60 faces_x4
    step overhead_resnet50 300 $PY scripts/benchmark.py overhead --device "$DEVICE" --net image \
        --backbone "$IMAGE_MODEL" --data "$FACES/manifest.csv" --image-size "$IMAGE_SIZE" --batch-size "$BATCH" \
        --workers "$WORKERS" --precision bf16-mixed --channels-last --epochs "$IMAGE_EPOCHS" \
        --json "$RESULTS/overhead_resnet50.json"
    step images_resnet50_x4 280 $PY scripts/benchmark.py images --data "$FACES/x4" --image-size "$IMAGE_SIZE" \
        --batch-size "$BATCH" --parts train --model "$IMAGE_MODEL" --bf16 --channels-last --normalize-on-device \
        --train-workers "$WORKERS" --train-epochs 2 --device "$DEVICE" --json "$RESULTS/images_resnet50_x4.json"
    FACES=$FACES/x4 step train_resnet50_x4 300 train resnet50_bf16_x4 configs/images/resnet50.yaml \
        --trainer.max_epochs 3 --model.init_args.net.init_args.pretrained false $RESNET_ARGS
}

case "$PART" in
    quick) quick ;;
    1) part1 ;;
    2) part2 ;;
    3) part3 ;;
    4) part4 ;;
    all) part1; part2; part3; part4 ;;
    *) echo "PART must be quick, 1, 2, 3, 4 or all, not $PART" >&2; exit 2 ;;
esac
cat "$RESULTS/summary.txt"
