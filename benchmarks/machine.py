"""The machine and the moment a measurement ran on: CPU, memory, versions, commit, load average.

Figures from a shared 2-core machine mean little without the load average beside them, so every
report (the harness's and ``ab.py``'s) carries these. Standard library only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.config import ARTIFACTS, REPO
from benchmarks.server import parse_status_kb, read_text


def parse_lscpu(text: str) -> dict[str, str]:
    """``lscpu``'s 'Key: value' lines as a dict."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in out:
            out[key.strip()] = value.strip()
    return out


def loadavg() -> str:
    """The 1/5/15-minute load averages, as /proc/loadavg gives them."""
    return " ".join(read_text("/proc/loadavg").split()[:3]) or "unknown"


def progress(msg: str) -> None:
    """A timestamped line on stderr (stdout may carry a result)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def first_line(cmd: Sequence[str]) -> str:
    """The first line a command prints (stdout, else stderr), or 'unknown'."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


def dist_version(*dists: str) -> str:
    """The installed version of the first of ``dists`` that is installed."""
    for d in dists:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            return importlib.metadata.version(d)
    return "not installed"


def machine_info(argv: Sequence[str], script: str = "benchmarks/run.py") -> dict[str, Any]:
    """Everything a report's header states about the run: machine, versions, commit, command, artifacts."""
    cpu = parse_lscpu(command_output(["lscpu"]))
    mem_kb = parse_status_kb(read_text("/proc/meminfo"), "MemTotal")
    commit = first_line(["git", "-C", str(REPO), "rev-parse", "HEAD"])
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True
    ).stdout.strip()
    python = Path(sys.executable)
    with contextlib.suppress(ValueError):
        python = python.relative_to(REPO)
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu.get("Model name", platform.processor() or "unknown"),
        "cpus": cpu.get("CPU(s)", str(os.cpu_count())),
        "cores_per_socket": cpu.get("Core(s) per socket", "?"),
        "threads_per_core": cpu.get("Thread(s) per core", "?"),
        "hypervisor": cpu.get("Hypervisor vendor"),
        "mem_total_kb": mem_kb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": {
            d: dist_version(*alts)
            for d, alts in {
                "onnxruntime": ("onnxruntime",),
                "tensorflow": ("tensorflow-cpu", "tensorflow"),
                "keras": ("keras",),
                "numpy": ("numpy",),
                "fastapi": ("fastapi",),
                "uvicorn": ("uvicorn",),
            }.items()
        },
        "commit": commit,
        "dirty": bool(dirty),
        "command": shlex.join([str(python), script, *argv]),
        "artifacts": f"{ARTIFACTS.relative_to(REPO)}/",
    }


def command_output(cmd: Sequence[str]) -> str:
    """A command's whole stdout, or '' when it cannot run."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
