"""KServe's model server on ``lstm.onnx``: a ``kserve.Model`` whose ``predict`` runs onnxruntime.

Runs inside ``.venvs/kserve`` (``setup.sh``), started by the peers harness as::

    .venvs/kserve/bin/python -m benchmarks.peers.kserve_model --artifacts artifacts/ibm-high \
        --model_name lstm --http_port 8080 --enable_grpc false

It answers KServe's V1 protocol (``POST /v1/models/lstm:predict`` with ``{"instances": [[60 prices]]}``,
``{"predictions": [price]}`` back) and V2, the Open Inference Protocol (``POST /v2/models/lstm/infer``
with a ``[n, 60]`` FP32 tensor). Everything else is KServe's default (``kserve.ModelServer``'s own
argument parser, one uvicorn worker, a synchronous ``predict`` as KServe's examples write it) except
two things: its REST server listens on 127.0.0.1 (KServe hard-codes 0.0.0.0) and the harness turns its
gRPC server off (it binds every interface and is not measured).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import kserve
import kserve.protocol.rest.server as kserve_rest
import numpy as np
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.utils.utils import generate_uuid

from benchmarks.peers.lstm_onnx import OUTPUT_NAME, LstmOnnx

HOST = "127.0.0.1"


class LstmModel(kserve.Model):
    """``lstm.onnx`` between its min-max scaling; one prediction per window, in prices."""

    def __init__(self, name: str, artifacts: Path) -> None:
        super().__init__(name)
        self.artifacts = artifacts
        self.lstm: LstmOnnx | None = None
        self.load()

    def load(self) -> bool:
        self.lstm = LstmOnnx(self.artifacts)
        self.ready = True
        return True

    def predict(
        self, payload: dict[str, Any] | InferRequest, headers: dict[str, str] | None = None, **_: Any
    ) -> dict[str, Any] | InferResponse:
        assert self.lstm is not None, "not loaded"
        if isinstance(payload, InferRequest):
            y = self.lstm.predict(payload.inputs[0].as_numpy())
            out = InferOutput(name=OUTPUT_NAME, shape=[len(y), 1], datatype="FP64", data=y.tolist())
            return InferResponse(response_id=payload.id or generate_uuid(), model_name=self.name, infer_outputs=[out])
        return {"predictions": self.lstm.predict(np.asarray(payload["instances"])).tolist()}


UVICORN_CONFIG = kserve_rest.uvicorn.Config  # KServe's, before main() replaces it


def loopback_config(*args: Any, **kwargs: Any) -> Any:
    """uvicorn's ``Config`` with the host KServe passes replaced by 127.0.0.1."""
    return UVICORN_CONFIG(*args, **{**kwargs, "host": HOST})


def main() -> None:
    parser = argparse.ArgumentParser(parents=[kserve.model_server.parser])
    parser.add_argument("--artifacts", type=Path, required=True, help="the folder of lstm.onnx and scaler.json")
    args, _ = parser.parse_known_args()
    kserve_rest.uvicorn.Config = loopback_config
    kserve.ModelServer().start([LstmModel(args.model_name, args.artifacts)])


if __name__ == "__main__":
    main()
