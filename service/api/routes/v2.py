"""Open Inference Protocol (KServe V2) REST endpoints, beside the /v1 API.

Lets generic inference clients (tritonclient, KServe's v2 client, plain curl) call the models with the
protocol's JSON tensor format. One input, ``window`` (FP32, shape ``[-1, W]``, prices, oldest first), one
output, ``prediction`` (FP32, shape ``[-1, 1]``). A request parameter ``horizon`` turns one window into a
recursive multi-step forecast, returned with shape ``[1, horizon]``.

Errors use the protocol's shape, ``{"error": "message"}``: 400 for a bad request (malformed JSON, unknown
tensor, wrong datatype or shape, values that are not finite positive numbers, over the server's limits),
401 without the API key, 404 for an unknown model or version, 503 while a model cannot answer, 504 for a
forecast past the server's time limit. The /v1 error shape is left untouched: the conversion happens in
this router's route class. (The body guard's 413/415 and unmatched paths keep the service-wide shape.)

Not supported: the binary tensor data extension (send ``binary_data=False`` inputs; a request for a
binary output is answered in JSON, which clients read the same way), and model repository/statistics
endpoints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from service import __version__
from service.api.deps import MetricsDep, RegistryDep, SettingsDep, require_api_key
from service.api.forecasting import forecast_within_deadline
from service.core.config import Settings
from service.core.errors import ApiError, field_path
from service.core.metrics import Metrics
from service.core.registry import ModelRegistry
from service.inference.predictor import Predictor

SERVER_NAME = "stock-forecast"
# "parameters": requests may carry parameters (here: "horizon"). No binary_tensor_data, no shared memory.
EXTENSIONS = ["parameters"]
INPUT_NAME = "window"
OUTPUT_NAME = "prediction"
DATATYPE = "FP32"
FLOAT32_MAX = float(np.finfo(np.float32).max)
_PLATFORMS = {"onnx": "onnxruntime", "keras": "tensorflow"}
_RETRY = {"Retry-After": "1"}
BINARY_UNSUPPORTED = (
    "binary tensor data is not supported; send the values as JSON in 'data' "
    "(tritonclient: set_data_from_numpy(..., binary_data=False))"
)


def error_json(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class V2Route(APIRoute):
    """Answers every error of its routes in the protocol's ``{"error": "..."}`` shape (400, not 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route_handler(request: Request) -> Response:
            if "inference-header-content-length" in request.headers:
                return error_json(400, BINARY_UNSUPPORTED)
            try:
                return await handler(request)
            except ApiError as exc:
                status = 400 if exc.status == 422 else exc.status
                return error_json(status, exc.message, exc.headers)
            except RequestValidationError as exc:
                return error_json(400, _validation_message(exc))
            except StarletteHTTPException as exc:  # e.g. FastAPI's own 400 for a body that is not UTF-8
                detail = exc.detail if isinstance(exc.detail, str) else "bad request"
                return error_json(exc.status_code, detail, getattr(exc, "headers", None))

        return route_handler


def _validation_message(exc: RequestValidationError) -> str:
    errors = list(exc.errors())
    bad_json = next((e for e in errors if e["type"] == "json_invalid"), None)
    if bad_json is not None:
        loc = bad_json.get("loc") or ()
        where = f" near character {loc[-1]}" if loc and isinstance(loc[-1], int) else ""
        return f"request body is not valid JSON{where}"
    if any(e["type"] == "model_attributes_type" and tuple(e.get("loc", ())) == ("body",) for e in errors):
        return "request body must be a JSON object"
    return "; ".join(f"{field_path(e.get('loc', ()))}: {e['msg']}" for e in errors[:3])


# strict_content_type=False: tritonclient posts JSON without a Content-Type header.
router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"], route_class=V2Route, strict_content_type=False)


# --- bodies -------------------------------------------------------------------------------------------

Parameters = dict[str, Any]
Scalars = dict[str, str | int | float | bool]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TensorInput(_Body):
    name: str
    shape: Annotated[list[Annotated[int, Field(strict=True, ge=0)]], Field(max_length=8)]
    datatype: str
    parameters: Parameters | None = None
    data: Any = Field(default=None, description="tensor values, flat or nested, row-major")


class RequestedOutput(_Body):
    name: str
    parameters: Parameters | None = None


class InferRequest(_Body):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "id": "42",
                    "inputs": [{"name": "window", "shape": [1, 3], "datatype": "FP32", "data": [150.1, 150.3, 149.8]}],
                    "parameters": {"horizon": 5},
                }
            ]
        },
    )

    id: str | None = None
    parameters: Parameters | None = Field(
        default=None, description='optional {"horizon": H}: recursive H-step forecast from one window'
    )
    inputs: Annotated[list[TensorInput], Field(min_length=1)]
    outputs: list[RequestedOutput] | None = None


class TensorOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[float]


class InferResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_name: str
    model_version: str
    id: str | None = None
    parameters: Scalars | None = None
    outputs: list[TensorOutput]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class _Error(BaseModel):
    error: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": _Error, "description": text}
    for code, text in {
        400: "bad request: malformed JSON, unknown tensor, wrong datatype/shape, invalid values, over a limit",
        401: "missing or wrong API key",
        404: "unknown model or version",
        503: "model not loaded (yet)",
        504: "a forecast ran past the server's time limit",
    }.items()
}


# --- helpers ------------------------------------------------------------------------------------------


def _bad(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def _known(registry: ModelRegistry, name: str) -> None:
    if name not in registry.settings.models:
        registry.get(name)  # raises the 404 naming the known models


def _version(registry: ModelRegistry, name: str) -> str:
    """The served version of ``name``; 503 while the artifacts are not loaded."""
    predictor = registry.predictors.get(name)
    if predictor is not None:
        return predictor.version
    m = registry.manifest
    if m is None:
        raise ApiError(503, "model_unavailable", f"model {name!r} is unavailable: {registry.reason}", headers=_RETRY)
    members = (m.ensemble.members if m.ensemble else list(m.models)) if name == "ensemble" else [name]
    return "+".join(m.models[k].version if k in m.models else "unknown" for k in members)


def _no_version(name: str, version: str, served: str) -> ApiError:
    return ApiError(404, "unknown_version", f"model {name!r} has no version {version!r}; it serves {served!r}")


def _predictor(registry: ModelRegistry, name: str, version: str | None) -> Predictor:
    predictor = registry.get(name)  # 404 unknown, 503 not ready
    if version is not None and version != predictor.version:
        raise _no_version(name, version, predictor.version)
    return predictor


def _nested_shape(data: Any, where: str, depth: int) -> list[int]:
    """The shape of a rectangular nested list at most ``depth`` deep; 400 for a ragged or deeper one."""
    if not isinstance(data, list):
        return []
    if depth == 0:
        raise _bad(f"{where}: data is nested deeper than its shape")
    if not data:
        return [0]
    shapes = [_nested_shape(item, where, depth - 1) for item in data]
    if any(s != shapes[0] for s in shapes):
        raise _bad(f"{where}: nested data is ragged (rows of different lengths)")
    return [len(data), *shapes[0]]


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        return [data]
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _windows(tensor: TensorInput, window: int, max_batch: int) -> np.ndarray:
    """Validate the ``window`` tensor and return it as an (n, window) float64 array."""
    where = f"input {tensor.name!r}"
    if tensor.datatype != DATATYPE:
        raise _bad(f"{where}: datatype {tensor.datatype!r} is not supported; the model expects {DATATYPE}")
    if tensor.data is None:
        binary = tensor.parameters is not None and "binary_data_size" in tensor.parameters
        raise _bad(f"{where}: {BINARY_UNSUPPORTED}" if binary else f"{where}: 'data' is required")
    shape = tensor.shape
    if len(shape) not in (1, 2):
        raise _bad(f"{where}: shape {shape} must be [N, {window}] (or [{window}] for one window)")
    if shape[-1] != window:
        raise _bad(f"{where}: the last dimension must be the model's window {window}, got shape {shape}")
    rows = shape[0] if len(shape) == 2 else 1
    if rows < 1:
        raise _bad(f"{where}: shape {shape} holds no window")
    if rows > max_batch:
        raise _bad(f"{where}: batch of {rows} windows is over the limit of {max_batch}")
    nested = isinstance(tensor.data, list) and any(isinstance(v, list) for v in tensor.data)
    if nested:
        got = _nested_shape(tensor.data, where, len(shape))
        if got != shape:
            raise _bad(f"{where}: nested data has shape {got}, but the declared shape is {shape}")
    values = _flatten(tensor.data)
    if len(values) != rows * window:
        raise _bad(f"{where}: shape {shape} needs {rows * window} values, data holds {len(values)}")
    for i, v in enumerate(values):
        # bool is an int subclass: refuse true/false rather than reading them as 1/0.
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and 0 < v <= FLOAT32_MAX
        if not ok:
            raise _bad(
                f"{where}: data[{i}] (window {i // window}, position {i % window}) is {v!r}; "
                "every value must be a finite positive number (a price)"
            )
    return np.asarray(values, dtype=np.float64).reshape(rows, window)


def _horizon(parameters: Parameters | None, max_horizon: int) -> int | None:
    if not parameters or "horizon" not in parameters:
        return None
    horizon = parameters["horizon"]
    if isinstance(horizon, bool) or not isinstance(horizon, int):
        raise _bad(f"parameter 'horizon' must be an integer, got {horizon!r}")
    if horizon < 1:
        raise _bad(f"parameter 'horizon' must be at least 1, got {horizon}")
    if horizon > max_horizon:
        raise _bad(f"parameter 'horizon': {horizon} is over the limit of {max_horizon}")
    return horizon


def _finite(values: np.ndarray) -> list[float]:
    if not np.isfinite(values).all():
        raise _bad("the model's output overflowed for this input: the values are too extreme to forecast")
    return [float(v) for v in values.ravel()]


# --- routes -------------------------------------------------------------------------------------------


async def _served(name: str, registry: RegistryDep) -> Predictor:
    return _predictor(registry, name, None)


async def _served_version(name: str, version: str, registry: RegistryDep) -> Predictor:
    return _predictor(registry, name, version)


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


def _metadata(registry: ModelRegistry, name: str, version: str | None) -> ModelMetadata:
    _known(registry, name)
    served = _version(registry, name)
    if version is not None and version != served:
        raise _no_version(name, version, served)
    assert registry.manifest is not None
    w = registry.manifest.window
    return ModelMetadata(
        name=name,
        versions=[served],
        platform=_PLATFORMS.get(registry.settings.backend, registry.settings.backend),
        inputs=[TensorMetadata(name=INPUT_NAME, datatype=DATATYPE, shape=[-1, w])],
        outputs=[TensorMetadata(name=OUTPUT_NAME, datatype=DATATYPE, shape=[-1, 1])],
    )


@router.get("/models/{name}", response_model=ModelMetadata, responses=_ERRORS, summary="Model metadata")
async def model_metadata(name: str, registry: RegistryDep) -> ModelMetadata:
    return _metadata(registry, name, None)


@router.get(
    "/models/{name}/versions/{version}",
    response_model=ModelMetadata,
    responses=_ERRORS,
    summary="Model metadata (one version)",
)
async def model_version_metadata(name: str, version: str, registry: RegistryDep) -> ModelMetadata:
    return _metadata(registry, name, version)


@router.get(
    "/models/{name}/ready",
    responses=_ERRORS,
    dependencies=[Depends(_served)],
    summary="Model readiness: 200 once it can answer",
)
async def model_ready(name: str) -> dict[str, Any]:
    return {"name": name, "ready": True}


@router.get(
    "/models/{name}/versions/{version}/ready",
    responses=_ERRORS,
    dependencies=[Depends(_served_version)],
    summary="Model readiness (one version)",
)
async def model_version_ready(name: str) -> dict[str, Any]:
    return {"name": name, "ready": True}


def _infer(
    name: str, body: InferRequest, predictor: Predictor, registry: ModelRegistry, settings: Settings, metrics: Metrics
) -> InferResponse:
    if len(body.inputs) != 1 or body.inputs[0].name != INPUT_NAME:
        names = ", ".join(repr(t.name) for t in body.inputs)
        raise _bad(
            f"model {name!r} takes exactly one input, {INPUT_NAME!r} ({DATATYPE}, shape [-1, {predictor.window}]); "
            f"got {names}"
        )
    for out in body.outputs or []:
        if out.name != OUTPUT_NAME:
            raise _bad(f"unknown output {out.name!r}; model {name!r} has one output, {OUTPUT_NAME!r}")
    horizon = _horizon(body.parameters, settings.max_horizon)
    x = _windows(body.inputs[0], predictor.window, settings.max_batch)
    if horizon is not None and x.shape[0] != 1:
        raise _bad(f"a forecast (parameter 'horizon') takes exactly one window, got {x.shape[0]}")
    warnings = registry.range_warnings(x)
    started = time.perf_counter()
    if horizon is None:
        kind, values, shape = "predict", predictor.predict(x), [x.shape[0], 1]
    else:
        values = forecast_within_deadline(predictor, x[0], horizon, settings.request_timeout_s)
        kind, shape = "forecast", [1, horizon]
    metrics.inference_seconds.labels(name, kind).observe(time.perf_counter() - started)
    metrics.predictions.labels(name, kind).inc(int(np.size(values)))
    if kind == "predict":
        metrics.batch_size.labels(name).observe(x.shape[0])
    return InferResponse(
        model_name=name,
        model_version=predictor.version,
        id=body.id,
        parameters={"warnings": "; ".join(warnings)} if warnings else None,
        outputs=[TensorOutput(name=OUTPUT_NAME, datatype=DATATYPE, shape=shape, data=_finite(values))],
    )


_INFER: dict[str, Any] = {
    "response_model": InferResponse,
    "response_model_exclude_none": True,
    "responses": _ERRORS,
}


# Sync handlers: FastAPI runs them in its thread pool, so inference never blocks the event loop.
@router.post(
    "/models/{name}/infer",
    **_INFER,
    dependencies=[Depends(require_api_key)],
    summary="Inference: the next value after each window, or a forecast with parameters.horizon",
)
def infer(
    name: str,
    body: InferRequest,
    predictor: Annotated[Predictor, Depends(_served)],
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> InferResponse:
    return _infer(name, body, predictor, registry, settings, metrics)


@router.post(
    "/models/{name}/versions/{version}/infer",
    **_INFER,
    dependencies=[Depends(require_api_key)],
    summary="Inference (one version)",
)
def infer_version(
    name: str,
    version: str,
    body: InferRequest,
    predictor: Annotated[Predictor, Depends(_served_version)],
    registry: RegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> InferResponse:
    return _infer(name, body, predictor, registry, settings, metrics)
