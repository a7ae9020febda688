#!/usr/bin/env bash
# Honest tuning for the leaderboard, nested by database: for each database D of the MEGC2019
# composite (CASME II, SAMM, SMIC), `mer tune` searches a space fixed below (before any result)
# on the other two databases' subjects only (D's samples are set aside before the search), and
# the chosen settings then
#   - train the LOSO folds whose test subject is in D (training on every other subject, as in
#     `mer loso`), and
#   - train the leave-one-database-out fold that holds D out.
# No setting used for a test subject was chosen with that subject, nor any subject of its
# database, in view. Pooling the three databases' test predictions gives a tuned LOSO and a
# tuned LODO figure, beside the untuned defaults of bench/leaderboard.sh.
#
#   bench/tune_nested.sh MODEL "SEEDS" [OUT=runs/tune-nested] [DATA=../shared/data/megc2019]
#   e.g. bench/tune_nested.sh dere-grl "1 2 3"
#
# Environment: MER (default build/mer), THREADS (default 2), INNER_FOLDS (default 4: inner
# folds over the two development databases' subjects), SPACE_<model> (replaces the model's
# --space flags below, e.g. SPACE_fr="--space lr=1e-3,5e-4"). Finished runs and searches under
# OUT are reused, so the script can be interrupted and rerun. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1; seeds=$2; out=${3:-runs/tune-nested}; data=${4:-../shared/data/megc2019}
mer=${MER:-build/mer}; threads=${THREADS:-2}; inner=${INNER_FOLDS:-4}
databases="casme2 samm smic"
[ -x "$mer" ] || { echo "$mer missing: run scripts/bootstrap.sh" >&2; exit 1; }
mkdir -p "$out"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# The searched spaces, fixed before any search ran. Each lists the model's default first, so
# that a tie keeps the default (mer tune prefers the earlier candidate).
default_space() {  # model
  case $1 in
    ststnet) echo "--space epochs=500,250 --space lr=5e-5,1e-4" ;;
    fr) echo "--space epochs=20,40 --space lr=1e-3,5e-4 --space dropout=0.5,0.3" ;;
    dere-grl) echo "--space node_dim=24,48 --space cnn_channels=8,16 --space epochs=30,60" ;;
    rrrn) echo "--space epochs=30,60 --space lr=1e-3,5e-4" ;;
    *) echo "no space fixed for $1: set SPACE_${1//-/_}" >&2; exit 2 ;;
  esac
}
space_var="SPACE_${model//-/_}"
space=${!space_var-$(default_space "$model")}

landmarks=$out/landmarks.csv
extra=()
case $model in
  rrrn|dere-grl|htnet)
    [ -f "$landmarks" ] || "$mer" landmarks --data "$data" --out "$landmarks" --jobs "$threads"
    extra=(--landmarks "$landmarks") ;;
esac

finished() { [ -f "$1/summary.json" ] && grep -q '"complete": true' "$1/summary.json"; }

# The chosen settings of a tune.json as `mer loso` flags (tune.json spells them out).
chosen_flags() {  # tune.json
  python3 - "$1" <<'PY'
import json, sys
chosen = json.load(open(sys.argv[1]))["chosen"]
if "flags" not in chosen:
    sys.exit(f"{sys.argv[1]}: written by an older mer (no chosen.flags); remove it to search again")
print(" ".join(chosen["flags"]))
PY
}

keys=$("$mer" loso --model "$model" --data "$data" --list-folds "${extra[@]}" 2>/dev/null | grep / || true)
[ -n "$keys" ] || { echo "could not list the folds of $data" >&2; exit 1; }

for seed in $seeds; do
  for db in $databases; do
    tune=$out/$model-s$seed-$db.tune.json
    if [ ! -f "$tune" ]; then
      start=$SECONDS
      # shellcheck disable=SC2086
      "$mer" tune --model "$model" --data "$data" --group-by dataset --folds "$db" \
          --inner-folds "$inner" --seed "$seed" --threads "$threads" --quiet $space \
          "${extra[@]}" --out "$tune" > /dev/null
      echo "$tune: $((SECONDS - start)) s" | tee -a "$out/times.txt"
    fi
    chosen=$(chosen_flags "$tune")  # an assignment, so that a failure stops the script
    read -r -a flags <<< "$chosen"
    subjects=$(echo "$keys" | grep "^$db/" | paste -sd, -)
    for kind in loso lodo; do
      dir=$out/$model-$kind-s$seed-$db
      if finished "$dir"; then continue; fi
      if [ "$kind" = loso ]; then split=(--folds "$subjects"); else split=(--group-by dataset --folds "$db"); fi
      start=$SECONDS
      "$mer" loso --model "$model" --data "$data" --seed "$seed" --threads "$threads" --quiet \
          "${split[@]}" "${flags[@]}" "${extra[@]}" --out "$dir" > /dev/null
      echo "$dir: $((SECONDS - start)) s" | tee -a "$out/times.txt"
    done
  done
done

# Pooled over the three databases' test predictions, per seed, then mean +- sd over seeds.
python3 - "$out" "$model" "$seeds" $databases <<'PY'
import csv, json, pathlib, statistics, sys
out, model, seeds, databases = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3].split(), sys.argv[4:]
def metrics(rows, classes):
    f1s, recalls = [], []
    for c in range(classes):
        tp = sum(1 for l, p in rows if l == c and p == c)
        fp = sum(1 for l, p in rows if l != c and p == c)
        fn = sum(1 for l, p in rows if l == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        recalls.append(tp / (tp + fn) if tp + fn else 0.0)
    return statistics.mean(f1s), statistics.mean(recalls)
def stats(values):
    if not values: return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"
print(f"\n{model}: settings chosen per held-out database on the other two (inner folds)")
print("| seed | " + " | ".join(databases) + " | tuned LOSO UF1 / UAR | tuned LODO UF1 / UAR |")
print("|---:|" + "---|" * len(databases) + "---:|---:|")
summary = {"loso": ([], []), "lodo": ([], [])}
for seed in seeds:
    chosen, cells = [], []
    for db in databases:
        t = json.loads((out / f"{model}-s{seed}-{db}.tune.json").read_text())
        s = t["chosen"]["settings"]
        chosen.append(" ".join(f"{k}={v}" for k, v in s.items()) + f" (inner {t['chosen']['uf1']:.3f})")
    for kind in ("loso", "lodo"):
        rows, classes = [], 0
        for db in databases:
            run = out / f"{model}-{kind}-s{seed}-{db}"
            with open(run / "predictions.csv") as f:
                reader = csv.DictReader(f)
                classes = max(classes, sum(1 for n in reader.fieldnames if n.startswith("p_")))
                rows += [(int(r["label"]), int(r["pred"])) for r in reader]
        uf1, uar = metrics(rows, classes)
        summary[kind][0].append(uf1); summary[kind][1].append(uar)
        cells.append(f"{uf1:.4f} / {uar:.4f} (n={len(rows)})")
    print(f"| {seed} | " + " | ".join(chosen) + " | " + " | ".join(cells) + " |")
for kind in ("loso", "lodo"):
    print(f"{model} tuned {kind.upper()} over {len(seeds)} seed(s): UF1 {stats(summary[kind][0])}, "
          f"UAR {stats(summary[kind][1])}")
PY
