"""A real ``forecast-serve --workers 2``: every scrape counts every worker's requests, and its log is JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.serverproc import Server, running_server

PREDICTS = 40
SCRAPES = 10
W = 20
WINDOW = [100.0 + 0.25 * i for i in range(W)]


@pytest.fixture(scope="module")
def two_workers(tiny_artifacts: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("workers")
    env = {"FORECAST_ARTIFACTS_DIR": str(tiny_artifacts), "FORECAST_ACCESS_LOG": "true"}
    with running_server(tmp, workers=2, **env) as server:
        yield server


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
