"""A real ``forecast-serve`` for a test: started with its output in a file, waited for, always stopped."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.service.test_server_process import SERVE, clean_env, free_port


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process, self.base, self.log = process, base, log

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        # A connection per request: the kernel hands each to any worker, as a scraper's would be.
        with httpx.Client(base_url=self.base, timeout=10.0) as http:
            return http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.base, timeout=10.0) as http:
            return http.post(path, **kwargs)


@contextlib.contextmanager
def running_server(tmp: Path, *, workers: int = 1, **env: str) -> Iterator[Server]:
    """``forecast-serve --workers N`` with ``env`` over a clean environment, ready before it is handed out."""
    if not SERVE.is_file():
        pytest.fail(f"{SERVE.name} is not installed in the virtual environment (pip install -e .)")
    port = free_port()
    log_path = tmp / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(SERVE), "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
            env=clean_env(**env),
            cwd=tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_ready(server, workers)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_ready(server: Server, workers: int, timeout: float = 120.0) -> None:
    """Until every worker says its models are loaded (each logs it once) and /readyz answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        assert server.process.poll() is None, f"the server exited early:\n{server.output()[-4000:]}"
        if server.output().count('"logger":"service.registry"') >= workers:
            try:
                if server.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
        assert time.monotonic() < deadline, f"not ready within {timeout} s:\n{server.output()[-4000:]}"
        time.sleep(0.1)
