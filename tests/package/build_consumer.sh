#!/usr/bin/env bash
# Installs mer from BUILD_DIR into a scratch prefix, builds the example consumer against it
# with find_package(mer) and runs it. Usage: build_consumer.sh BUILD_DIR CONSUMER_DIR CMAKE
set -euo pipefail
build_dir=$1 consumer=$2 cmake=$3
scratch=$build_dir/package-test
rm -rf "$scratch"
"$cmake" --install "$build_dir" --prefix "$scratch/prefix" >/dev/null
test -f "$scratch/prefix/include/mer/engine/loso.h"
test -f "$scratch/prefix/lib/cmake/mer/merConfig.cmake" || test -n "$(find "$scratch/prefix" -name merConfig.cmake)"
"$cmake" -S "$consumer" -B "$scratch/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$scratch/prefix" >/dev/null
"$cmake" --build "$scratch/build"
output=$("$scratch/build/mer_consumer" "$scratch/run")
echo "$output"
grep -q "^ststnet" <<<"$output"
grep -q "UF1 [0-9]" <<<"$output"
test -f "$scratch/run/summary.json"
