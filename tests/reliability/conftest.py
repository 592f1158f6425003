"""Reliability fixtures: a served app on the tiny artifacts, the one error shape, and a real server process."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from forecast_core.checksums import sha256_file
from service.core.config import Settings
from service.main import create_app

W = 20  # the tiny artifacts' window (tests/conftest.py)
GOOD = [100.0 + 0.5 * i for i in range(W)]
# A stack trace, a file system path or a source file name in a response body. (".py" as a word end, so that
# a pydantic.dev link is not taken for a source file.)
LEAKS = re.compile(r'Traceback|File "|/tmp/|/work/|/home/|site-packages|\.py\b')


def wait_ready(client: TestClient, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, f"never ready: {client.get('/readyz').text}"
        time.sleep(0.02)


def wait_loaded(client: TestClient, timeout: float = 90.0) -> dict[str, Any]:
    """Poll /readyz until loading is over (ready or failed); return its body."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/readyz")
        body: dict[str, Any] = response.json()
        if body["status"] != "loading":
            assert response.status_code == (200 if body["status"] == "ready" else 503), body
            return body
        assert time.monotonic() < deadline, f"still loading after {timeout} s"
        time.sleep(0.02)


def assert_clean(response: Response) -> None:
    """No 500, no stack trace, no file system path in the body."""
    assert response.status_code != 500, response.text
    leak = LEAKS.search(response.text)
    assert leak is None, f"{leak.group()!r} leaked: {response.text[:400]}"


def check_error(response: Response, status: int | None = None, code: str | None = None) -> dict[str, Any]:
    """Assert the one documented error shape (any 4xx/5xx when ``status`` is None); return ``error``."""
    if status is None:
        assert 400 <= response.status_code < 600, response.text
    else:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"status", "code", "message", "details"}, error
    assert error["status"] == response.status_code
    assert isinstance(error["code"], str), error
    assert error["code"], error
    if code is not None:
        assert error["code"] == code, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    assert isinstance(error["details"], list), error
    for detail in error["details"]:
        assert set(detail) == {"field", "rule", "message"}, detail
        assert all(isinstance(v, str) and v for v in detail.values()), detail
    assert_clean(response)
    return error  # type: ignore[no-any-return]


def reseal(directory: Path, file: str) -> None:
    """Record ``file``'s current SHA-256 wherever the manifest lists it (models, scaler, intervals, extras)."""
    path = directory / "manifest.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    refs = [raw["scaler"], *raw.get("extra_files", []), *([raw["intervals"]] if raw.get("intervals") else [])]
    refs += [entry[kind] for entry in raw["models"].values() for kind in ("keras", "onnx")]
    matching = [ref for ref in refs if ref["file"] == file]
    assert matching, f"the manifest lists no {file}"
    for ref in matching:
        ref["sha256"] = sha256_file(directory / file)
    path.write_text(json.dumps(raw, indent=2), encoding="utf-8")


def start_client(**settings: Any) -> TestClient:
    client = TestClient(create_app(Settings(**settings)), raise_server_exceptions=False)
    client.__enter__()
    return client


@pytest.fixture(scope="module")
def served(tiny_artifacts: Path) -> Iterator[TestClient]:
    """One ready default (onnx) app, shared by a module's read-only tests."""
    client = start_client(artifacts_dir=tiny_artifacts)
    try:
        wait_ready(client)
        yield client
    finally:
        client.__exit__(None, None, None)
