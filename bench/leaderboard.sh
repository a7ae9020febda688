#!/usr/bin/env bash
# The leaderboard of docs/benchmarks.md and README: for each model, on the MEGC2019 composite,
#   - LOSO under the oracle protocol, one run per seed: each run reports the oracle figure (the
#     epoch with the best test accuracy, per fold: how many papers select) and, from the same
#     training, the honest figure (the last epoch of the fixed schedule), so the two columns
#     differ by the selection alone;
#   - leave-one-database-out (`--group-by dataset`, honest): train on two databases of the
#     composite, test on the third;
#   - the ensemble of every model given (equal weights; its members fixed here, before any
#     result, so that nothing about it is chosen on test subjects), per seed: `mer ensemble
#     --last-epoch` of the oracle runs (honest: each member's last-epoch model), `mer ensemble`
#     of the same runs (ORACLE) and of the LODO runs (honest);
# then one table of mean +- sd over the seeds. Finished runs under OUT are reused, so the script
# can be interrupted and rerun. Not run by CI: a full LOSO of FR takes 10-20 minutes on 2 cores.
#
#   bench/leaderboard.sh "MODELS" "SEEDS" [OUT=runs/leaderboard] [DATA=../shared/data/megc2019]
#   e.g. bench/leaderboard.sh "ststnet fr rrrn dere-grl cva-fpf htnet" "1 2 3"
#
# Each model runs at its defaults except for what its CPU configuration fixes (docs/benchmarks.md
# says why): cva-fpf the 32 px flow stand-in of its MEGC2019 CPU runs, htnet the small
# configuration registered before its runs; dere-grl, rrrn and htnet read the landmarks file
# `mer landmarks` writes into OUT. Environment: MER (default build/mer), THREADS (default 2),
# SKIP_LOSO=1 / SKIP_LODO=1 (one protocol only), EXTRA_<model> (replaces that model's extra
# `mer loso` flags, e.g. EXTRA_htnet="--epochs 100"), ENSEMBLE (the ensemble's members, default
# all MODELS; "" for none).
set -euo pipefail
cd "$(dirname "$0")/.."
models=$1; seeds=$2; out=${3:-runs/leaderboard}; data=${4:-../shared/data/megc2019}
mer=${MER:-build/mer}; threads=${THREADS:-2}
ensemble=${ENSEMBLE-$models}
[ -x "$mer" ] || { echo "$mer missing: run scripts/bootstrap.sh" >&2; exit 1; }
mkdir -p "$out"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

landmarks=$out/landmarks.csv
[ -f "$landmarks" ] || "$mer" landmarks --data "$data" --out "$landmarks" --jobs "$threads"
default_extra() {  # model
  case $1 in
    rrrn|dere-grl) echo "--landmarks $landmarks" ;;
    cva-fpf) echo "--model-opt au=none --model-opt input_size=32 --model-opt window=2 \
--model-opt width=0.125 --model-opt embed=16 --model-opt heads=1,2,4 --model-opt depths=2,2,6 \
--epochs 10 --batch-size 16" ;;
    htnet) echo "--landmarks $landmarks --model-opt dim=16 --model-opt heads=1 \
--model-opt block_repeats=1,1,2 --epochs 200 --lr 5e-4 --batch-size 64" ;;
  esac
}

finished() { [ -f "$1/summary.json" ] && grep -q '"complete": true' "$1/summary.json"; }

run() {  # dir, model, seed, flags...
  local dir=$1 model=$2 seed=$3; shift 3
  if finished "$dir"; then echo "$dir: finished earlier, kept"; return; fi
  local start=$SECONDS extra_var="EXTRA_${model//-/_}" extra
  extra=${!extra_var-$(default_extra "$model")}
  # shellcheck disable=SC2086
  "$mer" loso --model "$model" --data "$data" --seed "$seed" --threads "$threads" --quiet \
      --out "$dir" "$@" $extra > /dev/null
  echo "$dir: $((SECONDS - start)) s" | tee -a "$out/times.txt"
}

for model in $models; do
  for seed in $seeds; do
    [[ ${SKIP_LOSO:-0} == 1 ]] || run "$out/$model-loso-oracle-s$seed" "$model" "$seed" --protocol oracle
    [[ ${SKIP_LODO:-0} == 1 ]] || run "$out/$model-lodo-s$seed" "$model" "$seed" --group-by dataset
  done
done

# The ensemble of the given models, per seed, once every member's run of that seed is finished.
ensemble_of() {  # out dir, kind (loso-oracle | lodo), seed, mer ensemble flags...
  local dir=$1 kind=$2 seed=$3; shift 3
  local members=() model
  for model in $ensemble; do
    finished "$out/$model-$kind-s$seed" || { echo "$dir: waits for $out/$model-$kind-s$seed"; return; }
    members+=("$out/$model-$kind-s$seed")
  done
  if "$mer" ensemble "${members[@]}" --out "$dir" "$@" > /dev/null; then
    echo "$dir: written"
  else
    echo "$dir: not written (mer ensemble failed, see its message above)"
  fi
}
if [ -n "$ensemble" ]; then
  for seed in $seeds; do
    ensemble_of "$out/ensemble-loso-honest-s$seed" loso-oracle "$seed" --last-epoch
    ensemble_of "$out/ensemble-loso-oracle-s$seed" loso-oracle "$seed"
    ensemble_of "$out/ensemble-lodo-s$seed" lodo "$seed"
  done
fi

python3 - "$out" $models <<'PY'
import json, pathlib, statistics, sys
out, models = pathlib.Path(sys.argv[1]), sys.argv[2:]
def stats(values):
    if not values: return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"
def complete(run):
    if not (run / "summary.json").exists(): return None  # unfinished: rerun the script
    s = json.loads((run / "summary.json").read_text())
    return s if s.get("complete") else None
print("| model | seeds (LOSO / LODO) | honest UF1 | honest UAR | oracle UF1 | oracle UAR | LODO UF1 | LODO UAR | LOSO s/run |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
times = {}
tf = out / "times.txt"
if tf.exists():
    for line in tf.read_text().splitlines():
        path, secs = line.split(": ")
        times[pathlib.Path(path).name] = int(secs.split()[0])  # the latest run of that folder
for model in models + ["ensemble"]:
    h_uf1, h_uar, o_uf1, o_uar, l_uf1, l_uar, secs = [], [], [], [], [], [], []
    if model == "ensemble":
        for run in sorted(out.glob("ensemble-loso-honest-s*")):
            if (s := complete(run)): h_uf1.append(s["uf1"]); h_uar.append(s["uar"])
        for run in sorted(out.glob("ensemble-loso-oracle-s*")):
            if (s := complete(run)): o_uf1.append(s["uf1"]); o_uar.append(s["uar"])
        lodo = "ensemble-lodo-s*"
    else:
        for run in sorted(out.glob(f"{model}-loso-oracle-s*")):
            if not (s := complete(run)): continue
            o_uf1.append(s["uf1"]); o_uar.append(s["uar"])
            h = s["honest_last_epoch"]; h_uf1.append(h["uf1"]); h_uar.append(h["uar"])
            if run.name in times: secs.append(times[run.name])
        lodo = f"{model}-lodo-s*"
    for run in sorted(out.glob(lodo)):
        if (s := complete(run)): l_uf1.append(s["uf1"]); l_uar.append(s["uar"])
    if model == "ensemble" and not (h_uf1 or o_uf1 or l_uf1): continue
    print(f"| {model} | {len(o_uf1)} / {len(l_uf1)} | {stats(h_uf1)} | {stats(h_uar)} | {stats(o_uf1)} | "
          f"{stats(o_uar)} | {stats(l_uf1)} | {stats(l_uar)} | "
          f"{round(statistics.mean(secs)) if secs else '-'} |")
PY
