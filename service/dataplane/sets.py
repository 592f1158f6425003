"""Model sets: every artifact directory under ``FORECAST_ARTIFACTS_DIR``, each with its own manifest.

``artifacts/ibm-high/`` serves ``lstm``, ``gru`` and ``ensemble``; ``artifacts/ohlc/`` serves its
models under its set name, ``ohlc-lstm`` and so on (each manifest says how its names are made). A
directory that holds a manifest itself is one set (how tests and single-set deployments point at one
directory).
"""

from __future__ import annotations

from pathlib import Path

from forecast_core.errors import ArtifactError
from forecast_core.loader import read_set_manifest, served_names
from forecast_core.manifest import MANIFEST_FILE


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


def set_names(directory: Path) -> list[str]:
    """The model names a set serves, read from its manifest (raises :class:`ArtifactError`)."""
    return served_names(read_set_manifest(directory))


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
