"""What the registry serves after a refresh, worked out from the versions it holds (no state, no locks).

For each set the current version is the highest whole one (every model it names loaded), else the
highest that loaded anything; its models answer unversioned requests and its cards describe them. Every
version that loaded a model answers requests for that version. A name served by two sets is served by
neither, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from forecast_core.errors import ArtifactError
from forecast_core.loader import read_set_manifest, served_names
from forecast_core.repository import Policy
from service.dataplane.model import ModelCard, ServedModel, ServedSet


@dataclass(frozen=True)
class LoadedVersion:
    """One version of one set as this process loaded it (or failed to)."""

    set_name: str
    version: int
    directory: Path
    signature: tuple[tuple[str, int, int], ...]
    served: ServedSet | None
    error: str | None

    @property
    def whole(self) -> bool:
        """Every model the version names loaded: only such a version may replace a serving one."""
        return self.served is not None and not self.served.errors and bool(self.served.models)


@dataclass(frozen=True)
class VersionInfo:
    version: str
    state: Literal["ready", "failed"]
    reason: str | None


@dataclass
class View:
    known: tuple[str, ...]
    cards: dict[str, ModelCard] = field(default_factory=dict)
    models: dict[str, ServedModel] = field(default_factory=dict)
    by_version: dict[str, dict[str, ServedModel]] = field(default_factory=dict)
    versions: dict[str, list[VersionInfo]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: Names whose set runs a canary: the candidate's model and its percent of unversioned requests.
    canary: dict[str, tuple[ServedModel, float]] = field(default_factory=dict)
    #: What keeps whole sets from being served (an unreadable manifest, a bad policy file).
    problems: list[str] = field(default_factory=list)


def assemble(
    loaded: Iterable[LoadedVersion],
    set_errors: list[str],
    wanted: tuple[str, ...] | None,
    known_before: tuple[str, ...],
    root: Path,
    policies: Mapping[str, Policy],
) -> View:
    by_set: dict[str, list[LoadedVersion]] = {}
    for lv in sorted(loaded, key=lambda lv: (lv.set_name, -lv.version)):
        by_set.setdefault(lv.set_name, []).append(lv)
    view, owner = View(known=(), problems=list(set_errors)), dict[str, str]()
    problems = view.problems
    for set_name, versions in by_set.items():
        policy = policies.get(set_name, Policy())
        chosen = policy.current([lv.version for lv in versions if lv.whole])
        candidate = policy.canary.version if policy.canary is not None else None
        current = next((lv for lv in versions if lv.version == chosen), None) or next(
            (lv for lv in versions if lv.served is not None and lv.served.models and lv.version != candidate), None
        )
        trial = next((lv for lv in versions if lv.version == candidate and lv.whole and lv is not current), None)
        source = current or next((lv for lv in versions if lv.served is not None), None)
        if source is None or source.served is None:  # no version's manifest could even be read
            error = versions[0].error or "not loaded"
            problems.append(error if versions[0].directory == root else f"{set_name}: {error}")
            continue
        for name, card in source.served.cards.items():
            if owner.get(name, set_name) != set_name:
                view.errors[name] = f"model {name!r} is served by two sets ({view.cards[name].model_set}, {set_name})"
                view.models.pop(name, None)
                view.by_version.pop(name, None)
                continue
            owner[name] = set_name
            view.cards[name] = card
            if current is not None and current.served is not None and name in current.served.models:
                view.models[name] = current.served.models[name]
                if trial is not None and trial.served is not None and policy.canary is not None:
                    view.canary[name] = (trial.served.models[name], policy.canary.percent)
            elif name in source.served.errors:
                view.errors[name] = source.served.errors[name]
            for lv in versions:
                model = lv.served.models.get(name) if lv.served is not None else None
                if model is not None:
                    view.by_version.setdefault(name, {})[str(lv.version)] = model
                why = None if model else lv.error or (lv.served.errors.get(name) if lv.served else None) or "not loaded"
                view.versions.setdefault(name, []).append(
                    VersionInfo(str(lv.version), "ready" if model else "failed", why)
                )
    view.known = wanted or tuple(dict.fromkeys([*known_before, *view.cards]))
    reason = "; ".join(problems)
    for name in view.known:
        if name not in view.cards and name not in view.errors:
            view.errors[name] = reason or f"no model set under the artifacts directory serves {name!r}"
    return view


def inside(root: Path, filename: str | bytes | None) -> str | None:
    """Where ``filename`` is, relative to the artifacts directory ``root`` (``ibm-high/manifest.json``):
    None for ``root`` itself (or no file named), the last component for a path outside it."""
    if not filename:
        return None
    path = Path(filename.decode() if isinstance(filename, bytes) else filename)
    try:
        relative = path.relative_to(root)
    except ValueError:
        return path.name
    return relative.as_posix() if relative.parts else None


def check_same_kind(serving: ServedSet | None, set_name: str, version: int, directory: Path) -> None:
    """A version must serve what its set serves now (the same names, of the same kind): another set's run
    copied under this set is refused (:class:`ArtifactError`), not served under names nobody asked for."""
    if serving is None or not serving.cards:
        return
    manifest = read_set_manifest(directory)
    names, kind = sorted(served_names(manifest)), getattr(manifest, "kind", "univariate")
    now_names, now_kind = sorted(serving.cards), next(iter(serving.cards.values())).kind
    if (names, kind) != (now_names, now_kind):
        raise ArtifactError(
            f"version {version} serves {', '.join(names)} ({kind}); set {set_name!r} serves "
            f"{', '.join(now_names)} ({now_kind})"
        )
