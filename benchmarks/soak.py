"""Soak test: the real server under mixed load for a while, every answer checked, memory watched.

Usage, from the repository root::

    .venv/bin/python benchmarks/soak.py                          # 60 s, committed artifacts, concurrency 64
    .venv/bin/python benchmarks/soak.py --duration 120 --json soak.json
    .venv/bin/python benchmarks/soak.py --artifacts /path/to/artifacts --duration 5

It starts ``forecast-serve`` (one worker, loopback only) as a child process and drives it from this
process with ``--concurrency`` asyncio clients (one keep-alive connection each; a lean HTTP/1.1 client by
default, ``--client httpx`` for httpx.AsyncClient), each looping over a random mix of next-step
(one window), batch (``--batch`` windows) and recursive forecast (``--horizon`` steps) requests to
lstm, gru and the ensemble. Every 200 answer is compared with this process' own Predictor for the same
windows (loaded from the same artifacts, apart from the server's); the windows are independent random
walks over the training range, checked up front to have answers far apart, so an answer that belongs to
another request (cross-talk) cannot pass. It reports requests done, errors, wrong answers, p50/p99
latency per kind, and the server's resident memory (VmRSS) after the warm-up and at the end.

Exit status: 0 when no answer was wrong, no request failed and RSS grew less than ``--max-rss-growth``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: the repository root replaces benchmarks/ at the head of sys.path, so that
    # ``benchmarks.*`` and ``service.*`` import as packages.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import json
import os
import platform
import random
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from benchmarks.config import ARTIFACTS
from benchmarks.server import ServerProcess, clean_env, rss_kib
from benchmarks.server import start_server as start_server_process

MODELS = ("lstm", "gru", "ensemble")
KINDS = ("next_step", "batch", "forecast")
WEIGHTS = (0.5, 0.25, 0.25)
RTOL = 1e-6  # served vs in-process prices; float32 noise between batch shapes is ~1e-7 of the scale
SEPARATION = 100 * RTOL  # least relative gap between two workload windows' answers: cross-talk cannot pass


def start_server(artifacts: Path, log: Path, *, ready_timeout: float = 180.0, **env: str) -> ServerProcess:
    """Start ``forecast-serve`` on a free loopback port with one worker and wait until /readyz is 200."""
    environment = clean_env(
        FORECAST_ARTIFACTS_DIR=str(artifacts), FORECAST_LOG_LEVEL="warning", WEB_CONCURRENCY="1", **env
    )
    # No --workers flag: WEB_CONCURRENCY says one, as a container's environment would.
    return start_server_process(log, env=environment, workers=None, timeout=ready_timeout, poll=0.1)


# --- the workload and its expected answers ---------------------------------------------------------------


@dataclass
class Workload:
    """Distinct windows and, per model, the in-process answers for each of them."""

    windows: np.ndarray  # (n, window)
    next_step: dict[str, np.ndarray]  # model -> (n,)
    forecasts: dict[str, np.ndarray]  # model -> (n_forecast, horizon), for windows[:n_forecast]
    horizon: int
    separation: float  # least relative gap between two windows' next-step answers, any model


def make_workload(artifacts: Path, n_windows: int, n_forecast: int, horizon: int, seed: int = 0) -> Workload:
    """Random-walk windows whose next-step answers are at least ``SEPARATION`` apart (relative), per model."""
    from forecast_core.loader import load_set

    loaded = load_set(artifacts, MODELS)
    if loaded.errors:
        raise SystemExit(f"the artifacts do not load here: {loaded.errors}")
    predictors = loaded.predictors
    rng = np.random.default_rng(seed)
    low, high = loaded.manifest.training_range.min, loaded.manifest.training_range.max
    width = loaded.manifest.window
    n = 8 * n_windows
    starts = np.exp(rng.uniform(np.log(0.7 * low), np.log(1.3 * high), size=(n, 1)))
    steps = rng.normal(0.0, 0.015, size=(n, width - 1))
    candidates = np.round(starts * np.exp(np.concatenate([np.zeros((n, 1)), np.cumsum(steps, 1)], 1)), 4)
    answers = {m: p.predict(candidates) for m, p in predictors.items()}
    chosen: list[int] = []
    taken: dict[str, list[float]] = {m: [] for m in predictors}  # kept sorted
    for i in range(n):
        if all(_far_from(taken[m], float(answers[m][i])) for m in predictors):
            chosen.append(i)
            for m in predictors:
                bisect.insort(taken[m], float(answers[m][i]))
            if len(chosen) == n_windows:
                break
    if len(chosen) < n_windows:
        raise SystemExit(f"found only {len(chosen)} windows with answers {SEPARATION:g} apart")
    windows = candidates[chosen]
    # The answers to compare with: one window per call, as most requests send them.
    next_step = {
        m: np.concatenate([p.predict(windows[i : i + 1]) for i in range(n_windows)]) for m, p in predictors.items()
    }
    forecasts = {m: p.forecast_many(windows[:n_forecast], horizon) for m, p in predictors.items()}
    separation = min(_least_gap(v) for v in next_step.values())
    assert separation >= 0.5 * SEPARATION, separation
    return Workload(windows, next_step, forecasts, horizon, separation)


def _far_from(ordered: list[float], value: float) -> bool:
    i = bisect.bisect_left(ordered, value)
    neighbours = ordered[max(0, i - 1) : i + 1]
    return all(abs(value - v) >= SEPARATION * abs(value) for v in neighbours)


def _least_gap(values: np.ndarray) -> float:
    ordered = np.sort(values)
    return float(np.min(np.diff(ordered) / np.abs(ordered[1:])))


# --- the load generator ----------------------------------------------------------------------------------


@dataclass
class Tally:
    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # "kind: status or exception"
    wrong: Counter[str] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    first_errors: list[str] = field(default_factory=list)

    def error(self, kind: str, what: str, detail: str) -> None:
        self.errors[f"{kind}: {what}"] += 1
        if len(self.first_errors) < 10:
            self.first_errors.append(f"{kind}: {what}: {detail[:300]}")


@dataclass(frozen=True)
class Request:
    kind: str
    body: bytes  # JSON, encoded once
    rows: tuple[int, ...]  # workload windows it carries (forecasts: the one origin)


def make_requests(work: Workload, batch: int, count: int, seed: int) -> list[Request]:
    """A pool of pre-encoded request bodies, in the mix given by WEIGHTS (the model is picked per call)."""
    rng = random.Random(seed)
    n, n_forecast = len(work.windows), len(next(iter(work.forecasts.values())))
    pool = []
    for _ in range(count):
        kind = rng.choices(KINDS, WEIGHTS)[0]
        if kind == "next_step":
            rows: tuple[int, ...] = (rng.randrange(n),)
            body: dict[str, Any] = {"window": work.windows[rows[0]].tolist()}
        elif kind == "batch":
            rows = tuple(rng.sample(range(n), batch))
            body = {"windows": work.windows[list(rows)].tolist()}
        else:
            rows = (rng.randrange(n_forecast),)
            body = {"window": work.windows[rows[0]].tolist(), "horizon": work.horizon}
        pool.append(Request(kind, json.dumps(body).encode(), rows))
    return pool


def expected_answer(work: Workload, request: Request, model: str) -> tuple[str, np.ndarray]:
    if request.kind == "forecast":
        return "forecast", work.forecasts[model][request.rows[0]]
    return "predictions", work.next_step[model][list(request.rows)]


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: a small fraction of httpx's CPU per request,
    which matters when the load generator shares two cores with the server it measures."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        try:
            self.writer.write(head + body)
            raw = await self.reader.readuntil(b"\r\n\r\n")
            status = int(raw[9:12])
            headers = raw.lower()
            at = headers.find(b"\r\ncontent-length:")
            if at < 0:
                raise ConnectionError("response without Content-Length")
            length = int(headers[at + 17 : headers.index(b"\r\n", at + 2)])
            payload = await self.reader.readexactly(length)
            if b"\r\nconnection: close" in headers:
                await self.close()
            return status, payload
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


class HttpxConnection:
    """The same interface over a shared ``httpx.AsyncClient`` (``--client httpx``)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = await self.client.post(path, content=body, headers={"content-type": "application/json"})
        return response.status_code, response.content

    async def close(self) -> None:
        pass


async def _client_loop(
    connection: Any, work: Workload, pool: list[Request], tally: Tally, stop_at: float, record: bool, rng: random.Random
) -> None:
    try:
        while time.monotonic() < stop_at:
            request = rng.choice(pool)
            model = rng.choice(MODELS)
            path = f"/v1/models/{model}/{'forecast' if request.kind == 'forecast' else 'predict'}"
            started = time.perf_counter()
            try:
                status, payload = await connection.post(path, request.body)
            except Exception as exc:  # transport errors count; the loop goes on with a new connection
                if record:
                    tally.error(request.kind, type(exc).__name__, str(exc))
                continue
            elapsed = time.perf_counter() - started
            if not record:
                continue
            if status != 200:
                tally.error(request.kind, str(status), payload.decode("utf-8", "replace"))
                continue
            key, expected = expected_answer(work, request, model)
            got = np.asarray(json.loads(payload)[key], dtype=np.float64)
            if got.shape != expected.shape or not np.allclose(got, expected, rtol=RTOL, atol=0):
                tally.wrong[request.kind] += 1
                if len(tally.first_errors) < 10:
                    tally.first_errors.append(f"{request.kind} {model}: wrong answer {got[:4]} != {expected[:4]}")
                continue
            tally.done[request.kind] += 1
            tally.latencies[request.kind].append(elapsed)
    finally:
        await connection.close()


async def drive(
    url: str,
    work: Workload,
    pool: list[Request],
    seconds: float,
    concurrency: int,
    record: bool,
    seed: int,
    client: str = "raw",
) -> Tally:
    tally = Tally()
    stop_at = time.monotonic() + seconds
    rngs = [random.Random(seed * 1000 + i) for i in range(concurrency)]
    if client == "raw":
        host, port = url.removeprefix("http://").split(":")
        await asyncio.gather(
            *(_client_loop(RawConnection(host, int(port)), work, pool, tally, stop_at, record, rng) for rng in rngs)
        )
        return tally
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60.0, limits=limits) as shared:
        await asyncio.gather(
            *(_client_loop(HttpxConnection(shared), work, pool, tally, stop_at, record, rng) for rng in rngs)
        )
    return tally


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


@dataclass
class SoakResult:
    date: str
    machine: str
    command: str
    artifacts: str
    duration_s: float
    warmup_s: float
    concurrency: int
    client: str
    batch: int
    horizon: int
    requests: int
    requests_per_s: float
    by_kind: dict[str, int]
    errors: int
    error_kinds: dict[str, int]
    wrong_answers: int
    latency_ms: dict[str, dict[str, float | None]]
    server_cpu_s: float  # CPU time the server process used during the measured run
    client_cpu_s: float  # and this load generator
    rss_after_warmup_mib: float
    rss_end_mib: float
    rss_max_mib: float
    rss_growth_pct: float
    windows: int
    answer_separation: float
    exit_status_after_sigterm: int
    first_errors: list[str]
    passed: bool


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU time of a process (this one by default), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid or 'self'}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, Python {platform.python_version()}"


def soak(
    artifacts: Path,
    duration: float = 60.0,
    warmup: float = 5.0,
    concurrency: int = 64,
    batch: int = 16,
    horizon: int = 20,
    windows: int = 512,
    max_rss_growth: float = 10.0,
    seed: int = 0,
    command: str = "",
    log: Path | None = None,
    client: str = "raw",
) -> SoakResult:
    work = make_workload(artifacts, windows, min(windows, 128), horizon, seed)
    pool = make_requests(work, batch, 4 * windows, seed)
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(artifacts, log or Path(tmp) / "server.log")
        try:
            asyncio.run(drive(server.url, work, pool, warmup, concurrency, False, seed + 1, client))
            rss_start = rss_kib(server.pid)
            server_cpu_start, client_cpu_start = cpu_seconds(server.pid), cpu_seconds()
            samples = [rss_start]

            async def sample_rss(until: float) -> None:
                while time.monotonic() < until:
                    await asyncio.sleep(1.0)
                    samples.append(rss_kib(server.pid))

            async def run() -> Tally:
                until = time.monotonic() + duration
                tally, _ = await asyncio.gather(
                    drive(server.url, work, pool, duration, concurrency, True, seed + 2, client),
                    sample_rss(until),
                )
                return tally

            started = time.monotonic()
            tally = asyncio.run(run())
            elapsed = time.monotonic() - started
            rss_end = rss_kib(server.pid)
            server_cpu, client_cpu = cpu_seconds(server.pid) - server_cpu_start, cpu_seconds() - client_cpu_start
        finally:
            status = server.stop()
    requests = sum(tally.done.values()) + sum(tally.errors.values()) + sum(tally.wrong.values())
    errors, wrong = sum(tally.errors.values()), sum(tally.wrong.values())
    growth = 100.0 * (rss_end - rss_start) / rss_start
    latency = {
        kind: {"p50": _ms(percentile(tally.latencies[kind], 50)), "p99": _ms(percentile(tally.latencies[kind], 99))}
        for kind in KINDS
    }
    return SoakResult(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        command=command,
        artifacts=str(artifacts),
        duration_s=round(elapsed, 1),
        warmup_s=warmup,
        concurrency=concurrency,
        client=client,
        batch=batch,
        horizon=horizon,
        requests=requests,
        requests_per_s=round(requests / elapsed, 1),
        by_kind={k: tally.done[k] for k in KINDS},
        errors=errors,
        error_kinds=dict(tally.errors),
        wrong_answers=wrong,
        latency_ms=latency,
        server_cpu_s=round(server_cpu, 1),
        client_cpu_s=round(client_cpu, 1),
        rss_after_warmup_mib=round(rss_start / 1024, 1),
        rss_end_mib=round(rss_end / 1024, 1),
        rss_max_mib=round(max([*samples, rss_end]) / 1024, 1),
        rss_growth_pct=round(growth, 2),
        windows=len(work.windows),
        answer_separation=work.separation,
        exit_status_after_sigterm=status,
        first_errors=tally.first_errors,
        passed=errors == 0 and wrong == 0 and growth < max_rss_growth and status == 0,
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS)
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds (default 60)")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first (default 5)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16, help="windows per batch request (default 16)")
    parser.add_argument("--horizon", type=int, default=20, help="steps per forecast request (default 20)")
    parser.add_argument("--windows", type=int, default=512, help="distinct windows in the workload")
    parser.add_argument("--max-rss-growth", type=float, default=10.0, help="percent (default 10)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--client", choices=("raw", "httpx"), default="raw", help="raw asyncio HTTP/1.1 (default) or httpx.AsyncClient"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    command = "benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = soak(
        args.artifacts.resolve(),
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        batch=args.batch,
        horizon=args.horizon,
        windows=args.windows,
        max_rss_growth=args.max_rss_growth,
        seed=args.seed,
        command=command.strip(),
        client=args.client,
    )
    text = json.dumps(asdict(result), indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0 if result.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
