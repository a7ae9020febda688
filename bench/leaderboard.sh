#!/usr/bin/env bash
# The leaderboard of docs/benchmarks.md and README: for each model, on the MEGC2019 composite,
#   - LOSO under the oracle protocol, one run per seed: each run reports the oracle figure (the
#     epoch with the best test accuracy, per fold: how many papers select) and, from the same
#     training, the honest figure (the last epoch of the fixed schedule), so the two columns
#     differ by the selection alone;
#   - leave-one-database-out (`--group-by dataset`, honest): train on two databases of the
#     composite, test on the third;
# then one table of mean +- sd over the seeds. Finished runs under OUT are reused, so the script
# can be interrupted and rerun. Not run by CI: a full LOSO of FR takes 10-20 minutes on 2 cores.
#
#   bench/leaderboard.sh "MODELS" "SEEDS" [OUT=runs/leaderboard] [DATA=../shared/data/megc2019]
#   e.g. bench/leaderboard.sh "ststnet fr rrrn" "1 2 3"
#
# Environment: MER (default build/mer), THREADS (default 2), SKIP_LOSO=1 / SKIP_LODO=1 (one
# protocol only), EXTRA_<model> (more `mer loso` flags for that model, e.g. EXTRA_htnet="--epochs 100").
set -euo pipefail
cd "$(dirname "$0")/.."
models=$1; seeds=$2; out=${3:-runs/leaderboard}; data=${4:-../shared/data/megc2019}
mer=${MER:-build/mer}; threads=${THREADS:-2}
[ -x "$mer" ] || { echo "$mer missing: run scripts/bootstrap.sh" >&2; exit 1; }
mkdir -p "$out"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

run() {  # dir, model, seed, flags...
  local dir=$1 model=$2 seed=$3; shift 3
  if [ -f "$dir/summary.json" ] && grep -q '"complete": true' "$dir/summary.json"; then
    echo "$dir: finished earlier, kept"; return
  fi
  local start=$SECONDS extra_var="EXTRA_${model//-/_}"
  # shellcheck disable=SC2086
  "$mer" loso --model "$model" --data "$data" --seed "$seed" --threads "$threads" --quiet \
      --out "$dir" "$@" ${!extra_var:-} > /dev/null
  echo "$dir: $((SECONDS - start)) s" | tee -a "$out/times.txt"
}

for model in $models; do
  for seed in $seeds; do
    [[ ${SKIP_LOSO:-0} == 1 ]] || run "$out/$model-loso-oracle-s$seed" "$model" "$seed" --protocol oracle
    [[ ${SKIP_LODO:-0} == 1 ]] || run "$out/$model-lodo-s$seed" "$model" "$seed" --group-by dataset
  done
done

python3 - "$out" $models <<'PY'
import json, pathlib, statistics, sys
out, models = pathlib.Path(sys.argv[1]), sys.argv[2:]
def stats(values):
    if not values: return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"
print("| model | seeds | honest UF1 | honest UAR | oracle UF1 | oracle UAR | LODO UF1 | LODO UAR | LOSO s/run |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
times = {}
tf = out / "times.txt"
if tf.exists():
    for line in tf.read_text().splitlines():
        path, secs = line.split(": ")
        times.setdefault(pathlib.Path(path).name, int(secs.split()[0]))
for model in models:
    h_uf1, h_uar, o_uf1, o_uar, l_uf1, l_uar, secs = [], [], [], [], [], [], []
    for run in sorted(out.glob(f"{model}-loso-oracle-s*")):
        if not (run / "summary.json").exists(): continue  # unfinished: rerun the script
        s = json.loads((run / "summary.json").read_text())
        if not s.get("complete"): continue
        o_uf1.append(s["uf1"]); o_uar.append(s["uar"])
        h = s["honest_last_epoch"]; h_uf1.append(h["uf1"]); h_uar.append(h["uar"])
        if run.name in times: secs.append(times[run.name])
    for run in sorted(out.glob(f"{model}-lodo-s*")):
        if not (run / "summary.json").exists(): continue
        s = json.loads((run / "summary.json").read_text())
        if not s.get("complete"): continue
        l_uf1.append(s["uf1"]); l_uar.append(s["uar"])
    print(f"| {model} | {len(h_uf1)} | {stats(h_uf1)} | {stats(h_uar)} | {stats(o_uf1)} | "
          f"{stats(o_uar)} | {stats(l_uf1)} | {stats(l_uar)} | "
          f"{round(statistics.mean(secs)) if secs else '-'} |")
PY
