#!/usr/bin/env bash
# Rebuild the committed artifacts and the seed study in artifacts/report.md (about 15 minutes on 2 cores).
# Usage: scripts/reproduce-artifacts.sh [path/to/IBM.csv]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data/IBM.csv}
export TF_CPP_MIN_LOG_LEVEL=3
train() { .venv/bin/forecast-train --data "$DATA" --verbose 2 "$@"; }
train --recipe default --seed 1 --out artifacts            # the committed run
for seed in 2 3; do train --recipe default --seed "$seed" --out "runs/default-s$seed" --no-plots; done
for seed in 1 2; do train --recipe seed --seed "$seed" --out "runs/seed-s$seed" --no-plots; done
.venv/bin/forecast-report --artifacts artifacts --runs runs/default-s2 runs/default-s3 runs/seed-s1 runs/seed-s2
