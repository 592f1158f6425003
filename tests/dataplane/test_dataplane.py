"""The dataplane without HTTP: lookup, input rules, limits, deadline, the non-finite check, the concurrency policy."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from service.core.config import Settings
from service.core.metrics import Metrics
from service.dataplane import (
    DataPlane,
    DeadlineExceeded,
    InferenceRequest,
    InvalidInput,
    ModelCard,
    ModelNotFound,
    ModelNotReady,
    ModelRegistry,
    ServedModel,
    VersionNotFound,
)
from service.dataplane.dataplane import INLINE_MAX_STEPS
from tests.conftest import TINY_OHLC_WINDOW, TINY_WINDOW


def plane(root: Path, **overrides: object) -> DataPlane:
    settings = Settings(**{"artifacts_dir": root, **overrides})  # type: ignore[arg-type]
    metrics = Metrics()
    registry = ModelRegistry(settings, metrics)
    registry.load()
    return DataPlane(registry, settings, metrics)


@pytest.fixture(scope="module")
def dp(tiny_model_sets: Path) -> DataPlane:
    return plane(tiny_model_sets)


def prices(n: int = 1, w: int = TINY_WINDOW) -> np.ndarray:
    return np.tile(np.linspace(100.0, 110.0, w), (n, 1))


def bars(n: int = 1, w: int = TINY_OHLC_WINDOW) -> np.ndarray:
    close = np.linspace(50.0, 52.0, w)
    one = np.stack([close * 0.999, close * 1.01, close * 0.99, close], axis=1)
    return np.tile(one, (n, 1, 1))


def test_models_of_both_sets_are_found_and_unknown_names_are_not(dp: DataPlane) -> None:
    assert set(dp.registry.names()) == {"lstm", "gru", "ensemble", "ohlc-lstm", "ohlc-gru", "ohlc-ensemble"}
    with pytest.raises(ModelNotFound) as info:
        dp.model("nope")
    assert "ohlc-gru" in info.value.message
    model = dp.model("gru")
    with pytest.raises(VersionNotFound):
        dp.model("gru", "not-" + model.version)
    assert dp.model("gru", model.version) is model


def test_a_model_is_not_ready_before_loading(tiny_model_sets: Path) -> None:
    settings = Settings(artifacts_dir=tiny_model_sets)
    registry = ModelRegistry(settings, Metrics())
    with pytest.raises(ModelNotReady, match="still loading"):
        DataPlane(registry, settings, Metrics()).model("lstm")
    with pytest.raises(ModelNotFound):  # the names are known from the manifests before loading
        registry.get("nope")


def test_predict_and_forecast_have_one_layout_for_both_kinds(dp: DataPlane) -> None:
    uni = dp.infer_sync(dp.model("lstm"), InferenceRequest(prices(3)))
    assert uni.kind == "predict"
    assert uni.values.shape == (3, 1, 1)
    expected = dp.model("lstm").predictor.predict(prices(3))  # type: ignore[attr-defined]
    np.testing.assert_allclose(uni.values[:, 0, 0], expected)
    ohlc = dp.infer_sync(dp.model("ohlc-gru"), InferenceRequest(bars(), horizon=7, intervals=(80,)))
    assert ohlc.kind == "forecast"
    assert ohlc.values.shape == (1, 7, 4)
    assert ohlc.outputs == ("open", "high", "low", "close")
    ((level, lower, upper),) = ohlc.intervals
    assert level == 80
    assert lower.shape == upper.shape == (1, 7, 4)
    assert np.all(lower <= ohlc.values)
    assert np.all(ohlc.values <= upper)


@pytest.mark.parametrize(
    ("model", "request_", "field", "rule"),
    [
        ("lstm", InferenceRequest(prices(w=TINY_WINDOW - 1)), "window", "shape"),
        ("ohlc-gru", InferenceRequest(prices()), "window", "shape"),
        ("lstm", InferenceRequest(prices(2), horizon=3, field="windows"), "windows", "one_window"),
        ("lstm", InferenceRequest(prices(), horizon=366), "horizon", "max_value"),
        ("lstm", InferenceRequest(prices(), intervals=(42,)), "intervals", "calibrated_level"),
        ("lstm", InferenceRequest(prices(300), field="windows"), "windows", "max_batch"),
    ],
)
def test_invalid_inputs_name_the_field_and_the_rule(
    dp: DataPlane, model: str, request_: InferenceRequest, field: str, rule: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        dp.infer_sync(dp.model(model), request_)
    assert (info.value.field, info.value.rule) == (field, rule)


@pytest.mark.parametrize(
    ("value", "rule"),
    [(-1.0, "positive"), (0.0, "positive"), (np.inf, "finite_number"), (np.nan, "finite_number"), (1e39, "max_value")],
)
def test_the_price_rule_names_the_first_bad_element(dp: DataPlane, value: float, rule: str) -> None:
    x = bars(2)
    x[1, 4, 2] = value
    with pytest.raises(InvalidInput) as info:
        dp.infer_sync(dp.model("ohlc-lstm"), InferenceRequest(x, field="windows"))
    assert (info.value.field, info.value.rule) == ("windows[1][4][2]", rule)


def test_the_deadline_counts_from_arrival(dp: DataPlane) -> None:
    late = InferenceRequest(prices(), horizon=5, received=time.monotonic() - 3600)
    with pytest.raises(DeadlineExceeded, match="0 of 5 steps"):
        dp.infer_sync(dp.model("gru"), late)


class _Fake(ServedModel):
    """A model that answers what it is told to, and remembers which thread asked."""

    def __init__(self, answer: float, members: tuple[str, ...] = ()) -> None:
        self.card = ModelCard(
            name="fake", model_set="test", kind="univariate", version="1", description="", backend="test",
            window=4, inputs=("high",), outputs=("high",), target_column="High",
            trained_at=datetime(2026, 1, 1, tzinfo=UTC), training_dates=(date(2020, 1, 1), date(2020, 12, 31)),
            parameters=1, members=members,
        )  # fmt: skip
        self.answer, self.threads = answer, set[int]()

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.threads.add(threading.get_ident())
        return np.full((x.shape[0], 1, 1), self.answer)

    def forecast(self, x: np.ndarray, horizon: int, deadline: float | None) -> np.ndarray:
        self.threads.add(threading.get_ident())
        return np.full((x.shape[0], horizon, 1), self.answer)


def test_a_non_finite_output_is_refused_not_returned(dp: DataPlane) -> None:
    with pytest.raises(InvalidInput) as info:
        dp.infer_sync(_Fake(np.inf), InferenceRequest(prices(w=4)))
    assert info.value.rule == "computable"


def test_small_requests_run_on_the_event_loop_and_large_ones_in_the_pool(dp: DataPlane) -> None:
    async def run(model: _Fake, request: InferenceRequest) -> int:
        await dp.infer(model, request)
        return threading.get_ident()

    small = _Fake(1.0)
    loop_thread = asyncio.run(run(small, InferenceRequest(prices(INLINE_MAX_STEPS, w=4), field="windows")))
    assert small.threads == {loop_thread}
    large = _Fake(1.0, members=("a", "b"))
    loop_thread = asyncio.run(run(large, InferenceRequest(prices(w=4), horizon=INLINE_MAX_STEPS)))
    assert large.threads
    assert loop_thread not in large.threads
