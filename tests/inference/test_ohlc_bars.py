"""The shared OHLC normalisation: scale invariance, round trip, always-valid bars, buffer recursion."""

from __future__ import annotations

import numpy as np
import pytest

from forecast_core.bars import (
    CLOSE,
    COLUMNS,
    HIGH,
    LOW,
    OPEN,
    RecursionBuffer,
    from_relative,
    relative_targets,
    repair_relative,
    to_relative,
)


def random_bars(n: int, w: int, seed: int = 0, level: float = 100.0) -> np.ndarray:
    """Plausible OHLC windows (n, w, 4): a log random walk Close, Open near the previous Close."""
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0, 0.015, (n, w)), axis=1))
    open_ = close * np.exp(rng.normal(0, 0.005, (n, w)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.006, (n, w))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.006, (n, w))))
    return np.stack([open_, high, low, close], axis=2)


def test_columns_order() -> None:
    assert COLUMNS == ("open", "high", "low", "close")
    assert (OPEN, HIGH, LOW, CLOSE) == (0, 1, 2, 3)


def test_scale_invariance() -> None:
    windows = random_bars(16, 60)
    x1, ref1 = to_relative(windows)
    x10, ref10 = to_relative(windows * 10)
    np.testing.assert_allclose(x10, x1, atol=1e-5)
    np.testing.assert_allclose(ref10, ref1 * 10)
    out = np.random.default_rng(1).normal(0, 1.0, (16, 4))
    np.testing.assert_allclose(from_relative(out, ref10), from_relative(out, ref1) * 10, rtol=1e-12)


def test_round_trip() -> None:
    """The next bar encoded as a target and decoded again is the same (valid) bar."""
    windows = random_bars(32, 20, seed=2)
    next_bars = random_bars(32, 1, seed=3)[:, 0] * windows[:, -1, CLOSE][:, None] / 100.0
    y = relative_targets(windows, next_bars)
    _, reference = to_relative(windows)
    np.testing.assert_allclose(from_relative(y, reference), next_bars, rtol=1e-10)
    x, _ = to_relative(windows)
    np.testing.assert_allclose(reference[:, None, None] * np.exp(x.astype(np.float64) / 100.0), windows, rtol=1e-6)


@pytest.mark.parametrize("seed", range(5))
def test_decode_always_gives_valid_bars(seed: int) -> None:
    raw = np.random.default_rng(seed).normal(0, 5.0, (500, 4))  # arbitrary outputs, High often not the max
    bars = from_relative(raw, np.full(500, 50.0))
    assert np.all(bars[:, LOW] <= np.minimum(bars[:, OPEN], bars[:, CLOSE]))
    assert np.all(np.maximum(bars[:, OPEN], bars[:, CLOSE]) <= bars[:, HIGH])
    assert np.all(bars > 0)
    fixed = repair_relative(raw)
    np.testing.assert_array_equal(fixed[:, [OPEN, CLOSE]], raw[:, [OPEN, CLOSE]])


def test_recursion_buffer_matches_the_plain_loop() -> None:
    windows = random_bars(3, 10, seed=4)

    def fake_model(x: np.ndarray) -> np.ndarray:  # a deterministic function of the model-unit window
        return np.stack([x[:, -1, 3] * 0.1 + 0.2, x[:, :, 1].mean(1), x[:, :, 2].mean(1), x[:, -3, 3]], axis=1)

    buffer = RecursionBuffer(windows, 4)
    for _ in range(4):
        buffer.append(fake_model(buffer.model_input()))
    got = buffer.forecast()

    history = windows.copy()
    want = []
    for _ in range(4):
        x, ref = to_relative(history[:, -10:])
        bar = from_relative(fake_model(x), ref)
        want.append(bar)
        history = np.concatenate([history, bar[:, None]], axis=1)
    np.testing.assert_allclose(got, np.stack(want, axis=1), rtol=1e-5)
