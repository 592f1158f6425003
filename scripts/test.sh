#!/usr/bin/env bash
# Set up (first run only) and run the checks: ruff, mypy, then the test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
# Reinstall whenever the lock file or pyproject.toml changed since the last install: the pinned
# dependencies (requirements/dev.lock, every extra; scripts/lock.sh makes it), then the project itself.
stamp=.venv/.dev-install-$(cat requirements/dev.lock pyproject.toml | sha256sum | cut -c1-16)
if [[ ! -f $stamp ]]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet --require-hashes -r requirements/dev.lock
  .venv/bin/pip install --quiet --no-deps -e .
  rm -f .venv/.dev-install-* && touch "$stamp"
fi
export TF_CPP_MIN_LOG_LEVEL=3
.venv/bin/ruff check forecast_core service training forecast_client tests benchmarks
.venv/bin/ruff format --check forecast_core service training forecast_client tests benchmarks
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
