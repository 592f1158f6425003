"""Section 1: inference in this process (run as a child: it imports TensorFlow for the keras backend).

Ours (the service's loader and Predictor, onnx and keras), onnxruntime's intra-op threads, the app's
own cost per request (the ASGI app called directly), and the reference notebook's way of calling the
models. Imports from ``service`` only its public pieces: ``service.main``, ``service.core.config`` and
``forecast_core``.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

from benchmarks.config import ARTIFACTS, BACKENDS, BATCHES, DATA, HORIZON, MODELS, THREAD_BATCHES, Profile
from benchmarks.machine import progress
from benchmarks.stats import percentile, summarize
from benchmarks.workloads import HEALTHZ, forecast_requests, predict_requests, read_column, sliding_windows

WARM_UP_BATCHES = (1, 8, 64, 256)  # the batch shapes the service warms before it answers ready


def cycling(fn: Callable[[Any], object], items: Sequence[Any]) -> Callable[[int], object]:
    """Call ``i`` of a measurement: ``fn`` on the items in turn (a fresh input each call, none built in the timing)."""
    return lambda i: fn(items[i % len(items)])


def warm_up(predictor: Any) -> None:
    """Every batch shape once, as the service does before it answers ready, so no timing pays a first call.

    Written here rather than imported: the service's own copy lives in its registry, which is no public API.
    """
    import numpy as np

    for size in WARM_UP_BATCHES:
        for backend in predictor.backends:
            backend.predict(np.full((size, predictor.window), 0.5, dtype=np.float32))


def _time_calls(fn: Callable[[int], object], *, max_calls: int, max_s: float, min_calls: int = 5) -> list[float]:
    """Per-call seconds of ``fn(i)`` for i = 0, 1, ... until ``max_s`` or ``max_calls`` (at least ``min_calls``)."""
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
    """Every in-process figure: load and warm-up, ours per backend and model, threads, app, notebook."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np

    from forecast_core.backends.onnx_backend import OnnxBackend
    from forecast_core.loader import load_set
    from forecast_core.manifest import read_manifest

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
        lat = _time_calls(cycling(predictor.predict, singles), max_calls=p.latency_calls, max_s=p.measure_s)
        out["latency"] = summarize(lat)
        out["throughput"] = {
            str(b): _throughput(cycling(predictor.predict, batches[b]), b, p.measure_s) for b in BATCHES
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
        loaded = load_set(ARTIFACTS, MODELS, backend=cast(Literal["onnx", "keras"], backend))
        res["load_s"][backend] = time.perf_counter() - t0
        if loaded.errors:
            raise RuntimeError(f"{backend}: {loaded.errors}")
        t0 = time.perf_counter()
        for predictor in loaded.predictors.values():
            warm_up(predictor)
        res["warmup_s"][backend] = time.perf_counter() - t0
        res["ours"][backend] = {m: measure_predictor(loaded.predictors[m]) for m in MODELS}
        progress(f"in-process {backend}: done")
        if backend == "onnx":
            res["threads"] = _onnx_threads(p, manifest, batches, singles, loaded.scaler, OnnxBackend)
            progress("in-process onnx threads: done")
            res["app"] = {
                f"batching-{'on' if on else 'off'}": _app_level(p, prices.tolist(), batching=on) for on in (True, False)
            }
            progress("app-level (direct ASGI calls): done")

    res["notebook"] = _notebook_way(p, manifest, batches, singles)
    progress("in-process notebook way: done")
    return res


def _onnx_threads(
    p: Profile, manifest: Any, batches: Any, singles: Any, scaler: Any, backend_cls: Any
) -> dict[str, Any]:
    """The onnx backend alone with 1 and 2 intra-op threads: latency and throughput on scaled inputs."""
    out: dict[str, Any] = {}
    scaled_batches = {b: [scaler.transform(x) for x in batches[b]] for b in THREAD_BATCHES}
    scaled_singles = [scaler.transform(x) for x in singles]
    for model in ("lstm", "gru"):
        path = ARTIFACTS / manifest.models[model].onnx.file
        out[model] = {}
        for threads in (1, 2):
            be = backend_cls(path, manifest.window, threads=threads)
            lat = _time_calls(cycling(be.predict, scaled_singles), max_calls=p.latency_calls, max_s=p.measure_s)
            out[model][str(threads)] = {
                "latency": summarize(lat),
                "throughput": {
                    str(b): _throughput(cycling(be.predict, scaled_batches[b]), b, p.measure_s) for b in THREAD_BATCHES
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

    async def call(method: str, path: str, body: str | None, sink: list[bytes] | None = None) -> int:
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
            elif sink is not None and message["type"] == "http.response.body":
                sink.append(message.get("body", b""))

        await app(scope, receive, send)
        return status[0]

    async def run() -> None:
        ready_by = time.perf_counter() + 120.0
        async with app.router.lifespan_context(app):
            # Ask /readyz, as a client would: the registry behind it is no public API.
            while True:
                sink: list[bytes] = []
                if (code := await call("GET", "/readyz", None, sink)) == 200:
                    break
                text = b"".join(sink)
                if b'"failed"' in text or time.perf_counter() > ready_by:
                    raise RuntimeError(f"/readyz: HTTP {code}: {text[:300]!r}")
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

    from forecast_core.scaler import MinMaxScaling

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
        return nets[model].predict(x, verbose=0)

    for model in MODELS:
        res: dict[str, Any] = {}
        model_call = functools.partial(call, model)
        lat = _time_calls(cycling(model_call, s_singles), max_calls=10_000, max_s=p.notebook_s)
        res["latency"] = summarize(lat)
        res["throughput"] = {
            str(b): _throughput(cycling(model_call, s_batches[b]), b, p.notebook_s, 10_000) for b in BATCHES
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
