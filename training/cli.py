"""Command-line pieces every training command shares: where a run is written, help, quiet TensorFlow."""

from __future__ import annotations

import argparse
import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

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
