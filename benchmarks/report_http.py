"""The report's sections 2 and 3 tables: HTTP load runs per server, micro-batching, cold start and memory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from benchmarks.config import BACKENDS, HORIZON, HTTP_MODEL, TARGET_READY_S
from benchmarks.http_bench import BATCHING_PAIRS
from benchmarks.stats import dig, fmt_duration, fmt_mb, fmt_rate, fmt_ratio, ratio, render_table, verdict
from benchmarks.workloads import SOAK_MIX_TEXT


def report_http(http: Mapping[str, Any]) -> list[str]:
    """Section 2: one table of load runs per default server, then batching on against off."""
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


def report_cold_memory(r: Mapping[str, Any]) -> list[str]:
    """Section 3: start-to-ready per backend, then each server's memory after warm-up and after the soak."""
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
