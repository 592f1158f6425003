"""onnxruntime backend: one session per model, shared by all threads (``run`` is thread-safe)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

INPUT_NAME = "window"
OUTPUT_NAME = "prediction"


class OnnxBackend:
    kind = "onnx"

    def __init__(self, path: Path, window: int, *, threads: int = 1, features: int | None = None) -> None:
        options = ort.SessionOptions()
        # Single-window RNN steps are too small to gain from intra-op threads; concurrency comes
        # from serving several requests at once instead (see BENCHMARKS.md).
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        self.window = window
        self.features = features
        shape = self._session.get_inputs()[0].shape
        expected = [window] if features is None else [window, features]
        if len(shape) != 1 + len(expected) or list(shape[1:]) != expected:
            wanted = f"window {window}" + ("" if features is None else f" and {features} features")
            raise ValueError(f"{path.name}: input shape {shape} does not match {wanted}")

    def predict(self, windows: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        (out,) = self._session.run([OUTPUT_NAME], {INPUT_NAME: x})
        if self.features is None:
            return out.reshape(-1)
        return out.reshape(-1, self.features)
