"""The model repository on disk: model sets, their numbered versions, and which versions to keep.

Layout, as TensorFlow Serving's and Triton's: ``FORECAST_ARTIFACTS_DIR/<set>/<version>/manifest.json``,
where ``<version>`` is a positive integer and the highest kept one is current. A set directory that
holds ``manifest.json`` itself (the layout before versions) is that set's version 1, and so is a
repository root that holds one.

A version directory is read only once it is whole. The convention is to write it elsewhere (or under
a name that is not a number, such as ``.3.incoming``) and rename it into place, which is atomic on one
file system; a numbered directory without its ``manifest.json`` is taken as still arriving and is not
read. A directory whose files change is read again (:func:`signature`).

Which versions are kept is the set's policy, in ``<set>/versions.json`` (TensorFlow Serving's
``model_version_policy``): ``{"policy": "latest", "count": N}`` (the default, N = 1), ``{"policy":
"all"}``, or ``{"policy": "specific", "versions": [1, 3]}``; any of them may add ``"canary": {"version":
4, "percent": 10}``: that version is loaded too and answers about 10 % of the unversioned requests.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from forecast_core.errors import ArtifactError
from forecast_core.manifest import MANIFEST_FILE

POLICY_FILE = "versions.json"
# A version directory's name: a positive integer without leading zeros (as TF Serving reads it).
VERSION_NAME = re.compile(r"^[1-9][0-9]{0,8}$")
LEGACY_VERSION = 1


class Canary(BaseModel):
    """A share of the unversioned requests answered by a candidate version instead of the current one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    percent: float = Field(gt=0, lt=100)


class Policy(BaseModel):
    """Which of a set's versions are loaded (current: the highest of them that loads), and any canary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    policy: Literal["latest", "all", "specific"] = "latest"
    count: int = Field(default=1, ge=1, le=100)
    versions: list[int] = Field(default_factory=list)
    canary: Canary | None = None

    @model_validator(mode="after")
    def _specific_needs_versions(self) -> Policy:
        if self.policy == "specific" and not self.versions:
            raise ValueError("policy 'specific' needs a non-empty 'versions' list")
        return self

    def keep(self, available: list[int]) -> list[int]:
        """The versions to load among ``available``, highest first: the policy's among all but a canary's
        candidate, then the candidate."""
        candidate = self.canary.version if self.canary is not None else None
        ordered = sorted({v for v in available if v != candidate}, reverse=True)
        if self.policy == "all":
            kept = ordered
        elif self.policy == "specific":
            kept = [v for v in ordered if v in self.versions]
        else:
            kept = ordered[: self.count]
        if candidate is not None and candidate in available:
            kept = sorted([*kept, candidate], reverse=True)
        return kept

    def current(self, whole: list[int]) -> int | None:
        """The version that answers unversioned requests among the ``whole`` ones: the highest, but never the
        canary's candidate (it gets only its share)."""
        candidate = self.canary.version if self.canary is not None else None
        return max((v for v in whole if v != candidate), default=None)


@dataclass(frozen=True)
class SetVersions:
    """One set as found on disk: its versions' directories and its policy (or why the policy is unreadable)."""

    name: str
    directory: Path
    versions: dict[int, Path] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    policy_error: str | None = None

    @property
    def kept(self) -> list[int]:
        return self.policy.keep(list(self.versions))


def read_policy(directory: Path) -> Policy:
    path = directory / POLICY_FILE
    if not path.is_file():
        return Policy()
    try:
        return Policy.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, ValidationError) as exc:
        first = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "not JSON"
        raise ArtifactError(f"{POLICY_FILE}: invalid ({first})") from None


def versions_of(directory: Path) -> dict[int, Path]:
    """A set directory's whole versions: itself as version 1 when flat, else its numbered directories."""
    if (directory / MANIFEST_FILE).is_file():
        return {LEGACY_VERSION: directory}
    return {
        int(d.name): d
        for d in directory.iterdir()
        if VERSION_NAME.match(d.name) and d.is_dir() and (d / MANIFEST_FILE).is_file()
    }


def scan(root: Path) -> list[SetVersions]:
    """Every set under ``root`` with its whole versions; :class:`ArtifactError` when there is none at all."""
    if (root / MANIFEST_FILE).is_file():
        return [SetVersions(root.name, root, {LEGACY_VERSION: root})]
    if not root.is_dir():
        raise ArtifactError(f"artifacts directory {root.name!r} does not exist")
    found: list[SetVersions] = []
    for directory in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        versions = versions_of(directory)
        if not versions:
            continue
        try:
            found.append(SetVersions(directory.name, directory, versions, read_policy(directory)))
        except ArtifactError as exc:
            found.append(SetVersions(directory.name, directory, versions, policy_error=str(exc)))
    if not found:
        raise ArtifactError(f"{MANIFEST_FILE} is missing (no model set found in {root.name!r})")
    return found


def signature(directory: Path) -> tuple[tuple[str, int, int], ...]:
    """The files of a version directory with their sizes and modification times: a change means read it again."""
    out = []
    for path in sorted(directory.iterdir()):
        if path.is_file():
            stat = path.stat()
            out.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(out)


def discover_names(root: Path) -> tuple[str, ...]:
    """Every name served under ``root`` (each set's highest version), best effort and cheap (manifests
    only); never raises: the names are known before anything loads, so an unknown one is a 404 at once."""
    from forecast_core.loader import read_set_manifest, served_names

    names: list[str] = []
    try:
        for found in scan(root):
            try:
                names.extend(served_names(read_set_manifest(found.versions[max(found.versions)])))
            except ArtifactError:
                continue
    except (ArtifactError, OSError):
        return ()
    return tuple(dict.fromkeys(names))
