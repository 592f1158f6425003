"""A real ``forecast-serve --workers 2``: every scrape counts every worker's requests, and its log is JSON."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.test_server_process import SERVE, clean_env, free_port

PREDICTS = 40
SCRAPES = 10
W = 20
WINDOW = [100.0 + 0.25 * i for i in range(W)]


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process, self.base, self.log = process, base, log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        # A connection per request: the kernel hands each to either worker, as a scraper's would be.
        with httpx.Client(base_url=self.base, timeout=10.0) as http:
            return http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.base, timeout=10.0) as http:
            return http.post(path, **kwargs)


@pytest.fixture(scope="module")
def two_workers(tiny_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if not SERVE.is_file():
        pytest.fail(f"{SERVE.name} is not installed in the virtual environment (pip install -e .)")
    tmp = tmp_path_factory.mktemp("workers")
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SERVE), "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            env=clean_env(FORECAST_ARTIFACTS_DIR=str(tiny_artifacts), FORECAST_ACCESS_LOG="true"),
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_for_both_workers(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_for_both_workers(server: Server, timeout: float = 120.0) -> None:
    """Until both workers say their models are loaded (each logs it) and /readyz answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.process.poll() is None, f"the server exited early:\n{server.output()[-4000:]}"
        if server.output().count('"logger":"service.registry"') >= 2:
            try:
                if server.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
        assert time.monotonic() < deadline, f"not both workers ready within {timeout} s:\n{server.output()[-4000:]}"
        time.sleep(0.1)


def predict_count(text: str) -> float:
    for family in text_string_to_metric_families(text):
        if family.name == "http_requests":
            return sum(
                s.value
                for s in family.samples
                if s.name == "http_requests_total"
                and s.labels == {"method": "POST", "route": "/v1/models/{name}/predict", "status": "200"}
            )
    return 0.0


@pytest.mark.slow
def test_every_scrape_reports_the_predicts_of_both_workers(two_workers: Server) -> None:
    for _ in range(PREDICTS):
        response = two_workers.post("/v1/models/lstm/predict", json={"window": WINDOW})
        assert response.status_code == 200, response.text
    counts = []
    for _ in range(SCRAPES):
        scrape = two_workers.get("/metrics")
        assert scrape.status_code == 200, scrape.text
        counts.append(predict_count(scrape.text))
    assert counts == [PREDICTS] * SCRAPES
    in_flight = [
        s.value
        for f in text_string_to_metric_families(scrape.text)
        for s in f.samples
        if s.name == "http_requests_in_flight"
    ]
    assert in_flight == [1.0], "the scrape itself, in one worker: live gauges are summed"


@pytest.mark.slow
def test_a_request_id_is_in_exactly_one_json_log_line_of_the_server(two_workers: Server) -> None:
    response = two_workers.post("/v1/models/gru/predict", json={"window": WINDOW}, headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "abc-123"
    deadline = time.monotonic() + 30
    while '"abc-123"' not in two_workers.output():  # the worker writes its line after the response
        assert time.monotonic() < deadline, f"no log line for abc-123:\n{two_workers.output()[-4000:]}"
        time.sleep(0.05)
    lines = [json.loads(line) for line in two_workers.output().splitlines() if line.startswith("{")]
    ours = [line for line in lines if line.get("request_id") == "abc-123"]
    assert len(ours) == 1, ours
    assert ours[0]["status"] == 200
    assert ours[0]["duration_ms"] >= 0
    assert ours[0]["model"] == "gru"
    assert not [line for line in two_workers.output().splitlines() if line.strip() and not line.startswith("{")]
