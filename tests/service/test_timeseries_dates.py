"""Trading-day dates of the time-series protocol: forecasts land on NYSE sessions, skipping weekends and
market holidays, and the served calendar agrees with exchange_calendars' session for session."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_core.sessions import SessionError, forecast_sessions, sessions

PATH = "/v1/timeseries/forecast"


def start_for(last: date, points: int) -> date:
    """The session a series of ``points`` consecutive sessions must start on to end on ``last``."""
    days = sessions()
    i = int(np.searchsorted(days, np.datetime64(last, "D")))
    assert days[i] == np.datetime64(last, "D"), f"{last} is not a session"
    return days[i - points + 1].item()  # type: ignore[no-any-return]


def dated(start: date | str, points: int = 75, horizon: int = 3, model: str = "lstm") -> dict[str, Any]:
    history = np.linspace(150, 160, points).round(3).tolist()
    if model.startswith("ohlc"):
        history = [[p * 0.998, p * 1.01, p * 0.99, p] for p in history]
    kind = "multivariate_time_series" if model.startswith("ohlc") else "univariate_time_series"
    return {
        "model": model,
        "inputs": [{"type": kind, "name": "x", "series": history, "frequency": "D", "start_timestamp": str(start)}],
        "options": {"horizon": horizon},
    }


@pytest.mark.parametrize("model", ["lstm", "ohlc-gru"])
def test_a_history_ending_friday_2016_12_30_is_forecast_from_tuesday_2017_01_03(
    committed_sets: TestClient, model: str
) -> None:
    start = start_for(date(2016, 12, 30), 75)
    response = committed_sets.post(PATH, json=dated(start.isoformat(), model=model))
    assert response.status_code == 200, response.text
    (content,) = response.json()["outputs"][0]["content"]
    assert content["start_timestamp"] == "2017-01-03"  # Monday 2017-01-02 was a market holiday
    assert content["timestamps"] == ["2017-01-03", "2017-01-04", "2017-01-05"]


def test_a_start_timestamp_with_a_time_of_day_is_read_as_its_date(committed_sets: TestClient) -> None:
    start = start_for(date(2016, 12, 30), 75)
    response = committed_sets.post(PATH, json=dated(f"{start.isoformat()}T00:00:00Z"))
    assert response.json()["outputs"][0]["content"][0]["start_timestamp"] == "2017-01-03"


def test_forecasts_skip_weekends_and_good_friday() -> None:
    # 2017-04-13 is the Thursday before Good Friday (2017-04-14, closed); then a weekend.
    assert forecast_sessions(date(2017, 4, 13), 1, 2) == [date(2017, 4, 17), date(2017, 4, 18)]


@pytest.mark.parametrize(
    ("start", "reason"),
    [
        ("2017-01-02", "2017-01-02 is not a NYSE session"),  # New Year's Day observed
        ("2016-12-31", "2016-12-31 is not a NYSE session"),  # a Saturday
        ("1985-06-03", "outside the NYSE calendar"),
        ("yesterday", "is not an ISO 8601 date"),
    ],
)
def test_a_start_timestamp_that_is_no_session_is_an_error_output_naming_it(
    committed_sets: TestClient, start: str, reason: str
) -> None:
    payload = dated("2016-10-03")
    payload["inputs"].append({**payload["inputs"][0], "name": "bad", "start_timestamp": start})
    response = committed_sets.post(PATH, json=payload)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "partial"
    error = answer["outputs"][1]["error"]
    assert error["param"] == "inputs[1].start_timestamp"
    assert "series 'bad' (inputs[1])" in error["message"]
    assert reason in error["message"]


def test_a_forecast_past_the_calendar_is_refused() -> None:
    last = sessions()[-1].item()
    with pytest.raises(SessionError, match="past the end of the NYSE calendar"):
        forecast_sessions(last, 1, 1)


# Raised inside exchange_calendars by pandas 3.1, about pandas' own API: not this project's to fix.
@pytest.mark.filterwarnings("ignore:Series.values returning an ndarray")
def test_the_served_calendar_has_exactly_exchange_calendars_nyse_sessions_from_1990_to_2027() -> None:
    exchange_calendars = pytest.importorskip("exchange_calendars")
    reference = exchange_calendars.get_calendar("XNYS", start="1990-01-02", end="2027-12-31")
    expected = reference.sessions.values.astype("datetime64[D]")
    served = sessions()
    served = served[served <= np.datetime64("2027-12-31")]
    missing = np.setdiff1d(expected, served)
    extra = np.setdiff1d(served, expected)
    assert not missing.size, f"sessions the served calendar lacks: {missing[:10]}"
    assert not extra.size, f"days the served calendar trades but NYSE does not: {extra[:10]}"


def with_timestamps(days: list[str]) -> dict[str, Any]:
    payload = dated("2016-10-03", points=len(days))
    payload["inputs"][0] = {**payload["inputs"][0], "timestamps": days, "start_timestamp": None}
    return payload


def session_dates(last: date, points: int) -> list[str]:
    start = start_for(last, points)
    days = sessions()
    i = int(np.searchsorted(days, np.datetime64(start, "D")))
    return [d.item().isoformat() for d in days[i : i + points]]


def test_per_point_timestamps_may_have_gaps_and_the_forecast_follows_the_last_one(committed_sets: TestClient) -> None:
    days = session_dates(date(2016, 12, 30), 80)
    del days[10:15]  # a gap: five missing sessions in the middle of the history
    response = committed_sets.post(PATH, json=with_timestamps(days))
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["content"][0]["timestamps"] == ["2017-01-03", "2017-01-04", "2017-01-05"]


@pytest.mark.parametrize(
    ("change", "param", "reason"),
    [
        (lambda d: d.__setitem__(20, d[19]), "timestamps[20]", "repeats timestamps[19]"),
        (lambda d: d.__setitem__(30, "2016-01-04"), "timestamps[30]", "2016-01-04 comes before timestamps[29]"),
        (lambda d: d.__setitem__(-1, "2017-01-02"), "timestamps[74]", "2017-01-02 is not a NYSE session"),
        (lambda d: d.pop(), "timestamps", "timestamps holds 74 dates for 75 points"),
        (lambda d: d.__setitem__(3, "soon"), "timestamps[3]", "timestamps[3] 'soon' is not an ISO 8601 date"),
    ],
)
def test_unsorted_duplicate_or_closed_timestamps_are_an_error_naming_the_index(
    committed_sets: TestClient, change: Any, param: str, reason: str
) -> None:
    days = session_dates(date(2016, 12, 29), 75)
    change(days)
    payload = with_timestamps(session_dates(date(2016, 12, 29), 75))
    payload["inputs"].append({**payload["inputs"][0], "name": "bad", "timestamps": days})
    payload["inputs"][1]["series"] = payload["inputs"][0]["series"]
    response = committed_sets.post(PATH, json=payload)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == "partial"
    error = answer["outputs"][1]["error"]
    assert error["param"] == f"inputs[1].{param}"
    assert error["message"].startswith("series 'bad' (inputs[1]): ")
    assert reason in error["message"]
