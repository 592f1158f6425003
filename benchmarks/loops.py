"""The event loop (and, optionally, another ASGI server) under the same app, side by side.

Usage, from the repository root::

    .venv/bin/python benchmarks/loops.py                       # FORECAST_LOOP=asyncio vs uvloop, 3 rounds
    .venv/bin/python benchmarks/loops.py --rounds 4 --duration 5 --granian .venv/bin/granian

Every server runs at once (one worker each, the committed IBM artifacts, loopback); each round measures
every figure on every server, the order rotating from round to round, so drift in the machine's load
falls on all of them alike. Figures: next-step predict p50 at c=1, predict req/s and p99 at c=64, and
``/healthz`` req/s at c=64, with the same wrk load generator and request list as ``benchmarks/ab.py``.
``--granian`` adds granian (not a project dependency: ``pip install granian`` into any venv) serving
``service.main:create_app`` with its defaults and uvloop; it has none of forecast-serve's protocol
additions (read deadline, upload budget), so it is a reference, not a drop-in.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import statistics
import tempfile
from typing import Any

from benchmarks.config import ARTIFACTS, DATA, Request
from benchmarks.loadgen import LoadGen
from benchmarks.machine import loadavg, machine_info
from benchmarks.server import ServerProcess, clean_env, free_port, serve_argv
from benchmarks.stats import fmt_duration
from benchmarks.workloads import predict_requests, read_column, sliding_windows

HEALTH: list[Request] = [("GET", "/healthz", None)]
WINDOW = 60  # the IBM models' window


def servers(granian: str | None, log_dir: Path) -> dict[str, ServerProcess]:
    """The servers to compare, started; ``forecast-serve`` under each loop, granian when given."""
    out: dict[str, ServerProcess] = {}
    base = clean_env(FORECAST_ARTIFACTS_DIR=str(ARTIFACTS), FORECAST_LOG_LEVEL="warning")
    for loop in ("asyncio", "uvloop"):
        port = free_port()
        out[f"forecast-serve, FORECAST_LOOP={loop}"] = ServerProcess(
            serve_argv(port), port=port, log=log_dir / f"{loop}.log", env={**base, "FORECAST_LOOP": loop}
        )
    if granian:
        port = free_port()
        argv = [granian, "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port)]
        argv += ["--workers", "1", "--loop", "uvloop", "--log-level", "warning", "service.main:create_app"]
        out["granian (defaults, uvloop)"] = ServerProcess(argv, port=port, log=log_dir / "granian.log", env=base)
    for server in out.values():
        server.start()
    for server in out.values():
        server.wait_ready()
    return out


def measure(port: int, load: LoadGen, predict: list[Request], duration: int) -> dict[str, Any]:
    one = load.run(port, predict, 1, duration)
    many = load.run(port, predict, 64, duration)
    health = load.run(port, HEALTH, 64, duration)
    return {
        "p50_c1": one["p50"],
        "rps_c64": many["rps"],
        "p99_c64": many["p99"],
        "health_rps": health["rps"],
        "failed": many["non2xx"] + many["errors"] + one["non2xx"] + one["errors"],
    }


def table(samples: dict[str, list[dict[str, Any]]]) -> str:
    """Medians over the rounds, and each server's predict ÷ /healthz req/s ratio."""
    lines = [
        "| server | predict p50, c=1 | predict req/s, c=64 | predict p99, c=64 | /healthz req/s, c=64 "
        "| predict ÷ /healthz | failed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rounds in samples.items():

        def med(key: str, rounds: list[dict[str, Any]] = rounds) -> float:
            return statistics.median(r[key] for r in rounds)

        p99s = ", ".join(fmt_duration(r["p99_c64"]) for r in rounds)
        lines.append(
            f"| {name} | {fmt_duration(med('p50_c1'))} | {med('rps_c64'):,.0f} | {fmt_duration(med('p99_c64'))} "
            f"({p99s}) | {med('health_rps'):,.0f} | {med('rps_c64') / med('health_rps'):.0%} "
            f"| {sum(r['failed'] for r in rounds)} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per load run")
    parser.add_argument("--granian", metavar="PATH", help="a granian executable to add as a reference server")
    args = parser.parse_args(argv)
    info = machine_info(sys.argv[1:] if argv is None else argv, script="benchmarks/loops.py")
    predict = predict_requests(sliding_windows(read_column(DATA), WINDOW))
    with tempfile.TemporaryDirectory() as tmp:
        load = LoadGen(Path(tmp))
        running = servers(args.granian, Path(tmp))
        samples: dict[str, list[dict[str, Any]]] = {name: [] for name in running}
        names = list(running)
        before = loadavg()
        try:
            for r in range(args.rounds):
                order = names[r % len(names) :] + names[: r % len(names)]
                for name in order:
                    samples[name].append(measure(running[name].port, load, predict, args.duration))
                    print(f"round {r + 1} {name}: {samples[name][-1]}", file=sys.stderr)
        finally:
            for server in running.values():
                server.stop()
    print(
        f"{info['date']}, {info['cpu_model']} ({info['cpus']} CPUs), load average {before} before, "
        f"{loadavg()} after; commit {info['commit'][:10]}{' (dirty)' if info['dirty'] else ''}; "
        f"{args.rounds} rounds of {args.duration} s per figure; medians, p99 per round in brackets; "
        f"`{info['command']}`\n"
    )
    print(table(samples))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
