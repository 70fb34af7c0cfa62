#!/usr/bin/env bash
# The GPU benchmark in one call, on a machine with an NVIDIA GPU (prepare here first:
# `bash bench/gpu-prepare.sh`, then carry bench/gpu-carry). Runs bench/gpu.ts (bundled): the
# paper-shape Lily step and the whole-model steps on our WebGPU path (gpu.js → Dawn → Vulkan on the
# NVIDIA driver) vs PyTorch CUDA eager (if that machine's python3 has torch with CUDA), side by side.
# Writes $OUT/gpu.json and $OUT/gpu.log (OUT defaults to /tmp/lily-gpu). Every missing piece is
# reported, not fatal.
set -uo pipefail
cd "$(dirname "$0")/.."
C=bench/gpu-carry
OUT=${OUT:-/tmp/lily-gpu}
mkdir -p "$OUT"
exec > >(tee "$OUT/gpu.log") 2>&1

NODE=$(command -v node || true)
if [ -z "$NODE" ] || [ "$("$NODE" -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  NODE=/tmp/lily-node/node
  if [ ! -x "$NODE" ] && [ -f "$C/bin/node.xz" ]; then
    mkdir -p /tmp/lily-node
    { xz -dc "$C/bin/node.xz" || python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$C/bin/node.xz"; } > "$NODE" && chmod +x "$NODE"
  fi
  [ -x "$NODE" ] || NODE=
fi
[ -n "$NODE" ] || { echo "no Node here and none carried (run bench/gpu-prepare.sh, carry bench/gpu-carry)"; exit 1; }
[ -f "$C/gpu.mjs" ] || { echo "bench/gpu-carry/gpu.mjs missing: run bash bench/gpu-prepare.sh here and carry bench/gpu-carry"; exit 1; }

echo "== machine"; date -u; uname -a; nproc
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -5 || echo "no nvidia-smi"
echo "node: $NODE $("$NODE" --version)"

# Vulkan: the machine's loader, else the carried one; NVIDIA's ICD manifest from its driver install
if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && [ -d "$C/vulkan/usr/lib/x86_64-linux-gnu" ]; then
  export LD_LIBRARY_PATH="$PWD/$C/vulkan/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "vulkan: carried loader"
fi
for f in /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json; do
  [ -f "$f" ] && { export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-$f}; echo "vulkan ICD: $f"; break; }
done
[ -n "${VK_ICD_FILENAMES:-}" ] || echo "no NVIDIA Vulkan ICD manifest found (the driver's nvidia_icd.json): WebGPU may fall back or fail"
export LILY_WEBGPU_BACKEND=${LILY_WEBGPU_BACKEND:-default}   # Dawn's default backend: Vulkan

PY=
for p in ${LILY_TORCH_PYTHON:-} python3 /usr/bin/python3 /opt/conda/bin/python3; do
  command -v "$p" >/dev/null && "$p" -c 'import torch' 2>/dev/null && { PY=$(command -v "$p"); break; }
done
PY=${PY:-python3}
export LILY_TORCH_PYTHON=$PY
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")' 2>&1 | tail -1

echo "== bench"
"$NODE" "$C/gpu.mjs" --json "$@" > "$OUT/gpu.json"
echo "exit $?; results in $OUT/gpu.json"
cat "$OUT/gpu.json"
