#!/usr/bin/env bash
# Set up (first run only) and start the service on the committed artifacts, port 8000.
# Installs only the serving dependencies (onnxruntime backend, no TensorFlow) into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
# Install the pinned serving dependencies (requirements/serve.lock), then the project itself, when the
# lock file or pyproject.toml changed since the last install.
stamp=.venv/.serve-install-$(cat requirements/serve.lock pyproject.toml | sha256sum | cut -c1-16)
if [[ ! -f $stamp ]]; then
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet --require-hashes -r requirements/serve.lock
  .venv/bin/pip install --quiet --no-deps -e .
  rm -f .venv/.serve-install-* && touch "$stamp"
fi
exec .venv/bin/forecast-serve --host "${FORECAST_HOST:-0.0.0.0}" --port "${FORECAST_PORT:-8000}" "$@"
