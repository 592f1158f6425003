"""The models this process serves, in which versions, and whether it is ready to serve them.

State is private: the dataplane and the probes ask questions (:meth:`get`, :meth:`card`,
:meth:`model_states`, :meth:`versions`) and get domain answers or domain errors, never HTTP ones.

The repository (:mod:`forecast_core.repository`) is read again by :meth:`refresh`, at start and
whenever asked (polling, SIGHUP, the repository API): a version new on disk (or whose files changed) is
loaded and verified in the refreshing thread (checksums, manifest, a prediction for every batch shape)
while the others keep answering, then everything is swapped in at once. A request holds the model
object it started with, so it finishes on that version. A version that fails verification never
replaces a serving one: the set stays on its current version and the listings say why.
"""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from pathlib import Path
from typing import Literal

from forecast_core.errors import ArtifactError
from forecast_core.repository import Policy, SetVersions, discover_names, scan, signature
from service.core.config import Settings
from service.core.metrics import Metrics
from service.core.process import trim_memory
from service.dataplane.errors import ModelNotFound, ModelNotReady, VersionNotFound
from service.dataplane.model import ModelCard, ServedModel
from service.dataplane.publish import LoadedVersion, VersionInfo, assemble, check_same_kind, inside
from service.dataplane.served import batching_wrap, load_served_set

log = logging.getLogger("service.registry")
State = Literal["loading", "ready", "failed"]


class ModelRegistry:
    """Loads the repository's kept versions, hands out models by name and version; thread-safe to read."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings, self._metrics = settings, metrics
        self._state: State = "loading"
        self._reason: str | None = "artifacts are loading"
        # Known before loading finishes, so an unknown name is a 404 even while the models load.
        self._known: tuple[str, ...] = settings.models or discover_names(settings.artifacts_dir)
        # Without a readable manifest the names are unknown: a request then learns why (503), not 404.
        self._names_certain = bool(self._known)
        self._cards: dict[str, ModelCard] = {}
        self._models: dict[str, ServedModel] = {}
        self._by_version: dict[str, dict[str, ServedModel]] = {}
        self._versions: dict[str, list[VersionInfo]] = {}
        self._errors: dict[str, str] = {}
        self._loaded: dict[tuple[str, int], LoadedVersion] = {}
        self._canary: dict[str, tuple[ServedModel, float]] = {}
        self._policies: dict[str, Policy] = {}
        self._unloaded: set[str] = set()
        # Which set each name came from, remembered after an unload so that it can be loaded again.
        self._owners: dict[str, str] = {}
        self._info: set[tuple[str, str]] = set()  # (name, version) pairs forecast_model_info says serve
        self._lock, self._refreshing = threading.Lock(), threading.Lock()
        wrap = settings.batching_enabled
        self._wrap = batching_wrap(settings.batch_max_size, settings.batch_max_wait_us / 1e6, metrics) if wrap else None

    # --- questions --------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def reason(self) -> str | None:
        return self._reason

    @property
    def ready(self) -> bool:
        return self._state == "ready"

    @property
    def backend(self) -> str:
        return self._settings.backend

    def names(self) -> tuple[str, ...]:
        """Every model name this server answers for (served or not yet/no longer able to)."""
        return self._known

    def model_states(self) -> dict[str, str]:
        if self._state == "loading":
            return dict.fromkeys(self._known, "loading")
        return {n: "ready" if n in self._models else f"unavailable: {self._why(n)}" for n in self._known}

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """The model called ``name`` (its current version, or ``version``): a domain error otherwise."""
        if version is not None:
            return self._get_version(name, version)
        canary = self._canary.get(name)
        if canary is not None and random.random() * 100 < canary[1]:
            return canary[0]
        model = self._models.get(name)
        if model is not None:
            return model
        self._check_known(name)
        raise ModelNotReady(name, "models are still loading" if self._state == "loading" else self._why(name))

    def _get_version(self, name: str, version: str) -> ServedModel:
        model = self._by_version.get(name, {}).get(version)
        if model is not None:
            return model
        self._check_known(name)
        listed = {v.version: v for v in self._versions.get(name, [])}
        if version in listed:
            raise ModelNotReady(name, f"version {version} failed to load: {listed[version].reason}")
        served = ", ".join(sorted(self._by_version.get(name, {}), key=int)) or "none"
        raise VersionNotFound(name, version, served)

    def card(self, name: str) -> ModelCard:
        """What is known of ``name`` from its manifest, loaded or not; :class:`ModelNotReady` without one."""
        self._check_known(name)
        found = self._cards.get(name)
        if found is None:
            raise ModelNotReady(name, "models are still loading" if self._state == "loading" else self._why(name))
        return found

    def cards(self) -> list[ModelCard]:
        return [self._cards[n] for n in self._known if n in self._cards]

    def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name`` this process holds or tried to load, highest first."""
        return list(self._versions.get(name, []))

    def error(self, name: str) -> str | None:
        """Why ``name`` cannot answer, as /readyz says it; None when it can."""
        return None if name in self._models else self.model_states().get(name)

    def _check_known(self, name: str) -> None:
        if name in self._known:
            return
        if not self._names_certain and self._state != "ready":
            raise ModelNotReady(name, self._reason or "artifacts cannot be read")
        raise ModelNotFound(name, self._known)

    def _why(self, name: str) -> str:
        return self._errors.get(name) or self._reason or "not loaded"

    # --- loading ----------------------------------------------------------------------------------

    def load(self) -> None:
        """The first read of the repository (the app's lifespan runs it in a worker thread)."""
        self.refresh()

    def unload(self, set_name: str) -> None:
        """Stop serving a set (the repository API's unload) until :meth:`reload_set`."""
        with self._refreshing:
            self._unloaded.add(set_name)
        self.refresh()

    def reload_set(self, set_name: str) -> None:
        with self._refreshing:
            self._unloaded.discard(set_name)
        self.refresh()

    def set_of(self, name: str) -> str | None:
        return self._owners.get(name)

    def refresh(self) -> None:
        """Read the repository again and serve what it now holds (one refresh at a time)."""
        with self._refreshing:
            started = time.perf_counter()
            try:
                found = scan(self._settings.artifacts_dir)
            except (ArtifactError, PermissionError, OSError) as exc:
                self._unreadable(exc)
                return
            loaded: dict[tuple[str, int], LoadedVersion] = {}
            set_errors: list[str] = []
            try:
                for entry in found:
                    if entry.name in self._unloaded:
                        continue
                    if entry.policy_error is None:
                        self._policies[entry.name] = entry.policy
                    else:
                        set_errors.append(f"{entry.name}: {entry.policy_error}")  # and keep the last good policy
                        loaded.update({k: v for k, v in self._loaded.items() if k[0] == entry.name})
                        continue
                    loaded.update(self._kept(entry))
            except PermissionError as exc:
                self._unreadable(exc)
                return
            dropped = [v for k, v in self._loaded.items() if loaded.get(k) is not v]
            self._loaded = loaded
            self._publish(list(loaded.values()), set_errors)
            if dropped:  # versions let go: their sessions' memory goes back to the system now, not at the next trim
                del dropped
                gc.collect()
                trim_memory()
            log.info(
                "artifacts %s: %s in %.2f s (models %s, versions %s, errors %s)",
                self._settings.artifacts_dir.name, self._state, time.perf_counter() - started,
                sorted(self._models), sorted(f"{s}/{v}" for s, v in loaded), self._errors or set_errors or "none",
            )  # fmt: skip

    def _kept(self, entry: SetVersions) -> dict[tuple[str, int], LoadedVersion]:
        """The versions of one set to hold after this refresh: the policy's, loaded anew where new or changed,
        and the serving one too while none of those is whole (a broken new version never replaces it)."""
        out: dict[tuple[str, int], LoadedVersion] = {}
        for version in entry.kept:
            out[(entry.name, version)] = self._version(entry.name, version, entry.versions[version])
        serving = self._serving(entry.name)
        if not any(lv.whole for lv in out.values()) and serving is not None and serving.version in entry.versions:
            out[(entry.name, serving.version)] = serving
        return out

    def _serving(self, set_name: str) -> LoadedVersion | None:
        """The highest whole version of ``set_name`` held before this refresh."""
        whole = [lv for (s, _), lv in self._loaded.items() if s == set_name and lv.whole]
        return max(whole, key=lambda lv: lv.version, default=None)

    def _version(self, set_name: str, version: int, directory: Path) -> LoadedVersion:
        sig = signature(directory)
        held = self._loaded.get((set_name, version))
        if held is not None and held.signature == sig and held.directory == directory:
            return held
        s, wanted = self._settings, self._settings.models
        try:
            serving = self._serving(set_name)
            check_same_kind(serving.served if serving else None, set_name, version, directory)
            served = load_served_set(
                directory, (lambda n: n in wanted) if wanted else (lambda n: True), s.backend, s.onnx_threads,
                self._wrap, version=version, set_name=set_name,
            )  # fmt: skip
            for model in served.models.values():
                model.warm_up()  # the smoke test: every batch shape once, before anyone is served by it
        except PermissionError:
            raise  # an operator's fix for the whole repository: refresh() says which file
        except ArtifactError as exc:
            self._metrics.version_load_failures.labels(set_name).inc()
            log.error("%s version %d cannot be served: %s", set_name, version, exc)
            return LoadedVersion(set_name, version, directory, sig, None, str(exc))
        except Exception as exc:  # never let a load problem kill the process: report it instead
            log.exception("unexpected error while loading %s version %d", set_name, version)
            self._metrics.version_load_failures.labels(set_name).inc()
            return LoadedVersion(set_name, version, directory, sig, None, f"unexpected error ({type(exc).__name__})")
        if served.errors:
            self._metrics.version_load_failures.labels(set_name).inc()
            log.error("%s version %d: models that cannot be served: %s", set_name, version, served.errors)
        return LoadedVersion(set_name, version, directory, sig, served, None)

    def _publish(self, loaded: list[LoadedVersion], set_errors: list[str]) -> None:
        root = self._settings.artifacts_dir
        view = assemble(loaded, set_errors, self._settings.models, self._known, root, self._policies)
        set_errors = view.problems
        with self._lock:
            self._known = view.known
            self._cards, self._models, self._by_version = view.cards, view.models, view.by_version
            self._canary = view.canary
            self._owners.update({name: card.model_set for name, card in view.cards.items()})
            self._versions, self._errors = view.versions, view.errors
            self._names_certain = self._names_certain or (not set_errors and bool(view.known))
            serving = {(name, model.version) for name, model in view.models.items()}
            for name, version in self._info - serving:  # a version no longer serving says so
                self._metrics.model_info.labels(name, version, self._settings.backend).set(0)
            for name, version in serving:
                self._metrics.model_info.labels(name, version, self._settings.backend).set(1)
            self._info = serving
            # A set unloaded on purpose is not a problem that makes the server unready (a pod taken out of
            # its Service for every model because one was unloaded).
            unloaded = {n for n, owner in self._owners.items() if owner in self._unloaded}
            for name in unloaded & set(view.errors):
                self._errors[name] = "unloaded through the repository API (its load request serves it again)"
            problems = {k: v for k, v in self._errors.items() if k in view.known and k not in unloaded}
            if (problems and self._settings.require_all_models) or not view.models or (set_errors and not view.known):
                reason = "; ".join(dict.fromkeys([*problems.values(), *set_errors])) or "no model loaded"
                self._set_state("failed", reason)
            else:
                self._set_state("ready", None)

    def _unreadable(self, exc: Exception) -> None:
        s = self._settings
        if isinstance(exc, PermissionError):  # an operator's fix: say which file or directory, never the full path
            where = inside(s.artifacts_dir, exc.filename)
            place = "" if where is None else f"{where!r} in the artifacts directory "
            reason = f"cannot read {place}{s.artifacts_dir.name!r}: permission denied"
        elif isinstance(exc, ArtifactError):
            reason = str(exc)
        else:
            reason = f"cannot read the artifacts directory {s.artifacts_dir.name!r} ({type(exc).__name__})"
        if self._models:  # keep serving what is loaded: a repository briefly unreadable is not a reason to stop
            log.error("artifacts cannot be read again, still serving the loaded versions: %s", reason)
            return
        log.error("artifacts cannot be served: %s", reason)
        with self._lock:
            self._set_state("failed", reason)

    def _set_state(self, state: State, reason: str | None) -> None:
        """The state /readyz reports, mirrored in the ``forecast_ready`` gauge for alerting."""
        self._state, self._reason = state, reason
        self._metrics.ready.set(1 if state == "ready" else 0)
