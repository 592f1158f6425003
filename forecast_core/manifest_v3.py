"""Format 3 of ``manifest.json``: any feature set, named in a ``features`` block.

Formats 1 (one scaled price column, ``manifest.py``) and 2 (OHLC bars, ``manifest_v2.py``) describe
the two feature sets that came first, each with its own fields; format 3 describes a set of any
feature set that is registered (:func:`forecast_core.features.register`) by its name, its columns,
its parameters and its files (checksummed like every other file). The card facts a format 1 or 2
manifest derives from its own fields are stated here directly.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from forecast_core.checksums import verified_path
from forecast_core.errors import ArtifactError
from forecast_core.features import FeatureSet, feature_set_class
from forecast_core.manifest import (
    ENSEMBLE,
    MANIFEST_FILE,
    FileRef,
    NetworkEntry,
    SetFile,
    StrictModel,
)

FORMAT_VERSION_3: Literal[3] = 3
JsonScalar = str | int | float | bool | None


class Features(StrictModel):
    """Which feature set the networks were trained on, and what rebuilds it."""

    name: str = Field(description="the registered feature set's name")
    columns: list[str] = Field(min_length=1)
    parameters: dict[str, JsonScalar | list[JsonScalar]] = Field(default_factory=dict)
    files: dict[str, FileRef] = Field(default_factory=dict)


class NetworkEntryV3(NetworkEntry):
    test_metrics: dict[str, float] | None = None


class EnsembleEntryV3(StrictModel):
    members: list[str]
    test_metrics: dict[str, float] | None = None


class ManifestV3(SetFile, StrictModel):
    format_version: Literal[3]
    kind: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the set's kind, shown on its model cards")
    name: str | None = Field(
        default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="prefix of the served names (none: bare)"
    )
    created_at: datetime
    git_commit: str | None
    command: str
    window: int = Field(ge=2, le=10_000)
    features: Features
    target_column: str
    training_dates: tuple[date, date]
    models: dict[str, NetworkEntryV3]
    ensemble: EnsembleEntryV3 | None = None
    intervals: FileRef | None = None
    extra: dict[str, Any] = Field(default_factory=dict, description="more facts for the model cards")
    extra_files: list[FileRef] = Field(default_factory=list)

    # What the one loader and card builder read of every manifest (manifest.py has the same).
    def served_name(self, key: str) -> str:
        return f"{self.name}-{key}" if self.name else key

    def features_of(self, directory: Path) -> FeatureSet:
        spec = self.features
        try:
            cls = feature_set_class(spec.name)
        except ValueError as exc:
            raise ArtifactError(f"{MANIFEST_FILE}: {exc}") from None
        files = {role: verified_path(directory, ref) for role, ref in spec.files.items()}
        try:
            return cls.from_manifest(tuple(spec.columns), spec.parameters, files)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{MANIFEST_FILE}: features {spec.name!r}: {exc}") from None

    def network_description(self, entry: NetworkEntry) -> str:
        columns = ", ".join(self.features.columns)
        kind, window, features = entry.kind.upper(), self.window, self.features.name
        return f"{kind} on {window}-step windows of {columns} ({features}), recipe {entry.recipe}"

    def card_facts(self) -> dict[str, Any]:
        return {"target_column": self.target_column, "training_dates": self.training_dates, "extra": dict(self.extra)}

    def test_facts(self, key: str) -> dict[str, Any]:
        entry = self.ensemble if key == ENSEMBLE else self.models.get(key)
        return {"test_metrics": entry.test_metrics if entry is not None else None}
