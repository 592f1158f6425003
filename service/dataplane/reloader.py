"""Reading the model repository again: on a timer (``FORECAST_POLL_S``), on SIGHUP, or when asked.

One thread per process does the reading (:meth:`ModelRegistry.refresh`: loading and verifying new
versions takes seconds, and must neither block the event loop nor run twice at once). A request to
reload while one runs is remembered, not lost: the thread reads again as soon as it is done. With
several workers each reads the repository itself, so all of them converge on the same versions.
"""

from __future__ import annotations

import logging
import threading

from service.dataplane.registry import ModelRegistry

log = logging.getLogger("service.registry")


class Reloader:
    def __init__(self, registry: ModelRegistry, poll_s: float) -> None:
        self.registry, self.poll_s = registry, poll_s
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name="repository", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def request(self) -> None:
        """Read the repository again soon (safe to call from a signal handler: it only sets an event)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(self.poll_s if self.poll_s > 0 else None)
            if self._stop.is_set():
                return
            self._wake.clear()
            try:
                self.registry.refresh()
            except Exception:  # the thread must outlive any one bad read; refresh reports what it can
                log.exception("reading the model repository again failed")
