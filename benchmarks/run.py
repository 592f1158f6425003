"""One-run benchmark harness: in-process inference, HTTP load, cold start and memory -> BENCHMARKS.md.

Usage, from the repository root::

    .venv/bin/python benchmarks/run.py            # normal run (~6-8 minutes), writes BENCHMARKS.md
    .venv/bin/python benchmarks/run.py --quick    # smoke run (~2 minutes), writes a temporary file unless --out
    .venv/bin/python benchmarks/run.py --peers    # ours beside KServe and MLServer (benchmarks/peers/run.py)

Everything is measured in one run, so the figures sit side by side as ratios taken on the same noisy
machine. The in-process section runs in a child process (it imports TensorFlow for the keras backend
and the notebook baseline); the HTTP sections start the real ``forecast-serve`` and drive it with
``wrk`` over loopback (or, where wrk is missing, an httpx load generator in its own process).

This file is the command line only; the work is in the modules beside it: ``config`` (inputs, targets,
profiles), ``stats`` (percentiles, formats, tables), ``server`` (the server process), ``workloads`` and
``loadgen`` (what is sent, and how), ``inprocess`` and ``http_bench`` (the sections), ``machine`` and
``report*`` (the report). The pure helpers import nothing heavy, so ``tests/benchmarks/test_harness.py``
can check them in milliseconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: Python put benchmarks/ first on sys.path, where its modules would be top-level
    # names; the repository root takes its place, so ``benchmarks.*`` and ``service.*`` import as packages.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import subprocess
import tempfile
import time
from dataclasses import asdict
from typing import Any

from benchmarks.config import ARTIFACTS, DATA, FULL, QUICK, REPO
from benchmarks.http_bench import coldstart_section, http_section
from benchmarks.inprocess import inprocess_section
from benchmarks.loadgen import LoadGen, loadgen_main
from benchmarks.machine import loadavg, machine_info, progress
from benchmarks.report import render_report
from benchmarks.workloads import read_column, sliding_windows


def _run_child_section(section: str, quick: bool, tmp: Path) -> dict[str, Any]:
    """Run a section in a fresh interpreter (TensorFlow stays out of this one) and read back its JSON."""
    out = tmp / f"{section}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--section", section, "--result", str(out)]
    if quick:
        cmd.append("--quick")
    subprocess.run(cmd, check=True, cwd=REPO, timeout=1800)
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    argv = sys.argv[1:] if argv is None else argv
    if "--peers" in argv:  # the peers comparison has its own options: benchmarks/peers/run.py
        from benchmarks.peers.run import main as peers_main

        return peers_main([a for a in argv if a != "--peers"])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a second or so per measurement (smoke test)")
    parser.add_argument("--out", type=Path, help="report path (default BENCHMARKS.md; a temp file with --quick)")
    parser.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    parser.add_argument(
        "--only", default="inprocess,coldstart,http", help="comma-separated sections (default: all three)"
    )
    parser.add_argument(
        "--wrk-threads", type=int, default=1, help="wrk threads (default 1: leave a core to the server)"
    )
    parser.add_argument("--httpx", action="store_true", help="use the httpx load generator even if wrk is installed")
    parser.add_argument(
        "--from-json", type=Path, help="re-render the report from results saved with --json (nothing is measured)"
    )
    parser.add_argument(
        "--peers",
        action="store_true",
        help="instead: ours beside KServe and MLServer (benchmarks/peers/run.py; its options follow)",
    )
    parser.add_argument("--section", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    profile = QUICK if args.quick else FULL

    if args.section == "loadgen":
        print(json.dumps(loadgen_main(json.loads(args.spec))))
        return 0
    if args.section == "inprocess":
        args.result.write_text(json.dumps(inprocess_section(profile)))
        return 0

    if args.from_json:
        saved = json.loads(args.from_json.read_text(encoding="utf-8"))
        quick = saved.get("profile") == "quick"
        out = args.out or (Path(tempfile.gettempdir()) / "BENCHMARKS.quick.md" if quick else REPO / "BENCHMARKS.md")
        out.write_text(render_report(saved), encoding="utf-8")
        progress(f"re-rendered {out} from {args.from_json}")
        return 0
    for needed in (ARTIFACTS / "manifest.json", DATA):
        if not needed.exists():
            parser.error(f"{needed} is missing")
    sections = {s.strip() for s in args.only.split(",") if s.strip()}
    started = time.perf_counter()
    results: dict[str, Any] = {"profile": profile.name, "meta": machine_info(argv), "profile_settings": asdict(profile)}
    with tempfile.TemporaryDirectory(prefix="forecast-bench-") as tmp_name:
        tmp = Path(tmp_name)
        load = LoadGen(tmp, threads=args.wrk_threads, force_httpx=args.httpx)
        results["loadavg"] = {"start": loadavg()}
        if "inprocess" in sections:
            progress("section 1: in-process (child process)")
            results["inprocess"] = _run_child_section("inprocess", args.quick, tmp)
            results["loadavg"]["after in-process"] = loadavg()
        windows = sliding_windows(read_column(DATA), int(results.get("inprocess", {}).get("window", 60)))
        if "coldstart" in sections:
            progress("section 3a: cold start")
            results["coldstart"] = coldstart_section(profile, tmp)
            results["loadavg"]["after cold start"] = loadavg()
        if "http" in sections:
            progress(f"section 2: HTTP with {load.name}")
            results["http"] = http_section(profile, windows, tmp, load)
            results["loadavg"]["after HTTP"] = loadavg()
    results["elapsed_s"] = time.perf_counter() - started
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    out = args.out or (Path(tempfile.gettempdir()) / "BENCHMARKS.quick.md" if args.quick else REPO / "BENCHMARKS.md")
    out.write_text(render_report(results), encoding="utf-8")
    progress(f"wrote {out} in {results['elapsed_s'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
