"""Service settings, read from ``FORECAST_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The committed artifacts sit beside the packages in a checkout and in the container (/app).
DEFAULT_ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts"
SERVABLE_MODELS = ("lstm", "gru", "ensemble")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORECAST_", extra="ignore", frozen=True)

    artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR
    backend: Literal["onnx", "keras"] = "onnx"
    models: Annotated[tuple[str, ...], NoDecode] = Field(
        default=SERVABLE_MODELS, description="comma-separated subset of lstm,gru,ensemble"
    )
    # Ready when every configured model loaded; with False, ready as soon as one did (the broken
    # ones answer 503).
    require_all_models: bool = True
    max_batch: int = Field(default=256, ge=1, le=10_000)
    max_horizon: int = Field(default=365, ge=1, le=10_000)
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    # Per-request time budget for a recursive forecast, checked between steps: past it, 504 deadline_exceeded.
    request_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    # Micro-batching of concurrent single-window model calls (see service/inference/batching.py).
    # None ("auto"): on for keras, whose ~170 µs model call is worth sharing; off for onnx, whose ~20 µs
    # call costs about what the coordination does (BENCHMARKS.md, micro-batching table).
    batching: bool | None = None
    batch_max_size: int = Field(default=64, ge=1, le=4096)
    batch_max_wait_us: int = Field(default=200, ge=0, le=100_000)
    onnx_threads: int = Field(default=1, ge=0, le=64)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    api_key: SecretStr | None = None
    docs_enabled: bool = True

    @property
    def batching_enabled(self) -> bool:
        return self.backend == "keras" if self.batching is None else self.batching

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [m for m in value if m not in SERVABLE_MODELS]
        if unknown or not value:
            raise ValueError(
                f"models must be a non-empty subset of {','.join(SERVABLE_MODELS)}; got {unknown or 'none'}"
            )
        return tuple(dict.fromkeys(value))

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
