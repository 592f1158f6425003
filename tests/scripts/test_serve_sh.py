"""``scripts/serve.sh``: a port already taken is reported clearly, before anything is installed or started."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVE = REPO / "scripts" / "serve.sh"

pytestmark = pytest.mark.skipif(
    not (REPO / ".venv" / "bin" / "forecast-serve").exists(), reason="no .venv/bin/forecast-serve (run serve.sh once)"
)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def run_serve(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("FORECAST_HOST", "FORECAST_PORT")}
    return subprocess.run(
        ["bash", str(SERVE)], env={**clean, **env}, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_busy_port_is_reported_before_starting(busy_port: int) -> None:
    result = run_serve(FORECAST_PORT=str(busy_port))
    assert result.returncode != 0
    assert f"port {busy_port} on 127.0.0.1 is already in use" in result.stderr, result.stderr
    assert f"FORECAST_PORT={busy_port + 1}" in result.stderr  # says what to do
    assert "starting forecast-serve" not in result.stderr
    assert "Uvicorn" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_on_all_addresses(busy_port: int) -> None:
    result = run_serve(FORECAST_PORT=str(busy_port), FORECAST_HOST="0.0.0.0")
    assert result.returncode != 0
    assert f"port {busy_port} on 0.0.0.0 is already in use" in result.stderr, result.stderr


def test_a_port_that_is_not_a_number() -> None:
    result = run_serve(FORECAST_PORT="http")
    assert result.returncode != 0
    assert "FORECAST_PORT='http' is not a port number" in result.stderr, result.stderr


def test_the_header_documents_host_and_port() -> None:
    header = SERVE.read_text(encoding="utf-8").split("set -euo pipefail")[0]
    for needle in ("FORECAST_HOST=127.0.0.1", "FORECAST_HOST=0.0.0.0", "FORECAST_PORT=8000"):
        assert needle in header
    assert "${FORECAST_HOST:-127.0.0.1}" in SERVE.read_text(encoding="utf-8")
