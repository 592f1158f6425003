"""Slow clients and worker processes against a real ``forecast-serve``: the read deadline (slowloris, a
stalled body, pipelined requests), the upload budget, memory trimming, and workers that stop with a
killed supervisor.

The servers serve the committed ``lstm`` model only (it loads in a second, no TensorFlow needed). No
assertion depends on the machine's speed: deadlines are a few seconds and the bounds around them are
generous (a close "within 30 s", never "after exactly 2 s"); a client's pauses (``time.sleep``) only
play a slow client, and where one step must wait for the server (its having read a client's bytes, or
closed a connection) the test waits for that, read from the kernel's socket table, not for a duration.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.config import ARTIFACTS
from benchmarks.server import HOST, ServerProcess, clean_env, descendants, free_port, serve_argv
from service import cli
from service.core import process as worker_process
from service.core import server

WINDOW = [100.0 + 0.5 * (i % 20) for i in range(60)]
PREDICT = b"POST /v1/models/lstm/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def start(tmp_path: Path, workers: int = 1, **env: str) -> ServerProcess:
    port = free_port()
    environment = clean_env(FORECAST_ARTIFACTS_DIR=str(ARTIFACTS), FORECAST_MODELS="lstm", **env)
    process = ServerProcess(
        serve_argv(port, workers=workers), port=port, log=tmp_path / "server.log", env=environment, workers=workers
    )
    process.start()
    process.wait_ready("/readyz", timeout=120)
    return process


@pytest.fixture(params=["httptools", "h11"])
def deadline_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose requests must arrive within 2 s, with either HTTP parser; an idle keep-alive
    connection stays open for a minute, so that a client's pause between requests never closes it."""
    process = start(tmp_path, FORECAST_READ_TIMEOUT_S="2", FORECAST_KEEP_ALIVE_S="60", FORECAST_HTTP=request.param)
    try:
        yield process
    finally:
        process.stop()


def read_until_closed(sock: socket.socket, limit: float = 30.0) -> tuple[bytes, float | None]:
    """Everything the server sends until it closes the connection, and after how many seconds (None:
    still open after ``limit``)."""
    started = time.monotonic()
    data = b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        return data, None
    except ConnectionResetError:
        pass
    return data, time.monotonic() - started


def error_body(response: bytes) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]
    return body


@pytest.mark.slow
def test_headers_sent_one_byte_at_a_time_get_408_and_the_connection_is_closed(deadline_server: ServerProcess) -> None:
    with socket.create_connection((HOST, deadline_server.port), timeout=30) as sock:
        started = time.monotonic()
        closed = None
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 300:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)  # a slow client; each byte resets nothing: the deadline counts from the first one
            if time.monotonic() - started > 30:
                break
        data, closed = read_until_closed(sock, limit=5)
    assert closed is not None, "the slow connection was still open after 30 s"
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert error_body(data)["code"] == "request_timeout"
    assert b"connection: close" in data.lower()


@pytest.mark.slow
def test_a_body_that_stops_half_way_gets_408_and_the_connection_is_closed(deadline_server: ServerProcess) -> None:
    body = json.dumps({"window": WINDOW}).encode()
    with socket.create_connection((HOST, deadline_server.port), timeout=30) as sock:
        sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(body) + body[: len(body) // 2])
        data, closed = read_until_closed(sock)
    assert closed is not None, "the stalled upload was still open after 30 s"
    assert data.startswith(b"HTTP/1.1 408"), data[:200]
    assert "did not arrive within 2 s" in error_body(data)["message"]


@pytest.mark.slow
def test_the_deadline_counts_per_request_so_a_long_lived_connection_keeps_working(
    deadline_server: ServerProcess,
) -> None:
    """Four requests 1 s apart on one keep-alive connection (4 s, twice the deadline): all answered, and a
    body sent in two parts inside the deadline is read whole."""
    body = json.dumps({"window": WINDOW}).encode()
    with socket.create_connection((HOST, deadline_server.port), timeout=30) as sock:
        for _ in range(4):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")
            time.sleep(1.0)  # a client pausing between requests (4 s in all: twice the deadline)
        sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(body) + body[:100])
        time.sleep(0.3)  # a client sending its body in two parts (well inside the 2 s)
        sock.sendall(body[100:])
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    assert "predictions" in json.loads(answer.split(b"\r\n\r\n", 1)[1])


@pytest.mark.slow
def test_a_request_late_behind_pipelined_ones_gets_its_408_after_their_answers(deadline_server: ServerProcess) -> None:
    """Two complete requests and a third that stops half way, sent together on one connection: the two are
    answered in order, then the third gets 408 (its own answer, written after theirs) and the connection
    is closed; whether the third stops in its headers or in its body."""
    body = json.dumps({"window": WINDOW}).encode()
    late = {
        "in its headers": b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: aaa",
        "in its body": PREDICT + b"Content-Length: %d\r\n\r\n" % len(body) + body[:100],
    }
    for where, third in late.items():
        with socket.create_connection((HOST, deadline_server.port), timeout=30) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + third)
            data, closed = read_until_closed(sock)
        assert closed is not None, f"a request stopped {where} was still open after 30 s"
        heads = [part.split(b"\r\n", 1)[0] for part in data.split(b"HTTP/1.1 ")[1:]]
        assert heads == [b"200 OK", b"200 OK", b"408 Request Timeout"], (where, data[:600])
        assert error_body(data.rsplit(b"HTTP/1.1 ", 1)[1])["code"] == "request_timeout"


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed mid-response: {data[:200]!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.lower().split(b"\r\n") if line.startswith(b"content-length"))
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "closed mid-body"
        rest += chunk
    return head + b"\r\n\r\n" + rest


def socket_queues(port: int) -> dict[tuple[int, int], tuple[int, int, int]]:
    """Loopback TCP sockets touching ``port``, from /proc/net/tcp: (local port, remote port) -> (state,
    bytes sent and not yet acknowledged, bytes received and not yet read by the application)."""
    table: dict[tuple[int, int], tuple[int, int, int]] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = (int(address.split(":")[1], 16) for address in fields[1:3])
        if port in (local, remote):
            sent, unread = (int(queue, 16) for queue in fields[4].split(":"))
            table[(local, remote)] = (int(fields[3], 16), sent, unread)
    return table


# The states of the server's side of a connection the client closed first: still open (ESTABLISHED, or
# CLOSE_WAIT once the client's FIN is in); then LAST_ACK once the server has closed it, then gone.
SERVER_STILL_OPEN = (0x01, 0x08)


def wait_for(condition: Any, what: str, limit: float = 30.0) -> None:
    """Poll ``condition()`` until it is true; fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not after {limit} s"
        time.sleep(0.01)


def wait_until_read(port: int, client: socket.socket) -> None:
    """Until the server has read (and so counted) every byte ``client`` sent it."""
    mine = client.getsockname()[1]

    def all_read() -> bool:
        queues = socket_queues(port)
        return queues.get((mine, port), (0, 1, 0))[1] == 0 and queues.get((port, mine), (0, 0, 1))[2] == 0

    wait_for(all_read, "the server reading the upload's bytes")


@pytest.mark.skipif(not Path("/proc/net/tcp").is_file(), reason="needs Linux's /proc/net/tcp")
@pytest.mark.slow
def test_uploads_over_the_budget_are_refused_while_small_requests_still_pass(tmp_path: Path) -> None:
    """Budget 100 kB: one stalled upload holds 86 kB of it (150 kB sent, the first 64 KiB free), so the
    next one is refused with 503 and Retry-After at the byte that goes over; a single-window predict still
    gets 200, and once the first upload's client has gone the budget is free for a complete 150 kB body."""
    budget = 100_000
    process = start(tmp_path, FORECAST_READ_TIMEOUT_S="60", FORECAST_UPLOAD_BUDGET_BYTES=str(budget))
    part = b'{"window": ' + json.dumps(WINDOW).encode() + b" " * 150_000
    head = PREDICT + b"Content-Length: %d\r\n\r\n" % (len(part) + 1000)
    try:
        holder = socket.create_connection((HOST, process.port), timeout=30)
        holder.sendall(head + part)
        wait_until_read(process.port, holder)  # the holder's bytes are counted before the next arrive
        held = len(head + part) - server.FREE_BYTES
        # Exactly one byte over what is left: the server reads everything sent before it refuses, so its
        # close is a clean one (closing with unread bytes would reset the connection and could lose the 503).
        over = (head + part)[: server.FREE_BYTES + (budget - held) + 1]
        with socket.create_connection((HOST, process.port), timeout=30) as refused:
            refused.sendall(over)
            data, closed = read_until_closed(refused)
        assert closed is not None, "the upload over the budget was held open"
        assert data.startswith(b"HTTP/1.1 503"), data[:200]
        assert b"retry-after: 1" in data.lower()
        assert error_body(data)["code"] == "overloaded"
        small = json.dumps({"window": WINDOW}).encode()
        with socket.create_connection((HOST, process.port), timeout=30) as sock:
            sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(small) + small)
            assert read_response(sock).startswith(b"HTTP/1.1 200")
        mine = holder.getsockname()[1]
        holder.close()
        # The budget is given back when the server closes its side (asyncio calls connection_lost first).
        wait_for(
            lambda: socket_queues(process.port).get((process.port, mine), (0, 0, 0))[0] not in SERVER_STILL_OPEN,
            "the server closing the holder's connection",
        )
        whole = part + b"}"
        with socket.create_connection((HOST, process.port), timeout=30) as sock:
            sock.sendall(PREDICT + b"Content-Length: %d\r\n\r\n" % len(whole) + whole)
            answer = read_response(sock)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    finally:
        process.stop()


@pytest.mark.slow
def test_workers_stop_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the supervisor of two workers: both workers exit (within 30 s; 0.2 s measured) and the
    port is free for a new server. Before, they went on serving and a restart failed to bind."""
    process = start(tmp_path, workers=2)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers := worker_pids(process.pid)) < 2:
            assert time.monotonic() < deadline, f"never two workers: {process.output()}"
            time.sleep(0.1)
        os.kill(process.pid, signal.SIGKILL)
        assert process.process is not None
        process.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (left := [pid for pid in workers if running(pid)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not left, f"workers {left} outlived their supervisor"
        replacement = ServerProcess(
            serve_argv(process.port),
            port=process.port,
            log=tmp_path / "again.log",
            env=clean_env(FORECAST_ARTIFACTS_DIR=str(ARTIFACTS), FORECAST_MODELS="lstm"),
        ).start()
        try:
            replacement.wait_ready("/healthz", timeout=120)  # raises with its output if the bind failed
        finally:
            replacement.stop()
    finally:
        for pid in workers:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        process.stop()


def worker_pids(supervisor: int) -> list[int]:
    return [pid for pid in descendants(supervisor) if b"resource_tracker" not in cmdline(pid)]


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def running(pid: int) -> bool:
    """Alive and not a zombie (an exited child of a dead parent waits for init to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_forecast_serve_gives_uvicorn_the_deadline_protocols_and_the_preparing_factory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    monkeypatch.delenv("FORECAST_HTTP", raising=False)
    assert cli.main([]) == 0
    assert seen["http"] is server.HttpToolsWithDeadline
    assert (seen["app"], seen["factory"]) == ("service.core.process:create_app", True)
    monkeypatch.setenv("FORECAST_HTTP", "h11")
    assert cli.main([]) == 0
    assert seen["http"] is server.H11WithDeadline


def test_the_trimmer_is_off_at_zero_and_otherwise_a_running_daemon_thread() -> None:
    assert worker_process.start_trimmer(0) is None
    if worker_process.glibc() is None:
        pytest.skip("no glibc here: trimming is off")
    thread = worker_process.start_trimmer(3600)
    assert thread is not None
    assert thread.daemon
    assert thread.is_alive()
