#!/usr/bin/env bash
# Installs mer's Debian 12 dependencies (only those missing) and builds mer into build/.
#   scripts/bootstrap.sh            build the CLI (build/mer)
#   scripts/bootstrap.sh --tests    also build the test suite (for ctest)
#   scripts/bootstrap.sh --bench    also build the micro-benchmarks (bench/)
set -euo pipefail
cd "$(dirname "$0")/.."

tests=OFF
bench=OFF
for arg in "$@"; do
  case "$arg" in
    --tests) tests=ON ;;
    --bench) bench=ON ;;
    *) echo "usage: $0 [--tests] [--bench]" >&2; exit 2 ;;
  esac
done

# What each package is for: see README.md, "Dependencies". libopencv-videoio-dev (also pulled in
# by libopencv-dev) brings libopencv-videoio406, which decodes video files through FFmpeg
# (libavcodec59, libavformat59) and GStreamer: `mer predict --video`, `mer prepare --video-root`.
packages=(build-essential cmake ninja-build pkg-config
          libtorch-dev libopencv-dev libopencv-videoio-dev libopencv-contrib-dev libdlib-dev libdlib-data
          libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libzip-dev libpugixml-dev
          libgtest-dev libgmock-dev libbenchmark-dev libopenmpi-dev openmpi-bin
          libjs-chart.js)
# The report's browser test (ctest -L browser) loads a page in headless Chromium.
if [ "$tests" = ON ]; then packages+=(chromium python3-torch python3-numpy); fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMER_BUILD_TESTS="$tests" -DMER_BUILD_BENCH="$bench" >/dev/null
cmake --build build -j "$jobs"
echo "built: build/mer"
