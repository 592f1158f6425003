"""The time-series codec: whole histories to one stacked dataplane request, its result to the protocol's outputs.

Each series is checked alone (type, frequency, length, values, columns, dates); one that fails becomes
an output with ``status: error`` naming the series, the component and the index, while the others are
forecast. The last ``window`` points of every good series are stacked into one
:class:`~service.dataplane.InferenceRequest`, so each recursive step is one model call for all of them,
through the dataplane's limits, deadline, admission control and metrics.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecast_core.sessions import DEFAULT_EXCHANGE
from service.api.timeseries.dates import DateProblem, forecast_timestamps
from service.api.timeseries.quantiles import Quantile
from service.api.timeseries.types import Frequency, TimeSeriesInput, TimeSeriesType
from service.dataplane import InferenceRequest, InferenceResult, InvalidInput, ModelCard, Watch
from service.dataplane.rules import FLOAT32_MAX, PRICE_RULE

DAILY = (Frequency.DAY, Frequency.DAY_SHORT)


class SeriesProblem(Exception):  # noqa: N818 (a per-series answer, not a failure of the request)
    """What is wrong with one series; it becomes that series' error output."""

    def __init__(self, param: str, message: str, kind: str = "invalid_input") -> None:
        super().__init__(message)
        self.param, self.message, self.kind = param, message, kind

    def as_error(self) -> dict[str, Any]:
        return {"code": "422", "message": self.message, "param": self.param, "type": self.kind}


@dataclass
class Series:
    """One series that passed its checks: its last window in the model's column order, and its dates."""

    position: int
    window: np.ndarray
    columns: tuple[str, ...]  # the client's variable order (multivariate), the answer's too
    timestamps: list[str] | None
    history: np.ndarray  # every point, (points, model columns): what series calibration backtests on


@dataclass
class Plan:
    """The request split into the series to forecast and the answers already known (errors)."""

    good: list[Series] = field(default_factory=list)
    problems: dict[int, SeriesProblem] = field(default_factory=dict)


def _who(item: TimeSeriesInput, i: int) -> str:
    shown = item.name if len(item.name) <= 64 else item.name[:61] + "..."
    return f"series {shown!r} (inputs[{i}])"


def _columns(item: TimeSeriesInput, i: int, card: ModelCard) -> tuple[str, ...]:
    if item.columns is None:
        return card.inputs
    if sorted(item.columns) != sorted(card.inputs):
        raise SeriesProblem(
            f"inputs[{i}].columns",
            f"{_who(item, i)}: columns {item.columns} must name each of the model's variables "
            f"({', '.join(card.inputs)}) once",
        )
    return tuple(item.columns)


def _values(item: TimeSeriesInput, i: int, card: ModelCard, columns: tuple[str, ...]) -> np.ndarray:
    """The history as (points,) or (points, variables), refused at the first value that is not a price."""
    multi = len(card.inputs) > 1
    rows = item.series
    if multi:
        for j, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != len(columns):
                got = f"{len(row)} values" if isinstance(row, list) else "a single value"
                raise SeriesProblem(
                    f"inputs[{i}].series[{j}]",
                    f"{_who(item, i)} index {j} holds {got}; every row needs {len(columns)} "
                    f"({', '.join(columns)}), one per variable",
                )
    elif any(isinstance(v, list) for v in rows):
        raise SeriesProblem(f"inputs[{i}].series", f"{_who(item, i)}: a univariate series is a list of numbers")
    x = np.asarray(rows, dtype=np.float64)  # null -> NaN, found below
    if len(x) < card.window:
        raise SeriesProblem(
            f"inputs[{i}].series",
            f"{_who(item, i)} holds {len(x)} points; model {card.name!r} needs at least {card.window} (its window)",
        )
    ok = np.isfinite(x) & (x > 0) & (x <= FLOAT32_MAX)
    if not ok.all():
        where = tuple(int(k) for k in np.argwhere(~ok)[0])
        raw: Any = rows[where[0]] if not multi else rows[where[0]][where[1]]  # type: ignore[index]
        shown = "null" if raw is None else repr(float(raw))
        component = f" component {columns[where[1]]!r}" if multi else ""
        raise SeriesProblem(
            f"inputs[{i}].series" + "".join(f"[{k}]" for k in where),
            f"{_who(item, i)}{component} index {where[0]} is {shown}; {PRICE_RULE}",
        )
    return x


def decode_series(item: TimeSeriesInput, i: int, card: ModelCard, horizon: int) -> Series:
    """One input checked against the model; raises :class:`SeriesProblem` naming what does not fit."""
    expected = TimeSeriesType.MULTIVARIATE if len(card.inputs) > 1 else TimeSeriesType.UNIVARIATE
    if item.type is not expected:
        raise SeriesProblem(
            f"inputs[{i}].type",
            f"{_who(item, i)}: model {card.name!r} takes {expected.value} inputs "
            f"({', '.join(card.inputs)}), not {item.type.value}",
        )
    if item.frequency not in DAILY:
        raise SeriesProblem(
            f"inputs[{i}].frequency",
            f"{_who(item, i)}: frequency {item.frequency.value!r} is not served; the models forecast "
            "trading days (D or day)",
        )
    columns = _columns(item, i, card)
    x = _values(item, i, card, columns)
    if len(card.inputs) > 1:
        x = x[:, [columns.index(c) for c in card.inputs]]
    window = x[-card.window :]
    try:
        timestamps = forecast_timestamps(item.start_timestamp, item.timestamps, len(x), horizon)
    except DateProblem as exc:
        raise SeriesProblem(f"inputs[{i}].{exc.field}", f"{_who(item, i)}: {exc}") from None
    return Series(i, window, columns, timestamps, x.reshape(len(x), -1))


def decode(inputs: list[TimeSeriesInput], card: ModelCard, horizon: int, max_series: int) -> Plan:
    """Every input checked; request-level limits raise :class:`InvalidInput` (a 4xx for the request)."""
    if len(inputs) > max_series:
        raise InvalidInput(
            "inputs", "max_series", f"{len(inputs)} series are over the limit of {max_series}", f"at most {max_series}"
        )
    plan = Plan()
    for i, item in enumerate(inputs):
        try:
            plan.good.append(decode_series(item, i, card, horizon))
        except SeriesProblem as problem:
            plan.problems[i] = problem
    return plan


def request(
    plan: Plan, horizon: int, levels: tuple[int, ...], max_series: int, client_gone: Watch | None
) -> InferenceRequest:
    """The good series' windows as one stacked forecast request."""
    positions = [s.position for s in plan.good]

    def locate(index: tuple[int, ...]) -> str:  # the dataplane's own check, named in the client's terms
        return f"inputs[{positions[index[0]]}].series[-{len(plan.good[0].window) - index[1]}]"

    return InferenceRequest(
        inputs=np.stack([s.window for s in plan.good]),
        horizon=horizon,
        intervals=levels,
        field="inputs",
        locate=locate,
        client_gone=client_gone,
        max_rows=max_series,
    )


def _shape(values: np.ndarray, order: list[int] | None) -> list[Any]:
    """(horizon, outputs) -> a univariate list, or time-major rows in the client's variable order."""
    return values[:, 0].tolist() if order is None else values[:, order].tolist()


#: Per row of the stacked request: interval level -> (lower, upper), each (horizon, outputs).
Bounds = dict[int, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Calibrated:
    """Intervals that replace the pooled ones for some rows, and the name of their calibration."""

    name: str
    bounds: dict[int, Bounds]


def _calibration_name(calibrated: Calibrated | None, own: bool, wanted: list[Quantile]) -> str | None:
    if not any(q.level is not None for q in wanted):
        return None  # no interval in the answer
    return calibrated.name if own and calibrated is not None else "pooled"


def _forecast(
    item: TimeSeriesInput,
    series: Series,
    card: ModelCard,
    result: InferenceResult,
    row: int,
    wanted: list[Quantile],
    calibrated: Calibrated | None,
) -> dict[str, Any]:
    multi = len(card.outputs) > 1
    order = [card.outputs.index(c) for c in series.columns] if multi else None
    own = calibrated.bounds.get(row) if calibrated is not None else None
    bounds = own if own is not None else {level: (lo[row], hi[row]) for level, lo, hi in result.intervals}
    quantiles = {
        q.key: _shape(result.values[row] if q.level is None else bounds[q.level][q.upper], order) for q in wanted
    }
    content: dict[str, Any] = {
        "type": item.type.value,
        "name": item.name,
        "mean_forecast": _shape(result.values[row], order),
        "frequency": item.frequency.value,
        "start_timestamp": series.timestamps[0] if series.timestamps else None,
        "quantiles": quantiles or None,
        "timestamps": series.timestamps,
        "calibration": _calibration_name(calibrated, own is not None, wanted),
        "exchange": DEFAULT_EXCHANGE if series.timestamps else None,
    }
    if multi:
        content["columns"] = list(series.columns)
    return content


def encode(
    model: str,
    inputs: list[TimeSeriesInput],
    plan: Plan,
    card: ModelCard,
    result: InferenceResult | None,
    wanted: list[Quantile],
    calibrated: Calibrated | None = None,
) -> dict[str, Any]:
    """The protocol's response: one output per input, in order; ``partial`` when some are errors."""
    rows = {s.position: (row, s) for row, s in enumerate(plan.good)}
    outputs = []
    for i, item in enumerate(inputs):
        output: dict[str, Any] = {"type": "time_series_forecast", "id": uuid.uuid4().hex}
        if i in rows and result is not None:
            row, series = rows[i]
            content = _forecast(item, series, card, result, row, wanted, calibrated)
            outputs.append({**output, "status": "completed", "content": [content], "error": None})
        else:
            outputs.append({**output, "status": "error", "content": [], "error": plan.problems[i].as_error()})
    return {
        "id": uuid.uuid4().hex,
        "created_at": math.floor(time.time()),
        "status": "partial" if plan.problems else "completed",
        "error": None,
        "model": model,
        "version": result.version if result is not None else card.version,
        "outputs": outputs,
        "warnings": result.warnings if result is not None else [],
    }
