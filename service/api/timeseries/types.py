"""Wire types of KServe's time-series forecast protocol (``POST /v1/timeseries/forecast``).

Field for field the request and response of KServe's ``protocol/rest/timeseries/types.py`` (the
"TimeSeries LLM Forecast API Reference"), written here so the service needs nothing of KServe. A
multivariate series is ``List[List[float]]`` with the first dimension for time and the second for the
variables, as the reference's FAQ says; ``mean_forecast`` and each quantile have the same layout.

The protocol allows extra fields (``extra: allow``); the ones this service reads or writes are
declared below and documented in docs/timeseries.md. Values may be null or non-finite here: the
codec refuses them per series, naming the series, the component and the index, so one bad series
does not sink the others. KServe's ``ForecastRequest``, ``ForecastResponse``, ``ForecastOptions``,
``ForecastOutput``, ``Error`` and ``Status`` carry a ``TimeSeries`` prefix here: /openapi.json names
schemas by class, and /v1 has a ``ForecastRequest`` of its own.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Strict: "1.5" and true are refused, not coerced (a request-level 422); null, NaN and Infinity pass
# to the codec, which names where they are.
Value = Annotated[float, Field(strict=True)] | None
TimeSeries = list[Value] | list[list[Value]]
_ALLOW = ConfigDict(extra="allow")


class Frequency(StrEnum):
    """The protocol's frequencies; the models here are daily, so only ``D`` / ``day`` (trading days) is served."""

    SECOND = "second"
    SECOND_SHORT = "S"
    MINUTE = "minute"
    MINUTE_SHORT = "T"
    HOUR = "hour"
    HOUR_SHORT = "H"
    DAY = "day"
    DAY_SHORT = "D"
    WEEK = "week"
    WEEK_SHORT = "W"
    MONTH = "month"
    MONTH_SHORT = "M"
    QUARTER = "quarter"
    QUARTER_SHORT = "Q"
    YEAR = "year"
    YEAR_SHORT = "Y"


class TimeSeriesStatus(StrEnum):
    COMPLETED = "completed"
    ERROR = "error"
    PENDING = "pending"
    PARTIAL = "partial"


class TimeSeriesType(StrEnum):
    UNIVARIATE = "univariate_time_series"
    MULTIVARIATE = "multivariate_time_series"


class TimeSeriesInput(BaseModel):
    model_config = _ALLOW

    type: TimeSeriesType = Field(description="univariate for the IBM High models, multivariate for the OHLC models")
    name: str = Field(description="the series' name, echoed in its forecast and in its errors")
    series: TimeSeries = Field(
        description="the whole history, oldest first, at least the model's window long; multivariate: one row "
        "per time step, one value per variable"
    )
    frequency: Frequency = Field(description="D (or day): one point per trading session")
    start_timestamp: str | None = Field(
        default=None, description="ISO 8601 date of the first point's session (the points are consecutive sessions)"
    )
    columns: list[str] | None = Field(
        default=None,
        description="extension: the variables of a multivariate series in row order (default: the model's inputs)",
    )
    timestamps: list[str] | None = Field(
        default=None,
        description="extension: one ISO 8601 date per point, each a session, strictly increasing (gaps allowed)",
    )


class TimeSeriesForecastOptions(BaseModel):
    model_config = _ALLOW

    horizon: Annotated[int, Field(strict=True, ge=1, description="trading sessions to forecast")]
    quantiles: list[float] | None = Field(
        default=None, description="0.5 (the point forecast) and pairs q, 1-q of the calibrated interval levels"
    )
    calibration: Literal["pooled", "series"] = Field(
        default="pooled",
        description="extension: the quantiles' calibration, the model's pooled table or each series' own backtest "
        "(series at least window + 250 points long; shorter ones keep the pooled table)",
    )


class TimeSeriesForecastRequest(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "model": "lstm",
                    "inputs": [
                        {
                            "type": "univariate_time_series",
                            "name": "IBM",
                            "series": [round(150 + 0.05 * i, 2) for i in range(60)],
                            "frequency": "D",
                            "start_timestamp": "2016-10-05",
                        }
                    ],
                    "options": {"horizon": 3, "quantiles": [0.1, 0.5, 0.9]},
                }
            ]
        },
    )

    model: str = Field(description="a served model's name (GET /v1/models)")
    inputs: Annotated[list[TimeSeriesInput], Field(min_length=1)]
    options: TimeSeriesForecastOptions
    metadata: dict[str, Any] | None = None


class TimeSeriesError(BaseModel):
    code: str | None = Field(default=None, description="the HTTP status this error would have had alone")
    message: str
    param: str | None = Field(default=None, description="where: inputs[i].series[j] and the like")
    type: str


class TimeSeriesForecast(BaseModel):
    model_config = _ALLOW

    type: TimeSeriesType
    name: str
    mean_forecast: TimeSeries
    frequency: Frequency
    start_timestamp: str | None = Field(description="the first forecast session (null: the input had no date)")
    quantiles: dict[str, TimeSeries] | None = None
    timestamps: list[str] | None = Field(default=None, description="extension: every forecast session")
    columns: list[str] | None = Field(default=None, description="extension: the variables of each multivariate row")
    calibration: str | None = Field(default=None, description="extension: which calibration gave the quantiles")


class TimeSeriesForecastOutput(BaseModel):
    model_config = _ALLOW

    type: Literal["time_series_forecast"] = "time_series_forecast"
    id: str
    status: TimeSeriesStatus
    content: list[TimeSeriesForecast]
    error: TimeSeriesError | None = None


class TimeSeriesForecastResponse(BaseModel):
    model_config = ConfigDict(extra="allow", protected_namespaces=())

    id: str
    created_at: int = Field(description="Unix time of the answer")
    status: TimeSeriesStatus = Field(description="completed, partial (some outputs are errors) or error")
    error: TimeSeriesError | None = None
    model: str
    version: str | None = Field(default=None, description="extension: the model version that answered")
    outputs: list[TimeSeriesForecastOutput] = Field(description="one per input, in the inputs' order")
    warnings: list[str] = Field(default_factory=list, description="extension: remarks on the inputs")
