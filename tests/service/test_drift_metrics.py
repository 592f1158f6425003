"""Drift signals: the input warnings callers get are counted by model and kind in /metrics."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from service.core.drift import warning_kind

Samples = list[tuple[str, dict[str, str], float]]
W = 20


def warnings_counted(samples: Samples, model: str, kind: str) -> float:
    return sum(
        v
        for name, labels, v in samples
        if name == "forecast_input_warnings_total" and labels == {"model": model, "kind": kind}
    )


def test_windows_outside_the_training_range_are_counted_by_model_and_kind(
    client: TestClient, metric_samples: Callable[[TestClient], Samples]
) -> None:
    training = client.get("/v1/models/lstm").json()["training_values"]
    low, high = training["min"], training["max"]
    inside = [low + (high - low) * (i + 1) / (W + 1) for i in range(W)]
    above = [high * 1.5] * W
    below = [low * 0.5] * W
    assert client.post("/v1/models/lstm/predict", json={"window": inside}).json()["warnings"] == []
    assert warnings_counted(metric_samples(client), "lstm", "above_range") == 0

    response = client.post("/v1/models/lstm/predict", json={"windows": [above, above, below, inside]})
    assert response.status_code == 200, response.text
    assert len(response.json()["warnings"]) == 3
    forecast = client.post("/v1/models/lstm/forecast", json={"window": above, "horizon": 2})
    assert forecast.status_code == 200, forecast.text

    samples = metric_samples(client)
    assert warnings_counted(samples, "lstm", "above_range") == 3
    assert warnings_counted(samples, "lstm", "below_range") == 1
    assert warnings_counted(samples, "gru", "above_range") == 0


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (
            "window 2: 3 value(s) above the training maximum 120 (by up to 5, 4.2%); the model extrapolates",
            "above_range",
        ),
        ("window: 1 value(s) below the training minimum 80 (by up to 2, 2.5%); the model extrapolates", "below_range"),
        (
            "window: 1 bar(s) with the low above the high (first at position 3); the forecast may be unreliable",
            "low_above_high",
        ),
        ("window: 2 bar(s) with the open or close outside [low, high] (first at position 0)", "open_close_outside_bar"),
        (
            "window: 1 bar(s) with the low under half of min(open, close) (first at position 4), which ...",
            "low_misprint",
        ),
        ("something new", "other"),
    ],
)
def test_each_warning_sentence_has_its_kind(message: str, kind: str) -> None:
    assert warning_kind(message) == kind
