#!/usr/bin/env bash
# Fills .gpu/ (ignored by git) with what bench/gpu.sh needs on the GPU machine, which has a
# CUDA PyTorch but neither Debian's header-only CLI11 and nlohmann-json nor the licensed data:
#   .gpu/deps/{include,share/cmake}  CLI11 and nlohmann-json, laid out as an install prefix
#   .gpu/megc2019.pt                 the MEGC2019 composite as a dataset cache (`mer cache`)
#   .gpu/casme2-5class.pt            CASME II 5-class, prepared by `mer prepare` from the frames
# Run here after scripts/bootstrap.sh; then the device tool with carry [".gpu"].
#   bench/gpu_prepare.sh [SHARED=../shared/data]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared/data}
mer=${MER:-build/mer}
[ -x "$mer" ] || { echo "$mer missing: run scripts/bootstrap.sh" >&2; exit 1; }
mkdir -p .gpu/deps/include .gpu/deps/share/cmake
cp -r /usr/include/CLI /usr/include/nlohmann .gpu/deps/include/
cp -r /usr/share/cmake/CLI11 /usr/share/cmake/nlohmann_json .gpu/deps/share/cmake/
[ -f .gpu/megc2019.pt ] || "$mer" cache --data "$shared/megc2019" --out .gpu/megc2019.pt
if [ ! -f .gpu/casme2-5class.pt ]; then
  "$mer" prepare --dataset casme2 --root "$shared/casme2/frames" \
    --annotations "$shared/casme2/CASME2-coding-20190701.xlsx" --protocol casme2-5class \
    --exclude-flagged --flags-from "$shared/casme2/clips.csv" --out runs/prep-5class --quiet
  "$mer" cache --data runs/prep-5class --out .gpu/casme2-5class.pt
fi
du -sh .gpu
