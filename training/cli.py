"""Command-line pieces every training command shares: where a run is written, help, quiet TensorFlow."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training.data import DataError

RUNS_DIR = Path("runs")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` for options that have a default, and nothing for those that do not."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action) or ""


def new_run_dir(stem: str, now: datetime | None = None) -> Path:
    """``runs/<UTC time>-<stem>``, made unique with a counter if that name is taken."""
    base = RUNS_DIR / f"{(now or datetime.now(UTC)):%Y%m%dT%H%M%SZ}-{stem}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def check_out(out: Path, force: bool, allow: bool = False) -> str | None:
    """Why ``out`` may not be written (a file, or a non-empty directory without --force), else None."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a directory"
    if out.is_dir() and any(out.iterdir()) and not (force or allow):
        entries = sorted(p.name for p in out.iterdir())
        shown = ", ".join(entries[:4]) + (", ..." if len(entries) > 4 else "")
        count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
        return (
            f"--out {out} is not empty ({count}: {shown}); pass --force to overwrite it, "
            "choose another --out, or leave --out out to write a new runs/ directory"
        )
    return None


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ log lines (unless the user chose a level), before it is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run_training(
    args: argparse.Namespace,
    prepare: Callable[[argparse.Namespace], Any],
    run: Callable[[argparse.Namespace, Any], Path],
    stem: str,
    *,
    allow_existing: bool = False,
) -> int:
    """The steps both trainers share: check --out, check the data (before TensorFlow is imported),
    pick a new runs/ directory when --out is absent, train; exit status 2 for refused input."""
    log = logging.getLogger("forecast-train")
    if args.out is not None:
        problem = check_out(args.out, args.force, allow=allow_existing)
        if problem:
            print(f"forecast-train: error: {problem}", file=sys.stderr)
            return 2
    try:
        prepared = prepare(args)
        if args.out is None:
            args.out = new_run_dir(stem)
            log.info("no --out given: writing to a new directory, %s", args.out)
        out = run(args, prepared)
    except DataError as exc:
        log.error("%s", exc)
        return 2
    log.info("artifacts written to %s", out)
    return 0
