"""Reloading under load: new model versions every few seconds while clients keep predicting.

Usage, from the repository root::

    .venv/bin/python benchmarks/reload.py                       # 1 worker, then 2; about 4 minutes
    .venv/bin/python benchmarks/reload.py --workers 1 --duration 30 --every 5 --memory-reloads 50

A repository is made in a temporary directory with the committed IBM set as version 1; the server polls
it (``FORECAST_POLL_S``). ``--concurrency`` clients post predicts in a loop, first for ``--baseline``
seconds with nothing changing, then for ``--duration`` seconds while a new version is renamed into place
every ``--every`` seconds; one of them has a corrupted model file, and one step is a rollback (a
``versions.json`` pin to the version before). Printed: requests and failures (any answer but 200),
p50/p99 with and without reloading, how long after its rename each version first answered, and, with
one worker, resident memory after the first and after ``--memory-reloads`` reloads through the
repository API (each one waits until the new version is loaded).
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import asyncio
import json
import shutil
import tempfile
import time
from typing import Any

import httpx

from benchmarks.server import clean_env, rss_kib, start_server
from benchmarks.stats import percentile

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO / "artifacts" / "ibm-high"
WINDOW = [round(150 + 0.05 * i, 2) for i in range(60)]
ADMIN = "reload-benchmark"


def add_version(set_dir: Path, version: int, *, broken: bool = False) -> float:
    staging = set_dir / f".{version}.incoming"
    shutil.copytree(SOURCE, staging)
    if broken:
        raw = bytearray((staging / "lstm.onnx").read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        (staging / "lstm.onnx").write_bytes(bytes(raw))
    (staging / "marker").write_text(str(version))  # every version's files differ from the last's
    staging.rename(set_dir / str(version))
    return time.perf_counter()


async def clients(url: str, n: int, stop: asyncio.Event, log: list[tuple[float, int, float, str]]) -> None:
    async def one(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                r = await http.post("/v1/models/ensemble/predict", json={"window": WINDOW})
                version = r.json().get("version", "") if r.status_code == 200 else ""
                log.append((started, r.status_code, time.perf_counter() - started, version))
            except httpx.HTTPError as exc:
                log.append((started, 0, time.perf_counter() - started, type(exc).__name__))

    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as http:
        await asyncio.gather(*(one(http) for _ in range(n)))


async def scenario(url: str, set_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    log: list[tuple[float, int, float, str]] = []
    stop = asyncio.Event()
    load = asyncio.create_task(clients(url, args.concurrency, stop, log))
    await asyncio.sleep(args.baseline)
    reloading_from = time.perf_counter()
    renamed: dict[str, float] = {}
    version, steps = 1, int(args.duration // args.every)
    for step in range(steps):
        if step == steps // 2:  # a rollback: pin the version before the current one
            (set_dir / "versions.json").write_text(json.dumps({"policy": "specific", "versions": [version - 1]}))
            renamed[f"{version - 1} (rollback)"] = time.perf_counter()
        else:
            (set_dir / "versions.json").unlink(missing_ok=True)
            version += 1
            broken = step == 1
            renamed[f"{version}{' (broken)' if broken else ''}"] = add_version(set_dir, version, broken=broken)
        await asyncio.sleep(args.every)
    stop.set()
    await load
    before = [d for t, s, d, _ in log if t < reloading_from and s == 200]
    during = [d for t, s, d, _ in log if t >= reloading_from and s == 200]
    first_seen: dict[str, float | None] = {}
    for label, at in renamed.items():
        v = label.split(" ")[0]
        seen = [t + d for t, s, d, got in log if got == v and t + d >= at]
        first_seen[label] = (min(seen) - at) if seen and "broken" not in label else None
    return {
        "requests": len(log),
        "failed": sum(1 for _, s, _, _ in log if s != 200),
        "failures": sorted({f"{s or got}" for _, s, _, got in log if s != 200}),
        "p50_ms": (percentile(before, 50) * 1e3, percentile(during, 50) * 1e3),
        "p99_ms": (percentile(before, 99) * 1e3, percentile(during, 99) * 1e3),
        "first_answer_s": first_seen,
    }


def memory(url: str, pid: int, reloads: int, set_dir: Path) -> tuple[int, int]:
    headers = {"X-Admin-Key": ADMIN}
    version = max(int(p.name) for p in set_dir.iterdir() if p.name.isdigit())
    (set_dir / "versions.json").unlink(missing_ok=True)
    with httpx.Client(base_url=url, timeout=120.0, headers=headers) as http:
        rss = []
        for _ in range(reloads):
            version += 1
            add_version(set_dir, version)
            assert http.post("/v2/repository/models/ensemble/load").status_code == 200
            rss.append(rss_kib(pid))
    return rss[0], rss[-1]


def run(workers: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repository"
        (root / "ibm").mkdir(parents=True)
        add_version(root / "ibm", 1)
        env = clean_env(FORECAST_ARTIFACTS_DIR=str(root), FORECAST_POLL_S=str(args.poll), FORECAST_ADMIN_KEY=ADMIN)
        server = start_server(Path(tmp) / "server.log", env=env, workers=workers)
        try:
            result = asyncio.run(scenario(server.url, root / "ibm", args))
            if workers == 1 and args.memory_reloads:
                result["rss_kib"] = memory(server.url, server.pid, args.memory_reloads, root / "ibm")
        finally:
            server.stop()
            if args.keep_log:  # the server's own account of the run, for failures worth a look
                shutil.copy(Path(tmp) / "server.log", args.keep_log.with_suffix(f".{workers}.log"))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, nargs="*", default=[1, 2])
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--baseline", type=float, default=20.0, help="seconds of load before any reload")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load while versions change")
    p.add_argument("--every", type=float, default=5.0, help="seconds between new versions")
    p.add_argument("--poll", type=float, default=1.0, help="FORECAST_POLL_S of the server")
    p.add_argument("--memory-reloads", type=int, default=50)
    p.add_argument("--keep-log", type=Path, help="copy the server's log here (one file per worker count)")
    args = p.parse_args(argv)
    for workers in args.workers:
        r = run(workers, args)
        print(
            f"\n### {workers} worker(s), c={args.concurrency}, a version every {args.every:g} s, poll {args.poll:g} s"
        )
        print(f"requests {r['requests']}, failed {r['failed']} {r['failures'] or ''}")
        (p50, p50r), (p99, p99r) = r["p50_ms"], r["p99_ms"]
        print(f"p50 {p50:.1f} -> {p50r:.1f} ms; p99 {p99:.1f} -> {p99r:.1f} ms "
              f"({p99r / p99:.2f}x while reloading)")  # fmt: skip
        for label, seconds in r["first_answer_s"].items():
            answered = "never answered" if seconds is None else f"answered {seconds:.2f} s after"
            print(f"  version {label}: {answered}")
        if "rss_kib" in r:
            first, last = r["rss_kib"]
            n = args.memory_reloads
            print(
                f"RSS after the first reload {first / 1024:.0f} MiB, after {n}: {last / 1024:.0f} MiB "
                f"({last / first:.3f}x)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
