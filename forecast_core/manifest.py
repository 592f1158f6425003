"""The artifact manifest: its schema, file names, and reading/writing.

The manifest is the single source of truth for what an artifact directory holds. Everything the
service reads is listed here with its SHA-256, so a tampered or truncated file is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

FORMAT_VERSION: Literal[1] = 1
MANIFEST_FILE = "manifest.json"
SCALER_FILE = "scaler.json"
EVALUATION_FILE = "evaluation.json"
# The networks a model set trains and the name of their mean: every other module reads them here.
NETWORKS: tuple[str, ...] = ("lstm", "gru")
ENSEMBLE = "ensemble"


def served_keys(networks: Iterable[str]) -> list[str]:
    """A set's model keys: its networks, then the ensemble (their mean) when there are two or more."""
    keys = list(networks)
    return [*keys, *([ENSEMBLE] if len(keys) >= 2 else [])]


M = TypeVar("M", bound=BaseModel)


class ArtifactError(Exception):
    """An artifact directory that cannot be served; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class FileRef(_Strict):
    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="file name inside the artifact directory")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DataSource(_Strict):
    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rows: int = Field(ge=1)
    duplicate_dates_dropped: int = Field(ge=0)
    gaps_filled: int = Field(ge=0)
    first_date: date
    last_date: date


class Split(_Strict):
    train_end: date
    test_start: date
    validation_days: int = Field(ge=0)
    train_rows: int = Field(ge=1)
    test_rows: int = Field(ge=0)


class ValueRange(_Strict):
    start_date: date
    end_date: date
    min: float
    max: float


class Metrics(_Strict):
    rmse: float
    mae: float
    mape: float
    mase: float


class NetworkEntry(_Strict):
    """What every manifest says of one trained network, whatever its inputs: the model sets add their
    own test metrics."""

    name: str
    kind: Literal["lstm", "gru"]
    version: str
    recipe: str
    keras: FileRef
    onnx: FileRef
    parameters: int = Field(ge=1)
    hyperparameters: dict[str, str | int | float | bool | list[int] | None]
    onnx_max_rel_error: float = Field(ge=0)


class ModelEntry(NetworkEntry):
    test_metrics: Metrics | None = None
    sequence_rmse: float | None = None


class EnsembleEntry(_Strict):
    members: list[str]
    test_metrics: Metrics | None = None
    sequence_rmse: float | None = None


class Manifest(_Strict):
    format_version: Literal[1]
    created_at: datetime
    git_commit: str | None
    command: str
    data: DataSource
    target_column: str
    window: int = Field(ge=2, le=10_000)
    split: Split
    training_range: ValueRange
    scaler: FileRef
    models: dict[str, ModelEntry]
    ensemble: EnsembleEntry | None = None
    intervals: FileRef | None = None
    extra_files: list[FileRef] = Field(default_factory=list)

    def model(self, name: str) -> ModelEntry:
        return model_entry(self.models, name)

    def save(self, directory: Path) -> Path:
        return save_manifest(self, directory)


E = TypeVar("E")


def model_entry(models: dict[str, E], name: str) -> E:
    """A manifest's entry for ``name``, or :class:`ArtifactError` listing the ones it has."""
    try:
        return models[name]
    except KeyError:
        raise ArtifactError(f"{MANIFEST_FILE}: no model named {name!r} (has {sorted(models)})") from None


def save_manifest(manifest: BaseModel, directory: Path) -> Path:
    path = directory / MANIFEST_FILE
    path.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


def first_error(exc: ValidationError, whole: str = "") -> tuple[str, str]:
    """Where and what the first validation problem is, for a one-line message without doc links."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]) or whole, first["msg"]


def read_manifest_json(directory: Path) -> Any:
    """The parsed ``manifest.json`` of a set directory, any kind; :class:`ArtifactError` when it cannot be read."""
    path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise ArtifactError(f"artifacts directory {directory.name!r} does not exist")
    if not path.is_file():
        raise ArtifactError(f"{MANIFEST_FILE} is missing")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{MANIFEST_FILE} is not valid JSON: {exc}") from None


def validate_manifest(schema: type[M], raw: Any) -> M:
    """``raw`` as ``schema``, or :class:`ArtifactError` with the first problem on one line."""
    try:
        return schema.model_validate(raw)
    except ValidationError as exc:
        where, problem = first_error(exc)
        raise ArtifactError(f"{MANIFEST_FILE}: invalid at {where}: {problem}") from None


def read_manifest(directory: Path) -> Manifest:
    """Read and validate ``manifest.json``; raise :class:`ArtifactError` naming the problem."""
    raw = read_manifest_json(directory)
    if isinstance(raw, dict) and raw.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{MANIFEST_FILE}: format_version {raw.get('format_version')!r} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    return validate_manifest(Manifest, raw)
