"""The bars set's manifest (``format_version`` 2, ``kind`` "ohlc"): schema and reading.

Like the univariate manifest it lists every file the service reads with its SHA-256. It also says
what the models learnt from: each source file with the bars that were repaired, the split, the
held-out tickers, and the test metrics per model on the held-out group, which the committed models
must reproduce. :func:`forecast_core.loader.read_set_manifest` picks this schema by ``format_version``.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from forecast_core.bars import COLUMNS, Bars
from forecast_core.manifest import (
    ENSEMBLE,
    MANIFEST_FILE,
    ArtifactError,
    FileRef,
    Metrics,
    NetworkEntry,
    SetFile,
    StrictModel,
    read_manifest_json,
    validate_manifest,
)

OHLC_FORMAT_VERSION: Literal[2] = 2
OHLC_KIND: Literal["ohlc"] = "ohlc"


class Repair(StrictModel):
    """One implausible bar and what was done to it (``rule`` names the rule that caught it)."""

    date: date
    rule: str
    action: str


class OhlcDataSource(StrictModel):
    name: str
    ticker: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rows: int = Field(ge=1)
    duplicate_dates_dropped: int = Field(ge=0)
    gaps_filled: dict[str, int]
    first_date: date
    last_date: date
    held_out: bool
    repairs: list[Repair] = Field(default_factory=list)
    open_close_outside_range: int = Field(ge=0, description="bars kept whose Open or Close lies outside [Low, High]")


class OhlcSplit(StrictModel):
    train_end: date
    test_start: date
    test_end: date
    validation_days: int = Field(ge=0)
    train_windows: int = Field(ge=1)
    validation_windows: int = Field(ge=0)
    held_out_rule: str


class GroupMetrics(StrictModel):
    """Next-day High on the 2017 test days of one group of tickers (prices in each ticker's units)."""

    group: str
    tickers: list[str]
    high: dict[str, Metrics] = Field(description="per ticker: next-day High")
    high_rmse_ratio: dict[str, float] = Field(description="per ticker: High RMSE / persistence's")
    high_rmse_ratio_median: float
    high_rmse_ratio_max: float
    recursive_ratio_median: dict[str, float] = Field(description="horizon -> median High RMSE / last High's")


class OhlcModelEntry(NetworkEntry):
    test_metrics: GroupMetrics | None = None


class OhlcEnsembleEntry(StrictModel):
    members: list[str]
    test_metrics: GroupMetrics | None = None


class OhlcManifest(SetFile, StrictModel):
    format_version: Literal[2]
    kind: Literal["ohlc"]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    created_at: datetime
    git_commit: str | None
    command: str
    window: int = Field(ge=2, le=10_000)
    columns: list[str]
    normalisation: str
    sources: list[OhlcDataSource]
    split: OhlcSplit
    held_out: list[str]
    models: dict[str, OhlcModelEntry]
    ensemble: OhlcEnsembleEntry | None = None
    intervals: FileRef | None = None
    extra_files: list[FileRef] = Field(default_factory=list)

    # What the one loader and card builder read of every manifest (manifest.py has the same).
    def served_name(self, key: str) -> str:
        """Served names carry the set's name (``ohlc-lstm``), so they never clash with another set's."""
        return f"{self.name}-{key}"

    def features_of(self, directory: Path) -> Bars:
        if tuple(self.columns) != COLUMNS:
            raise ArtifactError(f"{MANIFEST_FILE}: columns {self.columns} are not {list(COLUMNS)}")
        return Bars()

    def network_description(self, entry: NetworkEntry) -> str:
        return (
            f"global {entry.kind.upper()} on {self.window}-day OHLC windows relative to the last close, "
            f"recipe {entry.recipe}"
        )

    def card_facts(self) -> dict[str, Any]:
        trained = [s for s in self.sources if not s.held_out] or self.sources
        return {
            "target_column": "Open,High,Low,Close",
            "training_dates": (min(s.first_date for s in trained), self.split.train_end),
            "extra": {"held_out_tickers": list(self.held_out), "trained_tickers": [s.ticker for s in trained]},
        }

    def test_facts(self, key: str) -> dict[str, Any]:
        entry = self.ensemble if key == ENSEMBLE else self.models.get(key)
        group = entry.test_metrics if entry is not None else None
        if group is None:
            return {"test_metrics": None}
        out = {
            "high_rmse_ratio_median": group.high_rmse_ratio_median,
            "high_rmse_ratio_max": group.high_rmse_ratio_max,
        }
        out.update({f"recursive_h{h}_ratio_median": v for h, v in group.recursive_ratio_median.items()})
        return {"test_metrics": out}


def read_ohlc_manifest(directory: Path) -> OhlcManifest:
    """Read and validate an OHLC ``manifest.json``; raise :class:`ArtifactError` with a one-line message."""
    raw = read_manifest_json(directory)
    if not isinstance(raw, dict):
        raise ArtifactError(f"{MANIFEST_FILE}: expected a JSON object")
    if raw.get("kind") != OHLC_KIND:
        raise ArtifactError(f"{MANIFEST_FILE}: kind {raw.get('kind')!r} is not {OHLC_KIND!r}")
    if raw.get("format_version") != OHLC_FORMAT_VERSION:
        raise ArtifactError(
            f"{MANIFEST_FILE}: format_version {raw.get('format_version')!r} is not supported "
            f"(expected {OHLC_FORMAT_VERSION} for kind {OHLC_KIND!r})"
        )
    return validate_manifest(OhlcManifest, raw)
