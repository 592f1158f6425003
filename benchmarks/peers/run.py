"""Our service beside KServe's model server and MLServer on the same model, measured in one run.

Usage, from the repository root (``benchmarks/run.py --peers [options]`` runs the same)::

    benchmarks/peers/setup.sh                                   # once: each peer in .venvs/<peer>
    .venv/bin/python benchmarks/peers/run.py                    # 2 rounds of 3 s per figure (~2 minutes)
    .venv/bin/python benchmarks/peers/run.py --rounds 4 --duration 5 --json peers.json --out peers.md
    .venv/bin/python benchmarks/peers/run.py --from-json peers.json    # re-render, nothing measured

Each server serves ``artifacts/ibm-high/lstm.onnx`` with its scaler, one worker or process, default
settings, on 127.0.0.1: ours (``forecast-serve``: /v1 predict, /v2 infer), KServe (V1 ``:predict``, V2
infer; ``kserve_model.py``) and MLServer (V2 infer; ``mlserver_model.py``). Before a server is
measured its answers are checked against ours (1e-4 relative); then the harness's load generator
(wrk, else httpx) measures p50 at c=1, req/s and p99 at c=64 on each endpoint and its own health
endpoint's req/s at c=64. A peer whose virtual environment is missing is skipped with a message.
The Markdown table (ours ÷ peer ratios beside the figures) goes to stdout and to ``--out``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: the repository root replaces benchmarks/peers/ at the head of sys.path.
    sys.path[0] = str(Path(__file__).resolve().parents[2])

import argparse
import json
import tempfile
from typing import Any

from benchmarks.config import ARTIFACTS, DATA
from benchmarks.loadgen import LoadGen
from benchmarks.machine import loadavg, machine_info, progress
from benchmarks.peers.measure import REL_TOLERANCE, AnswerMismatchError, measure_rounds
from benchmarks.peers.servers import OURS, PEERS, SERVERS, missing_message, peer_version
from benchmarks.peers.table import render
from benchmarks.server import ServerError
from benchmarks.workloads import read_column, sliding_windows

WINDOW = 60


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2, help="rounds, the order reversed every other one (default 2)")
    parser.add_argument("--duration", type=int, default=3, help="seconds per figure (default 3)")
    parser.add_argument("--warm", type=int, default=1, help="seconds of warm-up per endpoint (default 1)")
    parser.add_argument("--only", default=",".join(PEERS), help="comma-separated peers (default: kserve,mlserver)")
    parser.add_argument("--httpx", action="store_true", help="use the httpx load generator even if wrk is installed")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    parser.add_argument("--from-json", type=Path, help="re-render results saved with --json (nothing is measured)")
    args = parser.parse_args(argv)
    unknown = sorted({p.strip() for p in args.only.split(",") if p.strip()} - set(PEERS))
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}; peers: {', '.join(PEERS)}")
    if args.rounds < 1 or args.duration < 1 or args.warm < 1:
        parser.error("--rounds, --duration and --warm must be at least 1")
    return args


def emit(text: str, out: Path | None) -> None:
    print(text)
    if out:
        out.write_text(text, encoding="utf-8")
        progress(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.from_json:
        emit(render(json.loads(args.from_json.read_text(encoding="utf-8"))), args.out)
        return 0
    chosen = {p.strip() for p in args.only.split(",")}
    wanted = [SERVERS[p] for p in PEERS if p in chosen]
    skipped = [m for s in wanted if (m := missing_message(s))]
    for message in skipped:
        progress(message)
    peers = [s for s in wanted if not missing_message(s)]
    if not peers:
        print("peers: no peer is installed; nothing to compare (benchmarks/peers/setup.sh)", file=sys.stderr)
        return 2
    for needed in (ARTIFACTS / "lstm.onnx", DATA):
        if not needed.exists():
            print(f"peers: {needed} is missing", file=sys.stderr)
            return 2
    servers = [OURS, *peers]
    results: dict[str, Any] = {
        "meta": machine_info(argv, script="benchmarks/peers/run.py"),
        "loadavg": {"start": loadavg()},
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "warm_s": args.warm,
            "rel_tolerance": REL_TOLERANCE,
        },
        "servers": {
            s.name: {
                "title": s.title.format(version=peer_version(s)),
                "short": s.short,
                "endpoints": [(e.kind, e.label) for e in s.endpoints],
            }
            for s in servers
        },
        "skipped": skipped,
    }
    windows = sliding_windows(read_column(DATA), WINDOW)
    with tempfile.TemporaryDirectory(prefix="forecast-peers-") as tmp:
        load = LoadGen(Path(tmp), force_httpx=args.httpx)
        results["loadgen"] = load.name
        try:
            results.update(
                measure_rounds(
                    servers, windows, Path(tmp), load, rounds=args.rounds, duration_s=args.duration, warm_s=args.warm
                )
            )
        except (AnswerMismatchError, ServerError) as exc:
            print(f"peers: {exc}", file=sys.stderr)
            return 1
    results["loadavg"]["end"] = loadavg()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
        progress(f"wrote {args.json}")
    emit(render(results), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
