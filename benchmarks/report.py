"""BENCHMARKS.md from a results dict: the header, the key figures against the targets, then every section.

Rendering reads only the results (and the hand-written notes beside the harness), so ``run.py
--from-json`` can re-render a saved run without measuring anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.config import (
    BACKENDS,
    COLUMN,
    HORIZON,
    HTTP_MODEL,
    REPO,
    TARGET_FORECAST_P50_S,
    TARGET_LSTM_WINDOWS_PER_S,
    TARGET_NEXT_STEP_P50_S,
    TARGET_PREDICT_VS_HEALTHZ,
    TARGET_READY_S,
    TARGET_RSS_PER_WORKER_MB,
)
from benchmarks.report_http import report_cold_memory, report_http
from benchmarks.report_inprocess import report_breakdown, report_inprocess
from benchmarks.stats import dig, fmt_duration, fmt_mb, fmt_rate, ratio, render_table, verdict

# Hand-written sections measured by other scripts (profiling, docker-smoke.sh, the reliability suite and
# soak.py), kept beside the harness so every render carries them unchanged.
NOTE_FILES = ("PROFILING.md", "DOCKER.md", "RELIABILITY.md")


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
    """The key-figures row for one server's worker RSS at one stage (after warm-up or after the soak)."""
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
    """The whole Markdown report of one run's results."""
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
        f"`{COLUMN}` column of `../shared/data/IBM.csv`; artifacts: `{meta.get('artifacts', 'artifacts/')}`",
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
        f"{HORIZON} steps. **Ours** is `forecast_core.loader.load_set` + `Predictor.predict` / "
        "`Predictor.forecast` (price in, price out, scaling included); `keras` is the XLA-compiled "
        "`KerasBackend`, `onnx` the onnxruntime backend with 1 intra-op thread (the service default).",
        "",
        "## Key figures against the targets",
        "",
        render_table(["figure", "ours", "notebook way", "target", "verdict"], key_figures(r), "lrrrl"),
        "",
    ]
    out += report_inprocess(ip)
    out += report_http(http)
    out += report_cold_memory(r)
    out += report_breakdown(r)
    for name in NOTE_FILES:
        notes = REPO / "benchmarks" / name
        if notes.exists():
            out += ["", notes.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(out).rstrip() + "\n"
