"""Inference backends: one small interface, an onnxruntime and a TensorFlow implementation."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from forecast_core.backends.base import Backend

BackendKind = Literal["onnx", "keras"]


def open_backend(
    kind: BackendKind, path: Path, window: int, *, threads: int = 1, features: int | None = None
) -> Backend:
    """Open one model file with the chosen runtime. TensorFlow is imported only for ``keras``.

    ``features=None`` is a univariate model, (n, window) -> (n,); ``features=k`` a multi-feature
    one, (n, window, k) -> (n, k).
    """
    if kind == "onnx":
        from forecast_core.backends.onnx_backend import OnnxBackend

        return OnnxBackend(path, window, threads=threads, features=features)
    if kind == "keras":
        from forecast_core.backends.keras_backend import KerasBackend

        return KerasBackend.from_file(path, window, features=features)
    raise ValueError(f"unknown backend {kind!r}")


__all__ = ["Backend", "BackendKind", "open_backend"]
