"""One-run benchmark harness: in-process inference, HTTP load, cold start and memory -> BENCHMARKS.md.

Usage, from the repository root::

    .venv/bin/python benchmarks/run.py            # normal run (~6-8 minutes), writes BENCHMARKS.md
    .venv/bin/python benchmarks/run.py --quick    # smoke run (~2 minutes), writes a temporary file unless --out

Everything is measured in one run, so the figures sit side by side as ratios taken on the same noisy
machine. The in-process section runs in a child process (it imports TensorFlow for the keras backend
and the notebook baseline); the HTTP sections start the real ``forecast-serve`` and drive it with
``wrk`` over loopback (or, where wrk is missing, an httpx load generator in its own process).

The module's pure helpers (percentiles, wrk output parsing, Lua generation, table rendering) import
nothing heavy, so ``tests/benchmarks/test_harness.py`` can check them in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import http.client
import importlib.metadata
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "IBM.csv"
ARTIFACTS = REPO / "artifacts"
COLUMN = "High"
MODELS = ("lstm", "gru", "ensemble")
BACKENDS = ("onnx", "keras")
BATCHES = (1, 8, 64, 256)
THREAD_BATCHES = (1, 64, 256)
HORIZON = 251
CONCURRENCY = (1, 8, 64)
HTTP_MODEL = "lstm"

# Targets on this 2-core machine (the list). "at most" targets are upper bounds.
TARGET_NEXT_STEP_P50_S = 0.002
TARGET_FORECAST_P50_S = 0.100
TARGET_LSTM_WINDOWS_PER_S = 6_000
TARGET_PREDICT_VS_HEALTHZ = 0.50
TARGET_READY_S = 2.0
TARGET_RSS_PER_WORKER_MB = 300

Request = tuple[str, str, str | None]  # method, path, JSON body


@dataclass(frozen=True)
class Profile:
    name: str
    measure_s: float  # in-process: seconds per latency/throughput measurement (ours)
    latency_calls: int  # in-process: at most this many single-window calls (ours)
    forecast_reps: int  # in-process: at most this many 251-step forecasts (ours)
    notebook_s: float  # in-process: seconds per notebook-way measurement (at least 5 calls each)
    notebook_steps: int  # notebook-way recursive steps timed, then extrapolated to 251
    wrk_s: int  # HTTP: seconds per load run
    warm_s: int  # HTTP: seconds of warm-up load per server
    soak_requests: int  # HTTP: requests each server has answered before the second RSS reading
    soak_limit_s: int  # HTTP: the soak stops here even short of soak_requests
    cold_runs_onnx: int
    cold_runs_keras: int
    keras_http: bool  # start a keras-backend server for HTTP latency and memory


FULL = Profile(
    name="normal",
    measure_s=1.0,
    latency_calls=20_000,
    forecast_reps=200,
    notebook_s=1.5,
    notebook_steps=20,
    wrk_s=5,
    warm_s=2,
    soak_requests=50_000,
    soak_limit_s=180,
    cold_runs_onnx=3,
    cold_runs_keras=2,
    keras_http=True,
)
QUICK = Profile(
    name="quick",
    measure_s=0.25,
    latency_calls=2_000,
    forecast_reps=20,
    notebook_s=0.4,
    notebook_steps=5,
    wrk_s=1,
    warm_s=1,
    soak_requests=5_000,
    soak_limit_s=10,
    cold_runs_onnx=1,
    cold_runs_keras=1,
    keras_http=False,
)


# --------------------------------------------------------------------------------------------
# Pure helpers (tested by tests/benchmarks/test_harness.py)
# --------------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks: NumPy's default method."""
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q}")
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median, p90, p99, mean and count of timing samples (seconds)."""
    return {
        "n": len(samples),
        "median": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "mean": sum(samples) / len(samples),
    }


_WRK_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_wrk_duration(text: str) -> float:
    """wrk's durations ('250.00us', '1.23ms', '5.10s', '1.00m') in seconds."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(us|ms|s|m|h)\s*", text)
    if m is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _WRK_UNITS[m.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    """The figures of a ``wrk --latency`` report: requests, req/s, latency percentiles, failures."""
    rps = re.search(r"^Requests/sec:\s*([0-9.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+),", output, re.M)
    if rps is None or total is None:
        raise ValueError(f"not a wrk report: {output[:200]!r}")
    dist = {int(k): parse_wrk_duration(v) for k, v in re.findall(r"^\s*(\d+)%\s+([0-9.]+\w+)\s*$", output, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    return {
        "requests": int(total.group(1)),
        "duration_s": parse_wrk_duration(total.group(2)),
        "rps": float(rps.group(1)),
        "p50": dist.get(50),
        "p75": dist.get(75),
        "p90": dist.get(90),
        "p99": dist.get(99),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(int(g) for g in sock.groups()) if sock else 0,
    }


def lua_long_string(text: str) -> str:
    """``text`` as a Lua long-bracket literal whose level never clashes with its content."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    # A long bracket drops a newline right after the opening bracket, so never start with one.
    return f"[{eq}[{text}]{eq}]"


def wrk_lua(requests: Sequence[Request]) -> str:
    """A wrk script that sends ``requests`` round-robin; each thread formats them once, in ``init``."""
    if not requests:
        raise ValueError("no requests")
    rows = []
    for method, path, body in requests:
        body_lua = lua_long_string(body) if body is not None else "nil"
        rows.append(f"  {{{lua_long_string(method)}, {lua_long_string(path)}, {body_lua}}},")
    return "\n".join(
        [
            "-- generated by benchmarks/run.py",
            "local specs = {",
            *rows,
            "}",
            "local reqs = {}",
            "local i = 0",
            "function init(args)",
            "  for k, s in ipairs(specs) do",
            '    local headers = s[3] and {["Content-Type"] = "application/json"} or {}',
            "    reqs[k] = wrk.format(s[1], s[2], headers, s[3])",
            "  end",
            "end",
            "function request()",
            "  i = i % #reqs + 1",
            "  return reqs[i]",
            "end",
            "",
        ]
    )


def parse_status_kb(status_text: str, key: str = "VmRSS") -> int | None:
    """A ``kB`` field of /proc/<pid>/status (or smaps_rollup), or None when absent."""
    m = re.search(rf"^{re.escape(key)}:\s*(\d+)\s*kB", status_text, re.M)
    return int(m.group(1)) if m else None


def parse_lscpu(text: str) -> dict[str, str]:
    """``lscpu``'s 'Key: value' lines as a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def read_column(path: Path, column: str = COLUMN) -> list[float]:
    """One numeric column of a price CSV, in file order, empty cells skipped."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [float(row[column]) for row in csv.DictReader(fh) if row.get(column, "").strip()]


def sliding_windows(values: Sequence[float], window: int) -> list[list[float]]:
    """Every run of ``window`` consecutive values, oldest first."""
    return [list(values[i : i + window]) for i in range(len(values) - window + 1)]


def spread(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` items taken evenly across ``items`` (all of them when there are fewer)."""
    if count >= len(items):
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def verdict(value: float | None, target: float, *, at_most: bool) -> str:
    """MET / MISSED against an upper (``at_most``) or lower bound; '—' when not measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    ok = value <= target if at_most else value >= target
    return "MET" if ok else "MISSED"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs" if seconds < 1e-5 else f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "—"
    if value >= 100:
        return f"×{value:,.0f}"
    return f"×{value:.1f}"


def fmt_mb(kb: float | None) -> str:
    return "—" if kb is None else f"{kb / 1024:.0f} MiB"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-flavoured markdown table; ``align`` holds one 'l' or 'r' per column (default: l, then r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    if len(align) != len(headers):
        raise ValueError("align needs one letter per column")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} has {len(row)} cells, expected {len(headers)}")
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def dig(data: Any, *keys: Any) -> Any:
    """``data[k1][k2]…`` or None as soon as a level is missing."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(str(key))
        if data is None:
            return None
    return data


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


# --------------------------------------------------------------------------------------------
# Section 1: in-process (runs in a child process)
# --------------------------------------------------------------------------------------------


def _time_calls(fn: Callable[[int], object], *, max_calls: int, max_s: float, min_calls: int = 5) -> list[float]:
    for i in range(3):  # warm-up: first calls allocate
        fn(i)
    samples: list[float] = []
    deadline = time.perf_counter() + max_s
    i = 0
    while i < max_calls and (i < min_calls or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t0)
        i += 1
    return samples


def _throughput(fn: Callable[[int], object], per_call: int, max_s: float, max_calls: int = 100_000) -> dict[str, float]:
    """Windows per second from the median call time (robust on a noisy machine), plus the plain rate."""
    t0 = time.perf_counter()
    samples = _time_calls(fn, max_calls=max_calls, max_s=max_s)
    elapsed = time.perf_counter() - t0
    return {
        "per_s": per_call / percentile(samples, 50),
        "per_s_elapsed": per_call * (len(samples) + 3) / elapsed,
        "calls": len(samples),
    }


def inprocess_section(p: Profile) -> dict[str, Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from service.core.registry import warm_up
    from service.inference.backends.onnx_backend import OnnxBackend
    from service.inference.loader import load_artifacts
    from service.inference.manifest import read_manifest

    manifest = read_manifest(ARTIFACTS)
    window = manifest.window
    prices = np.asarray(sliding_windows(read_column(DATA), window), dtype=np.float64)
    rng = np.random.default_rng(0)
    singles = [prices[i][None, :] for i in rng.permutation(len(prices))[:1024]]
    batches = {b: [prices[s : s + b] for s in rng.integers(0, len(prices) - b, size=16)] for b in BATCHES}
    res: dict[str, Any] = {"window": window, "windows_available": len(prices), "ours": {}, "load_s": {}}
    res["warmup_s"] = {}

    def measure_predictor(predictor: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        lat = _time_calls(
            lambda i: predictor.predict(singles[i % len(singles)]), max_calls=p.latency_calls, max_s=p.measure_s
        )
        out["latency"] = summarize(lat)
        out["throughput"] = {
            str(b): _throughput(lambda i, b=b: predictor.predict(batches[b][i % 16]), b, p.measure_s) for b in BATCHES
        }
        fc = _time_calls(
            lambda i: predictor.forecast(singles[i % len(singles)][0], HORIZON),
            max_calls=p.forecast_reps,
            max_s=p.measure_s,
        )
        out["forecast"] = summarize(fc)
        return out

    # Ours: the service's loader and Predictor, onnx first (before TensorFlow is even imported).
    for backend in BACKENDS:
        t0 = time.perf_counter()
        loaded = load_artifacts(ARTIFACTS, MODELS, backend=backend)
        res["load_s"][backend] = time.perf_counter() - t0
        if loaded.errors:
            raise RuntimeError(f"{backend}: {loaded.errors}")
        t0 = time.perf_counter()
        for predictor in loaded.predictors.values():
            warm_up(predictor)
        res["warmup_s"][backend] = time.perf_counter() - t0
        res["ours"][backend] = {m: measure_predictor(loaded.predictors[m]) for m in MODELS}
        _progress(f"in-process {backend}: done")
        if backend == "onnx":
            res["threads"] = _onnx_threads(p, manifest, batches, singles, loaded.scaler, OnnxBackend)
            _progress("in-process onnx threads: done")
            res["app"] = {
                f"batching-{'on' if on else 'off'}": _app_level(p, prices.tolist(), batching=on) for on in (True, False)
            }
            _progress("app-level (direct ASGI calls): done")

    res["notebook"] = _notebook_way(p, manifest, batches, singles)
    _progress("in-process notebook way: done")
    return res


def _onnx_threads(p: Profile, manifest: Any, batches: Any, singles: Any, scaler: Any, backend_cls: Any) -> dict:
    out: dict[str, Any] = {}
    scaled_batches = {b: [scaler.transform(x) for x in batches[b]] for b in THREAD_BATCHES}
    scaled_singles = [scaler.transform(x) for x in singles]
    for model in ("lstm", "gru"):
        path = ARTIFACTS / manifest.models[model].onnx.file
        out[model] = {}
        for threads in (1, 2):
            be = backend_cls(path, manifest.window, threads=threads)
            lat = _time_calls(
                lambda i, be=be: be.predict(scaled_singles[i % len(scaled_singles)]),
                max_calls=p.latency_calls,
                max_s=p.measure_s,
            )
            out[model][str(threads)] = {
                "latency": summarize(lat),
                "throughput": {
                    str(b): _throughput(lambda i, be=be, b=b: be.predict(scaled_batches[b][i % 16]), b, p.measure_s)
                    for b in THREAD_BATCHES
                },
            }
    return out


def _app_level(p: Profile, windows: list[list[float]], *, batching: bool) -> dict[str, Any]:
    """The app's own cost per request: the ASGI app called directly (no uvicorn, sockets or load generator)."""
    import asyncio

    from service.core.config import Settings
    from service.main import create_app

    app = create_app(Settings(artifacts_dir=ARTIFACTS, log_level="warning", batching=batching))
    workloads = {"predict": predict_requests(windows), "forecast": forecast_requests(windows), "healthz": HEALTHZ}
    out: dict[str, Any] = {}

    async def call(method: str, path: str, body: str | None) -> int:
        raw = (body or "").encode()
        headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(raw)).encode()))
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        status: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message: Mapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        await app(scope, receive, send)
        return status[0]

    async def run() -> None:
        async with app.router.lifespan_context(app):
            while not app.state.registry.ready:
                if app.state.registry.state == "failed":
                    raise RuntimeError(app.state.registry.reason)
                await asyncio.sleep(0.01)
            for name, reqs in workloads.items():
                for i in range(5):
                    if (code := await call(*reqs[i % len(reqs)])) != 200:
                        raise RuntimeError(f"{name}: HTTP {code}")
                samples: list[float] = []
                deadline = time.perf_counter() + p.measure_s
                while len(samples) < 5 or time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    await call(*reqs[len(samples) % len(reqs)])
                    samples.append(time.perf_counter() - t0)
                out[name] = summarize(samples)

    try:
        import uvloop  # the loop uvicorn uses here (uvicorn[standard])

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())
    return out


def _notebook_way(p: Profile, manifest: Any, batches: Any, singles: Any) -> dict[str, Any]:
    """The reference notebook: ``model.predict(x)`` on the .keras model for every call, loop for sequences."""
    import keras
    import numpy as np

    from service.inference.scaler import MinMaxScaling

    scaler = MinMaxScaling.load(ARTIFACTS / manifest.scaler.file)
    t0 = time.perf_counter()
    nets = {m: keras.saving.load_model(ARTIFACTS / manifest.models[m].keras.file) for m in ("lstm", "gru")}
    out: dict[str, Any] = {"load_s": time.perf_counter() - t0}
    # Inputs are scaled up front: the figure is the model call alone, as the issue quotes it.
    s_singles = [scaler.transform(x) for x in singles[:64]]
    s_batches = {b: [scaler.transform(x) for x in batches[b]] for b in BATCHES}

    def call(model: str, x: np.ndarray) -> np.ndarray:
        if model == "ensemble":
            return (nets["lstm"].predict(x, verbose=0) + nets["gru"].predict(x, verbose=0)) / 2
        return nets[model].predict(x, verbose=0)  # type: ignore[no-any-return]

    for model in MODELS:
        res: dict[str, Any] = {}
        lat = _time_calls(lambda i, m=model: call(m, s_singles[i % 64]), max_calls=10_000, max_s=p.notebook_s)
        res["latency"] = summarize(lat)
        res["throughput"] = {
            str(b): _throughput(lambda i, m=model, b=b: call(m, s_batches[b][i % 16]), b, p.notebook_s, 10_000)
            for b in BATCHES
        }
        # The notebook's sequence loop: predict, append the prediction, drop the oldest value.
        current = s_singles[0].copy()
        steps: list[float] = []
        for _ in range(p.notebook_steps):
            t0 = time.perf_counter()
            y = call(model, current)
            current = np.append(current[:, 1:], y.reshape(1, 1), axis=1).astype(np.float32)
            steps.append(time.perf_counter() - t0)
        res["forecast_step"] = summarize(steps)
        res["forecast_steps_timed"] = p.notebook_steps
        res["forecast_251_est_s"] = sum(steps) / len(steps) * HORIZON
        out[model] = res
    return out


# --------------------------------------------------------------------------------------------
# HTTP load generation
# --------------------------------------------------------------------------------------------


def predict_requests(windows: Sequence[Sequence[float]], model: str = HTTP_MODEL, count: int = 64) -> list[Request]:
    return [("POST", f"/v1/models/{model}/predict", json.dumps({"window": w})) for w in spread(windows, count)]


def forecast_requests(
    windows: Sequence[Sequence[float]], model: str = HTTP_MODEL, horizon: int = HORIZON, count: int = 16
) -> list[Request]:
    body = [json.dumps({"window": w, "horizon": horizon}) for w in spread(windows, count)]
    return [("POST", f"/v1/models/{model}/forecast", b) for b in body]


HEALTHZ: list[Request] = [("GET", "/healthz", None)]


def soak_mix(windows: Sequence[Sequence[float]]) -> list[Request]:
    """The memory soak's mix: next-step on each model, a batch of 64, a 251-step forecast."""
    reqs: list[Request] = []
    ws = spread(windows, 48)
    for i, w in enumerate(ws):
        reqs.append(("POST", f"/v1/models/{MODELS[i % 3]}/predict", json.dumps({"window": w})))
    reqs.append(("POST", "/v1/models/lstm/predict", json.dumps({"windows": spread(windows, 64)})))
    reqs.append(("POST", "/v1/models/ensemble/forecast", json.dumps({"window": ws[0], "horizon": HORIZON})))
    return reqs


SOAK_MIX_TEXT = (
    "48 single-window next-step calls spread over lstm, gru and ensemble, one 64-window batch and one "
    "251-step ensemble forecast per 50 requests"
)


class LoadGen:
    """wrk when installed, else an httpx load generator in a separate process; same result dict."""

    def __init__(self, workdir: Path, threads: int = 1, force_httpx: bool = False) -> None:
        self.workdir = workdir
        self.threads = threads
        self.wrk = None if force_httpx else shutil.which("wrk")
        self._scripts: dict[int, Path] = {}

    @property
    def name(self) -> str:
        if self.wrk:
            return f"wrk (-t{self.threads}, --latency), {_first_line([self.wrk, '--version'])}"
        return "httpx async client in a separate process (wrk not found)"

    def run(self, port: int, requests: Sequence[Request], connections: int, duration_s: int) -> dict[str, Any]:
        if self.wrk:
            return self._run_wrk(port, requests, connections, duration_s)
        spec = {"port": port, "requests": list(requests), "connections": connections, "duration_s": duration_s}
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--section", "loadgen", "--spec", json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=duration_s + 60,
            check=True,
        )
        return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def _run_wrk(self, port: int, requests: Sequence[Request], connections: int, duration_s: int) -> dict[str, Any]:
        assert self.wrk is not None
        cmd = [self.wrk, f"-t{min(self.threads, connections)}", f"-c{connections}", f"-d{duration_s}s", "--latency"]
        cmd += ["--timeout", "10s"]
        if list(requests) == HEALTHZ:
            url_path = "/healthz"
        else:
            key = hash(tuple(requests))
            if key not in self._scripts:
                path = self.workdir / f"load-{len(self._scripts)}.lua"
                path.write_text(wrk_lua(requests), encoding="utf-8")
                self._scripts[key] = path
            cmd += ["-s", str(self._scripts[key])]
            url_path = requests[0][1]
        cmd.append(f"http://127.0.0.1:{port}{url_path}")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return parse_wrk(proc.stdout)


def loadgen_main(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The fallback load generator: ``connections`` keep-alive clients sending round-robin until time is up."""
    import asyncio

    import httpx

    requests: list[Request] = [tuple(r) for r in spec["requests"]]  # type: ignore[misc]
    conns = int(spec["connections"])
    latencies: list[float] = []
    counts = {"non2xx": 0, "errors": 0}

    async def client_loop(client: httpx.AsyncClient, start: int, deadline: float) -> None:
        i = start
        while time.perf_counter() < deadline:
            method, path, body = requests[i % len(requests)]
            i += conns
            headers = {"Content-Type": "application/json"} if body is not None else {}
            t0 = time.perf_counter()
            try:
                r = await client.request(method, path, content=body, headers=headers)
            except httpx.HTTPError:
                counts["errors"] += 1
                continue
            latencies.append(time.perf_counter() - t0)
            if not 200 <= r.status_code < 400:
                counts["non2xx"] += 1

    async def main() -> float:
        limits = httpx.Limits(max_connections=conns, max_keepalive_connections=conns)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{spec['port']}", limits=limits, timeout=10) as c:
            t0 = time.perf_counter()
            deadline = t0 + float(spec["duration_s"])
            await asyncio.gather(*(client_loop(c, k, deadline) for k in range(conns)))
            return time.perf_counter() - t0

    elapsed = asyncio.run(main())
    pct = {q: percentile(latencies, q) if latencies else None for q in (50, 75, 90, 99)}
    return {
        "requests": len(latencies),
        "duration_s": elapsed,
        "rps": len(latencies) / elapsed,
        **{f"p{q}": v for q, v in pct.items()},
        **counts,
    }


# --------------------------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def _descendants(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _proc_text(pid: int, name: str) -> str:
    return _proc_text_path(Path(f"/proc/{pid}/{name}"))


def _proc_text_path(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


class Server:
    """``forecast-serve`` in its own session; memory read from /proc; always stopped by its own pid."""

    def __init__(self, logdir: Path, label: str, *, workers: int = 1, env: Mapping[str, str] | None = None) -> None:
        self.label, self.workers = label, workers
        self.port = free_port()
        self.log_path = logdir / f"server-{label}-{self.port}.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("FORECAST_") and k != "WEB_CONCURRENCY"}
        self.env = {
            **base,
            "FORECAST_ARTIFACTS_DIR": str(ARTIFACTS),
            "FORECAST_LOG_LEVEL": "warning",
            "TF_CPP_MIN_LOG_LEVEL": "3",
            **(env or {}),
        }
        if workers > 1:
            self.env["WEB_CONCURRENCY"] = str(workers)
        exe = Path(sys.executable).parent / "forecast-serve"
        prefix = [str(exe)] if exe.exists() else [sys.executable, "-m", "service.cli"]
        self.cmd = [*prefix, "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def wait_ready(self, timeout: float = 180.0) -> dict[str, float]:
        """Seconds from process start to the first HTTP answer (listening) and the first /readyz 200."""
        assert self.proc is not None
        listening = None
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {self.label} exited with {self.proc.returncode}; see {self.log_path}")
            status = http_status(self.port, "/readyz", timeout=1.0)
            now = time.perf_counter() - self.started_at
            if status is not None and listening is None:
                listening = now
            if status == 200:
                return {"listening_s": listening or now, "ready_s": now}
            time.sleep(0.01)
        raise RuntimeError(f"server {self.label} not ready after {timeout} s; see {self.log_path}")

    def memory(self) -> dict[str, Any]:
        """VmRSS (and PSS) of every process of the server, with the uvicorn supervisor told apart."""
        assert self.proc is not None
        pids = [self.proc.pid, *_descendants(self.proc.pid)]
        procs = []
        for pid in pids:
            cmdline = _proc_text(pid, "cmdline").replace("\0", " ")
            if self.workers == 1 and pid == self.proc.pid:
                role = "worker"
            elif pid == self.proc.pid:
                role = "supervisor"
            elif "resource_tracker" in cmdline:
                role = "helper"
            else:
                role = "worker"
            procs.append(
                {
                    "pid": pid,
                    "role": role,
                    "rss_kb": parse_status_kb(_proc_text(pid, "status"), "VmRSS"),
                    "pss_kb": parse_status_kb(_proc_text(pid, "smaps_rollup"), "Pss"),
                }
            )
        workers = [p for p in procs if p["role"] == "worker" and p["rss_kb"] is not None]
        return {
            "processes": procs,
            "workers": len(workers),
            "workers_rss_kb": sum(p["rss_kb"] for p in workers),
            "max_worker_rss_kb": max((p["rss_kb"] for p in workers), default=None),
            "workers_pss_kb": sum(p["pss_kb"] or 0 for p in workers),
            "total_rss_kb": sum(p["rss_kb"] or 0 for p in procs),
        }

    def stop(self) -> None:
        if self.proc is None:
            return
        family = _descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the session this harness created for it
                self.proc.wait(timeout=10)
        for pid in family:  # workers that outlived the supervisor
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# Sections 2 and 3: HTTP, cold start, memory
# --------------------------------------------------------------------------------------------


def _warm(srv: Server, load: LoadGen, mix: Sequence[Request], seconds: int, limit_s: float = 60.0) -> int:
    """Load the server until a whole run comes back clean (every worker ready and warm); returns requests."""
    total, deadline = 0, time.perf_counter() + limit_s
    while True:
        r = load.run(srv.port, mix, 8, seconds)
        total += r["requests"]
        if (r["non2xx"] == 0 and r["errors"] == 0) or time.perf_counter() > deadline:
            return total
        time.sleep(0.5)


def _soak(srv: Server, load: LoadGen, mix: Sequence[Request], answered: int, p: Profile) -> dict[str, Any]:
    """Top the server up to ``p.soak_requests`` answered requests with the soak mix, bounded in time."""
    t0, chunks, rate = time.perf_counter(), [], 1000.0
    while answered < p.soak_requests and time.perf_counter() - t0 < p.soak_limit_s:
        need = p.soak_requests - answered
        left = p.soak_limit_s - (time.perf_counter() - t0)
        seconds = int(max(1, min(math.ceil(need / rate * 1.05), 30, math.ceil(left))))
        r = load.run(srv.port, mix, 8, seconds)
        chunks.append(r)
        answered += r["requests"]
        rate = max(r["rps"], 1.0)
    return {
        "answered": answered,
        "soak_requests": sum(c["requests"] for c in chunks),
        "soak_s": time.perf_counter() - t0,
        "non2xx": sum(c["non2xx"] for c in chunks),
        "errors": sum(c["errors"] for c in chunks),
    }


def http_session(
    tmp: Path,
    load: LoadGen,
    p: Profile,
    windows: Sequence[Sequence[float]],
    label: str,
    *,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
    plan: Sequence[tuple[str, int]] = (),
    soak: bool = True,
) -> dict[str, Any]:
    """Start a server, warm it, run ``plan`` (endpoint, concurrency) and the memory soak, stop it."""
    workloads = {
        "predict": predict_requests(windows),
        "forecast": forecast_requests(windows),
        "healthz": HEALTHZ,
    }
    mix = soak_mix(windows)
    out: dict[str, Any] = {"label": label, "workers": workers, "env": dict(env or {}), "runs": {}}
    with Server(tmp, label, workers=workers, env=env) as srv:
        out["start"] = srv.wait_ready()
        out["cmd"] = shlex.join(srv.cmd)
        answered = _warm(srv, load, mix, p.warm_s)
        out["memory_warm"] = srv.memory()
        out["warm_requests"] = answered
        for endpoint, conc in plan:
            r = load.run(srv.port, workloads[endpoint], conc, p.wrk_s)
            out["runs"][f"{endpoint}@{conc}"] = r
            answered += r["requests"]
            _progress(
                f"  {label} {endpoint} c={conc}: {r['rps']:.0f} req/s, p50 {fmt_duration(r['p50'])}, "
                f"p99 {fmt_duration(r['p99'])}, non-2xx {r['non2xx']}, errors {r['errors']}"
            )
            time.sleep(1.0 if conc > 8 else 0.3)  # let queued work drain before the next run
        if soak:
            out["soak"] = _soak(srv, load, mix, answered, p)
            out["memory_after"] = srv.memory()
    return out


FULL_PLAN = tuple((e, c) for e in ("predict", "forecast", "healthz") for c in CONCURRENCY)


# Servers with the default settings (batching is off for onnx, on for keras); the others flip batching.
DEFAULT_SERVERS = ("onnx-w1", "onnx-w2", "keras-w1")
BATCHING_PAIRS = {"onnx": ("onnx-w1-batching", "onnx-w1"), "keras": ("keras-w1", "keras-w1-nobatch")}


def http_section(p: Profile, windows: Sequence[Sequence[float]], tmp: Path, load: LoadGen) -> dict[str, Any]:
    res: dict[str, Any] = {"loadgen": load.name}
    sessions = [
        ("onnx-w1", {"workers": 1, "plan": FULL_PLAN}),
        ("onnx-w2", {"workers": 2, "plan": FULL_PLAN}),
        (
            "onnx-w1-batching",
            {
                "workers": 1,
                "env": {"FORECAST_BATCHING": "true"},
                "plan": (("predict", 8), ("predict", 64), ("forecast", 1), ("forecast", 8)),
            },
        ),
    ]
    if p.keras_http:
        sessions.append(
            (
                "keras-w1",
                {
                    "workers": 1,
                    "env": {"FORECAST_BACKEND": "keras"},
                    "plan": (("predict", 1), ("forecast", 1), ("predict", 8), ("predict", 64)),
                },
            )
        )
        sessions.append(
            (
                "keras-w1-nobatch",
                {
                    "workers": 1,
                    "env": {"FORECAST_BACKEND": "keras", "FORECAST_BATCHING": "false"},
                    "plan": (("predict", 8), ("predict", 64)),
                },
            )
        )
    for label, kw in sessions:
        _progress(f"HTTP session {label}")
        soak = label in DEFAULT_SERVERS
        res[label] = http_session(tmp, load, p, windows, label, soak=soak, **kw)  # type: ignore[arg-type]
    return res


def coldstart_section(p: Profile, tmp: Path) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for backend, runs in (("onnx", p.cold_runs_onnx), ("keras", p.cold_runs_keras)):
        samples = []
        for i in range(runs):
            with Server(tmp, f"cold-{backend}-{i}", env={"FORECAST_BACKEND": backend}) as srv:
                samples.append(srv.wait_ready())
            _progress(f"cold start {backend} #{i + 1}: ready in {samples[-1]['ready_s']:.2f} s")
            time.sleep(0.5)
        res[backend] = {
            "runs": samples,
            "ready_median_s": percentile([s["ready_s"] for s in samples], 50),
            "listening_median_s": percentile([s["listening_s"] for s in samples], 50),
        }
    return res


# --------------------------------------------------------------------------------------------
# Orchestration and the report
# --------------------------------------------------------------------------------------------


def loadavg() -> str:
    """The 1/5/15-minute load averages, as /proc/loadavg gives them."""
    return " ".join(_proc_text_path(Path("/proc/loadavg")).split()[:3]) or "unknown"


def _progress(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _first_line(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def _version(*dists: str) -> str:
    for d in dists:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(d)
    return "not installed"


def machine_info(argv: Sequence[str]) -> dict[str, Any]:
    cpu = parse_lscpu(_first_line_all(["lscpu"]))
    mem_kb = parse_status_kb(_proc_text_path(Path("/proc/meminfo")), "MemTotal")
    commit = _first_line(["git", "-C", str(REPO), "rev-parse", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(REPO)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu.get("Model name", platform.processor() or "unknown"),
        "cpus": cpu.get("CPU(s)", str(os.cpu_count())),
        "cores_per_socket": cpu.get("Core(s) per socket", "?"),
        "threads_per_core": cpu.get("Thread(s) per core", "?"),
        "hypervisor": cpu.get("Hypervisor vendor"),
        "mem_total_kb": mem_kb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            d: _version(*alts)
            for d, alts in {
                "onnxruntime": ("onnxruntime",),
                "tensorflow": ("tensorflow-cpu", "tensorflow"),
                "keras": ("keras",),
                "numpy": ("numpy",),
                "fastapi": ("fastapi",),
                "uvicorn": ("uvicorn",),
            }.items()
        },
        "commit": commit,
        "dirty": bool(dirty),
        "command": shlex.join([str(python), "benchmarks/run.py", *argv]),
    }


def _first_line_all(cmd: Sequence[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _run_child_section(section: str, quick: bool, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{section}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--section", section, "--result", str(out)]
    if quick:
        cmd.append("--quick")
    subprocess.run(cmd, check=True, cwd=REPO, timeout=1800)
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def _lat_cells(s: Mapping[str, float] | None) -> list[str]:
    return [fmt_duration(dig(s, "median")), fmt_duration(dig(s, "p90"))] if s else ["—", "—"]


def key_figures(r: Mapping[str, Any]) -> list[list[str]]:
    """The issue's targets: figure, ours, notebook way, target, verdict."""
    rows: list[list[str]] = []
    nb_lat = dig(r, "inprocess", "notebook", HTTP_MODEL, "latency", "median")
    nb_fc = dig(r, "inprocess", "notebook", HTTP_MODEL, "forecast_251_est_s")
    for label, workers in (("onnx-w1", 1), ("onnx-w2", 2)):
        v = dig(r, "http", label, "runs", "predict@1", "p50")
        rows.append(
            [
                f"Next-step HTTP p50, c=1, {workers} worker(s) (lstm)",
                fmt_duration(v),
                f"{fmt_duration(nb_lat)} (model.predict alone)",
                "≤ 2 ms",
                verdict(v, TARGET_NEXT_STEP_P50_S, at_most=True),
            ]
        )
    for label, workers in (("onnx-w1", 1), ("onnx-w2", 2)):
        v = dig(r, "http", label, "runs", "forecast@1", "p50")
        rows.append(
            [
                f"251-step forecast HTTP p50, c=1, {workers} worker(s) (lstm)",
                fmt_duration(v),
                f"{fmt_duration(nb_fc)} (loop, extrapolated)",
                "≤ 100 ms",
                verdict(v, TARGET_FORECAST_P50_S, at_most=True),
            ]
        )
    nb_b = dig(r, "inprocess", "notebook", "lstm", "throughput")
    for backend in BACKENDS:
        thr = dig(r, "inprocess", "ours", backend, "lstm", "throughput") or {}
        best = max(thr, key=lambda b: thr[b]["per_s"], default=None)
        v = thr[best]["per_s"] if best else None
        nb_best = max((x["per_s"] for x in (nb_b or {}).values()), default=None)
        rows.append(
            [
                f"LSTM windows/s in-process, {backend} (best batch: {best})",
                fmt_rate(v),
                f"{fmt_rate(nb_best)} (best batch)",
                "≥ 6,000",
                verdict(v, TARGET_LSTM_WINDOWS_PER_S, at_most=False),
            ]
        )
    for label, workers in (("onnx-w1", 1), ("onnx-w2", 2)):
        pr = dig(r, "http", label, "runs", "predict@64", "rps")
        hz = dig(r, "http", label, "runs", "healthz@64", "rps")
        q = ratio(pr, hz)
        rows.append(
            [
                f"Next-step req/s ÷ /healthz req/s, c=64, {workers} worker(s)",
                f"{q:.0%} ({fmt_rate(pr)} ÷ {fmt_rate(hz)})" if q is not None else "—",
                "—",
                "≥ 50 %",
                verdict(q, TARGET_PREDICT_VS_HEALTHZ, at_most=False),
            ]
        )
    for backend in BACKENDS:
        v = dig(r, "coldstart", backend, "ready_median_s")
        rows.append(
            [
                f"Start to ready, {backend} backend, 1 worker (median)",
                fmt_duration(v),
                "—",
                "≤ 2 s",
                verdict(v, TARGET_READY_S, at_most=True),
            ]
        )
    for label, workers in (("onnx-w1", 1), ("onnx-w2", 2)):
        for when in ("memory_warm", "memory_after"):
            _rss_row(rows, r, label, workers, when)
    return rows


def _rss_row(rows: list[list[str]], r: Mapping[str, Any], label: str, workers: int, when: str) -> None:
    sess = dig(r, "http", label)
    mem = dig(sess, when)
    v = dig(mem, "max_worker_rss_kb")
    answered = dig(sess, "soak", "answered")
    stage = "after warm-up" if when == "memory_warm" else f"after {answered:,} requests" if answered else "after soak"
    rows.append(
        [
            f"RSS per worker, onnx, {workers} worker(s), {stage}",
            f"{fmt_mb(v)} (sum {fmt_mb(dig(mem, 'workers_rss_kb'))})" if mem else "—",
            "—",
            "≤ 300 MiB",
            verdict(v / 1024 if v else None, TARGET_RSS_PER_WORKER_MB, at_most=True),
        ]
    )


def render_report(r: Mapping[str, Any]) -> str:
    meta = r["meta"]
    ip = r.get("inprocess") or {}
    http = r.get("http") or {}
    v = meta["versions"]
    out: list[str] = ["# Benchmarks", ""]
    if r.get("profile") == "quick":
        out += ["> **Quick (smoke) run**: a second or so per measurement; figures are indicative only.", ""]
    out += [
        f"- Date: {meta['date']}; the whole run took {r.get('elapsed_s', 0) / 60:.1f} min",
        f"- Machine: {meta['cpu_model']}, {meta['cpus']} CPU(s) ({meta['cores_per_socket']} core(s) per socket, "
        f"{meta['threads_per_core']} thread(s) per core)"
        + (f", {meta['hypervisor']} guest" if meta.get("hypervisor") else "")
        + (f", {fmt_mb(meta['mem_total_kb'])} RAM" if meta.get("mem_total_kb") else "")
        + f", Linux {meta['kernel']}",
        f"- Python {meta['python']}, onnxruntime {v['onnxruntime']}, tensorflow {v['tensorflow']}, "
        f"keras {v['keras']}, numpy {v['numpy']}, fastapi {v['fastapi']}, uvicorn {v['uvicorn']}",
        f"- Git commit `{meta['commit']}`" + (" (working tree had uncommitted changes)" if meta["dirty"] else ""),
        f"- Command: `{meta['command']}` (from the repository root)",
        f"- Inputs: {ip.get('windows_available', 'all')} sliding {ip.get('window', 60)}-value windows of the "
        f"`{COLUMN}` column of `../shared/data/IBM.csv`; artifacts: `artifacts/`",
        "- Load average (1/5/15 min) "
        + "; ".join(f"{k}: {v}" for k, v in (r.get("loadavg") or {}).items())
        + " (anything above ~0.5 before a section means other work shared the CPUs)",
        f"- Load generator: {http.get('loadgen', '—')}, over loopback (127.0.0.1) only. **It shares the "
        f"{meta['cpus']} CPUs with the server**, so HTTP figures are a floor for what the server does on "
        "its own cores.",
        "",
        "**Notebook way** means the reference notebook's calls: `model.predict(x, verbose=0)` on the `.keras` "
        "model (loaded with `keras.saving.load_model`) for every request, on inputs already scaled (the model "
        "call alone), and for the ensemble the mean of the two `predict` calls; the recursive forecast is its "
        "loop of one `model.predict` per step, timed for "
        f"{dig(ip, 'notebook', 'lstm', 'forecast_steps_timed') or '?'} steps and extrapolated linearly to "
        f"{HORIZON} steps. **Ours** is `service.inference.loader.load_artifacts` + `Predictor.predict` / "
        "`Predictor.forecast` (price in, price out, scaling included); `keras` is the XLA-compiled "
        "`KerasBackend`, `onnx` the onnxruntime backend with 1 intra-op thread (the service default).",
        "",
        "## Key figures against the targets",
        "",
        render_table(["figure", "ours", "notebook way", "target", "verdict"], key_figures(r), "lrrrl"),
        "",
    ]
    out += _report_inprocess(ip)
    out += _report_http(http)
    out += _report_cold_memory(r)
    out += _report_breakdown(r)
    # Hand-written sections measured by other scripts (profiling, docker-smoke.sh, the reliability
    # suite and soak.py), kept beside the harness so every render carries them unchanged.
    for name in NOTE_FILES:
        notes = REPO / "benchmarks" / name
        if notes.exists():
            out += ["", notes.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(out).rstrip() + "\n"


NOTE_FILES = ("PROFILING.md", "DOCKER.md", "RELIABILITY.md")


def _report_inprocess(ip: Mapping[str, Any]) -> list[str]:
    if not ip:
        return ["## 1. In-process", "", "Not measured in this run.", ""]
    out = ["## 1. In-process inference", ""]
    out += [
        f"Load (checksums + sessions): onnx {fmt_duration(dig(ip, 'load_s', 'onnx'))}, keras "
        f"{fmt_duration(dig(ip, 'load_s', 'keras'))}; warm-up of the 4 batch shapes for all models: onnx "
        f"{fmt_duration(dig(ip, 'warmup_s', 'onnx'))}, keras {fmt_duration(dig(ip, 'warmup_s', 'keras'))} "
        f"(XLA compiles). Notebook way: loading both `.keras` files "
        f"{fmt_duration(dig(ip, 'notebook', 'load_s'))}.",
        "",
        "### Next-step latency, one window (per call)",
        "",
    ]
    rows = []
    for model in MODELS:
        nb = dig(ip, "notebook", model, "latency")
        for backend in BACKENDS:
            s = dig(ip, "ours", backend, model, "latency")
            rows.append(
                [
                    model,
                    backend,
                    *_lat_cells(s),
                    *_lat_cells(nb),
                    fmt_ratio(ratio(dig(nb, "median"), dig(s, "median"))),
                    str(dig(s, "n") or "—"),
                ]
            )
    out += [
        render_table(
            ["model", "backend", "ours median", "ours p90", "notebook median", "notebook p90", "speed-up", "calls"],
            rows,
            "llrrrrrr",
        ),
        "",
        "### Throughput, windows/s by batch size",
        "",
        "Batch size ÷ median call time (calls repeated for about a second per cell; the notebook way at "
        "least 5 calls). Target: ≥ 6,000 LSTM windows/s.",
        "",
    ]
    rows = []
    for model in MODELS:
        for who in (*BACKENDS, "notebook"):
            thr = (
                dig(ip, "notebook", model, "throughput")
                if who == "notebook"
                else dig(ip, "ours", who, model, "throughput")
            )
            rows.append([model, who, *(fmt_rate(dig(thr, b, "per_s")) for b in BATCHES)])
    out += [render_table(["model", "who", *(f"batch {b}" for b in BATCHES)], rows, "llrrrr"), ""]
    out += [
        f"### Recursive {HORIZON}-step forecast (one origin)",
        "",
        f"Notebook way: {dig(ip, 'notebook', 'lstm', 'forecast_steps_timed') or '?'} steps timed, mean step × "
        f"{HORIZON} (extrapolated).",
        "",
    ]
    rows = []
    for model in MODELS:
        nb = dig(ip, "notebook", model)
        for backend in BACKENDS:
            s = dig(ip, "ours", backend, model, "forecast")
            rows.append(
                [
                    model,
                    backend,
                    *_lat_cells(s),
                    fmt_duration(dig(nb, "forecast_251_est_s")),
                    fmt_duration(dig(nb, "forecast_step", "median")),
                    fmt_ratio(ratio(dig(nb, "forecast_251_est_s"), dig(s, "median"))),
                ]
            )
    out += [
        render_table(
            ["model", "backend", "ours median", "ours p90", "notebook (est.)", "notebook per step", "speed-up"],
            rows,
            "llrrrrr",
        ),
        "",
        "### onnxruntime intra-op threads (backend only, scaled inputs)",
        "",
    ]
    rows = []
    for model in ("lstm", "gru"):
        for threads in ("1", "2"):
            t = dig(ip, "threads", model, threads)
            rows.append(
                [
                    model,
                    threads,
                    *_lat_cells(dig(t, "latency")),
                    *(fmt_rate(dig(t, "throughput", b, "per_s")) for b in THREAD_BATCHES),
                ]
            )
    out += [
        render_table(
            ["model", "threads", "batch-1 median", "batch-1 p90", *(f"windows/s @{b}" for b in THREAD_BATCHES)],
            rows,
            "llrrrrr",
        ),
        "",
    ]
    return out


def _report_http(http: Mapping[str, Any]) -> list[str]:
    out = ["## 2. Over HTTP (`forecast-serve`, loopback)", ""]
    if not http:
        return [*out, "Not measured in this run.", ""]
    names = {
        "predict": f"next-step ({HTTP_MODEL}, 1 window)",
        "forecast": f"{HORIZON}-step forecast",
        "healthz": "GET /healthz",
    }
    for label in ("onnx-w1", "onnx-w2", "keras-w1"):
        sess = http.get(label)
        if not sess:
            continue
        out += [
            f"### {label}: `{sess.get('cmd', '')}`"
            + (f" with {', '.join(f'{k}={v}' for k, v in sess['env'].items())}" if sess.get("env") else ""),
            "",
        ]
        rows = []
        for key, r in sess["runs"].items():
            endpoint, conc = key.split("@")
            rows.append(
                [
                    names[endpoint],
                    conc,
                    fmt_rate(r["rps"]),
                    fmt_duration(r["p50"]),
                    fmt_duration(r["p90"]),
                    fmt_duration(r["p99"]),
                    f"{r['requests']:,}",
                    str(r["non2xx"] + r["errors"]),
                ]
            )
        out += [
            render_table(["workload", "concurrency", "req/s", "p50", "p90", "p99", "requests", "failed"], rows),
            "",
        ]
    rows = []
    for backend in BACKENDS:
        on, off = (http.get(label) for label in BATCHING_PAIRS[backend])
        if not (on and off):
            continue
        for key in ("predict@8", "predict@64", "forecast@1", "forecast@8"):
            a, b = dig(off, "runs", key), dig(on, "runs", key)
            if not (a and b):
                continue
            endpoint, conc = key.split("@")
            rows.append(
                [
                    f"{backend}, {'next-step' if endpoint == 'predict' else f'{HORIZON}-step forecast'}",
                    conc,
                    fmt_rate(dig(a, "rps")),
                    fmt_rate(dig(b, "rps")),
                    fmt_ratio(ratio(dig(b, "rps"), dig(a, "rps"))),
                    f"{fmt_duration(dig(a, 'p50'))} / {fmt_duration(dig(a, 'p99'))}",
                    f"{fmt_duration(dig(b, 'p50'))} / {fmt_duration(dig(b, 'p99'))}",
                ]
            )
    if rows:
        out += [
            "### Micro-batching (FORECAST_BATCHING), 1 worker",
            "",
            render_table(
                [
                    "backend, workload",
                    "concurrency",
                    "req/s off",
                    "req/s on",
                    "on ÷ off",
                    "p50 / p99 off",
                    "p50 / p99 on",
                ],
                rows,
                "llrrrrr",
            ),
            "",
            "The default is off for onnx (the `onnx-w1` server above; on: a second server with "
            "`FORECAST_BATCHING=true`) and on for keras (`keras-w1`; off: `FORECAST_BATCHING=false`); "
            "max batch 64, max wait 200 µs.",
            "",
        ]
    return out


def _report_cold_memory(r: Mapping[str, Any]) -> list[str]:
    out = ["## 3. Cold start and memory", ""]
    cold = r.get("coldstart") or {}
    if cold:
        rows = []
        for backend in BACKENDS:
            c = cold.get(backend)
            if not c:
                continue
            rows.append(
                [
                    backend,
                    fmt_duration(c["listening_median_s"]),
                    fmt_duration(c["ready_median_s"]),
                    ", ".join(fmt_duration(s["ready_s"]) for s in c["runs"]),
                    verdict(c["ready_median_s"], TARGET_READY_S, at_most=True),
                ]
            )
        out += [
            "Process start (`Popen` of `forecast-serve --workers 1`) to the first HTTP answer and to the first "
            "`/readyz` 200 (models loaded, checksums verified, every batch shape warmed), polled every 10 ms. "
            "Page cache warm (files read earlier in the run).",
            "",
            render_table(["backend", "listening", "ready (median)", "runs", "≤ 2 s"], rows, "lrrrl"),
            "",
        ]
    http = r.get("http") or {}
    rows = []
    for label, sess in http.items():
        if not isinstance(sess, Mapping) or "memory_warm" not in sess:
            continue
        for when, stage in (("memory_warm", "after warm-up"), ("memory_after", "after soak")):
            mem = sess.get(when)
            if not mem:
                continue
            if when == "memory_after":
                stage = f"after {sess['soak']['answered']:,} requests"
            per = ", ".join(fmt_mb(p["rss_kb"]) for p in mem["processes"] if p["role"] == "worker")
            sup = [fmt_mb(p["rss_kb"]) for p in mem["processes"] if p["role"] != "worker"]
            rows.append(
                [
                    label,
                    stage,
                    per,
                    fmt_mb(mem["workers_rss_kb"]),
                    fmt_mb(mem["workers_pss_kb"]),
                    ", ".join(sup) or "—",
                ]
            )
    if rows:
        soak_mix_note = f"The soak tops each server up with wrk ({SOAK_MIX_TEXT}) after the measurement runs."
        out += [
            "Resident memory (VmRSS from `/proc/<pid>/status`) of each worker; the sum over workers double-counts "
            "shared pages, so PSS (`/proc/<pid>/smaps_rollup`) is given too. " + soak_mix_note,
            "",
            render_table(
                ["server", "when", "RSS per worker", "RSS sum (workers)", "PSS sum (workers)", "supervisor/helpers"],
                rows,
                "llrrrr",
            ),
            "",
        ]
        fails = [
            (label, s["soak"]["non2xx"] + s["soak"]["errors"])
            for label, s in http.items()
            if isinstance(s, Mapping) and s.get("soak")
        ]
        out += [
            "Failed soak requests: " + ", ".join(f"{label} {n}" for label, n in fails) + ".",
            "",
        ]
    return out


def _report_breakdown(r: Mapping[str, Any]) -> list[str]:
    """Where a request's time goes: the app's own cost (direct ASGI calls), the model's share, the rest."""
    app = dig(r, "inprocess", "app")
    w1 = dig(r, "http", "onnx-w1", "runs")
    ours = dig(r, "inprocess", "ours", "onnx", HTTP_MODEL)
    if not app:
        return []
    out = [
        "## Where a request's time goes",
        "",
        "App-level cost: the FastAPI app built by `create_app` (default settings, onnx), called directly as an "
        "ASGI callable on a uvloop loop, one request at a time: no uvicorn, no sockets, no load generator. "
        "It is the CPU a worker spends inside the app per request.",
        "",
    ]
    names = {"predict": f"next-step ({HTTP_MODEL})", "forecast": f"{HORIZON}-step forecast", "healthz": "GET /healthz"}
    rows = []
    for workload in ("healthz", "predict", "forecast"):
        on, off = dig(app, "batching-on", workload), dig(app, "batching-off", workload)
        model = None
        default = off  # onnx serves with batching off
        if workload == "predict":
            model = dig(ours, "latency", "median")
        elif workload == "forecast":
            model = dig(ours, "forecast", "median")
        on_m = dig(on, "median")
        rows.append(
            [
                names[workload],
                fmt_duration(on_m),
                fmt_duration(dig(off, "median")),
                f"{fmt_duration(model)} ({model / dig(default, 'median'):.0%})"
                if model and dig(default, "median")
                else "—",
                fmt_duration(dig(w1, f"{workload}@1", "p50")),
            ]
        )
    out += [
        render_table(
            [
                "request",
                "app cost, batching on (median)",
                "batching off (the onnx default)",
                "of which the model (in-process Predictor)",
                "HTTP p50, c=1, 1 worker",
            ],
            rows,
        ),
        "",
    ]
    hz_app, pr_app = dig(app, "batching-off", "healthz", "median"), dig(app, "batching-off", "predict", "median")
    hz_rps, pr_rps = dig(w1, "healthz@64", "rps"), dig(w1, "predict@64", "rps")
    if hz_app and pr_app and hz_rps and pr_rps:
        per_hz = 1 / hz_rps  # a saturated worker's wall time per /healthz request, uvicorn's share included
        expected = per_hz / (per_hz - hz_app + pr_app)
        out += [
            f"A saturated worker spends {fmt_duration(per_hz)} per `/healthz` request at c=64 (1 ÷ req/s), of "
            f"which {fmt_duration(hz_app)} inside the app; the rest ({fmt_duration(per_hz - hz_app)}) is uvicorn, "
            "the event loop and the sockets, which a next-step request pays too. With the app-level cost of a "
            f"next-step request ({fmt_duration(pr_app)}), the next-step ÷ `/healthz` req/s ratio can be at most "
            f"about {expected:.0%} (measured: {pr_rps / hz_rps:.0%}; target ≥ 50 %).",
            "",
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a second or so per measurement (smoke test)")
    parser.add_argument("--out", type=Path, help="report path (default BENCHMARKS.md; a temp file with --quick)")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    parser.add_argument(
        "--only", default="inprocess,coldstart,http", help="comma-separated sections (default: all three)"
    )
    parser.add_argument(
        "--wrk-threads", type=int, default=1, help="wrk threads (default 1: leave a core to the server)"
    )
    parser.add_argument("--httpx", action="store_true", help="use the httpx load generator even if wrk is installed")
    parser.add_argument(
        "--from-json", type=Path, help="re-render the report from results saved with --json (nothing is measured)"
    )
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))

    if args.section == "loadgen":
        print(json.dumps(loadgen_main(json.loads(args.spec))))
        return 0
    if args.section == "inprocess":
        args.result.write_text(json.dumps(inprocess_section(profile)))
        return 0

    if args.from_json:
        saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        quick = saved.get("profile") == "quick"
        out = args.out or (Path(tempfile.gettempdir()) / "BENCHMARKS.quick.md" if quick else REPO / "BENCHMARKS.md")
        out.write_text(render_report(saved), encoding="utf-8")
        _progress(f"re-rendered {out} from {args.from_json}")
        return 0
    for needed in (ARTIFACTS / "manifest.json", DATA):
        if not needed.exists():
            parser.error(f"{needed} is missing")
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    started = time.perf_counter()
    results: dict[str, Any] = {"profile": profile.name, "meta": machine_info(argv), "profile_settings": asdict(profile)}
    with tempfile.TemporaryDirectory(prefix="forecast-bench-") as tmp_name:
        tmp = Path(tmp_name)
        load = LoadGen(tmp, threads=args.wrk_threads, force_httpx=args.httpx)
        results["loadavg"] = {"start": loadavg()}
        if "inprocess" in sections:
            _progress("section 1: in-process (child process)")
            results["inprocess"] = _run_child_section("inprocess", args.quick, tmp)
            results["loadavg"]["after in-process"] = loadavg()
        windows = sliding_windows(read_column(DATA), int(results.get("inprocess", {}).get("window", 60)))
        if "coldstart" in sections:
            _progress("section 3a: cold start")
            results["coldstart"] = coldstart_section(profile, tmp)
            results["loadavg"]["after cold start"] = loadavg()
        if "http" in sections:
            _progress(f"section 2: HTTP with {load.name}")
            results["http"] = http_section(profile, windows, tmp, load)
            results["loadavg"]["after HTTP"] = loadavg()
    results["elapsed_s"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    out = args.out or (Path(tempfile.gettempdir()) / "BENCHMARKS.quick.md" if args.quick else REPO / "BENCHMARKS.md")
    out.write_text(render_report(results), encoding="utf-8")
    _progress(f"wrote {out} in {results['elapsed_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
