"""Slow clients, memory after bursts, and workers whose supervisor is killed: before and after.

Usage, from the repository root::

    .venv/bin/python benchmarks/slowclients.py                       # every part, both columns (~6 min)
    .venv/bin/python benchmarks/slowclients.py --parts slowloris,stalled --json slow.json

Each part starts ``forecast-serve`` (loopback, the committed artifacts) once per configuration:

- ``slowloris``: one connection sends a request's headers at one byte per second; how long until the
  server closes it (given up after ``--wait`` s).
- ``stalled``: ``--uploads`` connections each declare a 1,000,000-byte JSON body (the cap), send 900 kB of
  it and stop; meanwhile the worker's RSS is sampled and a normal single-window predict is timed every
  second on a connection of its own; how long until the server closes every stalled connection.
- ``burst``: the worker's RSS idle, right after ``--burst`` 256-window batch predicts from ``--burst-clients``
  (64) clients at once, and ``--settle`` s later.
- ``supervisor``: ``--workers 2``, SIGKILL the supervisor: are its workers still alive (and serving)
  ``--wait`` s later, and can a new server bind the port? Then, on a fresh server, SIGKILL one worker:
  how long until the supervisor has started its replacement.

"before" turns this change's features off through the environment (``FORECAST_READ_TIMEOUT_S=3600``,
``FORECAST_MALLOC_TRIM_S=0``); for ``supervisor`` it runs uvicorn's own
command line on ``service.main:create_app``, which is what ``forecast-serve`` ran before. ``--config``
replaces the built-in columns, e.g. ``--config 'no trim:FORECAST_MALLOC_TRIM_S=0'``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from benchmarks.config import ARTIFACTS
from benchmarks.machine import loadavg, machine_info, progress
from benchmarks.server import (
    HOST,
    ServerProcess,
    clean_env,
    descendants,
    free_port,
    http_status,
    rss_kib,
    serve_argv,
    start_server,
)
from benchmarks.stats import fmt_duration, percentile, render_table

BEFORE = {"FORECAST_READ_TIMEOUT_S": "3600", "FORECAST_UPLOAD_BUDGET_BYTES": "0", "FORECAST_MALLOC_TRIM_S": "0"}
CONFIGS: dict[str, dict[str, str]] = {"before (features off)": BEFORE, "after (defaults)": {}}
PARTS = ("slowloris", "stalled", "burst", "supervisor")
WINDOW = [100.0 + 0.5 * (i % 20) for i in range(60)]  # the IBM models' window is 60 prices
PREDICT = "/v1/models/lstm/predict"
DECLARED = 1_000_000  # the body cap (FORECAST_MAX_BODY_BYTES): declared, so the server accepts to read it
SENT = 900_000
STARTED = "Application startup complete"  # what uvicorn logs (at info) once a worker's app is up


def server_env(env: dict[str, str]) -> dict[str, str]:
    return clean_env(FORECAST_ARTIFACTS_DIR=str(ARTIFACTS), FORECAST_LOG_LEVEL="warning", **env)


def closed_after(sock: socket.socket, limit: float) -> tuple[float | None, bytes]:
    """Seconds until the server closes ``sock`` (None: still open after ``limit``) and what it sent."""
    started = time.monotonic()
    data = b""
    while (left := limit - (time.monotonic() - started)) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            return time.monotonic() - started, data
        if not chunk:
            return time.monotonic() - started, data
        data += chunk
    return None, data


# -------------------------------------------------------------------------------------------------


def slowloris(port: int, limit: float) -> dict[str, Any]:
    """Headers at one byte per second until the server closes the connection or ``limit`` passes."""
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
    started = time.monotonic()
    closed: float | None = None
    answer = b""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        for byte in head:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = time.monotonic() - started
                break
            waited, data = closed_after(sock, 1.0)
            answer += data
            if waited is not None:
                closed = time.monotonic() - started
                break
            if time.monotonic() - started > limit:
                break
    return {"closed_after_s": closed, "status": answer[9:12].decode() or None}


async def stalled_upload(port: int, sent: asyncio.Event, closed: list[float | None], limit: float) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    head = f"POST {PREDICT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {DECLARED}\r\n\r\n"
    try:
        writer.write(head.encode() + b'{"window": [' + b"1.0," * ((SENT - 13) // 4))
        await writer.drain()
        stalled_at = time.monotonic()
        sent.set()
        try:
            await asyncio.wait_for(reader.read(), timeout=limit)  # until EOF: the server closed it
            closed.append(time.monotonic() - stalled_at)
        except TimeoutError:
            closed.append(None)
        except ConnectionError:
            closed.append(time.monotonic() - stalled_at)
    except ConnectionError:
        closed.append(0.0)  # refused while sending
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def timed_predicts(port: int, stop: threading.Event, out: list[tuple[int, float]]) -> None:
    """A normal single-window predict every second, on a fresh connection each (status, seconds)."""
    body = json.dumps({"window": WINDOW})
    while not stop.wait(1.0):
        started = time.monotonic()
        connection = http.client.HTTPConnection(HOST, port, timeout=30)
        try:
            connection.request("POST", PREDICT, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            out.append((response.status, time.monotonic() - started))
        except OSError:
            out.append((0, time.monotonic() - started))
        finally:
            connection.close()


def sample_rss(pid: int, stop: threading.Event, out: list[int]) -> None:
    while not stop.wait(0.25):
        with contextlib.suppress(RuntimeError):
            out.append(rss_kib(pid))


def stalled(port: int, pid: int, uploads: int, limit: float) -> dict[str, Any]:
    idle = rss_kib(pid)
    stop = threading.Event()
    rss: list[int] = []
    predicts: list[tuple[int, float]] = []
    threads = [
        threading.Thread(target=sample_rss, args=(pid, stop, rss), daemon=True),
        threading.Thread(target=timed_predicts, args=(port, stop, predicts), daemon=True),
    ]
    for thread in threads:
        thread.start()

    async def run() -> list[float | None]:
        closed: list[float | None] = []
        events = [asyncio.Event() for _ in range(uploads)]
        await asyncio.gather(*(stalled_upload(port, event, closed, limit) for event in events))
        return closed

    closed = asyncio.run(run())
    stop.set()
    for thread in threads:
        thread.join(35)
    ok = [t for s, t in predicts if s == 200]
    return {
        "idle_rss_mib": idle / 1024,
        "peak_rss_mib": max(rss, default=idle) / 1024,
        "predicts": len(predicts),
        "predicts_200": len(ok),
        "predict_statuses": sorted({s for s, _ in predicts}),
        "predict_p50_s": percentile(ok, 50) if ok else None,
        "predict_max_s": max(ok, default=None),
        "closed": sum(1 for t in closed if t is not None),
        "uploads": uploads,
        "closed_max_s": max((t for t in closed if t is not None), default=None),
    }


# -------------------------------------------------------------------------------------------------


def burst(port: int, pid: int, requests: int, clients: int, settle: float) -> dict[str, Any]:
    body = json.dumps({"windows": [[w * (1 + i / 1000) for w in WINDOW] for i in range(256)]})
    http_post(port, body)  # one first call: sessions' first-run allocations are not the burst's
    time.sleep(2)
    idle = rss_kib(pid)
    peak = idle
    todo = list(range(requests))
    lock = threading.Lock()

    def client() -> None:
        nonlocal peak
        while True:
            with lock:
                if not todo:
                    return
                todo.pop()
            http_post(port, body)
            with lock:
                peak = max(peak, rss_kib(pid))

    started = time.monotonic()
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    after = rss_kib(pid)
    time.sleep(settle)
    settled = rss_kib(pid)
    return {
        "idle_rss_mib": idle / 1024,
        "peak_rss_mib": peak / 1024,
        "after_rss_mib": after / 1024,
        "settled_rss_mib": settled / 1024,
        "ratio": settled / idle,
        "burst_s": took,
        "requests": requests,
    }


def http_post(port: int, body: str) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        connection.request("POST", PREDICT, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


# -------------------------------------------------------------------------------------------------


def uvicorn_argv(port: int, workers: int) -> list[str]:
    """What forecast-serve ran before: uvicorn's own supervisor, no worker-side link to it."""
    return [
        *[sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory"],
        *["--host", HOST, "--port", str(port), "--workers", str(workers), "--log-level", "info"],
    ]


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            out.append(pid)
    return out


def can_bind(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def two_workers(
    argv_for: Callable[[int], list[str]], env: dict[str, str], log: Path
) -> tuple[ServerProcess, list[int]]:
    """A server with two workers, ready, and the workers' pids (its log at info level)."""
    port = free_port()
    server = ServerProcess(argv_for(port), port=port, log=log, env={**env, "FORECAST_LOG_LEVEL": "info"}, workers=2)
    server.start()
    server.wait_ready("/readyz", timeout=180)
    deadline = time.monotonic() + 60
    while len(workers := worker_pids(server.pid)) < 2 or server.output(10**7).count(STARTED) < 2:
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the supervisor never had 2 started workers:\n{server.output()}")
        time.sleep(0.1)
    return server, workers


def worker_pids(supervisor: int) -> list[int]:
    return [pid for pid in descendants(supervisor) if "resource_tracker" not in cmdline(pid)]


def supervisor(argv_for: Callable[[int], list[str]], env: dict[str, str], log: Path, wait: float) -> dict[str, Any]:
    """SIGKILL the supervisor of two workers: how long until they are gone, or how many still serve."""
    server, workers = two_workers(argv_for, env, log)
    port = server.port
    result: dict[str, Any] = {}
    try:
        killed = time.monotonic()
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait() if server.process else None
        gone: float | None = None
        while time.monotonic() - killed < wait:
            if not alive(workers):
                gone = time.monotonic() - killed
                break
            time.sleep(0.1)
        left = alive(workers)
        result.update(
            workers_gone_after_s=gone,
            orphans=len(left),
            orphans_serving=http_status(port, "/healthz") == 200 if left else False,
            port_free=can_bind(port),
        )
    finally:
        for pid in alive(workers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        server.stop()
    return result


def replacement(argv_for: Callable[[int], list[str]], env: dict[str, str], log: Path, wait: float) -> dict[str, Any]:
    """SIGKILL one of two workers: seconds until the supervisor has started another, and until the log
    says its application started."""
    server, workers = two_workers(argv_for, env, log)
    try:
        killed = time.monotonic()
        os.kill(workers[0], signal.SIGKILL)
        spawned = started = None
        while time.monotonic() - killed < wait and started is None:
            now = worker_pids(server.pid)
            if spawned is None and any(p not in workers for p in now):
                spawned = time.monotonic() - killed
            if server.output(10**7).count(STARTED) >= 3:
                started = time.monotonic() - killed
            time.sleep(0.05)
        return {"replaced_after_s": spawned, "replacement_started_after_s": started}
    finally:
        server.stop()


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


# -------------------------------------------------------------------------------------------------


def run_config(name: str, env: dict[str, str], args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"config": name, "env": env, "load_before": loadavg()}
    environment = server_env(env)
    if "slowloris" in args.parts or "stalled" in args.parts or "burst" in args.parts:
        for part in ("slowloris", "stalled", "burst"):
            if part not in args.parts:
                continue
            progress(f"{name}: {part}")
            server = start_server(tmp / "server.log", env=environment, workers=1)
            try:
                if part == "slowloris":
                    result[part] = slowloris(server.port, args.wait)
                elif part == "stalled":
                    result[part] = stalled(server.port, server.pid, args.uploads, args.wait)
                else:
                    result[part] = burst(server.port, server.pid, args.burst, args.burst_clients, args.settle)
            finally:
                server.stop()
    if "supervisor" in args.parts:
        progress(f"{name}: supervisor")
        before = env == BEFORE

        def argv_for(port: int) -> list[str]:
            return uvicorn_argv(port, 2) if before else serve_argv(port, workers=2)

        result["supervisor"] = supervisor(argv_for, environment, tmp / "supervisor.log", args.wait)
        result["supervisor"].update(replacement(argv_for, environment, tmp / "replace.log", args.wait))
    return result


def s(value: float | None, missing: str) -> str:
    return missing if value is None else fmt_duration(value)


def table(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    rows: list[list[Any]] = []
    headers = ["check", *(r["config"] for r in results)]
    if "slowloris" in args.parts:
        rows.append(
            [
                "slowloris (headers at 1 byte/s): closed after",
                *(
                    f"{s(r['slowloris']['closed_after_s'], f'open after {args.wait:g} s')}"
                    + (f" ({r['slowloris']['status']})" if r["slowloris"]["status"] else "")
                    for r in results
                ),
            ]
        )
    if "stalled" in args.parts:
        st = [r["stalled"] for r in results]
        rows += [
            [
                f"{args.uploads} stalled 900 kB uploads: worker RSS idle → peak",
                *(f"{x['idle_rss_mib']:.0f} → {x['peak_rss_mib']:.0f} MiB" for x in st),
            ],
            [
                "meanwhile, single-window predicts: 200 of all, p50 / max",
                *(
                    f"{x['predicts_200']} of {x['predicts']} (statuses {x['predict_statuses']}), "
                    f"{s(x['predict_p50_s'], '—')} / {s(x['predict_max_s'], '—')}"
                    for x in st
                ),
            ],
            [
                "stalled uploads closed by the server, last after",
                *(f"{x['closed']} of {x['uploads']}, {s(x['closed_max_s'], '—')}" for x in st),
            ],
        ]
    if "burst" in args.parts:
        bu = [r["burst"] for r in results]
        rows.append(
            [
                f"{args.burst} × 256-window predicts: RSS idle / peak / right after / {args.settle:g} s after",
                *(
                    f"{x['idle_rss_mib']:.0f} / {x['peak_rss_mib']:.0f} / {x['after_rss_mib']:.0f} / "
                    f"{x['settled_rss_mib']:.0f} MiB ({x['ratio']:.2f}× idle)"
                    for x in bu
                ),
            ]
        )
    if "supervisor" in args.parts:
        su = [r["supervisor"] for r in results]
        rows += [
            [
                "SIGKILL of the supervisor (2 workers): workers",
                *(
                    f"gone after {fmt_duration(x['workers_gone_after_s'])}"
                    if x["workers_gone_after_s"] is not None
                    else f"{x['orphans']} alive after {args.wait:g} s"
                    + (", serving" if x["orphans_serving"] else "")
                    + ("" if x["port_free"] else ", port busy")
                    for x in su
                ),
            ],
            [
                "SIGKILL of one worker: replacement started / app up",
                *(f"{s(x['replaced_after_s'], '—')} / {s(x['replacement_started_after_s'], '—')}" for x in su),
            ],
        ]
    return render_table(headers, rows)


def parse_config(text: str) -> tuple[str, dict[str, str]]:
    """'label:VAR=VALUE,VAR=VALUE' -> (label, {VAR: VALUE})."""
    label, _, assignments = text.partition(":")
    return label, dict(item.split("=", 1) for item in assignments.split(",") if "=" in item)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    parser.add_argument("--uploads", type=int, default=300)
    parser.add_argument("--burst", type=int, default=200, help="256-window predicts in the burst")
    parser.add_argument("--burst-clients", type=int, default=64, help="concurrent clients sending the burst")
    parser.add_argument("--settle", type=float, default=30.0, help="seconds after the burst to read RSS again")
    parser.add_argument("--wait", type=float, default=40.0, help="how long to wait for a close or an exit")
    parser.add_argument("--config", action="append", metavar="LABEL:VAR=VALUE,...")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    args.parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {sorted(unknown)}")
    info = machine_info(sys.argv[1:] if argv is None else argv, script="benchmarks/slowclients.py")
    configs = dict(parse_config(c) for c in args.config) if args.config else CONFIGS
    with tempfile.TemporaryDirectory() as tmp:
        results = [run_config(name, env, args, Path(tmp)) for name, env in configs.items()]
    print(
        f"One worker (two for the supervisor rows), loopback; {info['date']}, {info['cpu_model']} "
        f"({info['cpus']} CPUs), load average before each column: {', '.join(r['load_before'] for r in results)}; "
        f"commit {info['commit'][:10]}{' (dirty)' if info['dirty'] else ''}; `{info['command']}`\n"
    )
    print(table(results, args))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
