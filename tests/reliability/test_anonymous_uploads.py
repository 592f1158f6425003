"""A real ``forecast-serve`` with an API key: an anonymous request to a protected route is refused from its
headers, before its body is read, so anonymous uploads cost the server no memory; and no response
names the server software.

The memory test opens 300 anonymous 900 kB uploads at once, each with its headers and first kilobyte
sent: each must be answered 401 while the rest of its body is still unsent (a server that reads the
body first answers none, and the test fails on a read timeout), then the rest of every body goes out and
the server must skip it. Meanwhile the server's peak resident set (VmHWM of /proc/<pid>/status, reset
through /proc/<pid>/clear_refs first) must grow by less than a quarter of the 270 MB sent; the upload
budget is off, so nothing but the key check keeps the bodies out. Measured: about 3.5 MB (with the key
checked after the body guard, the same uploads held open grew it by 190 MB). And what follows a 401 is
not counted against the upload budget, which is for bodies being read. Nothing depends on the
machine's speed: every socket has a generous timeout, and the bound is on bytes, not time.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.config import ARTIFACTS
from benchmarks.server import HOST, ServerProcess, clean_env, free_port, parse_status_kb, read_text, serve_argv

KEY = "s3cret-key"
UPLOADS = 300
BODY_BYTES = 900_000
# A JSON body the fast lane would parse (225,000 numbers), padded to exactly BODY_BYTES.
_NUMBERS = b'{"window": [' + b"1.0," * 224_990 + b"1.0]}"
BODY = _NUMBERS + b" " * (BODY_BYTES - len(_NUMBERS))
WINDOW = [100.0 + 0.5 * (i % 20) for i in range(60)]


def head(path: str, length: int, key: str | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: x", "Content-Type: application/json", f"Content-Length: {length}"]
    lines += [f"X-API-Key: {key}"] if key is not None else []
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_response(sock: socket.socket) -> bytes:
    """One whole response (status line, headers and its Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the response head: {data[:200]!r}"
        data += chunk
    head_part, _, body = data.partition(b"\r\n\r\n")
    lengths = [
        line.split(b":", 1)[1] for line in head_part.lower().split(b"\r\n") if line.startswith(b"content-length:")
    ]
    while len(body) < int(lengths[0]):
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        body += chunk
    return head_part + b"\r\n\r\n" + body


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One worker serving lstm with a key; no upload budget, and a read deadline nothing here reaches."""
    port = free_port()
    env = clean_env(
        FORECAST_ARTIFACTS_DIR=str(ARTIFACTS),
        FORECAST_MODELS="lstm",
        FORECAST_API_KEY=KEY,
        FORECAST_UPLOAD_BUDGET_BYTES="0",
        FORECAST_READ_TIMEOUT_S="300",
        FORECAST_MALLOC_TRIM_S="0",
        # Room for all the uploads at once, and no idle timer closing a connection between its two sends.
        FORECAST_MAX_CONNECTIONS="1000",
        FORECAST_KEEP_ALIVE_S="300",
    )
    log = tmp_path_factory.mktemp("anonymous") / "server.log"
    process = ServerProcess(serve_argv(port, workers=1), port=port, log=log, env=env)
    process.start()
    try:
        process.wait_ready("/readyz", timeout=120)
        yield process
    finally:
        process.stop()


@pytest.mark.slow
def test_an_anonymous_request_is_answered_before_its_body_is_sent(server: ServerProcess) -> None:
    """Headers declaring 900 kB and no body byte: 401 at once (a server reading the body first would wait)."""
    with socket.create_connection((HOST, server.port), timeout=60) as sock:
        sock.sendall(head("/v2/models/lstm/infer", BODY_BYTES))
        answer = read_response(sock)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
        assert b"www-authenticate: ApiKey" in answer
        # The connection goes on: the body that follows is skipped, and the next request is answered.
        sock.sendall(BODY)
        small = json.dumps({"window": WINDOW}).encode()
        sock.sendall(head("/v1/models/lstm/predict", len(small), KEY) + small)
        assert read_response(sock).startswith(b"HTTP/1.1 200")


@pytest.mark.slow
def test_300_anonymous_900_kb_uploads_are_refused_unread_and_do_not_grow_the_servers_memory(
    server: ServerProcess,
) -> None:
    status = Path(f"/proc/{server.pid}/status")
    try:
        Path(f"/proc/{server.pid}/clear_refs").write_text("5")  # peak RSS := current RSS
    except OSError as exc:
        pytest.skip(f"cannot reset the server's peak RSS here: {exc}")
    before = parse_status_kb(read_text(status), "VmHWM")
    first, rest = BODY[:1000], BODY[1000:]
    with contextlib.ExitStack() as stack:
        uploads = [
            stack.enter_context(socket.create_connection((HOST, server.port), timeout=60)) for _ in range(UPLOADS)
        ]
        for sock in uploads:  # 300 uploads open at once, each with its headers and first kilobyte sent
            sock.sendall(head("/v1/models/lstm/predict", len(BODY)) + first)
        # Each is refused while 899 kB of its body are still unsent (a server that read the body first would
        # answer none of them: the reads time out).
        refusals = {read_response(sock).split(b"\r\n", 1)[0] for sock in uploads}
        assert refusals == {b"HTTP/1.1 401 Unauthorized"}, refusals
        for sock in uploads:  # the rest of every body, which the server skips
            sock.sendall(rest)
        for sock in uploads:  # answered only once the server has gone through the whole body before it
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")
    peak = parse_status_kb(read_text(status), "VmHWM")
    assert before is not None
    assert peak is not None
    growth_kb = peak - before
    bound_kb = UPLOADS * BODY_BYTES // 4 // 1024
    assert growth_kb < bound_kb, f"peak RSS grew by {growth_kb} KiB with {UPLOADS} anonymous 900 kB uploads"


@pytest.mark.slow
def test_no_response_names_the_server_software(server: ServerProcess) -> None:
    with socket.create_connection((HOST, server.port), timeout=60) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        healthy = read_response(sock)
        sock.sendall(head("/v1/models/lstm/predict", 2) + b"{}")
        refused = read_response(sock)
    for answer in (healthy, refused):
        headers = answer.split(b"\r\n\r\n", 1)[0].lower().split(b"\r\n")[1:]
        assert not [h for h in headers if h.startswith(b"server:")], answer[:300]
    assert healthy.startswith(b"HTTP/1.1 200")
    assert refused.startswith(b"HTTP/1.1 401")


@pytest.mark.slow
@pytest.mark.parametrize("parser", ["httptools", "h11"])
def test_a_refused_upload_skipped_by_the_server_does_not_count_against_the_upload_budget(
    tmp_path: Path, parser: str
) -> None:
    """Budget 100 kB: the 899 kB an anonymous upload sends after its 401 are dropped unread, so they hold
    none of it; its connection stays open for the next request instead of being refused as over budget."""
    port = free_port()
    env = clean_env(
        FORECAST_ARTIFACTS_DIR=str(ARTIFACTS),
        FORECAST_MODELS="lstm",
        FORECAST_API_KEY=KEY,
        FORECAST_UPLOAD_BUDGET_BYTES="100000",
        FORECAST_READ_TIMEOUT_S="300",
        FORECAST_HTTP=parser,
    )
    with ServerProcess(serve_argv(port, workers=1), port=port, log=tmp_path / "server.log", env=env) as process:
        process.wait_ready("/readyz", timeout=120)
        with socket.create_connection((HOST, port), timeout=60) as sock:
            sock.sendall(head("/v1/models/lstm/predict", len(BODY)) + BODY[:1000])
            assert read_response(sock).startswith(b"HTTP/1.1 401")
            sock.sendall(BODY[1000:])
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")
