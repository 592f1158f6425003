"""The real thing: the console script serving over a socket, and a lean import graph on the onnx backend."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from forecast_core.loader import load_set

REPO = Path(__file__).resolve().parents[2]
SERVE = REPO / ".venv" / "bin" / "forecast-serve"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process' environment without anyone's FORECAST_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORECAST_") and k != "WEB_CONCURRENCY"}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", **extra})
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_console_script_serves_and_stops_on_sigterm(tiny_artifacts: Path, windows: np.ndarray, tmp_path: Path) -> None:
    if not SERVE.is_file():
        pytest.fail(f"{SERVE.name} is not installed in the virtual environment (pip install -e .)")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [str(SERVE), "--host", "127.0.0.1", "--port", str(port)],
        env=clean_env(FORECAST_ARTIFACTS_DIR=str(tiny_artifacts), FORECAST_LOG_LEVEL="info"),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=base, timeout=5.0) as http:
            deadline = time.monotonic() + 90
            while True:
                assert process.poll() is None, f"the server exited early:\n{output(tmp_path)}"
                try:
                    ready = http.get("/readyz")
                    if ready.status_code == 200:
                        break
                    assert ready.status_code == 503, ready.text
                    assert http.get("/healthz").status_code == 200
                except httpx.TransportError:
                    pass  # not listening yet
                assert time.monotonic() < deadline, f"never ready:\n{output(tmp_path)}"
                time.sleep(0.1)

            batch = windows[::50]
            response = http.post("/v1/models/ensemble/predict", json={"windows": batch.tolist()})
            assert response.status_code == 200, response.text
            forecast = http.post("/v1/models/lstm/forecast", json={"window": batch[0].tolist(), "horizon": 5})
            assert forecast.status_code == 200, forecast.text
            assert http.get("/metrics").status_code == 200

        local = load_set(tiny_artifacts).predictors
        np.testing.assert_allclose(response.json()["predictions"], local["ensemble"].predict(batch), rtol=1e-9)
        np.testing.assert_allclose(forecast.json()["forecast"], local["lstm"].forecast(batch[0], 5), rtol=1e-9)

        process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the server did not stop within 10 s of SIGTERM:\n{output(tmp_path)}")
        assert code == 0, output(tmp_path)
        assert "Traceback" not in output(tmp_path)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        log.close()


def output(tmp_path: Path) -> str:
    return (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")[-4000:]


def test_onnx_serving_never_imports_tensorflow(tiny_artifacts: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from fastapi.testclient import TestClient
        from service.core.config import Settings
        from service.main import create_app
        import service.cli

        app = create_app(Settings(artifacts_dir=sys.argv[1], backend="onnx"))
        with TestClient(app) as client:
            deadline = time.monotonic() + 60
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, client.get("/readyz").text
                time.sleep(0.02)
            for name in ("lstm", "gru", "ensemble"):
                r = client.post(f"/v1/models/{name}/forecast", json={"window": [100.0] * 20, "horizon": 3})
                assert r.status_code == 200, r.text
            assert client.get("/v1/models").status_code == 200
        heavy = sorted(m for m in ("tensorflow", "keras", "sklearn", "pandas", "tf_keras") if m in sys.modules)
        print("HEAVY=" + ",".join(heavy))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tiny_artifacts)],
        env=clean_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "HEAVY=\n" in result.stdout or result.stdout.rstrip().endswith("HEAVY="), result.stdout
