"""Sections 2 and 3: the real ``forecast-serve`` over loopback (latency, throughput, memory) and cold start.

Each session starts one server (see ``benchmarks/server.py``), warms it until a whole load run comes
back clean, runs its plan of (endpoint, concurrency) load runs, then tops it up with the soak mix and
reads its memory again.
"""

from __future__ import annotations

import math
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.config import ARTIFACTS, CONCURRENCY, REPO, Profile, Request
from benchmarks.loadgen import LoadGen
from benchmarks.machine import progress
from benchmarks.server import ServerProcess, clean_env, free_port, serve_argv
from benchmarks.stats import fmt_duration, percentile
from benchmarks.workloads import HEALTHZ, forecast_requests, predict_requests, soak_mix

READY_POLL_S = 0.01  # cold start is read to this resolution


def bench_server(logdir: Path, label: str, *, workers: int = 1, env: Mapping[str, str] | None = None) -> ServerProcess:
    """``forecast-serve`` as the harness measures it: a clean environment, the committed artifacts, warnings only."""
    port = free_port()
    full_env = clean_env(FORECAST_ARTIFACTS_DIR=str(ARTIFACTS), FORECAST_LOG_LEVEL="warning", **(env or {}))
    if workers > 1:
        full_env["WEB_CONCURRENCY"] = str(workers)
    return ServerProcess(
        serve_argv(port, workers=workers),
        port=port,
        log=logdir / f"server-{label}-{port}.log",
        env=full_env,
        cwd=REPO,
        workers=workers,
        label=f"server {label}",
    )


def _warm(srv: ServerProcess, load: LoadGen, mix: Sequence[Request], seconds: int, limit_s: float = 60.0) -> int:
    """Load the server until a whole run comes back clean (every worker ready and warm); returns requests."""
    total, deadline = 0, time.perf_counter() + limit_s
    while True:
        r = load.run(srv.port, mix, 8, seconds)
        total += r["requests"]
        if (r["non2xx"] == 0 and r["errors"] == 0) or time.perf_counter() > deadline:
            return total
        time.sleep(0.5)


def _soak(srv: ServerProcess, load: LoadGen, mix: Sequence[Request], answered: int, p: Profile) -> dict[str, Any]:
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
    with bench_server(tmp, label, workers=workers, env=env) as srv:
        out["start"] = srv.wait_ready(poll=READY_POLL_S)
        out["cmd"] = shlex.join(srv.argv)
        answered = _warm(srv, load, mix, p.warm_s)
        out["memory_warm"] = srv.memory()
        out["warm_requests"] = answered
        for endpoint, conc in plan:
            r = load.run(srv.port, workloads[endpoint], conc, p.wrk_s)
            out["runs"][f"{endpoint}@{conc}"] = r
            answered += r["requests"]
            progress(
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
    """Every HTTP session: onnx with 1 and 2 workers, onnx with batching, keras with and without (full runs)."""
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
        progress(f"HTTP session {label}")
        soak = label in DEFAULT_SERVERS
        res[label] = http_session(tmp, load, p, windows, label, soak=soak, **kw)  # type: ignore[arg-type]
    return res


def coldstart_section(p: Profile, tmp: Path) -> dict[str, Any]:
    """Start to listening and to ready, per backend, a few fresh servers each (medians kept)."""
    res: dict[str, Any] = {}
    for backend, runs in (("onnx", p.cold_runs_onnx), ("keras", p.cold_runs_keras)):
        samples = []
        for i in range(runs):
            with bench_server(tmp, f"cold-{backend}-{i}", env={"FORECAST_BACKEND": backend}) as srv:
                samples.append(srv.wait_ready(poll=READY_POLL_S))
            progress(f"cold start {backend} #{i + 1}: ready in {samples[-1]['ready_s']:.2f} s")
            time.sleep(0.5)
        res[backend] = {
            "runs": samples,
            "ready_median_s": percentile([s["ready_s"] for s in samples], 50),
            "listening_median_s": percentile([s["listening_s"] for s in samples], 50),
        }
    return res
