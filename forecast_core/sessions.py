"""Trading sessions of an exchange: which dates a daily series' points and forecast steps fall on.

The models forecast one trading day per step, so a forecast's dates are the exchange's next sessions,
skipping weekends and market holidays (a history ending Friday 2016-12-30 is forecast for Tuesday
2017-01-03: Monday 2017-01-02 was a holiday). The holidays, special closures included (Hurricane Sandy,
days of mourning), come from the maintained ``holidays`` package's NYSE calendar rather than a
hand-written list. Not exchange_calendars or pandas_market_calendars: both import pandas, which the
lean serving install leaves out (exchange_calendars' import: 0.4-0.5 s and +49 MiB; holidays' import
and this table: 0.25 s and +18 MiB at most, once; docs/timeseries.md). The two agree on every NYSE
session 1990-2027, and a test holds them to it (tests/service/test_timeseries_dates.py).

Each calendar's sessions are read once into a sorted ``datetime64[D]`` array; every lookup after that
is a binary search.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import numpy as np

DEFAULT_EXCHANGE = "NYSE"  # the holidays package's name for the New York Stock Exchange
# The DJIA histories start in 2006; three years past today leave room for a long horizon from today.
FIRST = date(1990, 1, 1)
YEARS_AHEAD = 3

_lock = threading.Lock()
_cache: dict[str, np.ndarray] = {}


class SessionError(ValueError):
    """A date the calendar cannot place: not a session, or outside the calendar's range."""


def sessions(exchange: str = DEFAULT_EXCHANGE) -> np.ndarray:
    """Every session of ``exchange`` (a ``holidays`` financial market) from 1990 to three years ahead, sorted."""
    with _lock:  # one thread builds it; the others wait rather than each importing pandas at once
        if exchange not in _cache:
            import holidays  # deferred: only dated time-series requests need it

            end = date.today() + timedelta(days=366 * YEARS_AHEAD)
            closed = holidays.financial_holidays(exchange, years=range(FIRST.year, end.year + 1))
            days = np.arange(np.datetime64(FIRST, "D"), np.datetime64(end, "D") + 1)
            weekday = np.is_busday(days)  # Monday to Friday
            holiday = np.isin(days, np.array(sorted(closed), dtype="datetime64[D]"))
            _cache[exchange] = days[weekday & ~holiday]
        return _cache[exchange]


def _index(days: np.ndarray, day: date, exchange: str) -> int:
    value = np.datetime64(day, "D")
    i = int(np.searchsorted(days, value))
    if i >= len(days) or days[i] != value:
        if day < FIRST or value > days[-1]:
            raise SessionError(f"{day.isoformat()} is outside the {exchange} calendar ({FIRST} to {days[-1]})")
        raise SessionError(f"{day.isoformat()} is not a {exchange} session (a weekend or market holiday)")
    return i


def forecast_sessions(start: date, points: int, horizon: int, exchange: str = DEFAULT_EXCHANGE) -> list[date]:
    """The ``horizon`` sessions after a series of ``points`` consecutive sessions starting on ``start``."""
    days = sessions(exchange)
    first = _index(days, start, exchange) + points
    if first + horizon > len(days):
        raise SessionError(f"the forecast runs past the end of the {exchange} calendar ({days[-1]})")
    return [d.item() for d in days[first : first + horizon]]
