"""Request ids and the request log: one line per request, with the id the response carries."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.core.config import Settings
from service.core.logs import ACCESS_LOGGER, REQUEST, JsonFormatter, log_config

W = 20
WINDOW = [100.0 + 0.25 * i for i in range(W)]


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The request log lines captured so far, as the JSON objects forecast-serve writes."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == ACCESS_LOGGER]


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """An app with the request log on (it is off by default: see docs/observability.md)."""
    return make_client(access_log=True)


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    return caplog


def test_a_client_request_id_comes_back_and_is_in_exactly_one_log_line(
    client: TestClient, logged: pytest.LogCaptureFixture
) -> None:
    response = client.post("/v1/models/lstm/predict", json={"window": WINDOW}, headers={"X-Request-ID": "abc-123"})
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == "abc-123"
    lines = [line for line in access_lines(logged) if line["request_id"] == "abc-123"]
    assert len(lines) == 1, lines
    line = lines[0]
    assert line["status"] == 200
    assert line["duration_ms"] >= 0
    assert line["method"] == "POST"
    assert line["route"] == "/v1/models/{name}/predict"
    assert (line["model"], line["rows"], line["horizon"]) == ("lstm", 1, None)
    assert line["version"] == client.get("/v1/models/lstm").json()["version"]
    assert line["bytes_in"] == len(response.request.content)
    assert line["bytes_out"] == len(response.content)
    assert line["client"]
    assert line["time"].endswith("Z")


def test_a_request_without_an_id_gets_a_new_one_each_time(client: TestClient, logged: pytest.LogCaptureFixture) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert ids[0] != ids[1]
    assert all(len(i) == 32 for i in ids), ids
    assert [line["request_id"] for line in access_lines(logged)] == ids


@pytest.mark.parametrize(
    "bad",
    [b"x" * 129, b"has space", b"new\\nline", b"caf\xc3\xa9", b"<script>", b""],
    ids=["too-long", "space", "backslash", "non-ascii", "markup", "empty"],
)
def test_a_bad_request_id_is_replaced_not_echoed(
    client: TestClient, logged: pytest.LogCaptureFixture, bad: bytes
) -> None:
    response = client.get("/healthz", headers=[(b"X-Request-ID", bad)])
    assert response.status_code == 200
    returned = response.headers["x-request-id"]
    assert returned.encode() != bad
    assert len(returned) == 32
    assert [line["request_id"] for line in access_lines(logged)] == [returned]


def test_a_forecast_line_names_its_horizon(client: TestClient, logged: pytest.LogCaptureFixture) -> None:
    response = client.post("/v1/models/gru/forecast", json={"window": WINDOW, "horizon": 4})
    assert response.status_code == 200, response.text
    (line,) = access_lines(logged)
    assert (line["model"], line["rows"], line["horizon"], line["status"]) == ("gru", 1, 4, 200)


def test_refused_requests_are_logged_with_their_status(client: TestClient, logged: pytest.LogCaptureFixture) -> None:
    assert client.post("/v1/models/nope/predict", json={"window": WINDOW}).status_code == 404
    assert client.post("/v1/models/lstm/predict", json={"window": WINDOW[:3]}).status_code == 422
    assert client.get("/no/such/path").status_code == 404
    lines = access_lines(logged)
    assert [(line["status"], line["route"]) for line in lines] == [
        (404, "/v1/models/{name}/predict"),
        (422, "/v1/models/{name}/predict"),
        (404, "unmatched"),
    ]


def test_sampling_at_zero_logs_the_failures_only(
    make_client: Callable[..., TestClient], logged: pytest.LogCaptureFixture
) -> None:
    client = make_client(access_log=True, access_log_sample=0.0)
    logged.clear()  # the wait for readiness
    assert client.get("/healthz").status_code == 200
    assert client.post("/v1/models/nope/predict", json={"window": WINDOW}).status_code == 404
    assert [line["status"] for line in access_lines(logged)] == [404]


def test_the_log_switched_off_writes_nothing_and_still_returns_the_id(
    make_client: Callable[..., TestClient], logged: pytest.LogCaptureFixture
) -> None:
    client = make_client()  # the default: off
    response = client.get("/healthz", headers={"X-Request-ID": "req-1"})
    assert response.headers["x-request-id"] == "req-1"
    assert access_lines(logged) == []


def test_the_lines_are_written_at_the_configured_level(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=ACCESS_LOGGER)
    client = make_client(access_log=True, access_log_level="debug")
    caplog.clear()  # the wait for readiness
    client.get("/healthz")
    assert [r.levelno for r in caplog.records if r.name == ACCESS_LOGGER] == [logging.DEBUG]


def test_a_service_line_written_during_a_request_names_its_id() -> None:
    record = logging.LogRecord("service.dataplane", logging.WARNING, __file__, 1, "slow %s", ("model",), None)
    token = REQUEST.set({"request_id": "abc-123"})
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST.reset(token)
    assert line == {
        "time": line["time"],
        "level": "warning",
        "logger": "service.dataplane",
        "message": "slow model",
        "request_id": "abc-123",
    }
    outside = json.loads(JsonFormatter().format(record))
    assert "request_id" not in outside


def test_every_logger_writes_through_the_one_json_handler() -> None:
    config = log_config(Settings(log_level="warning"))
    assert config["root"] == {"handlers": ["json"], "level": "WARNING"}
    assert config["formatters"]["json"]["()"] == "service.core.logs.JsonFormatter"
    for name, logger in config["loggers"].items():
        assert logger["handlers"] == [], name
        assert logger["propagate"], name


def test_an_unexpected_error_is_logged_and_answered_with_the_request_id(
    client: TestClient, logged: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    class Lines(logging.Handler):
        """Formats as it receives, as forecast-serve's handler does: the request's context is there then."""

        def __init__(self) -> None:
            super().__init__()
            self.lines: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.lines.append(self.format(record))

    handler = Lines()
    handler.setFormatter(JsonFormatter())
    errors = logging.getLogger("service.errors")
    monkeypatch.setattr(client.app.state.dataplane, "infer", broken)  # type: ignore[attr-defined]
    errors.addHandler(handler)
    try:
        response = client.post("/v1/models/lstm/predict", json={"window": WINDOW}, headers={"X-Request-ID": "bug-1"})
    finally:
        errors.removeHandler(handler)
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "bug-1"
    incident = [json.loads(line) for line in handler.lines]
    assert [(line["request_id"], "RuntimeError: a bug" in line["exception"]) for line in incident] == [("bug-1", True)]
    assert [(line["request_id"], line["status"]) for line in access_lines(logged)] == [("bug-1", 500)]
