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
          libcli11-dev nlohmann-json3-dev libzip-dev libpugixml-dev
          libgtest-dev libgmock-dev libbenchmark-dev libopenmpi-dev openmpi-bin
          libjs-chart.js
          pybind11-dev python3-dev python3-torch python3-numpy)
# The report's browser test (ctest -L browser) loads a page in headless Chromium.
# The Python tests run under pytest; python3-torch (installed above) also opens exported
# weights in the interop tests.
if [ "$tests" = ON ]; then packages+=(chromium python3-pytest); fi
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
# The Python module is built for Debian's interpreter, the one python3-torch belongs to.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMER_BUILD_TESTS="$tests" -DMER_BUILD_BENCH="$bench" \
  -DMER_BUILD_PYTHON=ON -DPython3_EXECUTABLE=/usr/bin/python3 >/dev/null
cmake --build build -j "$jobs"
# `import mer` for this user: a .pth file in Debian Python's user site pointing at
# build/python (like an editable install; nothing is copied, a rebuild is seen at once).
user_site=$(/usr/bin/python3 -m site --user-site)
mkdir -p "$user_site"
echo "$(pwd)/build/python" > "$user_site/mer.pth"
echo "built: build/mer, Python module mer (build/python, registered in $user_site/mer.pth)"
