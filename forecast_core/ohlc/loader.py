"""Load an OHLC model set: manifest -> checksums -> interval table -> one predictor per model.

A model file that fails (missing, checksum mismatch, unreadable) goes into ``errors`` and takes
down only itself and the ensemble; manifest problems raise :class:`ArtifactError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from forecast_core.backends import Backend, BackendKind, open_backend
from forecast_core.manifest import ENSEMBLE, ArtifactError, FileRef
from forecast_core.ohlc.bars import COLUMNS
from forecast_core.ohlc.intervals import OhlcIntervalTable
from forecast_core.ohlc.manifest import OhlcManifest, read_ohlc_manifest
from forecast_core.ohlc.predictor import OhlcPredictor

ENSEMBLE_DESCRIPTION = "mean of the lstm and gru outputs (log ratios) at every step, decoded once"


@dataclass
class LoadedOhlcSet:
    manifest: OhlcManifest
    predictors: dict[str, OhlcPredictor] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    intervals: OhlcIntervalTable | None = None


def _verified(directory: Path, ref: FileRef) -> Path:
    # Imported here: forecast_core.loader is being reworked and may come to import this package.
    from forecast_core.loader import verified_path

    return verified_path(directory, ref)


def _open(directory: Path, manifest: OhlcManifest, name: str, kind: BackendKind, threads: int) -> Backend:
    entry = manifest.models[name]
    ref = entry.onnx if kind == "onnx" else entry.keras
    path = _verified(directory, ref)
    try:
        return open_backend(kind, path, manifest.window, threads=threads, features=len(manifest.columns))
    except Exception as exc:  # a runtime's own parse error: report the file, not a stack trace
        raise ArtifactError(f"{ref.file}: cannot be loaded by the {kind} backend ({type(exc).__name__})") from None


def load_ohlc_intervals(directory: Path, manifest: OhlcManifest) -> OhlcIntervalTable | None:
    if manifest.intervals is None:
        return None
    path = _verified(directory, manifest.intervals)
    try:
        return OhlcIntervalTable.load(path)
    except ValueError as exc:  # JSON and schema errors alike
        raise ArtifactError(f"{manifest.intervals.file}: invalid interval table ({type(exc).__name__})") from None


def load_ohlc_set(directory: Path, backend: BackendKind = "onnx", threads: int = 1) -> LoadedOhlcSet:
    """Every model of the set plus the ensemble; model failures are collected in ``errors``."""
    manifest = read_ohlc_manifest(directory)
    if tuple(manifest.columns) != COLUMNS:
        raise ArtifactError(f"manifest.json: columns {manifest.columns} are not {list(COLUMNS)}")
    loaded = LoadedOhlcSet(manifest=manifest, intervals=load_ohlc_intervals(directory, manifest))
    for name, entry in manifest.models.items():
        try:
            backend_ = _open(directory, manifest, name, backend, threads)
        except ArtifactError as exc:
            loaded.errors[name] = str(exc)
            continue
        loaded.predictors[name] = OhlcPredictor(name=name, version=entry.version, backends=(backend_,))
    if manifest.ensemble is not None:
        members = manifest.ensemble.members
        failed = [m for m in members if m not in loaded.predictors]
        if failed:
            loaded.errors[ENSEMBLE] = f"member {failed[0]} failed: {loaded.errors.get(failed[0], 'not in manifest')}"
        else:
            parts = [loaded.predictors[m] for m in members]
            loaded.predictors[ENSEMBLE] = OhlcPredictor(
                name=ENSEMBLE,
                version="+".join(p.version for p in parts),
                backends=tuple(p.backends[0] for p in parts),
                members=tuple(members),
                description=ENSEMBLE_DESCRIPTION,
            )
    return loaded
