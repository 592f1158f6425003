"""The report's section 1 tables: in-process inference against the notebook way, and where a request's time goes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.config import BACKENDS, BATCHES, HORIZON, HTTP_MODEL, MODELS, THREAD_BATCHES
from benchmarks.stats import dig, fmt_duration, fmt_rate, fmt_ratio, ratio, render_table


def lat_cells(s: Mapping[str, float] | None) -> list[str]:
    """Median and p90 cells of a timing summary ('—' when not measured)."""
    return [fmt_duration(dig(s, "median")), fmt_duration(dig(s, "p90"))] if s else ["—", "—"]


def report_inprocess(ip: Mapping[str, Any]) -> list[str]:
    """Section 1: latency, throughput by batch, the recursive forecast and onnx threads, ours vs notebook."""
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
                    *lat_cells(s),
                    *lat_cells(nb),
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
                    *lat_cells(s),
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
                    *lat_cells(dig(t, "latency")),
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


def report_breakdown(r: Mapping[str, Any]) -> list[str]:
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
