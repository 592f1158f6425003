"""The models this process serves, and whether it is ready to serve them."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Literal

import numpy as np

from service.core.config import Settings
from service.core.errors import ApiError
from service.core.metrics import Metrics
from service.inference.batching import BatchingBackend
from service.inference.intervals import IntervalTable
from service.inference.loader import load_artifacts
from service.inference.manifest import ArtifactError, Manifest
from service.inference.predictor import Predictor, range_warnings

log = logging.getLogger("service.registry")
WARM_UP_BATCHES = (1, 8, 64, 256)


class ModelRegistry:
    """Loads artifacts once (in a worker thread) and hands out predictors; thread-safe to read."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.state: Literal["loading", "ready", "failed"] = "loading"
        self.reason: str | None = "artifacts are loading"
        self.manifest: Manifest | None = None
        self.predictors: dict[str, Predictor] = {}
        self.errors: dict[str, str] = {}
        self.intervals: IntervalTable | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        started = time.perf_counter()
        s = self.settings
        try:
            loaded = load_artifacts(s.artifacts_dir, s.models, backend=s.backend, threads=s.onnx_threads)
            if s.batching_enabled:
                loaded.predictors = self._with_batching(loaded.predictors)
            for predictor in loaded.predictors.values():
                warm_up(predictor)
        except ArtifactError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:  # never let a load problem kill the process: report it on /readyz
            log.exception("unexpected error while loading artifacts")
            self._fail(f"unexpected error while loading artifacts ({type(exc).__name__})")
            return
        with self._lock:
            self.manifest, self.predictors, self.errors = loaded.manifest, loaded.predictors, loaded.errors
            self.intervals = loaded.intervals
            for name, p in loaded.predictors.items():
                self.metrics.model_info.labels(name, p.version, s.backend).set(1)
            if self.errors and (s.require_all_models or not self.predictors):
                self.state = "failed"
                self.reason = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
            else:
                self.state, self.reason = "ready", None
        log.info(
            "artifacts %s: %s in %.2f s (models %s, errors %s)",
            s.artifacts_dir.name,
            self.state,
            time.perf_counter() - started,
            sorted(self.predictors),
            self.errors or "none",
        )

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
                        self.settings.batch_max_size,
                        self.settings.batch_max_wait_us / 1e6,
                        on_batch=self._batch_observer(member),
                    )
                backends.append(wrapped[id(backend)])
            out[name] = replace(predictor, backends=backends, stepping_backends=predictor.backends)
        return out

    def _batch_observer(self, model: str) -> Callable[[int, int], None]:
        size = self.metrics.model_batch_size.labels(model)
        depth = self.metrics.queue_depth.labels(model)

        def observe(batch: int, queued: int) -> None:
            size.observe(batch)
            depth.set(queued)

        return observe

    def _fail(self, reason: str) -> None:
        log.error("artifacts cannot be served: %s", reason)
        with self._lock:
            self.state, self.reason = "failed", reason

    @property
    def ready(self) -> bool:
        return self.state == "ready"

    def model_states(self) -> dict[str, str]:
        if self.state == "loading":
            return dict.fromkeys(self.settings.models, "loading")
        return {
            m: "ready" if m in self.predictors else f"unavailable: {self.errors.get(m, self.reason)}"
            for m in self.settings.models
        }

    def range_warnings(self, windows: np.ndarray) -> list[str]:
        """Warnings for windows outside the training value range (where the scaler extrapolates)."""
        assert self.manifest is not None  # a predictor was handed out, so the manifest loaded
        rng = self.manifest.training_range
        return range_warnings(windows, rng.min, rng.max)

    def get(self, name: str) -> Predictor:
        """The predictor for ``name``: 404 for a model not served here, 503 while it cannot answer."""
        if name not in self.settings.models:
            raise ApiError(
                404, "unknown_model", f"unknown model {name!r}; known models: {', '.join(self.settings.models)}"
            )
        predictor = self.predictors.get(name)
        if predictor is None:
            reason = "models are still loading" if self.state == "loading" else self.errors.get(name, self.reason)
            raise ApiError(
                503, "model_unavailable", f"model {name!r} is unavailable: {reason}", headers={"Retry-After": "1"}
            )
        return predictor


def warm_up(predictor: Predictor) -> None:
    """Run every batch shape once so the first real request pays no compile or allocation cost."""
    for size in WARM_UP_BATCHES:
        for backend in predictor.backends:
            backend.predict(np.full((size, predictor.window), 0.5, dtype=np.float32))
