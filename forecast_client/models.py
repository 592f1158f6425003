"""The client's result types: frozen dataclasses built from the service's /v1 JSON answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

__all__ = ["BatchLike", "Forecast", "Interval", "ModelInfo", "Prediction", "Status", "WindowLike"]


class _ArrayLike(Protocol):
    def tolist(self) -> Any: ...


WindowLike: TypeAlias = Sequence[float] | _ArrayLike
BatchLike: TypeAlias = Sequence[Sequence[float]] | _ArrayLike


@dataclass(frozen=True)
class Interval:
    """A central prediction interval: ``level`` percent nominal coverage, bounds per window or per step."""

    level: int
    lower: list[float]
    upper: list[float]


def intervals_from_json(data: Any) -> list[Interval] | None:
    """The ``intervals`` field of a prediction or forecast (None when absent, null or empty)."""
    if not data:
        return None
    return [Interval(int(i["level"]), list(i["lower"]), list(i["upper"])) for i in data]


@dataclass(frozen=True)
class Prediction:
    """The next value after each window, in price units; ``intervals`` only when asked for."""

    model: str
    version: str
    predictions: list[float]
    warnings: list[str] = field(default_factory=list)
    intervals: list[Interval] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Prediction:
        return cls(
            model=data["model"],
            version=data["version"],
            predictions=list(data["predictions"]),
            warnings=list(data.get("warnings") or []),
            intervals=intervals_from_json(data.get("intervals")),
        )


@dataclass(frozen=True)
class Forecast:
    """A recursive multi-step forecast, in price units; ``intervals`` (bounds per step) only when asked for."""

    model: str
    version: str
    horizon: int
    forecast: list[float]
    warnings: list[str] = field(default_factory=list)
    intervals: list[Interval] | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Forecast:
        return cls(
            model=data["model"],
            version=data["version"],
            horizon=int(data.get("horizon", len(data["forecast"]))),
            forecast=list(data["forecast"]),
            warnings=list(data.get("warnings") or []),
            intervals=intervals_from_json(data.get("intervals")),
        )


@dataclass(frozen=True)
class ModelInfo:
    """One served model's metadata (``GET /v1/models/{name}``); ``raw`` keeps every field the server sent."""

    name: str
    version: str
    description: str
    backend: str
    window: int
    ready: bool
    trained_at: str
    target_column: str
    parameters: int
    members: list[str] = field(default_factory=list)
    recipe: str | None = None
    test_metrics: dict[str, float] | None = None
    sequence_rmse: float | None = None
    error: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            name=str(data["name"]),
            version=str(data.get("version", "")),
            description=str(data.get("description", "")),
            backend=str(data.get("backend", "")),
            window=int(data["window"]),
            ready=bool(data.get("ready", False)),
            trained_at=str(data.get("trained_at", "")),
            target_column=str(data.get("target_column", "")),
            parameters=int(data.get("parameters", 0)),
            members=list(data.get("members") or []),
            recipe=data.get("recipe"),
            test_metrics=data.get("test_metrics"),
            sequence_rmse=data.get("sequence_rmse"),
            error=data.get("error"),
            raw=data,
        )


@dataclass(frozen=True)
class Status:
    """A probe's answer: ``/healthz`` (``alive``) or ``/readyz`` (``ready``, ``loading`` or ``failed``)."""

    status: str
    reason: str | None = None
    models: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Status:
        return cls(str(data.get("status", "unknown")), data.get("reason"), dict(data.get("models") or {}))


def as_values(data: Any) -> Any:
    """Plain lists of Python numbers for JSON (numpy arrays and scalars included); the server validates them."""
    if hasattr(data, "tolist"):
        return data.tolist()
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        return data
    return [as_values(v) for v in data]
