"""Service settings, read from ``FORECAST_*`` environment variables."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# The committed model sets sit beside the packages in a checkout and in the container (/app).
DEFAULT_ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / "artifacts"
# Model names as the URL path carries them (they come from the manifests: lstm, ohlc-gru, ...).
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def cores() -> int:
    """CPUs this process may run on (its affinity mask, which container CPU sets narrow), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FORECAST_", extra="ignore", frozen=True)

    artifacts_dir: Path = DEFAULT_ARTIFACTS_DIR
    backend: Literal["onnx", "keras"] = "onnx"
    # None: every model of every set found under artifacts_dir.
    models: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        default=None, description="comma-separated subset of the served models (default: all found)"
    )
    # Ready when every configured model loaded; with False, ready as soon as one did (the broken
    # ones answer 503).
    require_all_models: bool = True
    max_batch: int = Field(default=256, ge=1, le=10_000)
    max_horizon: int = Field(default=365, ge=1, le=10_000)
    # Series in one time-series forecast request (POST /v1/timeseries/forecast): each step of the recursive
    # forecast is one model call for all of them. FORECAST_MAX_BODY_BYTES bounds the body as well.
    timeseries_max_series: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    # Per-request time budget for a recursive forecast, checked between steps: past it, 504 deadline_exceeded.
    request_timeout_s: float = Field(default=10.0, gt=0, le=3600)
    # After SIGTERM, how long requests in flight may still run before their connections are closed
    # (keep it under the orchestrator's grace period: 30 s in deploy/kubernetes).
    shutdown_timeout_s: float = Field(default=10.0, ge=0, le=3600)
    # Admission control (service/dataplane/admission.py): model computations at once per worker (None:
    # one per core), and how many more may wait for one; beyond that 503 + Retry-After at once.
    max_inflight: int | None = Field(default=None, ge=1, le=1024)
    max_queue: int = Field(default=64, ge=0, le=100_000)
    # Server (forecast-serve) protection from slow and greedy clients; see docs/reliability.md.
    # httptools by default: /healthz 1.5x and predict 1.2x the requests/s of h11, predict p50 0.77x
    # (one run, this 2-core machine). h11 also caps headers still arriving (slowloris, huge headers);
    # a complete header block over the cap is refused (431) either way, by the body guard.
    http: Literal["h11", "httptools"] = "httptools"
    # The event loop. asyncio by default: under 64 keep-alive clients uvloop left 1-2 % of predicts
    # waiting 0.4-1.7 s (p99 0.36-1.04 s over three rounds; the kernel counted TCP loss probes and
    # retransmits on loopback meanwhile) where asyncio's p99 was 0.12-0.13 s, for 0.88x the requests/s
    # (benchmarks/loops.py; BENCHMARKS.md, "The event loop").
    loop: Literal["asyncio", "uvloop"] = "asyncio"
    max_header_bytes: int = Field(default=16_384, ge=1_024, le=1_048_576)
    keep_alive_s: int = Field(default=5, ge=1, le=3600)
    max_connections: int | None = Field(default=256, ge=1, le=100_000)
    # A request's headers and body must all arrive within this many seconds of its first byte (or of the
    # connection's opening): 408 and close beyond (service/core/server.py). uvicorn alone has no such
    # bound: its keep-alive timer stops at the first byte, so a 1-byte/s client is held forever.
    read_timeout_s: float = Field(default=15.0, gt=0, le=3600)
    # Per worker: bytes of requests still arriving (beyond the first 64 KiB of each) held at once; the
    # request that would go over gets 503 + Retry-After and is closed (0: no budget). 300 stalled 900 kB
    # uploads held 338 MiB in one worker without it.
    upload_budget_bytes: int = Field(default=64_000_000, ge=0, le=1 << 40)
    # How often each worker hands freed heap memory back to the system with glibc's malloc_trim (0: never;
    # service/core/process.py). After a burst of 256-window batches RSS went from 1.9x to 1.4-1.5x of idle.
    malloc_trim_s: float = Field(default=10.0, ge=0, le=3600)
    # Micro-batching of concurrent single-window model calls (see forecast_core/batching.py).
    # None ("auto"): on for keras, whose ~170 µs model call is worth sharing; off for onnx, whose ~20 µs
    # call costs about what the coordination does (BENCHMARKS.md, micro-batching table).
    batching: bool | None = None
    batch_max_size: int = Field(default=64, ge=1, le=4096)
    batch_max_wait_us: int = Field(default=200, ge=0, le=100_000)
    onnx_threads: int = Field(default=1, ge=0, le=64)
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    # The request log (service/core/requestlog.py): one JSON line per request, written at access_log_level
    # (so FORECAST_LOG_LEVEL above it silences it too); failures always, successes at the sampled rate.
    # Off by default: on, it cost 23-34 % of the requests/s of /v1 predict and /v2 infer at 64 connections
    # (one worker, this 2-core machine; BENCHMARKS.md, "Request log"), over the 10 % a default may cost.
    access_log: bool = False
    access_log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    access_log_sample: float = Field(default=1.0, ge=0.0, le=1.0)
    api_key: SecretStr | None = None
    # The model repository read again every poll_s seconds for new, changed and removed versions (0: once, at
    # start; SIGHUP and the repository API reload on demand either way). See docs/operations.md.
    poll_s: float = Field(default=0.0, ge=0, le=86_400)
    # The Open Inference Protocol repository API (/v2/repository/...) exists only with this key, sent as
    # X-Admin-Key: it changes what is served, so the prediction key does not open it.
    admin_key: SecretStr | None = None
    # A second key accepted beside api_key while clients move to a new one (key rotation): set it to the
    # new key, move the clients, then make it FORECAST_API_KEY and unset this one.
    api_key_next: SecretStr | None = None
    # /metrics behind the API key too, for clusters whose scrapers can send a header (one setting rather
    # than a port of its own: uvicorn's workers share one listening socket, a second port would need a
    # server of its own in every worker).
    metrics_require_key: bool = False
    docs_enabled: bool = True

    @property
    def api_keys(self) -> tuple[bytes, ...]:
        """Every key a client may send (none: the service is open), encoded for a constant-time compare."""
        return tuple(k.get_secret_value().encode() for k in (self.api_key, self.api_key_next) if k is not None)

    @property
    def inflight_limit(self) -> int:
        """Model computations at once per worker: ``max_inflight``, or one per core this process may use."""
        return self.max_inflight or cores()

    @property
    def batching_enabled(self) -> bool:
        return self.backend == "keras" if self.batching is None else self.batching

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip()) or None
        return value

    @field_validator("models")
    @classmethod
    def _valid_names(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        bad = [m for m in value if not MODEL_NAME.match(m)]
        if bad or not value:
            raise ValueError(
                f"models must be a non-empty list of model names (e.g. lstm,ohlc-gru); got {bad or 'none'}"
            )
        return tuple(dict.fromkeys(value))

    @field_validator("api_key", "api_key_next", "admin_key")
    @classmethod
    def _key_not_blank(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # An empty or blank key is refused rather than read as "no key": it is what an empty Kubernetes
        # Secret or an unfilled env template gives, whose operator meant to protect the service. Unset
        # the variable to run without a key.
        if value is not None and not value.get_secret_value().strip():
            variable = f"FORECAST_{(info.field_name or 'api_key').upper()}"
            raise ValueError(
                f"{variable} is set but empty or blank: set it to a key clients may send in X-API-Key, or unset it"
            )
        return value

    @model_validator(mode="after")
    def _keys_consistent(self) -> Settings:
        # A next key alone would turn the key on half-configured; rotation means two keys, the current one set.
        if self.api_key_next is not None and self.api_key is None:
            raise ValueError("FORECAST_API_KEY_NEXT is set without FORECAST_API_KEY: set the current key too")
        if self.metrics_require_key and self.api_key is None:
            raise ValueError("FORECAST_METRICS_REQUIRE_KEY is true but FORECAST_API_KEY is unset: there is no key")
        return self

    @field_validator("log_level", "access_log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
