"""/v2 infer of a 256-window batch: the binary tensor data extension against JSON tensors, one server.

Usage, from the repository root (needs ../shared/data/IBM.csv for real windows; a random walk otherwise)::

    .venv/bin/python benchmarks/binary.py                  # prints the Markdown table
    .venv/bin/python benchmarks/binary.py --rounds 8 --requests 40

One ``forecast-serve`` (one worker, the committed IBM artifacts) answers three kinds of the same
request, a next-step ``lstm`` infer of 256 windows: JSON in and out (what tritonclient sends with
``binary_data=False``: float32 values written as Python floats), binary in with JSON out, and binary
both ways (tritonclient's defaults). Requests go one at a time over one keep-alive connection, bodies
built beforehand, so the figures are the server's work plus loopback. Each round times every kind,
in an order that rotates from round to round, so a neighbour's load on the shared CPUs falls on all
kinds alike; the table gives medians over rounds and each kind's p50 as a ratio of JSON's.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import http.client
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchmarks.config import ARTIFACTS, DATA, HTTP_MODEL
from benchmarks.machine import loadavg, machine_info, progress
from benchmarks.server import HOST, ServerProcess, clean_env, free_port, serve_argv
from benchmarks.stats import fmt_duration, percentile, render_table
from benchmarks.workloads import read_column, sliding_windows, spread

BATCH = 256
PATH = f"/v2/models/{HTTP_MODEL}/infer"


@dataclass(frozen=True)
class Kind:
    label: str
    body: bytes
    headers: dict[str, str]


def windows(window: int, count: int = BATCH) -> np.ndarray:
    """``count`` real IBM High windows spread over the series (a random walk when the data is absent)."""
    if DATA.exists():
        return np.asarray(spread(sliding_windows(read_column(DATA), window), count), dtype=np.float32)
    rng = np.random.default_rng(0)
    return (100 * np.exp(np.cumsum(rng.normal(0, 0.01, (count, window)), axis=1))).astype(np.float32)


def kinds(x: np.ndarray) -> list[Kind]:
    """The three requests, framed as tritonclient frames them."""
    tensor = {"name": "window", "datatype": "FP32", "shape": list(x.shape)}
    as_json = {"inputs": [{**tensor, "data": x.ravel().tolist()}], "outputs": [{"name": "prediction"}]}
    raw = x.astype("<f4").tobytes()
    binary_in = {"inputs": [{**tensor, "parameters": {"binary_data_size": len(raw)}}]}

    def framed(label: str, header: dict[str, object]) -> Kind:
        head = json.dumps(header).encode()
        return Kind(label, head + raw, {"Inference-Header-Content-Length": str(len(head))})

    json_out = [{"name": "prediction", "parameters": {"binary_data": False}}]
    binary_out = [{"name": "prediction", "parameters": {"binary_data": True}}]
    return [
        Kind("JSON in, JSON out", json.dumps(as_json).encode(), {"Content-Type": "application/json"}),
        framed("binary in, JSON out", {**binary_in, "outputs": json_out}),
        framed("binary in and out (tritonclient's default)", {**binary_in, "outputs": binary_out}),
    ]


def post(conn: http.client.HTTPConnection, kind: Kind) -> tuple[float, bytes, str | None]:
    """Seconds, body and Inference-Header-Content-Length (None for a JSON answer) of one request."""
    started = time.perf_counter()
    conn.request("POST", PATH, body=kind.body, headers=kind.headers)
    response = conn.getresponse()
    content = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise RuntimeError(f"{kind.label}: {response.status} {content[:300]!r}")
    return elapsed, content, response.getheader("Inference-Header-Content-Length")


def predictions(content: bytes, length: str | None) -> np.ndarray:
    """The answer's values as float32, whichever way they came."""
    if length is None:
        return np.asarray(json.loads(content)["outputs"][0]["data"], dtype=np.float32)
    return np.frombuffer(content[int(length) :], dtype="<f4")


def measure(port: int, all_kinds: Sequence[Kind], rounds: int, requests: int) -> dict[str, list[list[float]]]:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        answers = []
        for kind in all_kinds:  # warm-up, and the check that every kind gives the same numbers
            for _ in range(3):
                _, content, length = post(conn, kind)
            answers.append(predictions(content, length))
        # JSON carries the float32 values exactly (their float repr), so all three answers are bit-equal.
        for kind, answer in zip(all_kinds[1:], answers[1:], strict=True):
            np.testing.assert_array_equal(answer, answers[0], err_msg=kind.label)
        times: dict[str, list[list[float]]] = {k.label: [] for k in all_kinds}
        for r in range(rounds):
            shift = r % len(all_kinds)
            order = list(all_kinds[shift:]) + list(all_kinds[:shift])
            for kind in order if r % 2 == 0 else order[::-1]:
                times[kind.label].append([post(conn, kind)[0] for _ in range(requests)])
            progress(f"round {r + 1}/{rounds} done (load {loadavg()})")
        return times
    finally:
        conn.close()


def response_size(port: int, kind: Kind) -> int:
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        return len(post(conn, kind)[1])
    finally:
        conn.close()


def report(all_kinds: Sequence[Kind], times: dict[str, list[list[float]]], sizes: dict[str, int]) -> str:
    p50 = {label: statistics.median(percentile(r, 50) for r in rounds) for label, rounds in times.items()}
    base = p50[all_kinds[0].label]
    rows = []
    for kind in all_kinds:
        rounds = times[kind.label]
        mean = statistics.median(statistics.fmean(r) for r in rounds)
        rows.append(
            [
                kind.label,
                f"{len(kind.body):,} B",
                f"{sizes[kind.label]:,} B",
                fmt_duration(p50[kind.label]),
                fmt_duration(statistics.median(percentile(r, 90) for r in rounds)),
                f"{1 / mean:,.0f}",
                f"{base / p50[kind.label]:.2f}x",
            ]
        )
    headers = ["request", "request body", "response body", "p50", "p90", "req/s (c=1)", "speed vs JSON (p50)"]
    return render_table(headers, rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds (default 6)")
    parser.add_argument("--requests", type=int, default=30, help="requests per kind and round (default 30)")
    args = parser.parse_args(argv)

    info = machine_info(sys.argv[1:] if argv is None else argv, script="benchmarks/binary.py")
    port = free_port()
    env = clean_env(FORECAST_ARTIFACTS_DIR=str(ARTIFACTS))
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        server = ServerProcess(serve_argv(port), port=port, log=log, env=env, label="forecast-serve")
        with server.start():
            server.wait_ready()
            conn = http.client.HTTPConnection(HOST, port, timeout=10)
            conn.request("GET", f"/v1/models/{HTTP_MODEL}")
            window = int(json.loads(conn.getresponse().read())["window"])
            conn.close()
            all_kinds = kinds(windows(window))
            progress(f"{BATCH} windows of {window}; {args.rounds} rounds x {args.requests} requests per kind")
            times = measure(port, all_kinds, args.rounds, args.requests)
            sizes = {k.label: response_size(port, k) for k in all_kinds}
    print(f"### /v2 infer, {BATCH} windows of {window}, `{HTTP_MODEL}`: binary tensor data against JSON\n")
    print(report(all_kinds, times, sizes))
    print(
        f"\n`{info['command']}` · {info['date']} · {info['cpu_model']}, {info['cpus']} CPUs (shared) · "
        f"Python {info['python']}, fastapi {info['versions']['fastapi']}, uvicorn {info['versions']['uvicorn']} · "
        f"commit {info['commit'][:8]}{' (dirty)' if info['dirty'] else ''} · load average after: {loadavg()} · "
        f"one worker, one keep-alive connection, medians over {args.rounds} rounds of {args.requests} requests"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
