#!/usr/bin/env bash
# Prepares bench/gpu-carry/ (git-ignored) on this machine, for bench/gpu.sh on a GPU machine that may
# have no Node, no Vulkan loader and no network: the GPU benchmark bundled into one file (esbuild,
# already installed with tsx), the npm packages it loads at run time (webgpu's Linux x64 Dawn binary,
# gpu.js and its dependencies), the grammar, this Node binary, and Debian's Vulkan loader
# (libvulkan1, unpacked, not installed). About 50 MB: within the 64 MiB a device run can carry.
#   bash bench/gpu-prepare.sh        then: run(command="bash bench/gpu.sh", carry=["bench/gpu-carry"])
set -euo pipefail
cd "$(dirname "$0")/.."
C=bench/gpu-carry
rm -rf "$C" && mkdir -p "$C/node_modules/webgpu/dist" "$C/bin"
node_modules/.bin/esbuild bench/gpu.ts --bundle --platform=node --format=esm --external:webgpu --external:gl --external:gpu.js \
  --outfile="$C/gpu.mjs" --log-level=warning
cp compiler/syntax/lily.ohm "$C/"                      # read beside the bundle at run time
cp node_modules/webgpu/{index.js,package.json} "$C/node_modules/webgpu/"
cp -r node_modules/webgpu/dist/linux-x64 "$C/node_modules/webgpu/dist/"
for p in gpu.js acorn gpu-mock.js; do cp -r "node_modules/$p" "$C/node_modules/"; done
rm -rf "$C/node_modules/gpu.js/node_modules"          # gpu.js's own webgpu@0.2.9 (needs glibc 2.38); ours is 0.6.2
xz -9 -T2 -c "$(command -v node)" > "$C/bin/node.xz"   # 95 MB → 24 MB; gpu.sh unpacks it only where there is no Node ≥ 20
( cd "$C" && apt-get download libvulkan1 >/dev/null 2>&1 && dpkg -x libvulkan1_*.deb vulkan && rm -f libvulkan1_*.deb ) \
  || echo "warning: could not fetch Debian's libvulkan1; bench/gpu.sh will need the GPU machine's own Vulkan loader"
du -sh "$C"
