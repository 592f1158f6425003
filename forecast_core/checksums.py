"""SHA-256 helpers used to write and verify artifact files."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Protocol

from forecast_core.errors import ArtifactError

_CHUNK = 1 << 20


class FileRefLike(Protocol):
    file: str
    sha256: str


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verified_path(directory: Path, ref: FileRefLike) -> Path:
    """The file's path after checking it exists and matches its recorded SHA-256 (``ArtifactError`` else)."""
    path = directory / ref.file
    if not path.is_file():
        raise ArtifactError(f"{ref.file} is missing")
    actual = sha256_file(path)
    if actual != ref.sha256:
        raise ArtifactError(f"{ref.file}: checksum mismatch (manifest {ref.sha256[:12]}…, file {actual[:12]}…)")
    return path
