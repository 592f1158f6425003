"""A/B: the same HTTP figures from a baseline git ref and from the candidate, measured turn about.

Usage, from the repository root::

    .venv/bin/python benchmarks/ab.py --baseline main                   # baseline vs this working tree
    .venv/bin/python benchmarks/ab.py --baseline HEAD~3 --rounds 5 --duration 5 --out ab.md
    .venv/bin/python benchmarks/ab.py --baseline HEAD --candidate HEAD  # sanity check: ratios near 1.0
    .venv/bin/python benchmarks/ab.py --baseline HEAD --candidate HEAD --env baseline:FORECAST_ACCESS_LOG=false

The baseline is checked out into a temporary ``git worktree`` and served by this interpreter (the
project's .venv) with PYTHONPATH and the working directory pointing at the worktree, so nothing is
reinstalled; the candidate is this working tree (or ``--candidate REF``, another worktree). Both
servers run at once, one worker each, on the same committed artifacts (FORECAST_ARTIFACTS_DIR is
always passed: an older checkout's default directory may differ). Each round measures every figure
on both servers, the order flipping from figure to figure and round to round, so that drift in the
machine's load (2 shared cores) falls on both sides alike; the table gives each side's median over
the rounds and candidate ÷ baseline.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: the repository root replaces benchmarks/ at the head of sys.path (see run.py).
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import contextlib
import json
import shlex
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from benchmarks.config import ARTIFACTS, DATA, HORIZON, HTTP_MODEL, REPO, Request
from benchmarks.loadgen import LoadGen
from benchmarks.machine import loadavg, machine_info, progress
from benchmarks.server import HOST, ServerProcess, clean_env, free_port
from benchmarks.stats import fmt_duration, fmt_rate, percentile, render_table
from benchmarks.workloads import (
    HEALTHZ,
    forecast_requests,
    infer_requests,
    predict_requests,
    read_column,
    sliding_windows,
)


@dataclass(frozen=True)
class Figure:
    """One number per server and round: a load run's ``key`` (p50 or rps) at ``connections``."""

    name: str
    workload: str
    connections: int
    key: str  # "p50" (seconds, lower is better) or "rps" (higher is better)


FIGURES = (
    Figure(f"/v1 predict ({HTTP_MODEL}, one window) p50, c=1", "predict", 1, "p50"),
    Figure(f"/v1 predict ({HTTP_MODEL}, one window) req/s, c=64", "predict", 64, "rps"),
    Figure(f"/v1 forecast ({HTTP_MODEL}, {HORIZON} steps) p50, c=1", "forecast", 1, "p50"),
    Figure(f"/v2 infer ({HTTP_MODEL}, one window) p50, c=1", "infer", 1, "p50"),
    Figure(f"/v2 infer ({HTTP_MODEL}, one window) req/s, c=64", "infer", 64, "rps"),
    Figure("/healthz req/s, c=64", "healthz", 64, "rps"),
)
SIDES = ("baseline", "candidate")


def git(*args: str, cwd: Path = REPO) -> str:
    """A git command's stdout, stripped; raises with git's own message when it fails."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


@contextlib.contextmanager
def worktree(ref: str, parent: Path, name: str) -> Iterator[Path]:
    """``ref`` checked out (detached) in a temporary worktree, removed again however the run ends."""
    path = parent / name
    git("worktree", "add", "--detach", "--quiet", str(path), git("rev-parse", "--verify", f"{ref}^{{commit}}"))
    try:
        yield path
    finally:
        with contextlib.suppress(SystemExit):
            git("worktree", "remove", "--force", str(path))
        git("worktree", "prune")


def tree_server(tree: Path, artifacts: Path, log: Path, label: str, extra: dict[str, str]) -> ServerProcess:
    """A one-worker server running the code of ``tree`` on this interpreter (no install in the tree needed),
    with ``extra`` environment variables over the defaults (one side's settings, e.g. a feature off)."""
    port = free_port()
    env = clean_env(PYTHONPATH=str(tree), FORECAST_ARTIFACTS_DIR=str(artifacts), FORECAST_LOG_LEVEL="warning")
    env.update(extra)
    # The editable install's import hook sits behind sys.path, so PYTHONPATH and the working directory win:
    # check it rather than trust it, or both sides could silently serve the same code.
    probe = [sys.executable, "-c", "import service; print(service.__file__)"]
    where = subprocess.run(probe, cwd=tree, env=env, capture_output=True, text=True, check=True).stdout.strip()
    if not Path(where).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"{label}: `import service` finds {where}, not the code in {tree}")
    if (tree / "service" / "cli.py").exists():
        argv = [sys.executable, "-m", "service.cli", "--host", HOST, "--port", str(port), "--workers", "1"]
    else:  # a checkout from before forecast-serve: the same app factory under plain uvicorn
        argv = [sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory", "--no-access-log"]
        argv += ["--host", HOST, "--port", str(port), "--workers", "1"]
    return ServerProcess(argv, port=port, log=log, env=env, cwd=tree, label=label)


def workloads(window: int) -> dict[str, list[Request]]:
    """The request lists the figures replay, built from the IBM windows the harness uses."""
    windows = sliding_windows(read_column(DATA), window)
    return {
        "predict": predict_requests(windows),
        "forecast": forecast_requests(windows),
        "infer": infer_requests(windows),
        "healthz": HEALTHZ,
    }


def measure(
    servers: dict[str, ServerProcess], load: LoadGen, reqs: dict[str, list[Request]], rounds: int, duration: int
) -> dict[str, Any]:
    """Warm both servers on every workload, then ``rounds`` rounds of every figure on both, order alternating."""
    skipped: dict[str, str] = {}
    for workload, requests in reqs.items():
        for side, srv in servers.items():
            r = load.run(srv.port, requests, 8, 1)
            if r["non2xx"] or r["errors"] or not r["requests"]:
                skipped[workload] = f"{side} failed the warm-up ({r['non2xx']} non-2xx, {r['errors']} errors)"
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {f.name: {s: [] for s in SIDES} for f in FIGURES}
    for rnd in range(rounds):
        for i, fig in enumerate(FIGURES):
            if fig.workload in skipped:
                continue
            order = SIDES if (rnd + i) % 2 == 0 else SIDES[::-1]
            for side in order:
                r = load.run(servers[side].port, reqs[fig.workload], fig.connections, duration)
                samples[fig.name][side].append(r)
                progress(f"round {rnd + 1} {side:9} {fig.name}: {show(fig, r[fig.key])}")
                time.sleep(1.0 if fig.connections > 8 else 0.3)  # let queued work drain first
    return {"samples": samples, "skipped": skipped}


def show(fig: Figure, value: float | None) -> str:
    """A figure's value in its unit."""
    return fmt_duration(value) if fig.key == "p50" else f"{fmt_rate(value)} req/s"


def summary_rows(samples: dict[str, dict[str, list[dict[str, Any]]]], skipped: dict[str, str]) -> list[list[str]]:
    """Per figure: each side's median over the rounds, candidate ÷ baseline (medians, bests), spread, failures."""
    rows = []
    for fig in FIGURES:
        if fig.workload in skipped:
            rows.append([fig.name, "—", "—", "—", "—", "—", skipped[fig.workload]])
            continue
        values = {s: [r[fig.key] for r in samples[fig.name][s] if r[fig.key] is not None] for s in SIDES}
        med = {s: percentile(v, 50) if v else None for s, v in values.items()}
        # Other work on the machine only ever slows a run down, so each side's best round is the estimate
        # least disturbed by it: its ratio is given beside the ratio of medians.
        pick = min if fig.key == "p50" else max
        best = {s: pick(v) if v else None for s, v in values.items()}
        spread = [f"{max(v) / min(v) - 1:.0%}" if v and min(v) > 0 else "—" for v in values.values()]
        failed = sum(r["non2xx"] + r["errors"] for s in SIDES for r in samples[fig.name][s])
        b, c = med["baseline"], med["candidate"]
        bb, bc = best["baseline"], best["candidate"]
        rows.append(
            [
                fig.name + (" (lower is better)" if fig.key == "p50" else " (higher is better)"),
                show(fig, b),
                show(fig, c),
                f"{c / b:.2f}" if b and c is not None else "—",
                f"{bc / bb:.2f}" if bb and bc is not None else "—",
                " / ".join(spread),
                str(failed),
            ]
        )
    return rows


def render(result: dict[str, Any]) -> str:
    """The Markdown report: what ran where and when, then the table."""
    meta = result["meta"]
    headers = ["figure", "baseline", "candidate", "candidate ÷ baseline", "best ÷ best", "spread b / c", "failed"]
    return "\n".join(
        [
            "## A/B: baseline vs candidate",
            "",
            f"- Command: `{meta['command']}`",
            f"- Date: {meta['date']}; machine: {meta['cpu_model']}, {meta['cpus']} CPU(s), Linux {meta['kernel']}, "
            f"Python {meta['python']}",
            f"- Load average (1/5/15 min): {result['loadavg_start']} at the start, {result['loadavg_end']} at the end",
            f"- Baseline: {result['baseline']}; candidate: {result['candidate']}",
            f"- Environment beyond the defaults: {result.get('env') or 'none'}",
            f"- Both servers: one worker, artifacts `{result['artifacts']}`, both running throughout; "
            f"load generator {result['loadgen']}, sharing the CPUs",
            f"- {result['rounds']} rounds of {result['duration_s']} s per figure and side, order alternating; "
            "baseline and candidate are medians over the rounds; best ÷ best compares each side's best round "
            "(least disturbed by other work); spread is max ÷ min − 1 over the rounds",
            "",
            render_table(headers, result["rows"], "lrrrrrr"),
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """The command line; see the module docstring."""
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="git ref to compare against (served from a worktree)")
    parser.add_argument("--candidate", help="git ref for the candidate (default: this working tree, as it is)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every figure (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per load run (default 5)")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS, help="served by both (default: committed IBM)")
    parser.add_argument("--httpx", action="store_true", help="use the httpx load generator even if wrk is installed")
    parser.add_argument("--out", type=Path, help="also write the Markdown table here")
    parser.add_argument("--json", type=Path, help="also write every load run's figures here")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="SIDE:NAME=VALUE",
        help="an environment variable for one side's server (SIDE: baseline, candidate or both); repeatable",
    )
    args = parser.parse_args(argv)
    extra: dict[str, dict[str, str]] = {s: {} for s in SIDES}
    for item in args.env:
        side, _, assignment = item.partition(":")
        name, eq, value = assignment.partition("=")
        if side not in (*SIDES, "both") or not name or not eq:
            parser.error(f"--env {item!r}: expected SIDE:NAME=VALUE with SIDE baseline, candidate or both")
        for s in SIDES if side == "both" else (side,):
            extra[s][name] = value
    if args.rounds < 1 or args.duration < 1:
        parser.error("--rounds and --duration must be at least 1")
    artifacts = args.artifacts.resolve()
    window = int(json.loads((artifacts / "manifest.json").read_text(encoding="utf-8"))["window"])
    reqs = workloads(window)
    result: dict[str, Any] = {"meta": machine_info(argv, script="benchmarks/ab.py"), "loadavg_start": loadavg()}
    result |= {"artifacts": str(artifacts), "rounds": args.rounds, "duration_s": args.duration, "env": extra}
    result["baseline"] = f"`{args.baseline}` = `{git('rev-parse', '--short', args.baseline)}`"
    with tempfile.TemporaryDirectory(prefix="forecast-ab-") as tmp_name, contextlib.ExitStack() as stack:
        tmp = Path(tmp_name)
        trees = {"baseline": stack.enter_context(worktree(args.baseline, tmp, "baseline"))}
        if args.candidate:
            trees["candidate"] = stack.enter_context(worktree(args.candidate, tmp, "candidate"))
            result["candidate"] = f"`{args.candidate}` = `{git('rev-parse', '--short', args.candidate)}`"
        else:
            trees["candidate"] = REPO
            dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
            result["candidate"] = f"this working tree at `{git('rev-parse', '--short', 'HEAD')}`" + (
                " with uncommitted changes" if dirty else ""
            )
        load = LoadGen(tmp, force_httpx=args.httpx)
        result["loadgen"] = load.name
        servers = {
            s: stack.enter_context(tree_server(trees[s], artifacts, tmp / f"{s}.log", s, extra[s])) for s in SIDES
        }
        for side, srv in servers.items():
            ready = srv.wait_ready(timeout=180.0)
            progress(f"{side} ready in {ready['ready_s']:.1f} s: {shlex.join(srv.argv)} (in {srv.cwd})")
        result |= measure(servers, load, reqs, args.rounds, args.duration)
    result["loadavg_end"] = loadavg()
    result["rows"] = summary_rows(result["samples"], result["skipped"])
    text = render(result)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
