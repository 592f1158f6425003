"""The artifact manifest: its schema, file names, and reading/writing.

The manifest is the single source of truth for what an artifact directory holds. Everything the
service reads is listed here with its SHA-256, so a tampered or truncated file is refused.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forecast_core.checksums import verified_path
from forecast_core.errors import ArtifactError
from forecast_core.features import ScaledColumn
from forecast_core.scaler import MinMaxScaling

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


class StrictModel(BaseModel):
    """Every manifest's strictness: unknown keys are errors, entries are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())


class FileRef(StrictModel):
    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="file name inside the artifact directory")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class DataSource(StrictModel):
    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rows: int = Field(ge=1)
    duplicate_dates_dropped: int = Field(ge=0)
    gaps_filled: int = Field(ge=0)
    first_date: date
    last_date: date


class Split(StrictModel):
    train_end: date
    test_start: date
    validation_days: int = Field(ge=0)
    train_rows: int = Field(ge=1)
    test_rows: int = Field(ge=0)


class ValueRange(StrictModel):
    start_date: date
    end_date: date
    min: float
    max: float


class Metrics(StrictModel):
    rmse: float
    mae: float
    mape: float
    mase: float


class NetworkEntry(StrictModel):
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


class EnsembleEntry(StrictModel):
    members: list[str]
    test_metrics: Metrics | None = None
    sequence_rmse: float | None = None


class SetFile:
    """What every manifest format does with its ``models``: look one up, and save the manifest."""

    if TYPE_CHECKING:
        models: Mapping[str, Any]

    def model(self, name: str) -> Any:
        """The entry for ``name``, or :class:`ArtifactError` listing the ones the manifest has."""
        return model_entry(dict(self.models), name)

    def save(self, directory: Path) -> Path:
        return save_manifest(cast(BaseModel, self), directory)


class Manifest(SetFile, StrictModel):
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

    # What the one loader and card builder read of every manifest (manifest_v2.py has the same).
    def served_name(self, key: str) -> str:
        return key

    def features_of(self, directory: Path) -> ScaledColumn:
        """The feature set: ``target_column`` MinMax-scaled by ``scaler.json`` (checksum verified)."""
        rng = self.training_range
        return ScaledColumn(self.target_column, load_scaler(directory, self), (rng.min, rng.max))

    def network_description(self, entry: NetworkEntry) -> str:
        return f"stacked {entry.kind.upper()}, recipe {entry.recipe}"

    def card_facts(self) -> dict[str, Any]:
        rng = self.training_range
        return {
            "target_column": self.target_column,
            "training_dates": (rng.start_date, rng.end_date),
            "training_values": (rng.min, rng.max),
        }

    def test_facts(self, key: str) -> dict[str, Any]:
        """The test metrics a model card shows for ``key`` (a network or the ensemble)."""
        entry: ModelEntry | EnsembleEntry | None = self.ensemble if key == ENSEMBLE else self.models.get(key)
        if entry is None:
            return {}
        return {
            "test_metrics": entry.test_metrics.model_dump() if entry.test_metrics else None,
            "sequence_rmse": entry.sequence_rmse,
        }


def load_scaler(directory: Path, manifest: Manifest) -> MinMaxScaling:
    path = verified_path(directory, manifest.scaler)
    try:
        scaler = MinMaxScaling.load(path)
    except ValidationError as exc:  # one line, like read_manifest: the first problem, no doc links
        where, problem = first_error(exc, whole="parameters")
        raise ArtifactError(f"{manifest.scaler.file}: invalid scaler parameters ({where}): {problem}") from None
    except ValueError as exc:  # not JSON at all
        raise ArtifactError(f"{manifest.scaler.file}: invalid, not JSON ({type(exc).__name__})") from None
    rng = manifest.training_range
    if abs(scaler.data_min - rng.min) > 1e-9 * max(1.0, abs(rng.min)) or abs(scaler.data_max - rng.max) > 1e-9 * max(
        1.0, abs(rng.max)
    ):
        raise ArtifactError(
            f"{manifest.scaler.file}: range [{scaler.data_min}, {scaler.data_max}] does not match the manifest's "
            f"training range [{rng.min}, {rng.max}]"
        )
    return scaler


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
