"""The API key is checked before the body: an anonymous request to a protected route gets 401 whatever
its body, size, headers or framing, and never makes the server read the body.

Each case is a request the body guard (or /v2's unframing) refuses: sent with the key it gets that
refusal, so the same request without the key getting 401 shows the key was looked at first. Also: two
keys at once (rotation), and /metrics behind the key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.core.config import Settings
from service.main import create_app
from tests.conftest import ARTIFACTS_ROOT
from tests.service.conftest import running_client, scrape

KEY = "s3cret-key"
NEXT = "n3xt-key"
MAX_BODY = 2_048
MAX_HEADERS = 4_096
WINDOW = [round(150 + 0.05 * i, 2) for i in range(60)]
TENSOR = {"name": "window", "datatype": "FP32", "shape": [1, 60], "data": WINDOW}
# Every protected route, with a body it accepts.
ROUTES: list[tuple[str, bytes]] = [
    ("/v1/models/lstm/predict", json.dumps({"window": WINDOW}).encode()),
    ("/v1/models/lstm/forecast", json.dumps({"window": WINDOW, "horizon": 2}).encode()),
    ("/v2/models/lstm/infer", json.dumps({"inputs": [TENSOR]}).encode()),
    ("/v2/models/lstm/versions/1/infer", json.dumps({"inputs": [TENSOR]}).encode()),
]
JSON = {"content-type": "application/json"}


def _duplicate_key(path: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    # The same object again, with its first key repeated: {"window": [...], "window": [...]}.
    obj = body.decode()
    first_key = obj[1 : obj.index(":") + 1]
    return ("{" + first_key + " 1, " + obj[1:]).encode(), JSON


# name -> (how to turn a good request into one the guards refuse, the status the key holder gets)
CASES: dict[str, tuple[Any, int]] = {
    "415 content type": (lambda path, body: (body, {"content-type": "text/plain"}), 415),
    "413 body size": (lambda path, body: (b" " * (MAX_BODY + 1), JSON), 413),
    "431 header size": (lambda path, body: (body, {**JSON, "x-pad": "a" * MAX_HEADERS}), 431),
    "400 duplicate key": (_duplicate_key, 400),
    "400 v2 framing": (lambda path, body: (body, {"inference-header-content-length": "x1"}), 400),
}


@pytest.fixture(scope="module")
def keyed() -> Iterator[TestClient]:
    with running_client(
        artifacts_dir=ARTIFACTS_ROOT,
        models=("lstm",),
        api_key=KEY,
        api_key_next=NEXT,
        max_body_bytes=MAX_BODY,
        max_header_bytes=MAX_HEADERS,
    ) as client:
        yield client


def assert_unauthorized(response: Any, path: str) -> None:
    """The route's own 401: the service-wide shape on /v1, the protocol's on /v2; the same challenge."""
    assert response.status_code == 401, (path, response.status_code, response.text[:300])
    assert response.headers.get("www-authenticate") == "ApiKey"
    body = response.json()
    if path.startswith("/v2/"):
        assert body == {"error": "missing or invalid X-API-Key header"}
    else:
        assert body["error"]["code"] == "unauthorized"
        assert body["error"]["message"] == "missing or invalid X-API-Key header"


# Binary framing is /v2's alone.
REFUSALS = [
    pytest.param(case, path, good, id=f"{case}-{path}")
    for case in sorted(CASES)
    for path, good in ROUTES
    if path.startswith("/v2/") or "framing" not in case
]


@pytest.mark.parametrize(("case", "path", "good"), REFUSALS)
def test_a_request_the_body_guards_refuse_gets_401_without_the_key(
    keyed: TestClient, case: str, path: str, good: bytes
) -> None:
    make, refused_with_key = CASES[case]
    body, headers = make(path, good)
    with_key = keyed.post(path, content=body, headers={**headers, "X-API-Key": KEY})
    assert with_key.status_code == refused_with_key, with_key.text[:300]
    for anonymous in ({}, {"X-API-Key": ""}, {"X-API-Key": "wrong"}):
        assert_unauthorized(keyed.post(path, content=body, headers={**headers, **anonymous}), path)


@pytest.mark.parametrize(("path", "good"), ROUTES, ids=[path for path, _ in ROUTES])
def test_either_key_is_accepted_while_keys_rotate(keyed: TestClient, path: str, good: bytes) -> None:
    version = keyed.get("/v2/models/lstm").json()["versions"][0]
    path = path.replace("/versions/1/", f"/versions/{version}/")
    for key in (KEY, NEXT):
        response = keyed.post(path, content=good, headers={**JSON, "X-API-Key": key})
        assert response.status_code == 200, response.text[:300]
    for wrong in (KEY + NEXT, f"{KEY},{NEXT}", NEXT[:-1]):
        assert_unauthorized(keyed.post(path, content=good, headers={**JSON, "X-API-Key": wrong}), path)


def test_the_body_of_an_anonymous_request_is_never_received() -> None:
    """Called as the server would call it, the app answers 401 without asking for a single body message."""
    app = create_app(Settings(artifacts_dir=ARTIFACTS_ROOT, models=("lstm",), api_key=KEY))
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        raise AssertionError("the app asked for the body of an anonymous request")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for path, _ in ROUTES:
        sent.clear()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"900000")],
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
        }
        asyncio.run(app(scope, receive, send))
        assert sent[0]["type"] == "http.response.start"
        assert sent[0]["status"] == 401, (path, sent)


def test_unprotected_routes_are_not_guarded(keyed: TestClient) -> None:
    """Metadata and probes stay open, and keep their own answers to bad requests."""
    for path in ("/healthz", "/readyz", "/v1/models", "/v1/models/lstm", "/v2/models/lstm", "/metrics"):
        assert keyed.get(path).status_code == 200, path
    assert keyed.get("/v1/models/lstm/predict").status_code == 405
    assert keyed.get("/healthz", headers={"x-pad": "a" * MAX_HEADERS}).status_code == 431


def test_a_refused_request_is_counted_under_its_route_template(keyed: TestClient) -> None:
    def refused() -> float:
        return sum(
            v
            for n, labels, v in scrape(keyed)
            if n == "http_requests_total"
            and labels == {"method": "POST", "route": "/v1/models/{name}/predict", "status": "401"}
        )

    before = refused()
    keyed.post("/v1/models/lstm/predict", content=b"x", headers={"content-type": "text/plain"})
    assert refused() == before + 1


def test_metrics_can_require_the_key_as_a_header_or_a_bearer_token() -> None:
    settings = {"artifacts_dir": ARTIFACTS_ROOT, "models": ("lstm",), "api_key": KEY, "api_key_next": NEXT}
    with running_client(**settings, metrics_require_key=True) as client:
        for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 401, headers
            assert response.json()["error"]["code"] == "unauthorized"
        for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}, {"Authorization": f"bearer {NEXT}"}):
            response = client.get("/metrics", headers=headers)
            assert response.status_code == 200, headers
            assert "http_requests_total" in response.text
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("variables", "named"),
    [
        ({"FORECAST_API_KEY": KEY, "FORECAST_API_KEY_NEXT": ""}, "FORECAST_API_KEY_NEXT"),
        ({"FORECAST_API_KEY": KEY, "FORECAST_API_KEY_NEXT": "  "}, "FORECAST_API_KEY_NEXT"),
        ({"FORECAST_API_KEY_NEXT": NEXT}, "FORECAST_API_KEY_NEXT"),
        ({"FORECAST_METRICS_REQUIRE_KEY": "true"}, "FORECAST_METRICS_REQUIRE_KEY"),
    ],
)
def test_a_next_key_or_keyed_metrics_without_a_usable_key_are_refused(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], named: str
) -> None:
    monkeypatch.delenv("FORECAST_API_KEY", raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=named):
        Settings()
