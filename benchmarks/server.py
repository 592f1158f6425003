"""One HTTP server under test as a subprocess: free port, start, wait until ready, memory, stop.

The benchmark harness, ``benchmarks/soak.py``, ``benchmarks/ab.py`` and the tests that need a real
``forecast-serve`` all start it through :class:`ServerProcess`. It imports only the standard library
(no numpy, no ``service``), so a test pays nothing to use it, and it never imports the server's code:
the command line decides what runs, which is how ``ab.py`` serves an older checkout.

Stopping is SIGTERM first (uvicorn's graceful shutdown, which lets requests in flight finish), then
SIGKILL to the whole process group when that does not come in time. The server runs in its own
session, so that group is exactly the server and its workers, and a Ctrl-C meant for the caller does
not reach the server before the caller has stopped it.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # loopback only: nothing the tests or benchmarks start is reachable from outside


class ServerError(RuntimeError):
    """The server exited, or never answered ready; the message ends with the tail of its output."""


def free_port(host: str = HOST) -> int:
    """A TCP port nobody listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 2.0, host: str = HOST) -> tuple[int, str] | None:
    """Status and body of one GET, or None when nothing answers (not listening yet, reset, timeout)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    except OSError:  # http.client's errors on a half-started server are all OSError subclasses
        return None
    finally:
        conn.close()


def http_status(port: int, path: str, timeout: float = 2.0) -> int | None:
    """The status of one GET, or None when nothing answers."""
    answer = http_get(port, path, timeout)
    return answer[0] if answer else None


def clean_env(**extra: str) -> dict[str, str]:
    """This process' environment without anyone's FORECAST_* settings or WEB_CONCURRENCY, plus ``extra``.

    A developer's shell may carry FORECAST_BACKEND=keras or an API key; a measurement or a test must
    not inherit them by accident.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORECAST_") and k != "WEB_CONCURRENCY"}
    env.update({"TF_CPP_MIN_LOG_LEVEL": "3", **extra})
    return env


def serve_argv(port: int, *, workers: int | None = 1, python: str = sys.executable, host: str = HOST) -> list[str]:
    """``forecast-serve`` beside ``python`` (its virtual environment's console script), else ``python -m``.

    ``workers=None`` leaves the flag out, so the server reads WEB_CONCURRENCY (what soak.py relies on).
    """
    exe = Path(python).parent / "forecast-serve"
    argv = [str(exe)] if exe.exists() else [python, "-m", "service.cli"]
    argv += ["--host", host, "--port", str(port)]
    return argv if workers is None else [*argv, "--workers", str(workers)]


def parse_status_kb(status_text: str, key: str = "VmRSS") -> int | None:
    """A ``kB`` field of /proc/<pid>/status (or smaps_rollup), or None when absent."""
    m = re.search(rf"^{re.escape(key)}:\s*(\d+)\s*kB", status_text, re.M)
    return int(m.group(1)) if m else None


def read_text(path: str | Path) -> str:
    """A /proc file's text, or '' when the process (or the file) is gone."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, grandchildren, ...), read from /proc."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := read_text(f"/proc/{entry}/stat")):
            # The command name in field 2 may hold spaces and parentheses: split after its last ')'.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def rss_kib(pid: int) -> int:
    """Resident set size of one process in KiB (VmRSS)."""
    kb = parse_status_kb(read_text(f"/proc/{pid}/status"))
    if kb is None:
        raise RuntimeError(f"no VmRSS for pid {pid}")
    return kb


class ServerProcess:
    """A server started from ``argv`` with its output in ``log``; ``port`` is the one ``argv`` listens on."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        port: int,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        workers: int = 1,
        label: str = "server",
    ) -> None:
        self.argv, self.port, self.log = list(argv), port, log
        self.env = dict(clean_env() if env is None else env)
        self.cwd, self.workers, self.label = cwd, workers, label
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, "not started"
        return self.process.pid

    def start(self) -> ServerProcess:
        with self.log.open("wb") as out:
            self.started_at = time.perf_counter()
            self.process = subprocess.Popen(
                self.argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def output(self, tail: int = 4000) -> str:
        """The last ``tail`` characters the server wrote (stdout and stderr)."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-tail:]
        except OSError:
            return ""

    def wait_ready(self, path: str = "/readyz", timeout: float = 180.0, poll: float = 0.05) -> dict[str, float]:
        """Poll ``path`` until it answers 200; seconds from start to the first answer and to that 200.

        Raises :class:`ServerError` (after stopping the server) when it exits or ``timeout`` passes.
        """
        assert self.process is not None, "not started"
        listening: float | None = None
        last = "no answer"
        deadline = self.started_at + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                self.stop()  # its workers may outlive it
                raise ServerError(f"{self.label} exited with {self.process.returncode}:\n{self.output()}")
            answer = http_get(self.port, path, timeout=5.0)
            now = time.perf_counter() - self.started_at
            if answer is not None:
                listening = now if listening is None else listening
                last = f"{answer[0]} {answer[1][:300]}"
                if answer[0] == 200:
                    return {"listening_s": listening, "ready_s": now}
            time.sleep(poll)
        self.stop()
        raise ServerError(f"{self.label} was not ready within {timeout:g} s (last: {last}):\n{self.output()}")

    def memory(self) -> dict[str, Any]:
        """VmRSS (and PSS) of every process of the server, with the uvicorn supervisor told apart."""
        procs: list[dict[str, Any]] = []
        for pid in [self.pid, *descendants(self.pid)]:
            cmdline = read_text(f"/proc/{pid}/cmdline").replace("\0", " ")
            if pid == self.pid:
                role = "worker" if self.workers == 1 else "supervisor"
            else:  # multiprocessing's resource tracker sits beside uvicorn's workers
                role = "helper" if "resource_tracker" in cmdline else "worker"
            procs.append(
                {
                    "pid": pid,
                    "role": role,
                    "rss_kb": parse_status_kb(read_text(f"/proc/{pid}/status"), "VmRSS"),
                    "pss_kb": parse_status_kb(read_text(f"/proc/{pid}/smaps_rollup"), "Pss"),
                }
            )
        workers = [p for p in procs if p["role"] == "worker" and p["rss_kb"] is not None]
        return {
            "processes": procs,
            "workers": len(workers),
            "workers_rss_kb": sum(p["rss_kb"] for p in workers),
            "max_worker_rss_kb": max((p["rss_kb"] for p in workers), default=None),
            "workers_pss_kb": sum(p["pss_kb"] or 0 for p in workers),
            "total_rss_kb": sum(p["rss_kb"] or 0 for p in procs),
        }

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM, then SIGKILL to the group after ``timeout`` s; returns the exit status. Safe to repeat."""
        if self.process is None:
            return 0
        family = descendants(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # the session start() created for it
                self.process.wait(timeout=10)
        for pid in family:  # workers that outlived their supervisor
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return int(self.process.returncode)

    def __enter__(self) -> ServerProcess:
        return self if self.process is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    workers: int | None = 1,
    ready_path: str = "/readyz",
    timeout: float = 180.0,
    poll: float = 0.05,
    cwd: Path | None = None,
    python: str = sys.executable,
    label: str = "forecast-serve",
) -> ServerProcess:
    """``forecast-serve`` on a free loopback port, started and ready (or stopped, and ServerError raised)."""
    port = free_port()
    server = ServerProcess(
        serve_argv(port, workers=workers, python=python),
        port=port,
        log=log,
        env=env,
        cwd=cwd,
        workers=workers or 1,
        label=label,
    )
    server.start()
    server.wait_ready(ready_path, timeout=timeout, poll=poll)
    return server
