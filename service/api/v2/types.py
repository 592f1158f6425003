"""Open Inference Protocol (KServe V2) wire types: requests, responses and metadata.

A binary tensor request's JSON header is an :class:`InferRequest` too: its binary input carries
``parameters.binary_data_size`` instead of ``data``; a binary output, ``parameters.binary_data_size``
instead of ``data`` (see :mod:`service.api.v2.binary`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

Parameters = dict[str, Any]
Scalars = dict[str, str | int | float | bool]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TensorInput(_Body):
    name: str
    shape: Annotated[list[Annotated[int, Field(strict=True, ge=0)]], Field(max_length=8)]
    datatype: str
    parameters: Parameters | None = Field(
        default=None, description='{"binary_data_size": bytes}: the values follow the JSON header as raw FP32'
    )
    data: Any = Field(default=None, description="tensor values, flat or nested, row-major")


class RequestedOutput(_Body):
    name: str
    parameters: Parameters | None = Field(default=None, description='{"binary_data": true}: raw FP32 bytes back')


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
        default=None,
        description='optional {"horizon": H}: recursive H-step forecast from one window; '
        '{"binary_data_output": true}: outputs as raw FP32 bytes',
    )
    inputs: Annotated[list[TensorInput], Field(min_length=1)]
    outputs: list[RequestedOutput] | None = None


class TensorOutput(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    parameters: Scalars | None = None
    data: list[float] | None = Field(default=None, description="absent for a binary output")


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
    parameters: dict[str, list[str]] = Field(
        default_factory=dict, description="input_columns / output_columns: the order of the last tensor axis"
    )


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ErrorBody(BaseModel):
    error: str
