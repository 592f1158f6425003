"""Domain errors of the dataplane; each protocol maps them to its own status codes and error shape.

The dataplane knows nothing about HTTP: it says *what* went wrong (no such model, not ready, which
input field broke which rule, out of time) and the /v1 and /v2 packages decide how to say it.
"""

from __future__ import annotations


class DataPlaneError(Exception):
    """Base class: ``message`` is a complete sentence a client can be shown as-is."""

    #: Seconds a client should wait before retrying (a ``Retry-After`` header); None: no header.
    retry_after_s: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ModelNotFound(DataPlaneError):  # noqa: N818 (reads as a domain fact, like KServe's ModelNotFound)
    """No model of that name is served here; ``known`` lists those that are."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        shown = name if len(name) <= 64 else name[:61] + "..."
        super().__init__(f"unknown model {shown!r}; known models: {', '.join(known) or 'none'}")
        self.name, self.known = name, known


class VersionNotFound(DataPlaneError):  # noqa: N818
    """The model is served, but not in the version asked for."""

    def __init__(self, name: str, version: str, served: str) -> None:
        shown = version if len(version) <= 64 else version[:61] + "..."
        super().__init__(f"model {name!r} has no version {shown!r}; it serves {served!r}")


class ModelNotReady(DataPlaneError):  # noqa: N818
    """The model exists but cannot answer now (loading, or its artifacts are broken)."""

    retry_after_s = 1

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"model {name!r} is unavailable: {reason}")


class InvalidInput(DataPlaneError):  # noqa: N818
    """An input the model cannot take: ``field`` names where, ``rule`` which rule, ``hint`` what is expected."""

    def __init__(
        self, field: str, rule: str, message: str, hint: str | None = None, *, text: str | None = None
    ) -> None:
        super().__init__(text or f"{field}: {message}")
        self.field, self.rule, self.hint = field, rule, hint or message


class DeadlineExceeded(DataPlaneError):  # noqa: N818
    """The request ran past the server's time limit, counted from its arrival: raised between forecast
    steps, or before any work when it waited in the admission queue until its deadline."""

    def __init__(self, timeout_s: float, steps_done: int = 0, horizon: int = 0, *, queued: bool = False) -> None:
        if queued:
            message = (
                f"the server was too busy to start this request within its limit of {timeout_s:g} s; "
                "nothing was computed, retry later"
            )
        else:
            message = (
                f"the forecast took longer than the server's limit of {timeout_s:g} s "
                f"({steps_done} of {horizon} steps done); ask for a shorter horizon"
            )
        super().__init__(message)
        self.queued = queued


class Overloaded(DataPlaneError):  # noqa: N818
    """Every model slot is busy and the queue behind them is full: refused at once, before any work
    (503 with ``Retry-After``), so a burst costs the server almost nothing and the client can go elsewhere."""

    retry_after_s = 1

    def __init__(self, running: int, queued: int) -> None:
        super().__init__(
            f"the server is at capacity ({running} computations running, {queued} waiting); "
            f"retry after {self.retry_after_s} s"
        )


class ClientDisconnected(DataPlaneError):  # noqa: N818
    """The client went away before its answer was ready, so the work was stopped. Nobody reads the
    answer; protocols report it as 499 (nginx's "client closed request") so it shows in the metrics."""

    def __init__(self, steps_done: int | None = None) -> None:
        done = "" if steps_done is None else f" after {steps_done} steps"
        super().__init__(f"the client disconnected; the work was stopped{done}")
