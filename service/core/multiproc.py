"""Metrics that stay right with several workers: prometheus_client's multiprocess mode.

With ``forecast-serve --workers N`` (N > 1) each worker is a process of its own, and a scrape reaches
whichever worker accepts the connection: each keeps its own counters, so a scraper would see a counter
jump between workers' values (read as resets). In multiprocess mode every worker writes its values to
memory-mapped files in ``PROMETHEUS_MULTIPROC_DIR``, and a scrape, answered by any worker, reads all of
them: counters and histograms are summed over workers (those of exited workers included, so they never
go down), and each gauge is aggregated as its ``multiprocess_mode`` says (service/core/metrics.py).

``forecast-serve`` manages the directory: :func:`prepare_dir` at start (a fresh temporary directory, or
the operator's, emptied of a previous run's files), :func:`mark_exited` in each worker as it exits, and
:func:`sweep_dead` at every scrape for workers that died without a word (SIGKILL, out of memory). The
variable must be set before a worker imports prometheus_client, which picks its value class at import:
the supervisor sets it in its environment before it spawns the workers.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

ENV = "PROMETHEUS_MULTIPROC_DIR"
# A live gauge's file names its process: gauge_livesum_1234.db (prometheus_client/values.py).
_LIVE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def directory() -> Path | None:
    """The multiprocess directory this process writes to, or None in single-process mode."""
    value = os.environ.get(ENV)
    return Path(value) if value else None


def prepare_dir(workers: int) -> Path | None:
    """Before the workers start: with several, a clean directory in ``PROMETHEUS_MULTIPROC_DIR`` (the
    operator's, emptied of ``*.db`` files, else a fresh temporary one removed at exit); with one, nothing
    changes unless the operator set the variable (then it is emptied too). Returns the directory."""
    given = directory()
    if given is None and workers <= 1:
        return None  # one worker: the plain registry, exposition exactly as before
    if given is None:
        made = Path(tempfile.mkdtemp(prefix="forecast-metrics-"))
        os.environ[ENV] = str(made)
        atexit.register(shutil.rmtree, made, ignore_errors=True)
        return made
    # A previous run's counters would be summed into this one's: a restarted server starts from zero.
    given.mkdir(parents=True, exist_ok=True)
    for stale in given.glob("*.db"):
        stale.unlink(missing_ok=True)
    return given


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, someone else's
        return True
    return True


def sweep_dead(path: Path) -> None:
    """Drop the live gauges of processes that no longer exist (their counters stay: they are history)."""
    from prometheus_client.multiprocess import mark_process_dead  # here: the supervisor never needs it

    pids = {int(m.group(1)) for f in os.listdir(path) if (m := _LIVE_FILE.match(f))}
    for pid in pids:
        if pid != os.getpid() and not _alive(pid):
            mark_process_dead(pid, str(path))


def mark_exited() -> None:
    """Register the exiting worker's clean-up: its in-flight and queue gauges stop counting once it is gone."""
    path = directory()
    if path is not None:
        from prometheus_client.multiprocess import mark_process_dead

        pid = os.getpid()
        atexit.register(lambda: mark_process_dead(pid, str(path)))


def scrape_registry(path: Path) -> CollectorRegistry:
    """A registry that reads every worker's files (built per scrape, as prometheus_client advises)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    sweep_dead(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    return registry
