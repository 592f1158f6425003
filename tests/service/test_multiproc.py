"""The metrics directory forecast-serve manages for several workers: fresh at start, dead workers swept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.core import multiproc


def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """No variable for this test, and whatever it sets removed after it (delenv alone records nothing
    when the variable is absent, so prepare_dir's setting would leak into later tests)."""
    monkeypatch.setenv(multiproc.ENV, "placeholder")
    monkeypatch.delenv(multiproc.ENV)


def test_one_worker_without_the_variable_keeps_the_plain_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    unset(monkeypatch)
    assert multiproc.prepare_dir(1) is None
    assert multiproc.ENV not in os.environ


def test_several_workers_get_a_fresh_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    unset(monkeypatch)
    made = multiproc.prepare_dir(2)
    assert made is not None
    assert made.is_dir()
    assert os.environ[multiproc.ENV] == str(made)
    assert list(made.iterdir()) == []


def test_an_operators_directory_is_emptied_of_a_previous_runs_values(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "keep.txt").write_text("not ours")
    monkeypatch.setenv(multiproc.ENV, str(tmp_path))
    assert multiproc.prepare_dir(2) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_a_dead_workers_live_gauges_are_swept_and_its_counters_kept(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(finished.stdout)  # a process that has exited: its pid names nobody (or someone new, rarely)
    alive = os.getpid()
    for name in (
        f"gauge_livesum_{dead}.db",
        f"gauge_livemax_{dead}.db",
        f"counter_{dead}.db",
        f"gauge_livesum_{alive}.db",
    ):
        (tmp_path / name).write_bytes(b"")
    multiproc.sweep_dead(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"counter_{dead}.db", f"gauge_livesum_{alive}.db"])
