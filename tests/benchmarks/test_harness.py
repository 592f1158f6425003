"""The benchmark harness's pure helpers, on fixed inputs: no timing, no wrk, no servers, no training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from benchmarks import config, http_bench, loadgen, machine, report, server, stats, workloads

WRK_REPORT = """\
Running 5s test @ http://127.0.0.1:8000/v1/models/lstm/predict
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    43.10ms    8.12ms 112.40ms   80.12%
    Req/Sec     1.30k   123.45     1.50k    70.00%
  Latency Distribution
     50%   42.99ms
     75%   47.00ms
     90%  520.00us
     99%    1.12s
  6507 requests in 5.01s, 1.23MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   1298.80
Transfer/sec:    251.22KB
"""

WRK_CLEAN = """\
Running 1s test @ http://127.0.0.1:8000/healthz
  1 threads and 1 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   110.00us   20.00us   1.25ms   95.00%
    Req/Sec     8.85k   300.00     9.10k    90.00%
  Latency Distribution
     50%  100.00us
     75%  110.00us
     90%  120.00us
     99%    1.25ms
  9000 requests in 1.00m, 1.00MB read
Requests/sec:   8847.12
Transfer/sec:      1.00MB
"""


@pytest.mark.parametrize("q", [0, 1, 10, 25, 50, 62.5, 90, 99, 100])
def test_percentile_matches_numpy(q: float) -> None:
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0]
    assert stats.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_edges() -> None:
    assert stats.percentile([4.0], 90) == 4.0
    assert stats.percentile([1.0, 2.0], 50) == 1.5
    with pytest.raises(ValueError, match="no values"):
        stats.percentile([], 50)
    with pytest.raises(ValueError, match="within"):
        stats.percentile([1.0], 101)


def test_summarize() -> None:
    s = stats.summarize([0.001, 0.002, 0.003, 0.004, 0.010])
    assert s["n"] == 5
    assert s["median"] == pytest.approx(0.003)
    assert s["p90"] == pytest.approx(0.0076)
    assert s["mean"] == pytest.approx(0.004)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("250.00us", 250e-6), ("1.23ms", 1.23e-3), ("5.10s", 5.1), ("1.00m", 60.0), ("2h", 7200.0), (" 7ms ", 7e-3)],
)
def test_parse_wrk_duration(text: str, seconds: float) -> None:
    assert loadgen.parse_wrk_duration(text) == pytest.approx(seconds)


def test_parse_wrk_duration_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a wrk duration"):
        loadgen.parse_wrk_duration("12 parsecs")


def test_parse_wrk_full_report() -> None:
    r = loadgen.parse_wrk(WRK_REPORT)
    assert r["requests"] == 6507
    assert r["duration_s"] == pytest.approx(5.01)
    assert r["rps"] == pytest.approx(1298.80)
    assert r["p50"] == pytest.approx(0.04299)
    assert r["p75"] == pytest.approx(0.047)
    assert r["p90"] == pytest.approx(520e-6)
    assert r["p99"] == pytest.approx(1.12)
    assert r["non2xx"] == 7
    assert r["errors"] == 5


def test_parse_wrk_clean_report_has_no_failures() -> None:
    r = loadgen.parse_wrk(WRK_CLEAN)
    assert (r["requests"], r["non2xx"], r["errors"]) == (9000, 0, 0)
    assert r["duration_s"] == pytest.approx(60.0)
    assert r["p99"] == pytest.approx(1.25e-3)


def test_parse_wrk_refuses_other_output() -> None:
    with pytest.raises(ValueError, match="not a wrk report"):
        loadgen.parse_wrk("unable to connect to 127.0.0.1:8000 Connection refused")


def test_lua_long_string_never_clashes() -> None:
    assert loadgen.lua_long_string("abc") == "[[abc]]"
    assert loadgen.lua_long_string('{"windows": [[1.0], [2.0]]}') == '[=[{"windows": [[1.0], [2.0]]}]=]'
    assert loadgen.lua_long_string("x]=]y]]") == "[==[x]=]y]]]==]"


def test_wrk_lua_holds_every_request() -> None:
    body = json.dumps({"windows": [[1.5, 2.5], [3.5, 4.5]]})
    script = loadgen.wrk_lua([("POST", "/v1/models/lstm/predict", body), ("GET", "/healthz", None)])
    assert "[=[" + body + "]=]" in script
    assert "{[[GET]], [[/healthz]], nil}," in script
    assert "function init(args)" in script
    assert "function request()" in script
    assert "wrk.format(s[1], s[2], headers, s[3])" in script
    with pytest.raises(ValueError, match="no requests"):
        loadgen.wrk_lua([])


def test_request_builders() -> None:
    windows = [[float(i + j) for j in range(60)] for i in range(200)]
    predict = workloads.predict_requests(windows, "gru", count=10)
    assert len(predict) == 10
    assert {r[:2] for r in predict} == {("POST", "/v1/models/gru/predict")}
    assert json.loads(predict[1][2]) == {"window": windows[20]}
    forecast = workloads.forecast_requests(windows, count=4)
    assert json.loads(forecast[0][2]) == {"window": windows[0], "horizon": config.HORIZON}
    mix = workloads.soak_mix(windows)
    assert len(mix) == 50
    assert sum(r[1].endswith("/forecast") for r in mix) == 1
    assert len(json.loads(mix[48][2])["windows"]) == 64


def test_spread_and_windows() -> None:
    assert workloads.spread(list(range(10)), 5) == [0, 2, 4, 6, 8]
    assert workloads.spread([1, 2], 5) == [1, 2]
    assert workloads.sliding_windows([1.0, 2.0, 3.0, 4.0], 3) == [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]


def test_read_column(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("Date,Open,High\n2020-01-01,1,2.5\n2020-01-02,1,\n2020-01-03,1,3.25\n", encoding="utf-8")
    assert workloads.read_column(path) == [2.5, 3.25]


def test_parse_proc_fields() -> None:
    status = "Name:\tpython\nVmPeak:\t  400000 kB\nVmRSS:\t  123456 kB\nThreads:\t4\n"
    assert server.parse_status_kb(status) == 123456
    assert server.parse_status_kb(status, "VmPeak") == 400000
    assert server.parse_status_kb(status, "Pss") is None
    lscpu = "Architecture:  x86_64\nCPU(s):   2\nModel name:   AMD EPYC\nFlags: fpu: vme\n"
    info = machine.parse_lscpu(lscpu)
    assert info["Model name"] == "AMD EPYC"
    assert info["CPU(s)"] == "2"
    assert info["Flags"] == "fpu: vme"


def test_verdict() -> None:
    assert stats.verdict(0.0015, 0.002, at_most=True) == "MET"
    assert stats.verdict(0.002, 0.002, at_most=True) == "MET"
    assert stats.verdict(0.003, 0.002, at_most=True) == "MISSED"
    assert stats.verdict(7000, 6000, at_most=False) == "MET"
    assert stats.verdict(0.4, 0.5, at_most=False) == "MISSED"
    assert stats.verdict(None, 1, at_most=True) == "not measured"
    assert stats.verdict(math.nan, 1, at_most=True) == "not measured"


def test_formatters() -> None:
    assert stats.fmt_duration(None) == "—"
    assert stats.fmt_duration(5.5e-6) == "5.5 µs"
    assert stats.fmt_duration(21e-6) == "21 µs"
    assert stats.fmt_duration(1.234e-3) == "1.23 ms"
    assert stats.fmt_duration(0.0421) == "42.1 ms"
    assert stats.fmt_duration(18.04) == "18.04 s"
    assert stats.fmt_rate(144721.4) == "144,721"
    assert stats.fmt_rate(6.04) == "6.0"
    assert stats.fmt_ratio(10354.2) == "×10,354"
    assert stats.fmt_ratio(2.04) == "×2.0"
    assert stats.fmt_mb(204800) == "200 MiB"
    assert stats.ratio(1.0, 0) is None
    assert stats.ratio(3.0, 2.0) == 1.5


def test_render_table() -> None:
    table = stats.render_table(["model", "p50", "p90"], [["lstm", "1 ms", "2 ms"], ["a|b", 3, 4.5]])
    assert table.splitlines() == [
        "| model | p50 | p90 |",
        "| --- | ---: | ---: |",
        "| lstm | 1 ms | 2 ms |",
        "| a\\|b | 3 | 4.5 |",
    ]
    assert stats.render_table(["a", "b"], [], "rl").splitlines()[1] == "| ---: | --- |"
    with pytest.raises(ValueError, match="cells"):
        stats.render_table(["a", "b"], [["only one"]])
    with pytest.raises(ValueError, match="align"):
        stats.render_table(["a", "b"], [], "l")


def test_dig() -> None:
    data = {"http": {"onnx-w1": {"runs": {"predict@1": {"p50": 0.001}}}}, "t": {"64": 5}}
    assert stats.dig(data, "http", "onnx-w1", "runs", "predict@1", "p50") == 0.001
    assert stats.dig(data, "t", 64) == 5
    assert stats.dig(data, "http", "missing", "runs") is None
    assert stats.dig(None, "x") is None


def _fake_results() -> dict:
    lat = {"n": 100, "median": 2e-5, "p90": 3e-5, "p99": 4e-5, "mean": 2e-5}
    thr = {str(b): {"per_s": 1000.0 * b, "per_s_elapsed": 900.0 * b, "calls": 10} for b in config.BATCHES}
    ours = {m: {"latency": lat, "throughput": thr, "forecast": lat} for m in config.MODELS}
    nb = {
        m: {
            "latency": {**lat, "median": 0.07},
            "throughput": thr,
            "forecast_step": {**lat, "median": 0.07},
            "forecast_steps_timed": 20,
            "forecast_251_est_s": 17.6,
        }
        for m in config.MODELS
    }
    run = {"requests": 5000, "duration_s": 5.0, "rps": 1000.0, "p50": 0.001, "p75": 0.0012, "p90": 0.0015}
    run |= {"p99": 0.003, "non2xx": 0, "errors": 0}
    mem = {
        "processes": [{"pid": 1, "role": "worker", "rss_kb": 150_000, "pss_kb": 140_000}],
        "workers": 1,
        "workers_rss_kb": 150_000,
        "max_worker_rss_kb": 150_000,
        "workers_pss_kb": 140_000,
        "total_rss_kb": 150_000,
    }
    session = {
        "label": "onnx-w1",
        "workers": 1,
        "env": {},
        "cmd": "forecast-serve --workers 1",
        "runs": {f"{e}@{c}": {**run, "rps": 4000.0} if e == "healthz" else run for e, c in http_bench.FULL_PLAN},
        "memory_warm": mem,
        "memory_after": mem,
        "soak": {"answered": 50_000, "soak_requests": 1000, "soak_s": 1.0, "non2xx": 0, "errors": 0},
    }
    return {
        "profile": "normal",
        "elapsed_s": 420.0,
        "meta": {
            "date": "2026-01-01 00:00 UTC",
            "cpu_model": "Test CPU",
            "cpus": "2",
            "cores_per_socket": "2",
            "threads_per_core": "1",
            "hypervisor": None,
            "mem_total_kb": None,
            "kernel": "6.0",
            "python": "3.11.7",
            "versions": dict.fromkeys(("onnxruntime", "tensorflow", "keras", "numpy", "fastapi", "uvicorn"), "1.0"),
            "commit": "abc123",
            "dirty": False,
            "command": ".venv/bin/python benchmarks/run.py",
        },
        "inprocess": {
            "window": 60,
            "windows_available": 2961,
            "load_s": {"onnx": 0.02, "keras": 7.0},
            "warmup_s": {"onnx": 0.1, "keras": 4.0},
            "ours": {"onnx": ours, "keras": ours},
            "threads": {m: {t: {"latency": lat, "throughput": thr} for t in ("1", "2")} for m in ("lstm", "gru")},
            "notebook": {"load_s": 0.5, **nb},
            "app": {
                f"batching-{x}": {
                    "healthz": {**lat, "median": 5e-5},
                    "predict": {**lat, "median": 5e-4},
                    "forecast": {**lat, "median": 6e-3},
                }
                for x in ("on", "off")
            },
        },
        "coldstart": {
            b: {"runs": [{"listening_s": 0.4, "ready_s": s}], "ready_median_s": s, "listening_median_s": 0.4}
            for b, s in (("onnx", 0.6), ("keras", 6.0))
        },
        "http": {"loadgen": "wrk", "onnx-w1": session, "onnx-w1-batching": session},
    }


def test_render_report_marks_targets() -> None:
    text = report.render_report(_fake_results())
    assert text.startswith("# Benchmarks\n")
    assert "- Command: `.venv/bin/python benchmarks/run.py`" in text
    key = text.split("## Key figures against the targets")[1].split("## 1.")[0]
    assert (
        "| Next-step HTTP p50, c=1, 1 worker(s) (lstm) | 1.00 ms | 70.0 ms (model.predict alone) | ≤ 2 ms | MET |"
        in key
    )
    assert "| Start to ready, keras backend, 1 worker (median) | 6.00 s | — | ≤ 2 s | MISSED |" in key
    assert "| Next-step req/s ÷ /healthz req/s, c=64, 1 worker(s) | 25% (1,000 ÷ 4,000) | — | ≥ 50 % | MISSED |" in key
    assert (
        "| RSS per worker, onnx, 1 worker(s), after 50,000 requests | 146 MiB (sum 146 MiB) | — | ≤ 300 MiB | MET |"
        in key
    )
    assert "| RSS per worker, onnx, 2 worker(s), after warm-up | — | — | ≤ 300 MiB | not measured |" in key
    assert "not measured" in key  # the 2-worker session is absent from the fake results
    assert "### Micro-batching" in text
    assert "## Where a request's time goes" in text
    # 1/4000 s per healthz at c=64, 50 µs of it in the app: a next-step (500 µs in the app) can reach 250/700 of it.
    assert "can be at most about 36% (measured: 25%; target ≥ 50 %)" in text
