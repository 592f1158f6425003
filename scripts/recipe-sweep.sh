#!/usr/bin/env bash
# The validation-only sweep that chose the `default` recipe (README, "How the default recipe was chosen").
# Every candidate is scored on the last 250 trading days of 2006-2016 (evaluation.json "validation");
# the 2017 test figures these runs also print played no part in the choice.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/IBM.csv}
export TF_CPP_MIN_LOG_LEVEL=3
T() { .venv/bin/forecast-train --data "$DATA" --no-plots --verbose 0 "$@"; }
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
