"""The shared server helper on stand-in servers (the stdlib's http.server, a process that ignores SIGTERM).

No models and no forecast-serve: each test starts a plain Python process, so they take well under a
second and check the helper itself (readiness, output on failure, the SIGTERM-then-SIGKILL stop, RSS).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmarks import config
from benchmarks.server import ServerError, ServerProcess, clean_env, free_port, http_status, serve_argv


def stdlib_server(tmp_path: Path, label: str = "server") -> ServerProcess:
    """Python's http.server on a free port: a 200 for any file in ``tmp_path``, 404 for anything else."""
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    return ServerProcess(argv, port=port, log=tmp_path / "server.log", label=label)


def test_start_wait_measure_stop(tmp_path: Path) -> None:
    (tmp_path / "healthz").write_text("ok", encoding="utf-8")
    with stdlib_server(tmp_path) as server:
        times = server.wait_ready("/healthz", timeout=30)
        assert 0 < times["listening_s"] <= times["ready_s"]
        assert http_status(server.port, "/healthz") == 200
        assert server.url == f"http://127.0.0.1:{server.port}"
        memory = server.memory()
        assert memory["workers"] == 1
        assert memory["max_worker_rss_kb"] > 1000
        assert memory["processes"][0]["pid"] == server.pid
    # http.server keeps Python's default SIGTERM handling: killed by the signal, not by SIGKILL.
    assert server.stop() == -signal.SIGTERM
    assert http_status(server.port, "/healthz", timeout=0.5) is None


def test_early_exit_raises_with_the_output(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-c", "import sys; print('bad settings: FORECAST_NOPE'); sys.exit(3)"]
    server = ServerProcess(argv, port=port, log=tmp_path / "server.log", label="broken").start()
    with pytest.raises(ServerError, match=r"broken exited with 3:\nbad settings: FORECAST_NOPE"):
        server.wait_ready(timeout=30)


def test_not_ready_in_time_stops_the_server(tmp_path: Path) -> None:
    server = stdlib_server(tmp_path, label="slow").start()
    with pytest.raises(ServerError, match=r"slow was not ready within 1 s \(last: 404"):
        server.wait_ready("/readyz", timeout=1.0)
    assert server.process is not None
    assert server.process.poll() is not None


def test_sigkill_when_sigterm_is_ignored(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM", flush=True)
        time.sleep(60)
        """
    )
    server = ServerProcess([sys.executable, "-c", code], port=free_port(), log=tmp_path / "server.log").start()
    deadline = time.monotonic() + 60
    while "ignoring" not in server.output():  # the handler must be in place before the signal
        assert time.monotonic() < deadline, f"the child never set its handler: {server.output()!r}"
        time.sleep(0.02)
    assert server.stop(timeout=0.5) == -signal.SIGKILL
    assert server.stop() == -signal.SIGKILL  # a second stop is harmless


def test_clean_env_and_argv(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORECAST_BACKEND", "keras")
    monkeypatch.setenv("WEB_CONCURRENCY", "4")
    env = clean_env(FORECAST_LOG_LEVEL="warning")
    assert "FORECAST_BACKEND" not in env
    assert "WEB_CONCURRENCY" not in env
    assert env["FORECAST_LOG_LEVEL"] == "warning"
    argv = serve_argv(8123, workers=2)
    assert argv[-6:] == ["--host", "127.0.0.1", "--port", "8123", "--workers", "2"]
    assert "--workers" not in serve_argv(8123, workers=None)


def test_helper_imports_nothing_heavy() -> None:
    code = (
        "import sys, benchmarks.server, benchmarks.run; print(sorted({'numpy', 'service', 'httpx'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=config.REPO)
    assert out.stdout.strip() == "[]"


def test_artifacts_path_before_and_after_the_move(tmp_path: Path) -> None:
    (tmp_path / "artifacts").mkdir()
    assert config.artifacts_dir(tmp_path) == tmp_path / "artifacts"
    (tmp_path / "artifacts" / "ibm-high").mkdir()
    assert config.artifacts_dir(tmp_path) == tmp_path / "artifacts" / "ibm-high"


def test_run_py_runs_as_a_script(tmp_path: Path) -> None:
    """``python benchmarks/run.py`` (not -m): the package imports resolve from the repository root."""
    out = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--help"], capture_output=True, text=True, check=True, cwd=config.REPO
    )
    assert "--from-json" in out.stdout
    assert "--section" not in out.stdout  # the child sections stay hidden
