"""MLServer on ``lstm.onnx``: a custom ``MLModel`` runtime whose ``predict`` runs onnxruntime.

Runs inside ``.venvs/mlserver`` (``setup.sh``); the peers harness writes ``settings.json`` (127.0.0.1,
free ports, ``parallel_workers`` 0: inference in the server's own process) and ``model-settings.json``
(``implementation`` this class, ``parameters.uri`` the artifacts folder) into a temporary folder and
starts ``mlserver start <folder>`` with the repository root on ``PYTHONPATH``. It answers V2, the
Open Inference Protocol (``POST /v2/models/lstm/infer`` with a ``[n, 60]`` FP32 tensor); everything
else is MLServer's default.
"""

from __future__ import annotations

from pathlib import Path

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse

from benchmarks.peers.lstm_onnx import OUTPUT_NAME, LstmOnnx


class LstmRuntime(MLModel):
    """``lstm.onnx`` between its min-max scaling; one prediction per window, in prices."""

    async def load(self) -> bool:
        uri = self.settings.parameters.uri if self.settings.parameters else None
        if not uri:
            raise ValueError("model-settings.json: parameters.uri must name the artifacts folder")
        self.lstm = LstmOnnx(Path(uri))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        y = self.lstm.predict(NumpyCodec.decode_input(payload.inputs[0]))
        return InferenceResponse(
            id=payload.id,
            model_name=self.name,
            outputs=[NumpyCodec.encode_output(OUTPUT_NAME, y.reshape(-1, 1))],
        )
