"""/v1 wire types: request and response bodies and their type rules (the value rules live in the dataplane).

A window is either a list of prices (one-column models such as ``lstm``) or an object of equally long
price lists, one per input column (``{"open", "high", "low", "close"}`` for the OHLC models such as
``ohlc-gru``); which one a model takes, and its columns, are in ``GET /v1/models``. The columns are
checked against the model's by the codec, so a model of any feature set is served without a change here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from service.dataplane.rules import FLOAT32_MAX

# Strict: "1.5", true and null are refused rather than coerced; JSON NaN/Infinity are refused.
Price = Annotated[
    float,
    Field(strict=True, allow_inf_nan=False, gt=0, le=FLOAT32_MAX, description="a finite positive price"),
]
Window = Annotated[list[Price], Field(min_length=1, description="consecutive daily prices, oldest first")]

_EXAMPLE_WINDOW: list[Any] = [round(150 + 0.05 * i, 2) for i in range(60)]


ColumnsWindow = Annotated[
    dict[str, Window],
    Field(
        description="one window as equally long price lists, one per input column of the model, oldest first",
        examples=[{"open": [10.0, 10.2], "high": [10.4, 10.5], "low": [9.9, 10.1], "close": [10.2, 10.3]}],
    ),
]


def _window_kind(value: Any) -> str:
    return "bars" if isinstance(value, dict) else "prices"  # "bars": the tag errors.field_path drops


# The tag names are dropped from error locations (service.core.errors.field_path): clients see
# ``window[3]`` or ``window.high[3]``, not the union's branch.
AnyWindow = Annotated[
    Annotated[Window, Tag("prices")] | Annotated[ColumnsWindow, Tag("bars")],
    Discriminator(_window_kind),
]


IntervalLevels = Annotated[
    list[Literal[50, 80, 90, 95, 99]],
    Field(min_length=1, max_length=5, description="central prediction-interval levels in percent"),
]


def _unique_levels(levels: list[int] | None) -> list[int] | None:
    if levels is not None and len(set(levels)) != len(levels):
        raise ValueError("interval levels must not repeat")
    return sorted(levels) if levels is not None else None


# Prices, or one object per step keyed by the model's output columns (bars for the OHLC models).
Values = list[float] | list[dict[str, float]]


class Interval(BaseModel):
    level: int = Field(description="nominal coverage in percent")
    lower: Values = Field(description="shaped like the point answer: prices, or bars for OHLC models")
    upper: Values


class PredictRequest(BaseModel):
    """Exactly one of ``window`` (one series) or ``windows`` (a batch)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"window": _EXAMPLE_WINDOW}]})

    window: AnyWindow | None = None
    windows: Annotated[list[AnyWindow], Field(min_length=1)] | None = None
    intervals: IntervalLevels | None = None

    _levels = field_validator("intervals")(_unique_levels)

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.window is None) == (self.windows is None):
            raise ValueError("give exactly one of 'window' or 'windows'")
        return self

    def batch(self) -> list[list[float] | dict[str, list[float]]]:
        return [self.window] if self.window is not None else list(self.windows or [])


class ForecastRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"window": _EXAMPLE_WINDOW, "horizon": 5, "intervals": [80, 95]}]},
    )

    window: AnyWindow
    horizon: Annotated[int, Field(strict=True, ge=1, description="steps to forecast (at most the server's max)")]
    intervals: IntervalLevels | None = None

    _levels = field_validator("intervals")(_unique_levels)


class PredictResponse(BaseModel):
    model: str
    version: str
    predictions: Values = Field(description="the next value (or bar) after each window, in price units")
    intervals: list[Interval] | None = Field(default=None, description="bounds per window, when requested")
    warnings: list[str] = Field(default_factory=list)


class ForecastResponse(BaseModel):
    model: str
    version: str
    horizon: int
    forecast: Values = Field(description="values (or bars) for steps 1..horizon, each fed back as input to the next")
    intervals: list[Interval] | None = Field(default=None, description="bounds per step, when requested")
    warnings: list[str] = Field(default_factory=list)


class DateRange(BaseModel):
    start: date
    end: date


class ValueRange(BaseModel):
    min: float
    max: float


class Calibration(BaseModel):
    method: str
    levels: list[int]
    max_horizon: int
    calibration_dates: DateRange
    test_coverage: list[dict[str, float | int | str]] = Field(
        description="coverage and width measured on the test period"
    )


class VersionStatus(BaseModel):
    version: str = Field(description="the version directory's name in the model repository")
    state: Literal["ready", "failed"]
    reason: str | None = Field(default=None, description="why a failed version is not served")


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    version: str = Field(description="the current version: unversioned requests go to it")
    run: str | None = Field(default=None, description="the training run's id (its networks' versions)")
    versions: list[VersionStatus] = Field(default_factory=list, description="every version held, highest first")
    description: str
    model_set: str = Field(description="the artifact directory the model comes from")
    kind: str = Field(description="the model set's kind as its manifest names it: univariate, ohlc, ...")
    inputs: list[str] = Field(description="the columns of each input step, in order")
    outputs: list[str] = Field(description="the columns of each predicted step, in order")
    backend: str
    trained_at: datetime
    target_column: str
    window: int
    training_dates: DateRange
    training_values: ValueRange | None = Field(default=None, description="univariate models: the scaler's range")
    parameters: int
    recipe: str | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    members: list[str] = Field(default_factory=list)
    test_metrics: dict[str, float] | None = None
    sequence_rmse: float | None = None
    calibration: Calibration | None = None
    ready: bool
    error: str | None = None


class ModelList(BaseModel):
    models: list[ModelInfo]


class ErrorDetail(BaseModel):
    field: str
    rule: str
    message: str


class ErrorInfo(BaseModel):
    status: int
    code: str
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorResponse(BaseModel):
    error: ErrorInfo
