"""Model sets: every artifact directory under ``FORECAST_ARTIFACTS_DIR``, each with its own manifest.

``artifacts/ibm-high/`` (format 1, univariate) serves ``lstm``, ``gru`` and ``ensemble``;
``artifacts/ohlc/`` (format 2, ``kind: ohlc``) serves its models under its set name, ``ohlc-lstm`` and
so on. A directory that holds a manifest itself is one set (how tests and single-set deployments
point at one directory).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forecast_core.backends import BackendKind
from forecast_core.manifest import MANIFEST_FILE, ArtifactError, read_manifest, read_manifest_json, served_keys
from forecast_core.ohlc.manifest import OHLC_KIND
from service.dataplane.model import LoadedSet
from service.dataplane.univariate import Wrap, load_univariate_set, names_in


def find_sets(root: Path) -> list[Path]:
    """The set directories under ``root`` (``root`` itself when it holds a manifest)."""
    if (root / MANIFEST_FILE).is_file():
        return [root]
    if not root.is_dir():
        raise ArtifactError(f"artifacts directory {root.name!r} does not exist")
    found = sorted(p for p in root.iterdir() if p.is_dir() and (p / MANIFEST_FILE).is_file())
    if not found:
        raise ArtifactError(f"{MANIFEST_FILE} is missing (no model set found in {root.name!r})")
    return found


def _kind(directory: Path) -> str:
    try:
        raw = read_manifest_json(directory)
    except (ArtifactError, OSError):
        return "univariate"  # read_manifest reports the problem properly
    return str(raw.get("kind", "univariate")) if isinstance(raw, dict) else "univariate"


def set_names(directory: Path) -> list[str]:
    """The model names a set serves, read from its manifest (raises :class:`ArtifactError`)."""
    if _kind(directory) == OHLC_KIND:
        from forecast_core.ohlc.manifest import read_ohlc_manifest

        m = read_ohlc_manifest(directory)
        return [f"{m.name}-{k}" for k in served_keys(m.models)]
    return names_in(read_manifest(directory))


def discover_names(root: Path) -> tuple[str, ...]:
    """Every name served under ``root``, best effort and cheap (manifests only); never raises."""
    names: list[str] = []
    try:
        for directory in find_sets(root):
            try:
                names.extend(set_names(directory))
            except ArtifactError:
                continue
    except (ArtifactError, OSError):
        return ()
    return tuple(dict.fromkeys(names))


def load_set(
    directory: Path,
    wanted: Callable[[str], bool],
    backend: BackendKind,
    threads: int,
    wrap: Wrap | None = None,
) -> LoadedSet:
    """Load the wanted models of one set; manifest problems raise :class:`ArtifactError`."""
    if _kind(directory) == OHLC_KIND:
        from service.dataplane.ohlc import load_ohlc_models

        return load_ohlc_models(directory, wanted, backend, threads)
    manifest = read_manifest(directory)
    names = tuple(n for n in names_in(manifest) if wanted(n))
    return load_univariate_set(directory, manifest, names, backend, threads, wrap)
