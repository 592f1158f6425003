"""The one artifact loader shared by training, tests and the service, for every kind of model set.

Order: manifest (schema-validated, picked by ``format_version``) -> the feature set (checksums
verified) -> interval table -> one :class:`Predictor` per network -> the ensemble. Nothing is
unpickled; Keras files are opened in safe mode. Each network fails on its own, so one broken file
takes down only itself and the ensemble; manifest problems raise :class:`ArtifactError`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from forecast_core.backends import Backend, BackendKind, open_backend
from forecast_core.checksums import verified_path
from forecast_core.errors import ArtifactError
from forecast_core.features import FeatureSet
from forecast_core.intervals import IntervalTable
from forecast_core.manifest import (
    ENSEMBLE,
    FORMAT_VERSION,
    MANIFEST_FILE,
    FileRef,
    Manifest,
    NetworkEntry,
    read_manifest_json,
    served_keys,
    validate_manifest,
)
from forecast_core.manifest_v2 import OHLC_FORMAT_VERSION, OhlcManifest
from forecast_core.manifest_v3 import FORMAT_VERSION_3, ManifestV3
from forecast_core.predictor import Predictor

SetManifest = Manifest | OhlcManifest | ManifestV3
# format_version -> (the kind of set it describes, its schema); format 1 predates the "kind" key, and
# format 3 takes any kind (None).
_SCHEMAS: dict[int, tuple[str | None, type[Manifest] | type[OhlcManifest] | type[ManifestV3]]] = {
    FORMAT_VERSION: ("univariate", Manifest),
    OHLC_FORMAT_VERSION: ("ohlc", OhlcManifest),
    FORMAT_VERSION_3: (None, ManifestV3),
}


def ensemble_description(members: Iterable[str]) -> str:
    """What an ensemble is, for its model card and its predictor: the one wording."""
    return (
        f"mean of the {' and '.join(members)} outputs (in model units) at every step, decoded once; "
        "a forecast feeds each step back"
    )


def read_set_manifest(directory: Path) -> SetManifest:
    """Read and validate any set's ``manifest.json``; :class:`ArtifactError` with a one-line message."""
    raw = read_manifest_json(directory)
    if not isinstance(raw, dict):
        raise ArtifactError(f"{MANIFEST_FILE}: invalid, expected a JSON object")
    version, kind = raw.get("format_version"), raw.get("kind", "univariate")
    known = _SCHEMAS.get(version) if isinstance(version, int) and not isinstance(version, bool) else None
    if known is None or known[0] not in (kind, None):
        expected = [v for v, (k, _) in _SCHEMAS.items() if k in (kind, None)]
        raise ArtifactError(
            f"{MANIFEST_FILE}: format_version {version!r} is not supported for kind {kind!r} (expected {expected})"
        )
    return validate_manifest(known[1], raw)


def served_names(manifest: SetManifest) -> list[str]:
    """The names a set serves: its networks, then the ensemble when it has two or more."""
    return [manifest.served_name(k) for k in served_keys(manifest.models)]


def ensemble_members(manifest: SetManifest) -> list[str]:
    return list(manifest.ensemble.members if manifest.ensemble else manifest.models)


def load_backend(
    directory: Path, manifest: SetManifest, entry: NetworkEntry, features: FeatureSet, kind: BackendKind, threads: int
) -> Backend:
    ref = entry.onnx if kind == "onnx" else entry.keras
    path = verified_path(directory, ref)
    try:
        return open_backend(kind, path, manifest.window, threads=threads, features=features.network_features)
    except Exception as exc:  # a runtime's own parse error: report the file, not a stack trace
        raise ArtifactError(f"{ref.file}: cannot be loaded by the {kind} backend ({type(exc).__name__})") from None


def load_intervals(directory: Path, ref: FileRef | None) -> IntervalTable | None:
    if ref is None:
        return None
    path = verified_path(directory, ref)
    try:
        return IntervalTable.load(path)
    except ValueError as exc:  # JSON and schema errors alike
        raise ArtifactError(f"{ref.file}: invalid interval table ({type(exc).__name__})") from None


@dataclass
class LoadedSet:
    """What a set directory yields: the predictors that loaded (by model key), and why the others did not."""

    manifest: SetManifest
    features: FeatureSet
    intervals: IntervalTable | None
    predictors: dict[str, Predictor] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def load_set(
    directory: Path, models: Iterable[str] | None = None, backend: BackendKind = "onnx", threads: int = 1
) -> LoadedSet:
    """Load the set's networks and ensemble named by ``models`` (their keys in the manifest, default all);
    network problems are collected."""
    manifest = read_set_manifest(directory)
    features = manifest.features_of(directory)
    loaded = LoadedSet(manifest, features, load_intervals(directory, manifest.intervals))
    wanted = list(served_keys(manifest.models) if models is None else models)
    for key in wanted:
        if key != ENSEMBLE and key not in manifest.models:
            loaded.errors[key] = f"{MANIFEST_FILE} lists no model named {key!r}"
    members = ensemble_members(manifest)
    # The ensemble needs its members, so they load when it is asked for even if not served alone.
    needed = [k for k in manifest.models if k in wanted or (ENSEMBLE in wanted and k in members)]
    base: dict[str, Predictor] = {}
    for key in needed:
        entry = manifest.models[key]
        try:
            net = load_backend(directory, manifest, entry, features, backend, threads)
        except ArtifactError as exc:
            if key in wanted:
                loaded.errors[key] = str(exc)
            if ENSEMBLE in wanted and key in members and ENSEMBLE not in loaded.errors:
                loaded.errors[ENSEMBLE] = f"member {key} failed: {exc}"
            continue
        base[key] = Predictor(name=key, version=entry.version, features=features, backends=(net,))
        if key in wanted:
            loaded.predictors[key] = base[key]
    if ENSEMBLE in wanted and ENSEMBLE not in loaded.errors:
        missing = [m for m in members if m not in manifest.models]
        if len(members) < 2:
            loaded.errors[ENSEMBLE] = "the ensemble needs at least two models in the manifest"
        elif missing:
            loaded.errors[ENSEMBLE] = f"member {missing[0]} failed: not in {MANIFEST_FILE}"
        else:
            parts = [base[m] for m in members]
            loaded.predictors[ENSEMBLE] = Predictor(
                name=ENSEMBLE,
                version="+".join(p.version for p in parts),
                features=features,
                backends=tuple(p.backends[0] for p in parts),
                description=ensemble_description(members),
                members=tuple(members),
            )
    return loaded
