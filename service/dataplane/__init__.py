"""The dataplane: the request pipeline both protocols call, the model registry, and domain errors.

Layering: ``service/api/v1`` and ``service/api/v2`` (wire formats) -> this package (one pipeline)
-> ``forecast_core`` (lean pieces shared with training).
"""

from service.dataplane.dataplane import DataPlane, InferenceRequest, InferenceResult, Watch
from service.dataplane.errors import (
    DataPlaneError,
    DeadlineExceeded,
    InvalidInput,
    ModelNotFound,
    ModelNotReady,
    VersionNotFound,
)
from service.dataplane.model import ModelCard, ServedModel
from service.dataplane.registry import ModelRegistry

__all__ = [
    "DataPlane",
    "DataPlaneError",
    "DeadlineExceeded",
    "InferenceRequest",
    "InferenceResult",
    "InvalidInput",
    "ModelCard",
    "ModelNotFound",
    "ModelNotReady",
    "ModelRegistry",
    "ServedModel",
    "VersionNotFound",
    "Watch",
]
