#!/usr/bin/env bash
# On a GPU machine: the GPU tables of docs/benchmarks.md ("On a GPU") and a short bf16 training run, each result
# into $OUT (default runs/gpu): table.log (everything printed, the machine first) and, by part (PARTS, default
# "speed train predict"; COMPILE=1 adds compile):
#   speed    speed_gpu.json, speed_gpu_batches.json, speed_gpu_profile.json, train_step_gpu.json
#   train    test_gpu.json (the short training run, as docs/measurements/training_*.json)
#   predict  predict_gpu.json (`benchmark predict` on PHOTOS photos, default 64, at batch 1 and 8 with the training
#            run's best checkpoint, or without the train part one of random weights: speed does not depend on them)
#   compile  speed_gpu_compile.json (bf16 at batch 1 and 8, eager and then with torch.compile, in one call so that
#            the two compare; the compiled run is stopped after COMPILE_TIMEOUT seconds, default 420, and the file
#            then holds the eager rows alone)
# On an H200 (2026-12-04) the install and the steps up to the training run's test took 5 minutes, the batches and
# profile runs under 2 more (a call of their own: 103 s); PARTS="predict compile" PHOTOS=16 took 7.6 minutes in a
# call of its own (predict 2 min 9 s, 31 s of it drawing the photos; compile 4 min 48 s, about 105 s of compiling per
# batch size): where a call is limited to 10 minutes, give compile a call of its own. Wheels from
# tools/gpu/wheelhouse.sh are installed first when WHEEL_DIR exists.
# Usage (repository root): [PARTS="..."] bash tools/gpu/table.sh [WHEEL_DIR]
# A rehearsal on a CPU, the same steps on the micro preset and a small dataset (PYTHON: an interpreter with the
# package installed; WHEEL_DIR absent, so nothing is installed):
#   PYTHON=.venv/bin/python DEVICE=cpu PRESET=micro BF16=32-true STEPS=4 VAL_EVERY=2 NUM=20 SIZE="96 160" PHOTOS=16 \
#       bash tools/gpu/table.sh none
set -euo pipefail
cd "$(dirname "$0")/../.."
whl=${1:-.whl}
out=${OUT:-runs/gpu}
device=${DEVICE:-cuda}
preset=${PRESET:-base_plus}
steps=${STEPS:-300}
val_every=${VAL_EVERY:-100}  # training steps between validations (the best checkpoint is chosen on SYN-VD)
work=${WORK:-/tmp/mgd_sam2_gpu}
python=${PYTHON:-python3}
bf16=${BF16:-bf16-mixed}  # BF16=32-true where bf16 is refused (a CPU without native bf16)
num=${NUM:-200}
photo_count=${PHOTOS:-64}  # predict's photos: a multiple of 16
read -r -a size <<<"${SIZE:-768 1280}"
parts=" ${PARTS:-speed train predict} $([[ ${COMPILE:-0} == 1 ]] && echo compile || true) "
has() { [[ $parts == *" $1 "* ]]; }
read -r -a part_list <<<"$parts"  # no globbing of PARTS
for part in "${part_list[@]}"; do
    [[ " speed train predict compile " == *" $part "* ]] || { echo "unknown part '$part' in PARTS" >&2; exit 2; }
done
if ! [[ $photo_count =~ ^[1-9][0-9]*$ ]] || (( photo_count % 16 )); then
    echo "PHOTOS=$photo_count: a positive multiple of 16" >&2
    exit 2
fi
mkdir -p "$out" "$work"
exec > >(tee -a "$out/table.log") 2>&1
if [[ -d $whl ]]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$work/site" "$whl"/*.whl
    export PYTHONPATH=$work/site${PYTHONPATH:+:$PYTHONPATH}
fi
# every package the steps below import, before minutes go into the first of them
"$python" -c 'import albumentations, jsonargparse, py_sod_metrics, sam2.modeling.backbones.hieradet, mgd_sam2.training.cli'
export PYTHONUNBUFFERED=1
cli=("$python" -m mgd_sam2.cli)
accelerator=$([[ $device == cuda ]] && echo gpu || echo cpu)
step() { echo "== $(date -u +%T) $*"; }
# merge KEY OUT FILE...: the FILEs that exist as one JSON, as docs/measurements keeps them (the first's date and
# machine, every command, the rows under KEY in order)
merge() {
    "$python" - "$@" <<'PY'
import json, sys
from pathlib import Path
key, out, *names = sys.argv[1:]
runs = [json.loads(Path(name).read_text()) for name in names if Path(name).exists()]
merged = {**runs[0], "command": "; ".join(run["command"] for run in runs),
          key: [row for run in runs for row in run[key]]}
Path(out).write_text(json.dumps(merged, indent=2) + "\n")
PY
}

step machine
nvidia-smi || true
grep -m1 'model name' /proc/cpuinfo || true
nproc
"$python" -c 'import sys, torch, lightning; print(sys.version); print("torch", torch.__version__, "lightning",
lightning.__version__, "cuda", torch.cuda.is_available())'

speed=("${cli[@]}" benchmark speed --preset "$preset" --device "$device")
if has speed; then
    step "inference speed (batch 1 and 8, fp32 and bf16; batch 2, 4 and 16 in bf16; the parts at batch 1)"
    "${speed[@]}" --batch 1,8 --precision "32-true,$bf16" --json "$out/speed_gpu.json"
    "${speed[@]}" --batch 2,4,16 --precision "$bf16" --json "$out/speed_gpu_batches.json"
    "${speed[@]}" --batch 1 --precision "32-true,$bf16" --profile --json "$out/speed_gpu_profile.json"
    step "training step (batch 2, bf16)"
    "${speed[@]}" --batch 2 --precision "$bf16" --train --json "$out/train_step_gpu.json"
fi

if has train; then
    step "short bf16 training run: the recipe of lightning_config.yaml, random weights (no SAM2 checkpoint), trunk trained"
    start=$SECONDS
    data=$work/data_${num}_${size[0]}_${size[1]}  # synth refuses a folder made with other settings
    "${cli[@]}" synth --out "$data/synthetic" --num "$num" --size "${size[@]}" --held-out 0 --workers "$(nproc)"
    fit=$work/fit
    rm -rf "$fit"
    common=(-c lightning_config.yaml --trainer.accelerator "$accelerator" --trainer.devices 1 --trainer.precision "$bf16"
        --trainer.default_root_dir "$fit" --trainer.logger.init_args.save_dir "$fit" --trainer.logger.init_args.name gpu
        --model.network.preset "$preset" --model.pretrained null --model.network.train_trunk true
        --model.pretrained_lr_scale 1.0 --data.root "$data" --data.train '[synthetic/SYN-TR]'
        --data.val '[synthetic/SYN-VD]' --data.test '[synthetic/SYN-TE]' --data.num_workers "$(( $(nproc) / 2 ))")
    "${cli[@]}" fit "${common[@]}" --trainer.max_steps "$steps" --trainer.log_every_n_steps 10 \
        --trainer.check_val_every_n_epoch null --trainer.val_check_interval "$val_every"
    best=$(ls "$fit"/gpu/version_0/checkpoints/best.ckpt)
    "${cli[@]}" test "${common[@]}" --ckpt_path "$best"
    # every scalar the run logged (loss curve, validation, test) and the trivial baseline's test scores, as JSON
    "$python" - "$fit/gpu" "$data/synthetic" "$out/test_gpu.json" "$device" "$(( SECONDS - start ))" <<'PY'
import json, sys
from pathlib import Path
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from mgd_sam2.benchmark.measurement import measurement
from mgd_sam2.metrics.baseline import synthetic_constant_scores
scalars = {}
for events in sorted(Path(sys.argv[1]).rglob("events.out.tfevents.*")):
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    for tag in accumulator.Tags()["scalars"]:
        scalars.setdefault(tag, []).extend((event.step, event.value) for event in accumulator.Scalars(tag))
constant = synthetic_constant_scores(sys.argv[2], ["SYN-TE"])["SYN-TE"]
if sys.argv[4] == "cuda":
    torch.cuda.init()  # so that the machine line names the GPU the run used
results = {"scalars": scalars, "constant_SYN-TE": constant, "seconds": int(sys.argv[5])}  # synth, fit and test
results = measurement(results, "bash tools/gpu/table.sh")
Path(sys.argv[3]).write_text(json.dumps(results, indent=1))  # as docs/measurements/training_*.json
for key in ("Smeasure", "wFmeasure", "MAE"):
    print(f"SYN-TE {key}: trained {scalars[f'test/SYN-TE/{key}'][-1][1]:.4f}, constant {constant[key]:.4f}")
PY
fi

if has predict; then
    step "predict end to end against the network alone, batch 1 and 8, $photo_count photos of 1-4K"
    if ! has train; then  # a Lightning checkpoint of random weights
        best=$work/random_$preset.ckpt
        "$python" - "$preset" "$best" <<'PY'
import sys
from lightning.pytorch import Trainer
from mgd_sam2.models.network import NetworkConfig
from mgd_sam2.training.module import MGDSAM2Module
module = MGDSAM2Module(network=NetworkConfig(preset=sys.argv[1]), pretrained=None)
trainer = Trainer(accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
trainer.strategy.connect(module)
trainer.save_checkpoint(sys.argv[2])
PY
    fi
    photos=$work/photos
    rm -rf "$photos"
    "$python" -c 'import sys; from pathlib import Path; from mgd_sam2.benchmark.predict_speed import mixed_photos
mixed_photos(Path(sys.argv[1]), 16)' "$photos"
    # 16 drawn, copied to $photo_count (as costly to read as new ones): enough batches of 8 that filling and draining
    # predict's pipeline (on an H200 with 16 photos, batch 8 was two batches, 4.9 images/s against 8.1 at batch 1)
    # does not hide its steady rate; each copy's name sorts after all 16 drawn ones, so every 16 in a row keep their mix
    drawn=("$photos"/*.jpg)
    for (( copy = 1; copy < photo_count / 16; copy++ )); do
        for photo in "${drawn[@]}"; do cp "$photo" "$photos/time${copy}_$(basename "$photo")"; done
    done
    workers=(2)  # predict's default on a GPU, and half the cores where that is more
    if (( $(nproc) / 2 > 2 )); then workers+=("$(( $(nproc) / 2 ))"); fi
    runs=()
    for count in "${workers[@]}"; do
        runs+=("$work/predict_$count.json")
        "${cli[@]}" benchmark predict --ckpt "$best" --device "$device" --input "$photos" --images "$photo_count" --batch 1,8 \
            --workers "$count" --json "${runs[-1]}"
    done
    merge predict "$out/predict_gpu.json" "${runs[@]}"  # one row per loader-process count and batch
fi

if has compile; then
    step "inference speed, bf16 at batch 1 and 8, without and with torch.compile"
    rm -f "$work/speed_eager.json" "$work/speed_compiled.json"
    "${speed[@]}" --batch 1,8 --precision "$bf16" --json "$work/speed_eager.json"
    timeout "${COMPILE_TIMEOUT:-420}" "${speed[@]}" --batch 1,8 --precision "$bf16" --compile \
        --json "$work/speed_compiled.json" || echo "torch.compile: exit status $? (124: past COMPILE_TIMEOUT)"
    # as docs/measurements/gpu_*_compile.json: the eager rows, then the compiled ones where they exist
    merge speed "$out/speed_gpu_compile.json" "$work/speed_eager.json" "$work/speed_compiled.json"
fi
step done
