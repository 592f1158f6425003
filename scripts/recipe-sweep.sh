#!/usr/bin/env bash
# Validation-only recipe sweeps. Every candidate is scored on the last 250 trading days up to
# 2016-12-31 (evaluation.json "validation"); the 2017 test figures these runs also compute played no
# part in the choice.
#   scripts/recipe-sweep.sh [ibm] [path/to/IBM.csv]   the univariate IBM sweep (README, "How the default recipe was chosen")
#   scripts/recipe-sweep.sh ohlc [path/to/data-dir]   the OHLC set (artifacts/ohlc/report.md, "How the recipe was chosen")
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=ibm
if [[ ${1:-} == ohlc || ${1:-} == ibm ]]; then MODE=$1; shift; fi
export TF_CPP_MIN_LOG_LEVEL=3

if [[ $MODE == ohlc ]]; then
  DATA=${1:-../shared/data}
  O() { .venv/bin/forecast-train --inputs ohlc --data "$DATA" --seed 1 --verbose 2 --force "$@"; }  # reruns overwrite
  O --out runs/ohlc-sweep-A --lstm-units 32 --gru-units 64   # the issue's sizes
  O --out runs/ohlc-sweep-B --lstm-units 32 --gru-units 32 --patience 5 --epochs 20  # smaller GRU, longer patience
  O --out runs/ohlc-sweep-C --models gru --gru-units 64 --gru-learning-rate 0.0003  # A's GRU stopped at epoch 2: slower lr
  for run in runs/ohlc-sweep-*; do
    .venv/bin/python -c "import json,sys; v=json.load(open(sys.argv[1]+'/evaluation.json'))['summary']['validation']['trained']; \
print(sys.argv[1], *(f\"{k} {v[k]['median']['1']:.4f}\" for k in ('lstm', 'gru', 'ensemble', 'ridge') if k in v))" "$run"
  done
  exit 0
fi

DATA=${1:-../shared/data/IBM.csv}
T() { .venv/bin/forecast-train --data "$DATA" --no-plots --verbose 0 --force "$@"; }  # reruns overwrite
for seed in 1 2 3; do
  T --seed "$seed" --out "runs/sweep-A-s$seed" --units 32,32 --learning-rate 0.0005
  T --seed "$seed" --out "runs/sweep-C-s$seed" --units 16 --learning-rate 0.001
done
T --seed 1 --out runs/sweep-B --units 50,50,50,50 --dropout 0.2 --learning-rate 0.0005
T --seed 1 --out runs/sweep-D --units 32,32 --learning-rate 0.0005 --residual no
T --seed 1 --out runs/sweep-E --units 64,64 --dropout 0.2 --learning-rate 0.001
for run in runs/sweep-*; do
  .venv/bin/python -c "import json,sys; v=json.load(open(sys.argv[1]+'/evaluation.json'))['validation']['next_step']; \
print(sys.argv[1], *(f\"{k} {v[k]['rmse']:.4f}\" for k in ('lstm', 'gru', 'ensemble', 'persistence')))" "$run"
done
