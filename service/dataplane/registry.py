"""The models this process serves, and whether it is ready to serve them.

State is private: the dataplane and the probes ask questions (:meth:`get`, :meth:`card`,
:meth:`model_states`) and get domain answers or domain errors, never HTTP ones.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Literal

from forecast_core.batching import BatchingBackend
from forecast_core.errors import ArtifactError
from forecast_core.predictor import Predictor
from service.core.config import Settings
from service.core.metrics import Metrics
from service.dataplane.errors import ModelNotFound, ModelNotReady
from service.dataplane.model import ModelCard, ServedModel, ServedSet
from service.dataplane.served import load_served_set
from service.dataplane.sets import discover_names, find_sets

log = logging.getLogger("service.registry")
State = Literal["loading", "ready", "failed"]


class ModelRegistry:
    """Loads every model set once (in a worker thread) and hands out models; thread-safe to read."""

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
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()

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

    def get(self, name: str) -> ServedModel:
        """The model called ``name``: :class:`ModelNotFound` or :class:`ModelNotReady` otherwise."""
        model = self._models.get(name)
        if model is not None:
            return model
        self._check_known(name)
        raise ModelNotReady(name, "models are still loading" if self._state == "loading" else self._why(name))

    def card(self, name: str) -> ModelCard:
        """What is known of ``name`` from its manifest, loaded or not; :class:`ModelNotReady` without one."""
        self._check_known(name)
        found = self._cards.get(name)
        if found is None:
            raise ModelNotReady(name, "models are still loading" if self._state == "loading" else self._why(name))
        return found

    def cards(self) -> list[ModelCard]:
        return [self._cards[n] for n in self._known if n in self._cards]

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
        started = time.perf_counter()
        s = self._settings
        wanted = set(s.models) if s.models else None
        sets: list[ServedSet] = []
        set_errors: list[str] = []
        try:
            for directory in find_sets(s.artifacts_dir):
                try:
                    loaded = load_served_set(
                        directory,
                        (lambda n: n in wanted) if wanted is not None else (lambda n: True),
                        s.backend,
                        s.onnx_threads,
                        self._with_batching if s.batching_enabled else None,
                    )
                except ArtifactError as exc:
                    set_errors.append(f"{directory.name}: {exc}" if directory != s.artifacts_dir else str(exc))
                    continue
                for model in loaded.models.values():
                    model.warm_up()
                sets.append(loaded)
        except ArtifactError as exc:
            self._fail(str(exc))
            return
        except PermissionError as exc:  # an operator's fix: say which file or directory, never the full path
            where = _inside(s.artifacts_dir, exc.filename)
            inside = "" if where is None else f"{where!r} in the artifacts directory "
            self._fail(f"cannot read {inside}{s.artifacts_dir.name!r}: permission denied")
            return
        except Exception as exc:  # never let a load problem kill the process: report it on /readyz
            log.exception("unexpected error while loading artifacts")
            self._fail(f"unexpected error while loading artifacts ({type(exc).__name__})")
            return
        self._publish(sets, set_errors)
        log.info(
            "artifacts %s: %s in %.2f s (models %s, errors %s)",
            s.artifacts_dir.name,
            self._state,
            time.perf_counter() - started,
            sorted(self._models),
            self._errors or set_errors or "none",
        )

    def _publish(self, sets: list[ServedSet], set_errors: list[str]) -> None:
        cards: dict[str, ModelCard] = {}
        models: dict[str, ServedModel] = {}
        errors: dict[str, str] = {}
        for loaded in sets:
            for name, card in loaded.cards.items():
                if name in cards:
                    errors[name] = f"model {name!r} is served by two sets ({cards[name].model_set}, {loaded.name})"
                    models.pop(name, None)
                    continue
                cards[name] = card
                if name in loaded.models:
                    models[name] = loaded.models[name]
            errors.update({k: v for k, v in loaded.errors.items() if k not in errors})
        known = self._settings.models or tuple(dict.fromkeys([*self._known, *cards]))
        set_reason = "; ".join(set_errors)
        for name in known:
            if name not in cards and name not in errors:
                errors[name] = set_reason or f"no model set under the artifacts directory serves {name!r}"
        with self._lock:
            self._known, self._cards, self._models, self._errors = known, cards, models, errors
            self._names_certain = self._names_certain or (not set_errors and bool(known))
            for name, model in models.items():
                self._metrics.model_info.labels(name, model.version, self._settings.backend).set(1)
            problems = {k: v for k, v in errors.items() if k in known}
            if (problems and self._settings.require_all_models) or not models or (set_errors and not known):
                reason = "; ".join(dict.fromkeys([*problems.values(), *set_errors])) or "no model loaded"
                self._set_state("failed", reason)
            else:
                self._set_state("ready", None)

    def _with_batching(self, predictors: dict[str, Predictor]) -> dict[str, Predictor]:
        """Wrap each distinct backend once, so the ensemble shares its members' queues."""
        wrapped: dict[int, BatchingBackend] = {}
        out: dict[str, Predictor] = {}
        for name, predictor in predictors.items():
            backends = []
            for member, backend in zip(predictor.members or (name,), predictor.backends, strict=True):
                if id(backend) not in wrapped:
                    wrapped[id(backend)] = BatchingBackend(
                        backend,
                        self._settings.batch_max_size,
                        self._settings.batch_max_wait_us / 1e6,
                        on_batch=self._batch_observer(member),
                    )
                backends.append(wrapped[id(backend)])
            out[name] = replace(predictor, backends=backends, stepping_backends=predictor.backends)
        return out

    def _batch_observer(self, model: str) -> Callable[[int, int], None]:
        size = self._metrics.model_batch_size.labels(model)
        depth = self._metrics.queue_depth.labels(model)

        def observe(batch: int, queued: int) -> None:
            size.observe(batch)
            depth.set(queued)

        return observe

    def _fail(self, reason: str) -> None:
        log.error("artifacts cannot be served: %s", reason)
        with self._lock:
            self._set_state("failed", reason)

    def _set_state(self, state: State, reason: str | None) -> None:
        """The state /readyz reports, mirrored in the ``forecast_ready`` gauge for alerting."""
        self._state, self._reason = state, reason
        self._metrics.ready.set(1 if state == "ready" else 0)


def _inside(root: Path, filename: str | bytes | None) -> str | None:
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
