"""What the registry serves after a refresh, worked out from the versions it holds (no state, no locks).

For each set the current version is the highest whole one (every model it names loaded), else the
highest that loaded anything; its models answer unversioned requests and its cards describe them. Every
version that loaded a model answers requests for that version. A name served by two sets is served by
neither, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from service.dataplane.model import ModelCard, ServedModel

if TYPE_CHECKING:
    from service.dataplane.registry import LoadedVersion, VersionInfo


@dataclass
class View:
    known: tuple[str, ...]
    cards: dict[str, ModelCard] = field(default_factory=dict)
    models: dict[str, ServedModel] = field(default_factory=dict)
    by_version: dict[str, dict[str, ServedModel]] = field(default_factory=dict)
    versions: dict[str, list[VersionInfo]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    #: What keeps whole sets from being served (an unreadable manifest, a bad policy file).
    problems: list[str] = field(default_factory=list)


def assemble(
    loaded: Iterable[LoadedVersion],
    set_errors: list[str],
    wanted: tuple[str, ...] | None,
    known_before: tuple[str, ...],
    root: Path,
) -> View:
    from service.dataplane.registry import VersionInfo

    by_set: dict[str, list[LoadedVersion]] = {}
    for lv in sorted(loaded, key=lambda lv: (lv.set_name, -lv.version)):
        by_set.setdefault(lv.set_name, []).append(lv)
    view, owner = View(known=(), problems=list(set_errors)), dict[str, str]()
    problems = view.problems
    for set_name, versions in by_set.items():
        current = next((lv for lv in versions if lv.whole), None) or next(
            (lv for lv in versions if lv.served is not None and lv.served.models), None
        )
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
