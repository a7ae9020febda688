#!/usr/bin/env bash
# The GPU measurements of docs/benchmarks.md in one call of the device tool. That machine has
# a CUDA PyTorch but no OpenCV, dlib, CLI11 or nlohmann-json, so this script first builds the
# torch-only part of mer (MER_WITH_VISION=OFF) against the machine's LibTorch, with the
# header-only CLI11 and nlohmann-json carried in .gpu/deps, then runs the TASKS asked for:
#   fr            FR, honest LOSO on the MEGC2019 composite, training defaults, seed 1, all 68
#                 folds in one process (the "training time of one LOSO run" of issue 4);
#   cva-casme2    CVA+FPF at the published size (224 px, width 1, Swin embed 128, heads
#                 4,8,16, batch 50) on CASME II 5-class, au=oracle, --protocol oracle (which
#                 also records the honest last epoch), all 26 folds;
#   cva-megc2019  CVA+FPF at mer's defaults (112 px, width 0.25, embed 32) on the MEGC2019
#                 composite (flow stand-in, au=none), honest protocol, all 68 folds;
#   dere          DeRe-GRL variants on the MEGC2019 composite (see below);
#   stack         issue 21: each of STACK_MODELS (default "ststnet fr rrrn") at its training
#                 defaults, 68 folds trained as one computation (--fold-batch 68; STSTNet's
#                 batched form, the generic stack for the others), fp32, against fold by fold
#                 on the same card (--fold-batch 1, on BASELINE_FOLDS folds, scaled to 68),
#                 each with its UF1 (seeds STACK_SEEDS); CVA+FPF at the published size on
#                 CASME II stacked in groups of STACK_CVA_GROUP (default 8) against fold by
#                 fold (when .gpu/casme2-5class.pt is there); then the first model stacked in
#                 each of STACK_PRECISIONS (default "bf16 tf32") on the same seeds, against fp32.
# Each CVA+FPF task shares its folds among PROCS processes on the one GPU and trains as many
# epochs (at most its cap: 100 as published, 20 = mer's default) as fit the time left after
# a timed 2-epoch probe. Data reaches the machine as dataset caches (`mer cache`), and the
# header-only dependencies as .gpu/deps: bench/gpu_prepare.sh makes all of .gpu here.
# Licensed data: .gpu/ is ignored by git. Device tool: command "bash bench/gpu.sh" (or
# "TASKS=cva-megc2019 bash bench/gpu.sh"), carry [".gpu"], timeout_s 600. The runs go to
# WORK; $OUT receives only log.txt and results.tar.gz (summaries, fold results, logs; no
# checkpoints), since the device tool returns at most 8 files.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-out}
WORK=${WORK:-runs/gpu}
TASKS=${TASKS:-"fr cva-casme2"}
BUDGET=${BUDGET:-560}    # seconds this script may take in all
PROCS=${PROCS:-4}        # CVA+FPF processes sharing the GPU
# For a dry run on a CPU machine: DEVICE=cpu MER_BIN=build/mer (no build), a small CVA_SIZE
# and CVA_MEGC_SIZE (model options replacing the published size and the defaults) and
# FR_EXTRA="--folds 2 --epochs 1".
DEVICE=${DEVICE:-cuda}
MER_BIN=${MER_BIN:-}
FR_EXTRA=${FR_EXTRA:-}
CVA_SIZE=${CVA_SIZE:-"--model-opt input_size=224 --model-opt width=1 --model-opt embed=128 --model-opt heads=4,8,16"}
CVA_MEGC_SIZE=${CVA_MEGC_SIZE:-}   # "" = mer's defaults
mkdir -p "$OUT" "$WORK"
start=$(date +%s)
log() { echo "[$(( $(date +%s) - start )) s] $*" | tee -a "$OUT/log.txt"; }
left() { echo $(( start + BUDGET - $(date +%s) )); }
finish() {
  tar czf "$OUT/results.tar.gz" --exclude=model.pt -C "$WORK" .
  log "done"
}

if [ -z "$MER_BIN" ]; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$OUT/log.txt"
  prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
  log "torch $(python3 -c 'import torch;print(torch.__version__, torch.version.cuda)'), $(nproc) cores"
  cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DMER_WITH_VISION=OFF \
    -DMER_BUILD_TESTS=OFF -DMER_WITH_MPI=OFF -DCMAKE_PREFIX_PATH="$prefix;$PWD/.gpu/deps" \
    > "$WORK/cmake.log" 2>&1 || { tail -40 "$WORK/cmake.log"; finish; exit 1; }
  cmake --build build-gpu -j "$(nproc)" --target mer > "$WORK/build.log" 2>&1 \
    || { grep -m 20 -B2 -A8 "error" "$WORK/build.log"; finish; exit 1; }
  log "built build-gpu/mer"
  MER_BIN=build-gpu/mer
fi
mer=$MER_BIN

# LOSO over all folds of DATA shared by N processes (fold i to process i mod N), then the
# pooled summary. Args: NAME N mer-loso-options (data, model, epochs, ...).
shared_loso() {
  local name=$1 n=$2
  shift 2
  local folds p i pids=()
  mapfile -t folds < <($mer loso "$@" --list-folds)
  local threads=$(( $(nproc) / n )); (( threads < 1 )) && threads=1
  local t0=$(date +%s)
  for p in $(seq 0 $((n - 1))); do
    local mine=""
    for ((i = p; i < ${#folds[@]}; i += n)); do mine+="${mine:+,}${folds[$i]}"; done
    $mer loso "$@" --threads $threads --folds "$mine" --out "$WORK/$name" \
      > "$WORK/$name-$p.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  log "$name: ${#folds[@]} folds in $(( $(date +%s) - t0 )) s wall with $n processes"
  $mer loso "$@" --threads $threads --out "$WORK/$name" > "$WORK/$name-summary.log" 2>&1
  tee -a "$OUT/log.txt" < "$WORK/$name-summary.log"
}

# LOSO of one model over all folds of DATA, shared by PROCS processes, epochs fitted to the
# time left (at most CAP). Args: NAME DATA CAP RESERVE_S mer-loso-options...
cva_task() {
  local name=$1 data=$2 cap=$3 reserve=$4
  shift 4
  local opts=(--data "$data" --device "$DEVICE" --seed 1 --quiet "$@")
  local folds
  mapfile -t folds < <($mer loso "${opts[@]}" --list-folds)
  local threads=$(( $(nproc) / (PROCS + 1) )); (( threads < 1 )) && threads=1
  # Probe: PROCS processes at once, one fold each, 2 epochs: seconds per epoch under the same
  # sharing of the GPU as the real run.
  local p pids=()
  for p in $(seq 0 $((PROCS - 1))); do
    $mer loso "${opts[@]}" --epochs 2 --threads $threads --folds "${folds[$p]}" \
      --out "$WORK/$name-probe-$p" > "$WORK/$name-probe-$p.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  local per_epoch
  per_epoch=$(python3 - "$WORK/$name-probe" "$PROCS" <<'EOF'
import json, sys, glob
secs = [json.load(open(f))["seconds"] / 2 for f in glob.glob(sys.argv[1] + "-*/folds/*/fold.json")]
print(max(secs) if len(secs) == int(sys.argv[2]) else "")
EOF
)
  if [ -z "$per_epoch" ]; then
    log "$name: probe failed:"; tail -20 "$WORK/$name-probe-0.log" | tee -a "$OUT/log.txt"
    return 1
  fi
  local rounds=$(( (${#folds[@]} + PROCS - 1) / PROCS ))
  # Each process trains `rounds` folds one after another; RESERVE_S is kept for what follows.
  local epochs
  epochs=$(python3 -c "import math;print(max(1, min($cap, math.floor(($(left) - $reserve) / ($rounds * $per_epoch * 1.1)))))")
  log "$name: probe $per_epoch s per epoch with $PROCS processes; ${#folds[@]} folds x $epochs epochs"
  shared_loso "$name" "$PROCS" "${opts[@]}" --epochs "$epochs"
}

fr_pid=""
if [[ " $TASKS " == *" fr "* ]]; then
  # A small model: CPU-bound kernel launches, light on the GPU; in the background.
  ( t=$(date +%s)
    $mer loso --model fr --data .gpu/megc2019.pt --seed 1 --device "$DEVICE" --threads 2 \
      --quiet $FR_EXTRA --out "$WORK/fr-megc2019-s1" > "$WORK/fr.log" 2>&1
    log "FR LOSO done, rc $?, $(( $(date +%s) - t )) s wall"; tail -8 "$WORK/fr.log" >> "$OUT/log.txt" ) &
  fr_pid=$!
fi
read -r -a size_opts <<< "$CVA_SIZE"
if [[ " $TASKS " == *" cva-casme2 "* ]]; then
  cva_task cva-casme2-224 .gpu/casme2-5class.pt 100 45 --model cva-fpf \
    --model-opt au=oracle "${size_opts[@]}" --protocol oracle
fi
if [[ " $TASKS " == *" cva-megc2019 "* ]]; then
  read -r -a megc_size_opts <<< "$CVA_MEGC_SIZE"
  cva_task cva-megc2019-112 .gpu/megc2019.pt 20 45 --model cva-fpf --model-opt au=none \
    "${megc_size_opts[@]}"
fi
if [[ " $TASKS " == *" dere "* ]]; then
  # DeRe-GRL variants (issue 6), side by side: class-balanced loss; inner-validation epoch
  # choice (15% of each fold's training subjects held out, up to 60 epochs). Needs the cache
  # with landmarks: build/mer cache --data ../shared/data/megc2019 --landmarks
  # runs/megc2019-landmarks.csv --crop-side 28 --out .gpu/megc2019-landmarks.pt
  dere=(--model dere-grl --data .gpu/megc2019-landmarks.pt --device "$DEVICE" --seed 1 --quiet)
  shared_loso dere-balanced $(( PROCS / 2 )) "${dere[@]}" --class-weights balanced \
    --epochs "${DERE_EPOCHS:-30}" &
  shared_loso dere-innerval $(( PROCS / 2 )) "${dere[@]}" --protocol inner-val \
    --epochs "${DERE_EPOCHS:-60}" --patience 15 &
  wait
fi
if [[ " $TASKS " == *" stack "* ]]; then
  # STACK_EPOCHS (default: each model's own) for a dry run on a CPU machine.
  stack_opts=(--data .gpu/megc2019.pt --device "$DEVICE" --quiet)
  [ -n "${STACK_EPOCHS:-}" ] && stack_opts+=(--epochs "$STACK_EPOCHS")
  baseline=${BASELINE_FOLDS:-6}
  for model in ${STACK_MODELS:-ststnet fr rrrn}; do
    for seed in ${STACK_SEEDS:-1}; do
      t=$(date +%s)
      $mer loso "${stack_opts[@]}" --model "$model" --seed "$seed" --fold-batch 68 \
        --out "$WORK/$model-stacked-s$seed" > "$WORK/$model-stacked-s$seed.log" 2>&1
      rc=$?
      log "$model stacked, seed $seed: rc $rc, $(( $(date +%s) - t )) s wall (all folds, one computation)"
      grep -E "mer loso|^  all" "$WORK/$model-stacked-s$seed.log" | tee -a "$OUT/log.txt"
    done
    t=$(date +%s)
    $mer loso "${stack_opts[@]}" --model "$model" --seed 1 --fold-batch 1 --folds "$baseline" \
      --out "$WORK/$model-fold-by-fold" > "$WORK/$model-fold-by-fold.log" 2>&1
    rc=$?
    took=$(( $(date +%s) - t ))
    log "$model fold by fold, seed 1: rc $rc, $baseline folds in $took s wall" \
        "(x 68 / $baseline = $(( took * 68 / baseline )) s for all folds)"
    [ "$(left)" -lt 60 ] && { log "time budget spent: models after $model not timed"; break; }
  done
  # CVA+FPF at the published size on CASME II (generic stack, groups of STACK_CVA_GROUP folds:
  # every fold's activations stay until the group's backward), STACK_CVA_EPOCHS epochs, against
  # fold by fold on BASELINE_FOLDS folds. Needs .gpu/casme2-5class.pt.
  if [ -f .gpu/casme2-5class.pt ] && [ "$(left)" -gt 120 ]; then
    cva_stack=(--data .gpu/casme2-5class.pt --device "$DEVICE" --quiet --model cva-fpf "${size_opts[@]}"
               --model-opt au=oracle --epochs "${STACK_CVA_EPOCHS:-5}" --seed 1)
    t=$(date +%s)
    $mer loso "${cva_stack[@]}" --fold-batch "${STACK_CVA_GROUP:-8}" --out "$WORK/cva-stacked" \
      > "$WORK/cva-stacked.log" 2>&1
    log "cva-fpf (published size) stacked in groups of ${STACK_CVA_GROUP:-8}: rc $?, $(( $(date +%s) - t )) s wall"
    grep -E "mer loso|^  all" "$WORK/cva-stacked.log" | tee -a "$OUT/log.txt"
    t=$(date +%s)
    $mer loso "${cva_stack[@]}" --fold-batch 1 --folds "$baseline" --out "$WORK/cva-fold-by-fold" \
      > "$WORK/cva-fold-by-fold.log" 2>&1
    rc=$?
    log "cva-fpf (published size) fold by fold: rc $rc, $baseline folds in $(( $(date +%s) - t )) s wall"
  fi
  # Mixed precision against fp32 (the stacked runs above), same seeds, the first model.
  model=${STACK_MODELS:-ststnet}; model=${model%% *}
  for precision in ${STACK_PRECISIONS:-bf16 tf32}; do
    for seed in ${STACK_SEEDS:-1}; do
      [ "$(left)" -lt 60 ] && { log "time budget spent: $model $precision seed $seed not run"; continue; }
      t=$(date +%s)
      $mer loso "${stack_opts[@]}" --model "$model" --seed "$seed" --fold-batch 68 \
        --precision "$precision" --out "$WORK/$model-stacked-$precision-s$seed" \
        > "$WORK/$model-stacked-$precision-s$seed.log" 2>&1
      rc=$?
      log "$model stacked $precision, seed $seed: rc $rc, $(( $(date +%s) - t )) s wall"
      grep -E "mer loso|^  all" "$WORK/$model-stacked-$precision-s$seed.log" | tee -a "$OUT/log.txt"
    done
  done
fi
[ -n "$fr_pid" ] && wait "$fr_pid"
finish
