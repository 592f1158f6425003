#!/usr/bin/env bash
# Set up (first run only) and start the service on the committed artifacts: http://127.0.0.1:8000
# Installs only the serving dependencies (onnxruntime backend, no TensorFlow) into .venv.
#
#   ./scripts/serve.sh [forecast-serve options...]
#
# Environment:
#   FORECAST_HOST=127.0.0.1   the address to listen on: this machine only. FORECAST_HOST=0.0.0.0 accepts
#                             connections from other machines too (the Docker image binds 0.0.0.0 itself).
#   FORECAST_PORT=8000        the port. When it is taken, serve.sh says so and exits 1 before starting
#                             anything (pick another: FORECAST_PORT=8001 ./scripts/serve.sh).
#   PYTHON=python3.11         the interpreter that makes .venv
# Every other FORECAST_* variable configures the service itself: docs/configuration.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
HOST=${FORECAST_HOST:-127.0.0.1}
PORT=${FORECAST_PORT:-8000}

# Is the address free? Checked before the install, so a busy port is reported at once. SO_REUSEADDR as
# uvicorn sets it, so a port only lingering in TIME_WAIT after a stopped server counts as free.
if ! message=$("$PYTHON" - "$HOST" "$PORT" 2>&1 <<'EOF'
import errno
import socket
import sys

host, port = sys.argv[1], sys.argv[2]
if not port.isdigit() or not 0 < int(port) < 65536:
    sys.exit(f"FORECAST_PORT={port!r} is not a port number (1-65535)")
try:
    family, kind, proto, _, address = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0]
except socket.gaierror as exc:
    sys.exit(f"FORECAST_HOST={host!r} is not an address of this machine ({exc.strerror})")
with socket.socket(family, kind, proto) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind(address)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            sys.exit(
                f"port {port} on {host} is already in use (another forecast-serve, or another program): "
                f"stop it, or choose another port, e.g. FORECAST_PORT={int(port) + 1} ./scripts/serve.sh"
            )
        sys.exit(f"cannot listen on {host}:{port}: {exc.strerror}")
EOF
); then
  echo "serve.sh: $message" >&2
  exit 1
fi

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
echo "serve.sh: starting forecast-serve on http://$HOST:$PORT (API docs: /docs)" >&2
exec .venv/bin/forecast-serve --host "$HOST" --port "$PORT" "$@"
