#!/bin/bash
# The CUDA checks of issue 14, as one script for a lent GPU machine (whose image has
# torch, onnxruntime, typer, rich, pluggy, safetensors but no network):
#   bash scripts/device_check.sh OUTDIR
# Installs mmzoo without dependencies, trains/evaluates/diagnoses/exports on CUDA
# through the real `mmzoo` command, then runs bench/cuda.py. Everything goes to OUTDIR.
set -u
out=${1:-/tmp/mmzoo-device}
mkdir -p "$out"
exec > >(tee "$out/device_check.log") 2>&1
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
py=python3
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
$py -m pip install -q --no-deps --no-build-isolation --no-index -e . || exit 1
mm="$(dirname "$(command -v $py)")/mmzoo"
$py -c "import torch, onnxruntime as o; print('torch', torch.__version__, torch.cuda.get_device_name(0)); print('onnxruntime', o.__version__, o.get_available_providers())"
work=$(mktemp -d)
step() {
    echo "== mmzoo $*"
    local t0=$EPOCHREALTIME
    "$mm" "$@" >"$work/step.log" 2>&1
    local rc=$?
    tail -4 "$work/step.log"
    echo "   rc=$rc, $(python3 -c "print(round($EPOCHREALTIME - $t0, 1))") s wall"
}
step train mlp-bn --device cuda --steps 3000 --out "$work/mlpbn"
step eval "$work/mlpbn" --device cuda
step export "$work/mlpbn" --out "$work/mlpbn.onnx"
step sample "$work/mlpbn.onnx" -n 5
step diagnose mlp-bn --device cuda --steps 300 --out "$work/diag"
step diagnose mlp-bn --device cuda --steps 200 --compare bn=on,off --out "$work/diag-compare"
step train transformer --device auto --steps 300 --out "$work/tf"
step export "$work/tf" --out "$work/tf.onnx"
step sample "$work/tf.onnx" -n 5 --provider cuda   # onnxruntime-gpu absent: one clear error expected
timeout 360 $py bench/cuda.py --steps 2000 --samples 20000
