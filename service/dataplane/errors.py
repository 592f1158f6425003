"""Domain errors of the dataplane; each protocol maps them to its own status codes and error shape.

The dataplane knows nothing about HTTP: it says *what* went wrong (no such model, not ready, which
input field broke which rule, out of time) and the /v1 and /v2 packages decide how to say it.
"""

from __future__ import annotations


class DataPlaneError(Exception):
    """Base class: ``message`` is a complete sentence a client can be shown as-is."""

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
    """The request ran past the server's time limit; raised between forecast steps."""

    def __init__(self, timeout_s: float, steps_done: int, horizon: int) -> None:
        super().__init__(
            f"the forecast took longer than the server's limit of {timeout_s:g} s "
            f"({steps_done} of {horizon} steps done); ask for a shorter horizon"
        )
