"""Open Inference Protocol (KServe V2) REST routes: decode tensors, call the dataplane, encode tensors.

Lets generic inference clients (tritonclient, KServe's v2 client, plain curl) call every model with the
protocol's JSON tensors or its binary tensor data extension (tritonclient's default; see
:mod:`service.api.v2.codec` for the tensors, :mod:`service.api.v2.binary` for the framing). Not
supported: shared memory, and model repository/statistics endpoints.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from service import __version__
from service.api import hot
from service.api.deps import DataPlaneDep, ModelDep, ModelVersionDep, RegistryDep, authorized_dataplane
from service.api.v2 import binary, codec, errors
from service.api.v2.types import (
    ErrorBody,
    InferRequest,
    InferResponse,
    ModelMetadata,
    ServerMetadata,
    TensorMetadata,
)
from service.dataplane import ModelCard

SERVER_NAME = "stock-forecast"
# "parameters": requests may carry parameters (here: "horizon"); "binary_tensor_data": raw FP32 tensors
# after the JSON header, both ways. No shared memory.
EXTENSIONS = ["parameters", "binary_tensor_data"]
_PLATFORMS = {"onnx": "onnxruntime", "keras": "tensorflow"}
_RETRY = {"Retry-After": "1"}
_ERRORS = hot.error_responses(
    ErrorBody,
    {
        400: "bad request: malformed JSON, unknown tensor, wrong datatype/shape, invalid values, over a limit",
        401: "missing or wrong API key",
        404: "unknown model or version",
        503: "model not loaded (yet)",
        504: "a forecast ran past the server's time limit",
    },
)

router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])


@router.get("", response_model=ServerMetadata, summary="Server metadata")
async def server_metadata() -> ServerMetadata:
    return ServerMetadata(name=SERVER_NAME, version=__version__, extensions=EXTENSIONS)


@router.get("/health/live", summary="Liveness: 200 while the process runs")
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready", summary="Readiness: 200 once every configured model is loaded", responses=_ERRORS)
async def server_ready(registry: RegistryDep) -> JSONResponse:
    if registry.ready:
        return JSONResponse({"ready": True})
    return JSONResponse({"ready": False, "error": registry.reason or registry.state}, status_code=503, headers=_RETRY)


def _metadata(card: ModelCard, versions: list[str]) -> ModelMetadata:
    k = len(card.outputs)
    return ModelMetadata(
        name=card.name,
        versions=versions or [card.version],
        platform=_PLATFORMS.get(card.backend, card.backend),
        inputs=[TensorMetadata(name=codec.INPUT_NAME, datatype=codec.DATATYPE, shape=[-1, *card.input_shape])],
        outputs=[TensorMetadata(name=codec.OUTPUT_NAME, datatype=codec.DATATYPE, shape=[-1, k])],
        parameters={"input_columns": list(card.inputs), "output_columns": list(card.outputs)},
    )


@router.get("/models/{name}", response_model=ModelMetadata, responses=_ERRORS, summary="Model metadata")
async def model_metadata(name: str, dataplane: DataPlaneDep) -> ModelMetadata:
    card = dataplane.card(name)
    return _metadata(card, [v.version for v in dataplane.registry.versions(name) if v.state == "ready"])


@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelMetadata,
    responses=_ERRORS,
    summary="Model metadata (one version)",
)
async def model_version_metadata(name: str, version: str, dataplane: DataPlaneDep) -> ModelMetadata:
    return _metadata(dataplane.card(name, version), [version])


@router.get("/models/{name}/ready", responses=_ERRORS, summary="Model readiness: 200 once it can answer")
async def model_ready(model: ModelDep) -> dict[str, Any]:
    return {"name": model.name, "ready": True}


@router.get("/models/{name}/versions/{version}/ready", responses=_ERRORS, summary="Model readiness (one version)")
async def model_version_ready(model: ModelVersionDep) -> dict[str, Any]:
    return {"name": model.name, "ready": True}


async def infer(request: Request) -> Response:
    """One handler for JSON and binary tensor requests, every error in the protocol's shape."""
    try:
        # A framing error first, as a route given the JSON header alone always answered; then API key,
        # model and version, and the body.
        header, data = binary.split_body(await request.body(), request.headers.get(binary.HEADER))
        dataplane = authorized_dataplane(request)
        params = request.path_params
        model = dataplane.model(params["name"], params.get("version"))
        body = hot.parse_body(InferRequest, header)
        decoded = codec.decode_infer(body, model.card, data, hot.client_gone(request))
        wants_binary = codec.binary_output(body)
        response, raw = codec.encode_infer(await dataplane.infer(model, decoded), body.id, wants_binary)
    except Exception as exc:
        error = errors.to_response(exc)
        if error is None:
            raise
        return error
    return hot.json_response(response) if raw is None else binary.binary_response(response, raw)


_BINARY_DOC = (
    "Binary tensor data extension: with an `Inference-Header-Content-Length: N` header the first N bytes of "
    "the body are this JSON request and raw little-endian FP32 values follow (an input's "
    "`parameters.binary_data_size` bytes); an output with `parameters.binary_data: true` (or the request "
    "parameter `binary_data_output: true`) comes back the same way, as `application/octet-stream`."
)
_INFER: dict[str, Any] = {
    "tags": router.tags,
    "response_model": InferResponse,
    "response_model_exclude_none": True,
    "responses": _ERRORS,
    "description": _BINARY_DOC,
}
_SUMMARY = "Inference: the next value after each window, or a forecast with parameters.horizon"
#: Served ahead of FastAPI's routing (service/api/hot.py).
hot_routes = [
    hot.HotRoute(
        hot.operation(f"{router.prefix}/models/{{name}}/infer", "infer", InferRequest, summary=_SUMMARY, **_INFER),
        infer,
    ),
    hot.HotRoute(
        hot.operation(
            f"{router.prefix}/models/{{name}}/versions/{{version}}/infer",
            "infer_version",
            InferRequest,
            summary="Inference (one version)",
            **_INFER,
        ),
        infer,
    ),
]
