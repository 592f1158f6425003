"""benchmarks/ab.py's table from fixed load-run results: medians per side, the ratio, skipped figures."""

from __future__ import annotations

import json

from benchmarks import ab
from benchmarks.workloads import infer_requests


def run(p50: float, rps: float, failed: int = 0) -> dict[str, float | int]:
    """One load run's result, as LoadGen.run gives it."""
    return {"requests": 100, "duration_s": 1.0, "rps": rps, "p50": p50, "p99": p50 * 3, "non2xx": failed, "errors": 0}


def test_summary_rows_give_medians_and_candidate_over_baseline() -> None:
    samples = {
        f.name: {
            "baseline": [run(0.002, 1000.0), run(0.004, 900.0), run(0.003, 1100.0)],
            "candidate": [run(0.0015, 2000.0), run(0.0015, 2000.0), run(0.0015, 2000.0, failed=2)],
        }
        for f in ab.FIGURES
    }
    skipped = {"infer": "baseline failed the warm-up (64 non-2xx, 0 errors)"}
    rows = ab.summary_rows(samples, skipped)
    assert len(rows) == len(ab.FIGURES)
    predict = next(r for r in rows if r[0].startswith("/v1 predict") and "p50" in r[0])
    assert predict[1:] == ["3.00 ms", "1.50 ms", "0.50", "0.75", "100% / 0%", "2"]
    healthz = next(r for r in rows if r[0].startswith("/healthz"))
    assert healthz[0].endswith("(higher is better)")
    assert healthz[1:5] == ["1,000 req/s", "2,000 req/s", "2.00", "1.82"]
    infer = [r for r in rows if r[0].startswith("/v2 infer")]
    assert len(infer) == 2
    assert all(r[1:6] == ["—"] * 5 and "warm-up" in r[6] for r in infer)


def test_render_names_the_sides_and_the_load() -> None:
    meta = {"command": "benchmarks/ab.py --baseline HEAD", "date": "2026-01-01 00:00 UTC", "cpu_model": "CPU"}
    meta |= {"cpus": "2", "kernel": "6.1", "python": "3.11.7"}
    result = {
        "meta": meta,
        "loadavg_start": "1.00 0.50 0.25",
        "loadavg_end": "1.10 0.60 0.30",
        "baseline": "`HEAD` = `abc1234`",
        "candidate": "this working tree at `abc1234`",
        "artifacts": "/repo/artifacts/ibm-high",
        "loadgen": "wrk",
        "rounds": 3,
        "duration_s": 5,
        "rows": [["/healthz req/s, c=64 (higher is better)", "1 req/s", "1 req/s", "1.00", "1.00", "0% / 0%", "0"]],
    }
    text = ab.render(result)
    assert "- Command: `benchmarks/ab.py --baseline HEAD`" in text
    assert "1.00 0.50 0.25 at the start, 1.10 0.60 0.30 at the end" in text
    assert "| figure | baseline | candidate | candidate ÷ baseline | best ÷ best | spread b / c | failed |" in text
    assert "| /healthz req/s, c=64 (higher is better) | 1 req/s | 1 req/s | 1.00 | 1.00 | 0% / 0% | 0 |" in text
    json.dumps(result)  # what --json writes


def test_infer_requests_are_one_fp32_window_each() -> None:
    windows = [[float(i + j) for j in range(60)] for i in range(100)]
    reqs = infer_requests(windows, count=4)
    assert {r[:2] for r in reqs} == {("POST", "/v2/models/lstm/infer")}
    body = json.loads(reqs[1][2] or "")
    assert body == {"inputs": [{"name": "window", "datatype": "FP32", "shape": [1, 60], "data": windows[25]}]}
