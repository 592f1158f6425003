"""The peers benchmark's measurements: a smoke check of every answer, then alternating rounds of load.

Each round starts every server in turn (the order reversed every other round, so drift in the shared
machine's load falls on all alike), checks its answers against ours, warms it, and measures with the
harness's load generator: p50 at concurrency 1, and req/s and p99 at concurrency 64, on each of its
endpoints, then its own health endpoint's req/s at concurrency 64; then stops it, so that only one
server uses the CPUs at a time.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.loadgen import LoadGen
from benchmarks.machine import progress
from benchmarks.peers.servers import OURS, Endpoint, Server, answer, body, requests, server_process
from benchmarks.server import HOST, ServerProcess
from benchmarks.stats import fmt_duration
from benchmarks.workloads import spread

SMOKE_WINDOWS = 4
REL_TOLERANCE = 1e-4
HIGH_CONCURRENCY = 64


class AnswerMismatchError(RuntimeError):
    """A server's prediction differs from ours for the same window: it is not serving the same model."""


def post(port: int, path: str, payload: str, timeout: float = 10.0) -> tuple[int, str]:
    """Status and body of one JSON POST over loopback."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, payload, {"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def predictions(port: int, endpoint: Endpoint, windows: Sequence[Sequence[float]]) -> list[float]:
    """The server's prediction for each window, asked one at a time on ``endpoint``."""
    out = []
    for w in windows:
        status, text = post(port, endpoint.path, body(endpoint.protocol, w))
        if status != 200:
            raise AnswerMismatchError(f"{endpoint.label} answered {status}: {text[:300]}")
        out.append(answer(endpoint.protocol, text))
    return out


def compare(label: str, got: Sequence[float], want: Sequence[float], rel: float = REL_TOLERANCE) -> float:
    """The largest relative difference of ``got`` from ``want``; AnswerMismatchError when it exceeds ``rel``."""
    worst = max(abs(g - w) / max(abs(w), 1e-12) for g, w in zip(got, want, strict=True))
    if worst > rel:
        raise AnswerMismatchError(
            f"{label}: {list(got)} differ from ours {list(want)} (relative {worst:.2e} > {rel:g})"
        )
    return worst


def smoke_windows(windows: Sequence[Sequence[float]]) -> list[Sequence[float]]:
    """The windows every server is checked on: a few, spread over the series."""
    return spread(windows, SMOKE_WINDOWS)


def check_answers(
    srv: ServerProcess, server: Server, windows: Sequence[Sequence[float]], reference: Sequence[float]
) -> dict[str, float]:
    """Each endpoint's worst relative difference from ``reference`` (ours /v1 predict) on ``windows``."""
    return {
        e.label: compare(f"{server.name} {e.label}", predictions(srv.port, e, windows), reference)
        for e in server.endpoints
    }


def reference_answers(windows: Sequence[Sequence[float]], tmp: Path) -> list[float]:
    """Our /v1 predict's answers for ``windows``, from a server started for just this."""
    with server_process(OURS, tmp, "ours-reference") as srv:
        srv.wait_ready(OURS.ready_path)
        return predictions(srv.port, OURS.endpoints[0], windows)


def measure_server(
    server: Server,
    windows: Sequence[Sequence[float]],
    reference: Sequence[float],
    tmp: Path,
    load: LoadGen,
    duration_s: int,
    warm_s: int,
) -> dict[str, Any]:
    """One server's session: start, check its answers, warm, measure every figure, stop."""
    checked = smoke_windows(windows)
    health = [("GET", server.health_path, None)]
    out: dict[str, Any] = {"endpoints": {}}
    with server_process(server, tmp, server.name) as srv:
        out["start"] = srv.wait_ready(server.ready_path)
        out["max_rel_diff"] = check_answers(srv, server, checked, reference)
        for e in server.endpoints:
            load.run(srv.port, requests(e, windows), 8, warm_s)
        for e in server.endpoints:
            reqs = requests(e, windows)
            runs = {"c1": load.run(srv.port, reqs, 1, duration_s)}
            time.sleep(0.3)
            runs["c64"] = load.run(srv.port, reqs, HIGH_CONCURRENCY, duration_s)
            time.sleep(1.0)  # let queued work drain before the next run
            out["endpoints"][e.kind] = {"label": e.label, **runs}
            progress(
                f"  {server.name} {e.label}: p50 {fmt_duration(runs['c1']['p50'])} at c=1; "
                f"{runs['c64']['rps']:.0f} req/s, p99 {fmt_duration(runs['c64']['p99'])} at c=64; "
                f"non-2xx {runs['c1']['non2xx'] + runs['c64']['non2xx']}"
            )
        out["health"] = load.run(srv.port, health, HIGH_CONCURRENCY, duration_s)
        progress(f"  {server.name} {server.health_path}: {out['health']['rps']:.0f} req/s at c=64")
    return out


def measure_rounds(
    servers: Sequence[Server],
    windows: Sequence[Sequence[float]],
    tmp: Path,
    load: LoadGen,
    *,
    rounds: int,
    duration_s: int,
    warm_s: int,
) -> dict[str, Any]:
    """The reference answers, then ``rounds`` rounds over ``servers``, the order reversed every other round."""
    reference = reference_answers(smoke_windows(windows), tmp)
    progress(f"ours /v1 predict on {len(reference)} windows: {[round(r, 4) for r in reference]}")
    out: dict[str, Any] = {"reference": reference, "rounds": []}
    for rnd in range(rounds):
        order = list(servers) if rnd % 2 == 0 else list(reversed(servers))
        progress(f"round {rnd + 1}/{rounds}: {', '.join(s.name for s in order)}")
        done = {s.name: measure_server(s, windows, reference, tmp, load, duration_s, warm_s) for s in order}
        out["rounds"].append({"order": [s.name for s in order], "servers": done})
    return out
