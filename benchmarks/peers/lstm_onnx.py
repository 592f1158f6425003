"""The ``lstm`` model as the peers serve it: ``lstm.onnx`` between the min-max scaling of ``scaler.json``.

The same steps as ``forecast_core`` (``MinMaxScaling`` and ``OnnxBackend``): prices to model
units in float64 then float32, one onnxruntime session with one intra-op and one inter-op thread and
every graph optimisation, the output mapped back to prices in float64. It needs only NumPy and
onnxruntime, so it runs inside a peer's virtual environment, which holds neither the project nor
pydantic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

INPUT_NAME = "window"
OUTPUT_NAME = "prediction"
MODEL_FILE = "lstm.onnx"
SCALER_FILE = "scaler.json"


class LstmOnnx:
    """Next-step predictions of ``lstm.onnx`` in ``artifacts``: prices in, prices out."""

    def __init__(self, artifacts: Path) -> None:
        scaler = json.loads((artifacts / SCALER_FILE).read_text(encoding="utf-8"))
        low, high = (float(v) for v in scaler.get("feature_range", (0.0, 1.0)))
        self.scale = (high - low) / (float(scaler["data_max"]) - float(scaler["data_min"]))
        self.offset = low - float(scaler["data_min"]) * self.scale
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(artifacts / MODEL_FILE), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self.window = int(self.session.get_inputs()[0].shape[1])

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """One prediction per row of ``windows`` (shape ``[n, window]``, or one window), in prices."""
        x = np.asarray(windows, dtype=np.float64).reshape(-1, self.window)
        scaled = np.ascontiguousarray(x * self.scale + self.offset, dtype=np.float32)
        (out,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: scaled})
        return (np.asarray(out, dtype=np.float64).reshape(-1) - self.offset) / self.scale
