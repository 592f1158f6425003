"""Overload: many clients sending long forecasts to one worker, while a prober times ``/healthz``.

Usage, from the repository root::

    .venv/bin/python benchmarks/overload.py                    # 64 clients x 365-step ensemble, 10 s each
    .venv/bin/python benchmarks/overload.py --clients 128 --duration 20 --json overload.json

For each configuration it starts ``forecast-serve`` (one worker, loopback, the committed IBM artifacts),
measures one client's forecast rate for a few seconds (the goodput reference), then runs ``--clients``
asyncio clients in a closed loop (a client that gets 503 waits its ``Retry-After``, at most 1 s) and a
prober thread that GETs ``/healthz`` every 50 ms on its own connection. It prints a Markdown table:
answers by status, goodput, forecast latency and the probe's latency.

The configurations: ``before``, admission control out of the way (``FORECAST_MAX_INFLIGHT=40``, the
size of the shared thread pool the service used before, and a queue nobody fills), and ``after``, the
defaults (one slot per core, a queue of 64), and the defaults with a short queue (8), which sheds.
The deadline counts from arrival in all of them.
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
import tempfile
import threading
import time
from collections import Counter
from typing import Any

from benchmarks.config import ARTIFACTS
from benchmarks.machine import loadavg, machine_info
from benchmarks.server import HOST, clean_env, start_server
from benchmarks.stats import fmt_duration, percentile, render_table

CONFIGS: dict[str, dict[str, str]] = {
    "before (40 threads, no queue bound)": {"FORECAST_MAX_INFLIGHT": "40", "FORECAST_MAX_QUEUE": "100000"},
    "after (defaults)": {},
    "after, FORECAST_MAX_QUEUE=8": {"FORECAST_MAX_QUEUE": "8"},
}
WINDOW = [100.0 + 0.5 * (i % 20) for i in range(60)]  # the IBM models' window is 60 prices


class Connection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (far less CPU per request than httpx, which
    matters when the load shares two cores with the server); returns the status and Retry-After."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, float]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(HOST, self.port)
        reader, writer = self.streams
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        try:
            writer.write(head.encode() + body)
            raw = (await reader.readuntil(b"\r\n\r\n")).lower()
            headers = dict(
                line.split(b":", 1) for line in raw.split(b"\r\n")[1:] if b":" in line
            )  # fmt: skip
            await reader.readexactly(int(headers[b"content-length"]))
            if headers.get(b"connection", b"").strip() == b"close":
                await self.close()
            return int(raw[9:12]), float(headers.get(b"retry-after", b"0") or 0)
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            with contextlib.suppress(Exception):
                await self.streams[1].wait_closed()
        self.streams = None


async def clients(
    port: int, count: int, duration: float, body: bytes, give_up: float | None = None
) -> tuple[Counter[str], dict[str, list[float]]]:
    """``count`` closed-loop clients for ``duration`` s: answers by status, and their latencies by status.

    With ``give_up``, a client waits at most that long for an answer, then drops its connection and
    sends the request again at once (a client library's timeout and retry), counted as "gave up".
    """
    statuses: Counter[str] = Counter()
    latencies: dict[str, list[float]] = {}
    stop_at = time.monotonic() + duration

    async def one() -> None:
        connection = Connection(port)
        while time.monotonic() < stop_at:
            started = time.monotonic()
            try:
                status, retry_after = await asyncio.wait_for(
                    connection.post("/v1/models/ensemble/forecast", body), give_up
                )
            except TimeoutError:
                statuses["gave up"] += 1
                continue
            except (OSError, asyncio.IncompleteReadError) as exc:
                statuses[type(exc).__name__] += 1
                await asyncio.sleep(0.1)
                continue
            statuses[str(status)] += 1
            latencies.setdefault(str(status), []).append(time.monotonic() - started)
            if retry_after:
                await asyncio.sleep(min(retry_after, 1.0))
        await connection.close()

    await asyncio.gather(*(one() for _ in range(count)))
    return statuses, latencies


def probe(port: int, stop: threading.Event, out: list[float], every: float = 0.05) -> None:
    """GET /healthz every ``every`` s on one keep-alive connection; a failed probe counts as 10 s."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    while not stop.is_set():
        started = time.monotonic()
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            out.append(time.monotonic() - started)
        except OSError:
            out.append(10.0)
            connection.close()
            connection = http.client.HTTPConnection(HOST, port, timeout=10)
        stop.wait(every)
    connection.close()


def run_config(name: str, env: dict[str, str], args: argparse.Namespace, log: Path) -> dict[str, Any]:
    environment = clean_env(
        FORECAST_ARTIFACTS_DIR=str(ARTIFACTS), FORECAST_LOG_LEVEL="warning", FORECAST_MAX_HORIZON="365", **env
    )
    server = start_server(log, env=environment, workers=1)
    body = json.dumps({"window": WINDOW, "horizon": args.horizon}).encode()
    try:
        asyncio.run(clients(server.port, 1, 0.5, body))  # warm-up: first calls, allocations
        solo, _ = asyncio.run(clients(server.port, 1, args.solo, body))
        probes: list[float] = []
        stop = threading.Event()
        prober = threading.Thread(target=probe, args=(server.port, stop, probes), daemon=True)
        prober.start()
        load = loadavg()
        statuses, latencies = asyncio.run(clients(server.port, args.clients, args.duration, body, args.give_up))
        stop.set()
        prober.join(15)
        cancelled = scrape(server.port, "forecast_requests_cancelled_total")
    finally:
        server.stop()
    return {
        "config": name,
        "env": env,
        "load_before": load,
        "solo_rate": solo["200"] / args.solo,
        "statuses": dict(statuses),
        "goodput": statuses["200"] / args.duration,
        "forecast_p50": pct(latencies.get("200", []), 50),
        "forecast_max": max(latencies.get("200", []), default=None),
        "refusal_max": max(latencies.get("503", []), default=None),
        "late": sum(1 for ts in latencies.values() for t in ts if t > args.timeout + 1),
        "healthz_p50": pct(probes, 50),
        "healthz_p99": pct(probes, 99),
        "healthz_max": max(probes, default=None),
        "probes": len(probes),
        "probes_over_1s": sum(1 for t in probes if t > 1.0),
        "cancelled": cancelled,
    }


def scrape(port: int, name: str) -> float | None:
    """The sum of a counter's series on the server's /metrics: 0 while it has none yet, None when the
    server has no such counter at all (an older commit)."""
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode()
    finally:
        connection.close()
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values) if values or f"# TYPE {name} " in text else None


def pct(values: list[float], q: float) -> float | None:
    return percentile(values, q) if values else None


def ms(seconds: float | None) -> str:
    return fmt_duration(seconds)


def table(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        s = r["statuses"]
        other = sum(v for k, v in s.items() if k not in ("200", "503", "504", "gave up"))
        cancelled = r.get("cancelled")
        rows.append(
            [
                r["config"],
                s.get("200", 0),
                s.get("503", 0),
                s.get("504", 0),
                s.get("gave up", 0),
                "n/a" if cancelled is None else int(cancelled),
                other,
                f"{r['goodput']:.1f}/s ({r['goodput'] / r['solo_rate']:.0%} of {r['solo_rate']:.1f}/s solo)"
                if r["solo_rate"]
                else f"{r['goodput']:.1f}/s",
                f"{ms(r['forecast_p50'])} / {ms(r['forecast_max'])}",
                ms(r["refusal_max"]),
                r["late"],
                f"{ms(r['healthz_p50'])} / {ms(r['healthz_p99'])} / {ms(r['healthz_max'])}",
                f"{r['probes_over_1s']} of {r['probes']}",
            ]
        )
    headers = [
        "server",
        "200",
        "503",
        "504",
        "client gave up",
        "cancelled by the server",
        "other",
        "goodput",
        "200 latency p50 / max",
        "503 latency max",
        "answers > deadline + 1 s",
        "/healthz p50 / p99 / max",
        "probes > 1 s",
    ]
    return render_table(headers, rows)


def parse_config(text: str) -> tuple[str, dict[str, str]]:
    """'label:VAR=VALUE,VAR=VALUE' -> (label, {VAR: VALUE})."""
    label, _, assignments = text.partition(":")
    env = dict(item.split("=", 1) for item in assignments.split(",") if "=" in item)
    return label, env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=365)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of overload per configuration")
    parser.add_argument("--solo", type=float, default=3.0, help="seconds of one client, the goodput reference")
    parser.add_argument("--timeout", type=float, default=10.0, help="the server's FORECAST_REQUEST_TIMEOUT_S")
    parser.add_argument(
        "--config",
        action="append",
        metavar="LABEL:VAR=VALUE,...",
        help="run this configuration instead of the built-in ones (repeatable), e.g. 'four:FORECAST_MAX_INFLIGHT=4'",
    )
    parser.add_argument(
        "--give-up",
        type=float,
        metavar="S",
        help="clients wait at most S s for an answer, then drop the connection and retry at once",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    info = machine_info(sys.argv[1:] if argv is None else argv, script="benchmarks/overload.py")
    configs = dict(parse_config(c) for c in args.config) if args.config else CONFIGS
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, env in configs.items():
            env = {**env, "FORECAST_REQUEST_TIMEOUT_S": str(args.timeout)}
            results.append(run_config(name, env, args, Path(tmp) / "server.log"))
    print(
        f"{args.clients} clients x {args.horizon}-step `ensemble` forecasts for {args.duration:g} s against one "
        f"worker, /healthz probed every 50 ms; {info['date']}, {info['cpu_model']} ({info['cpus']} CPUs), "
        f"load average before each run: {', '.join(r['load_before'] for r in results)}; commit "
        f"{info['commit'][:10]}{' (dirty)' if info['dirty'] else ''}; `{info['command']}`\n"
    )
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
