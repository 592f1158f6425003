"""An input's dates: ``start_timestamp`` (the points are consecutive sessions from it) or, as an extension,
``timestamps`` (one session per point, strictly increasing; gaps allowed), and the forecast's sessions
after the last point (:mod:`forecast_core.sessions`, the NYSE calendar)."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np

from forecast_core.sessions import SessionError, forecast_sessions, sessions


class DateProblem(ValueError):  # noqa: N818 (becomes a series' error output, like SeriesProblem)
    """What is wrong with an input's dates; ``field`` is the place within the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse(text: str, field: str) -> date:
    """An ISO 8601 date, or a date and time whose date is taken (``2016-09-08T00:00:00Z``)."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text).date()
    except ValueError:
        raise DateProblem(field, f"{field} {text[:40]!r} is not an ISO 8601 date (YYYY-MM-DD)") from None


def _last_of(timestamps: list[str], points: int) -> date:
    """The last point's session, once every timestamp is a session and later than the one before."""
    if len(timestamps) != points:
        raise DateProblem("timestamps", f"timestamps holds {len(timestamps)} dates for {points} points")
    days = np.asarray([parse(t, f"timestamps[{j}]") for j, t in enumerate(timestamps)], dtype="datetime64[D]")
    steps = np.diff(days).astype(np.int64)
    if (steps <= 0).any():
        j = int(np.argmax(steps <= 0)) + 1
        how = "repeats" if steps[j - 1] == 0 else "comes before"
        raise DateProblem(
            f"timestamps[{j}]",
            f"timestamps[{j}] {days[j]} {how} timestamps[{j - 1}] {days[j - 1]}; dates must increase",
        )
    calendar = sessions()
    closed = ~np.isin(days, calendar)
    if closed.any():
        j = int(np.argmax(closed))
        raise DateProblem(f"timestamps[{j}]", f"timestamps[{j}] {days[j]} is not a NYSE session")
    last: date = days[-1].item()
    return last


def forecast_timestamps(
    start_timestamp: str | None, timestamps: list[str] | None, points: int, horizon: int
) -> list[str] | None:
    """The forecast's sessions as ISO dates; None when the input carries no dates."""
    try:
        if timestamps is not None:
            last = _last_of(timestamps, points)
            if start_timestamp is not None and parse(start_timestamp, "start_timestamp") != parse(
                timestamps[0], "timestamps[0]"
            ):
                raise DateProblem("start_timestamp", "start_timestamp is not timestamps[0]")
            days = forecast_sessions(last, 1, horizon)
        elif start_timestamp is not None:
            days = forecast_sessions(parse(start_timestamp, "start_timestamp"), points, horizon)
        else:
            return None
    except SessionError as exc:
        raise DateProblem("timestamps" if timestamps is not None else "start_timestamp", str(exc)) from None
    return [d.isoformat() for d in days]
