"""The one artifact loader shared by training, tests and the service.

Order: manifest (schema-validated) -> checksums -> scaler -> models. Nothing is unpickled; Keras
files are opened in safe mode. Each model fails on its own, so one broken file does not take the
others down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from forecast_core.backends import Backend, BackendKind, open_backend
from forecast_core.checksums import sha256_file
from forecast_core.intervals import IntervalTable
from forecast_core.manifest import (
    ENSEMBLE,
    NETWORKS,
    ArtifactError,
    FileRef,
    Manifest,
    ModelEntry,
    first_error,
    read_manifest,
)
from forecast_core.predictor import Predictor
from forecast_core.scaler import MinMaxScaling

ENSEMBLE_DESCRIPTION = "mean of the lstm and gru predictions at every step"


def verified_path(directory: Path, ref: FileRef) -> Path:
    """Return the file's path after checking it exists and matches its recorded SHA-256."""
    path = directory / ref.file
    if not path.is_file():
        raise ArtifactError(f"{ref.file} is missing")
    actual = sha256_file(path)
    if actual != ref.sha256:
        raise ArtifactError(f"{ref.file}: checksum mismatch (manifest {ref.sha256[:12]}…, file {actual[:12]}…)")
    return path


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


def load_backend(
    directory: Path, manifest: Manifest, entry: ModelEntry, kind: BackendKind, threads: int = 1
) -> Backend:
    ref = entry.onnx if kind == "onnx" else entry.keras
    path = verified_path(directory, ref)
    try:
        return open_backend(kind, path, manifest.window, threads=threads)
    except ArtifactError:
        raise
    except Exception as exc:  # a runtime's own parse error: report the file, not a stack trace
        raise ArtifactError(f"{ref.file}: cannot be loaded by the {kind} backend ({type(exc).__name__})") from None


@dataclass
class LoadedArtifacts:
    """What an artifact directory yields: the predictors that loaded, and why the others did not."""

    manifest: Manifest
    scaler: MinMaxScaling
    predictors: dict[str, Predictor] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    intervals: IntervalTable | None = None


def load_intervals(directory: Path, manifest: Manifest) -> IntervalTable | None:
    if manifest.intervals is None:
        return None
    path = verified_path(directory, manifest.intervals)
    try:
        return IntervalTable.load(path)
    except ValueError as exc:  # JSON and schema errors alike
        raise ArtifactError(f"{manifest.intervals.file}: invalid interval table ({type(exc).__name__})") from None


def load_artifacts(
    directory: Path,
    models: tuple[str, ...] = (*NETWORKS, ENSEMBLE),
    backend: BackendKind = "onnx",
    threads: int = 1,
) -> LoadedArtifacts:
    """Load the requested models; manifest and scaler problems raise, model problems are collected."""
    manifest = read_manifest(directory)
    scaler = load_scaler(directory, manifest)
    loaded = LoadedArtifacts(manifest=manifest, scaler=scaler, intervals=load_intervals(directory, manifest))
    for name in models:
        if name != ENSEMBLE and name not in manifest.models:
            loaded.errors[name] = f"manifest.json lists no model named {name!r}"
    # The ensemble needs every base model, so they load when it is asked for even if not served alone.
    needed = [m for m in manifest.models if m in models or ENSEMBLE in models]
    base: dict[str, Predictor] = {}
    for name in needed:
        entry = manifest.models[name]
        try:
            backend_ = load_backend(directory, manifest, entry, backend, threads)
        except ArtifactError as exc:
            if name in models:
                loaded.errors[name] = str(exc)
            if ENSEMBLE in models:
                loaded.errors[ENSEMBLE] = f"member {name} failed: {exc}"
            continue
        base[name] = Predictor(name=name, version=entry.version, scaler=scaler, backends=[backend_])
        if name in models:
            loaded.predictors[name] = base[name]
    if ENSEMBLE in models and ENSEMBLE not in loaded.errors:
        if len(base) < 2:
            loaded.errors[ENSEMBLE] = "the ensemble needs at least two models in the manifest"
        else:
            members = list(base.values())
            loaded.predictors[ENSEMBLE] = Predictor(
                name=ENSEMBLE,
                version="+".join(p.version for p in members),
                scaler=scaler,
                backends=[p.backends[0] for p in members],
                description=ENSEMBLE_DESCRIPTION,
                members=tuple(p.name for p in members),
            )
    return loaded
