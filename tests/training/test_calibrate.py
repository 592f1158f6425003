"""Conformal intervals: quantile rule, widths, and coverage counted directly on a known process."""

from __future__ import annotations

import numpy as np
import pytest

from forecast_core.features import ScaledColumn
from forecast_core.intervals import IntervalTable
from forecast_core.scaler import MinMaxScaling
from forecast_core.windowing import origin_windows
from training.calibrate import Calibrator, conformal_quantile, volatility_floor
from training.evaluate import persistence_predictor

WINDOW = 30


@pytest.fixture(scope="module")
def random_walk() -> np.ndarray:
    """Additive Gaussian random walk, sigma 1, far from zero: persistence is the optimal forecast."""
    rng = np.random.default_rng(42)
    return 1000.0 + np.cumsum(rng.normal(0.0, 1.0, 4000))


@pytest.fixture(scope="module")
def calibrator(random_walk: np.ndarray) -> Calibrator:
    scaler = MinMaxScaling(data_min=float(random_walk.min()) - 50, data_max=float(random_walk.max()) + 50)
    predictors = {
        "persistence": persistence_predictor(ScaledColumn("High", scaler, (scaler.data_min, scaler.data_max)), WINDOW)
    }
    return Calibrator(
        random_walk, predictors, max_horizon=10, volatility_floor=volatility_floor(random_walk, WINDOW, 100, 2000)
    )


def test_conformal_quantile_rank() -> None:
    scores = np.arange(1.0, 11.0)  # n = 10
    assert conformal_quantile(scores, 80) == 9.0  # ceil(11 * 0.8) = 9th smallest
    assert conformal_quantile(scores, 50) == 6.0
    assert conformal_quantile(scores, 99) == 10.0  # capped at the largest


def test_quantiles_match_the_known_process(calibrator: Calibrator) -> None:
    table = calibrator.table(100, 2000, ["volatility"] * 10)
    q = table.quantiles["persistence"]
    # Errors are N(0, h) and the window volatility estimates sigma = 1, so the half-width in sigma
    # units is z * sqrt(h): 1.2816 at 80 %, 1.96 at 95 %.
    assert q["80"][0][0] == pytest.approx(1.2816, rel=0.1)
    assert q["95"][0][0] == pytest.approx(1.96, rel=0.1)
    assert q["80"][8][0] == pytest.approx(1.2816 * 3, rel=0.15)


def test_coverage_equals_a_direct_count(calibrator: Calibrator, random_walk: np.ndarray) -> None:
    table = calibrator.table(100, 2000, ["price"] * 5 + ["volatility"] * 5)
    start = 3000
    measured = {(c.horizon, c.level): c for c in calibrator.coverage(table, start)["persistence"]}
    windows = origin_windows(random_walk, WINDOW, start)
    for h in (1, 5):
        for level in table.levels:
            inside = 0
            rows = len(random_walk) - start - h + 1
            for i in range(rows):
                last = windows[i, -1]  # persistence forecasts the last value at every step
                half = table.half_widths("persistence", level, h)[-1, 0]
                unit = last if h <= 5 else max(np.std(np.diff(windows[i])), table.volatility_floor * last)
                half_width = max(
                    half * unit,
                    *(table.half_widths("persistence", level, h)[k, 0] * last for k in range(h)),
                )
                inside += abs(random_walk[start + i + h - 1] - last) <= half_width
            assert measured[(h, level)].points == rows
            assert measured[(h, level)].coverage == pytest.approx(inside / rows)
    # And on this stationary process, split conformal delivers its nominal coverage out of sample.
    assert measured[(1, 80)].coverage == pytest.approx(0.80, abs=0.04)
    assert measured[(5, 95)].coverage == pytest.approx(0.95, abs=0.03)


def test_intervals_contain_the_forecast_and_widen(calibrator: Calibrator, random_walk: np.ndarray) -> None:
    table = calibrator.table(100, 2000, ["volatility"] * 10)
    windows = origin_windows(random_walk, WINDOW, 2500)[:50]
    forecast = np.repeat(windows[:, -1:], 25, axis=1)  # 25 > max_horizon: extrapolated part included
    widths = {}
    for level in table.levels:
        features = calibrator.predictors["persistence"].features
        lower, upper = table.bounds("persistence", level, forecast[:, :, None], windows[:, :, None], features)
        lower, upper = lower[:, :, 0], upper[:, :, 0]
        assert np.all(lower <= forecast)
        assert np.all(forecast <= upper)
        widths[level] = upper - lower
        assert np.all(np.diff(widths[level], axis=1) >= 0)  # never narrower at a later step
    for low, high in zip(table.levels, table.levels[1:], strict=False):
        assert np.all(widths[high] >= widths[low])


def test_table_round_trip_and_validation(calibrator: Calibrator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    table = calibrator.table(100, 600, ["volatility"] * 10)
    path = tmp_path / "intervals.json"
    table.save(path)
    assert IntervalTable.load(path) == table
    broken = table.model_dump()
    broken["quantiles"]["persistence"]["80"] = [[1.0]]
    with pytest.raises(ValueError, match="need 10"):
        IntervalTable.model_validate(broken)


def test_the_calibration_length_is_chosen_on_validation_only(random_walk: np.ndarray) -> None:
    """Every candidate ends before the validation period; the series after ``n_train`` never matters."""
    from training.calibrate import CALIBRATION_CANDIDATES, choose_calibration_days

    scaler = MinMaxScaling(data_min=float(random_walk.min()) - 50, data_max=float(random_walk.max()) + 50)
    predictors = {
        "persistence": persistence_predictor(ScaledColumn("High", scaler, (scaler.data_min, scaler.data_max)), WINDOW)
    }
    n_train, validation = 3000, 250
    chosen, scores = choose_calibration_days(random_walk, predictors, WINDOW, n_train, validation)
    assert chosen in scores
    assert set(scores) == set(CALIBRATION_CANDIDATES)  # all fit in 2,750 days of history
    assert all(0 <= s < 0.1 for s in scores.values())  # a random walk: every length covers about right
    garbled = random_walk.copy()
    garbled[n_train:] = 1.0  # a "test period" that would change everything if it were read
    assert choose_calibration_days(garbled, predictors, WINDOW, n_train, validation) == (chosen, scores)
    short = choose_calibration_days(random_walk[:700], predictors, WINDOW, 700, validation)[1]
    assert set(short) == {250}  # only lengths that fit before the validation period are tried
