"""Strict JSON (a duplicate key is refused, for /v1 and /v2), the header size cap of a real server, the
server options forecast-serve passes to uvicorn, and an unreadable artifacts directory's reason."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from benchmarks.server import HOST, ServerProcess, clean_env, free_port, serve_argv
from service import cli
from service.core import server
from service.core.limits import duplicate_key
from tests.conftest import REPO
from tests.reliability.conftest import GOOD, check_error

JSON = {"content-type": "application/json"}


def test_duplicate_keys_are_found_at_any_depth_and_only_there() -> None:
    assert duplicate_key(b'{"window": [1], "window": [2]}') == "window"
    assert duplicate_key(b'{"inputs": [{"name": "a", "data": [1], "data": [2]}]}') == "data"
    assert duplicate_key(b'{"a": 1, "b": {"a": 2}}') is None  # the same key in two objects is fine
    for not_json in (b"{", b"\xff", b"[" * 100_000):  # the route's parser reports these, as before
        assert duplicate_key(not_json) is None


def test_v1_refuses_a_duplicate_key_with_400_naming_it(served: TestClient) -> None:
    # The bad value first, the good one last: before, the last one silently won (200).
    raw = '{"window": [1, 2, 3], "window": ' + json.dumps(GOOD) + "}"
    error = check_error(served.post("/v1/models/lstm/predict", content=raw, headers=JSON), 400, "malformed_json")
    assert "'window' appears twice" in error["message"]
    assert error["details"][0]["rule"] == "unique_keys"
    nested = '{"window": ' + json.dumps(GOOD) + ', "horizon": 3, "horizon": 3}'
    check_error(served.post("/v1/models/lstm/forecast", content=nested, headers=JSON), 400, "malformed_json")
    # Unchanged: a good body, and a body that is not JSON at all.
    assert served.post("/v1/models/lstm/predict", json={"window": GOOD}).status_code == 200
    error = check_error(served.post("/v1/models/lstm/predict", content="{", headers=JSON), 400, "malformed_json")
    assert "not valid JSON" in error["message"]


def test_v2_refuses_a_duplicate_key_in_its_own_error_shape(served: TestClient) -> None:
    tensor = '{"name": "window", "datatype": "FP32", "shape": [1, 20], "data": ' + json.dumps(GOOD) + "}"
    raw = '{"inputs": [' + tensor[:-1] + ', "datatype": "FP64"}]}'
    for headers in (JSON, {}):  # /v2 clients may post JSON without a content type
        response = served.post("/v2/models/lstm/infer", content=raw, headers=headers)
        assert response.status_code == 400, response.text
        assert response.json() == {
            "error": "request body is not valid JSON: key 'datatype' appears twice in one object"
        }
    good = served.post("/v2/models/lstm/infer", content='{"inputs": [' + tensor + "]}", headers=JSON)
    assert good.status_code == 200, good.text


def test_forecast_serve_passes_the_slow_client_settings_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    for name in (
        "FORECAST_MAX_HEADER_BYTES",
        "FORECAST_KEEP_ALIVE_S",
        "FORECAST_MAX_CONNECTIONS",
        "FORECAST_HTTP",
        "FORECAST_LOOP",
    ):
        monkeypatch.delenv(name, raising=False)
    assert cli.main([]) == 0
    assert seen["http"] is server.HttpToolsWithDeadline
    assert seen["loop"] == "asyncio"  # uvloop's tail at c=64 (BENCHMARKS.md, "The event loop")
    assert seen["h11_max_incomplete_event_size"] == 16_384
    assert (seen["timeout_keep_alive"], seen["limit_concurrency"]) == (5, 256)
    monkeypatch.setenv("FORECAST_MAX_HEADER_BYTES", "4096")
    monkeypatch.setenv("FORECAST_MAX_CONNECTIONS", "10")
    assert cli.main([]) == 0
    assert (seen["h11_max_incomplete_event_size"], seen["limit_concurrency"]) == (4096, 10)


def raw_request(port: int, request: bytes) -> bytes:
    """Send ``request`` as is and read until the server closes or answers one response head; b"" when
    the server reset the connection before anything could be read (it refused the request mid-send)."""
    data = b""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        try:
            sock.sendall(request)
            while b"\r\n\r\n" not in data:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass
    return data


@pytest.mark.slow
def test_a_real_server_caps_headers_idle_connections_and_connections(tiny_artifacts: Path, tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        FORECAST_ARTIFACTS_DIR=str(tiny_artifacts),
        FORECAST_MAX_HEADER_BYTES="4096",
        FORECAST_KEEP_ALIVE_S="2",
        FORECAST_MAX_CONNECTIONS="3",
        FORECAST_HTTP="h11",  # the parser that also caps headers still arriving
    )
    server = ServerProcess(serve_argv(port), port=port, log=tmp_path / "server.log", env=env).start()
    try:
        server.wait_ready("/healthz", timeout=120)
        small = raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 1000 + b"\r\n\r\n")
        assert small.startswith(b"HTTP/1.1 200"), small[:200]
        # Over the cap but read at once: the app refuses it (431, in the service's error shape).
        big = raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8000 + b"\r\n\r\n")
        assert big.startswith(b"HTTP/1.1 431"), big[:300]
        # A header that never ends is refused by the parser once it buffers more than the cap (400, closed),
        # and so is one of 8 MB that does end: neither is held in memory whole.
        endless = raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100_000)
        assert endless.startswith(b"HTTP/1.1 400"), endless[:200]
        huge = raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8_000_000 + b"\r\n\r\n")
        assert huge == b"" or huge.startswith(b"HTTP/1.1 400"), huge[:200]  # refused while still sending
        assert raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200")
        idle_connection_is_closed(port)
        connections_over_the_cap_get_503(port, held=2)
    finally:
        server.stop()


def whole_response(port: int, request: bytes) -> tuple[bytes, dict[str, Any] | None]:
    """Send ``request``; the response's head and its JSON body (None without one)."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data and (chunk := sock.recv(65536)):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lengths = [line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length:")]
        while lengths and len(body) < int(lengths[0]) and (chunk := sock.recv(65536)):
            body += chunk
    return head, json.loads(body) if body else None


@pytest.mark.slow
def test_a_header_flood_against_the_default_parser_gets_431_and_the_server_keeps_serving(
    tiny_artifacts: Path, tmp_path: Path
) -> None:
    """httptools (what forecast-serve runs unless FORECAST_HTTP says otherwise) reads a header block of any
    size; the app then refuses one over FORECAST_MAX_HEADER_BYTES with 431 in the error shape: 2,000 small
    headers, one 100 kB header, one of 8 MB, on a GET and on a predict, from 16 connections at once. The
    same server then answers probes and predictions."""
    port = free_port()
    env = clean_env(FORECAST_ARTIFACTS_DIR=str(tiny_artifacts), FORECAST_MAX_HEADER_BYTES="4096")
    assert "FORECAST_HTTP" not in env  # the default parser
    server = ServerProcess(serve_argv(port), port=port, log=tmp_path / "server.log", env=env).start()
    many = b"".join(b"X-Flood-%d: %s\r\n" % (i, b"b" * 60) for i in range(2000))
    predict = b"POST /v1/models/lstm/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    body = json.dumps({"window": GOOD}).encode()
    floods = {
        "2,000 headers": b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n",
        "one 100 kB header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n",
        "one 8 MB header": b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8_000_000 + b"\r\n\r\n",
        "a predict with 2,000 headers": predict + b"Content-Length: %d\r\n" % len(body) + many + b"\r\n" + body,
    }
    try:
        server.wait_ready("/readyz", timeout=120)
        for what, request in floods.items():
            head, error = whole_response(port, request)
            assert head.startswith(b"HTTP/1.1 431"), (what, head[:300])
            assert error is not None, what
            assert error["error"]["code"] == "headers_too_large", (what, error)
            assert "4096-byte limit" in error["error"]["message"], (what, error)
        with ThreadPoolExecutor(16) as pool:
            heads = list(pool.map(lambda request: whole_response(port, request)[0], [floods["2,000 headers"]] * 16))
        assert all(head.startswith(b"HTTP/1.1 431") for head in heads), [h[:40] for h in heads]
        assert server.process is not None
        assert server.process.poll() is None, server.output()
        assert whole_response(port, b"GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")[0].startswith(b"HTTP/1.1 200")
        head, answer = whole_response(port, predict + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        assert head.startswith(b"HTTP/1.1 200"), head[:300]
        assert answer is not None
        assert len(answer["predictions"]) == 1
    finally:
        server.stop()


def get_on(sock: socket.socket) -> bytes:
    """One keep-alive GET /healthz on an open socket; its response head and body."""
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def idle_connection_is_closed(port: int) -> None:
    """Kept alive after a response (a second request on it is answered), closed by the server once idle
    (within the socket's 30 s: the keep-alive limit is 2 s)."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        assert get_on(sock).startswith(b"HTTP/1.1 200")
        assert get_on(sock).startswith(b"HTTP/1.1 200")
        assert sock.recv(1) == b"", "the server sent data on an idle connection"  # closed by the server


def connections_over_the_cap_get_503(port: int, held: int) -> None:
    """uvicorn refuses a request while ``limit_concurrency`` connections are open, its own included."""
    socks: list[socket.socket] = []
    try:
        for _ in range(held):  # served once each (so the server has them), then mid-way through a request
            socks.append(socket.create_connection((HOST, port), timeout=30))
            assert get_on(socks[-1]).startswith(b"HTTP/1.1 200")
            socks[-1].sendall(b"GET /healthz HTTP/1.1\r\n")
        refused = raw_request(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 503"), refused[:200]
    finally:
        for sock in socks:
            sock.close()


# Run by an unprivileged user (root reads any file whatever its mode): loads each artifacts directory
# given on the command line and prints its own euid and what /readyz says of each, as JSON.
READYZ_OF = """
import json, os, sys
from pathlib import Path
from fastapi.testclient import TestClient
from service.core.config import Settings
from service.main import create_app
from tests.reliability.conftest import wait_loaded
bodies = []
for directory in sys.argv[1:]:
    with TestClient(create_app(Settings(artifacts_dir=Path(directory))), raise_server_exceptions=False) as client:
        bodies.append(wait_loaded(client))
print(json.dumps({"euid": os.geteuid(), "bodies": bodies}))
"""
NOBODY = 65534


def unprivileged() -> list[str]:
    """A command prefix that runs a program as an unprivileged user: nothing when this is not root,
    else ``setpriv`` (util-linux) or ``runuser``; the test is skipped when root has neither."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", pwd.getpwuid(NOBODY).pw_name, "--"]
    pytest.skip("running as root with neither setpriv nor runuser to drop privileges")


def test_unreadable_artifacts_are_named_in_the_reason_relative_to_the_artifacts_directory(
    tiny_artifacts: Path,
) -> None:
    """As an unprivileged user (also when the suite runs as root, as in CI): a set directory, a model file
    and the whole artifacts directory without read permission each keep /readyz at 503 with a reason
    naming what cannot be read, relative to the artifacts directory, never the full path."""
    # Not under pytest's tmp_path: that is private to the user running the suite.
    base = Path(tempfile.mkdtemp(prefix="forecast-unreadable-"))
    try:
        base.chmod(0o755)
        cases = {name: base / name / "artifacts" for name in ("set", "file", "root")}
        for artifacts in cases.values():
            shutil.copytree(tiny_artifacts, artifacts / "ibm-high")
            for path in [artifacts.parent, artifacts, *artifacts.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
        (cases["set"] / "ibm-high").chmod(0)
        (cases["file"] / "ibm-high" / "lstm.onnx").chmod(0)
        cases["root"].chmod(0)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base), "PYTHONPATH": str(REPO)}
        env |= {"PYTHONDONTWRITEBYTECODE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        command = [*unprivileged(), sys.executable, "-c", READYZ_OF, *map(str, cases.values())]
        done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
        by_case = dict(zip(cases, seen["bodies"], strict=True))
    finally:
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755)
        shutil.rmtree(base)
    assert seen["euid"] != 0, "the check ran as root, who reads any file"
    inside = "in the artifacts directory 'artifacts': permission denied"
    assert by_case["set"]["status"] == "failed"
    assert by_case["set"]["reason"] == f"cannot read 'ibm-high/manifest.json' {inside}"
    assert by_case["file"]["status"] == "failed"
    assert by_case["file"]["reason"] == f"cannot read 'ibm-high/lstm.onnx' {inside}"
    assert by_case["root"]["status"] == "failed"
    assert by_case["root"]["reason"] == f"cannot read 'manifest.json' {inside}"
    assert str(base) not in json.dumps(by_case)
