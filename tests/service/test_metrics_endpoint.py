"""/metrics: request counters by route template, prediction counters, model info and process metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

Samples = list[tuple[str, dict[str, str], float]]
W = 20
WINDOW = [100.0 + 0.25 * i for i in range(W)]
PREDICT_ROUTE = "/v1/models/{name}/predict"
FORECAST_ROUTE = "/v1/models/{name}/forecast"


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over samples named ``name`` whose labels include ``labels`` (0 when none match)."""
    return sum(v for n, lab, v in samples if n == name and all(lab.get(k) == x for k, x in labels.items()))


def requests(samples: Samples, route: str, status: str, method: str = "POST") -> float:
    return value(samples, "http_requests_total", method=method, route=route, status=status)


def test_request_counters_are_labelled_by_route_template(
    make_client: Callable[..., TestClient], metric_samples: Callable[[TestClient], Samples]
) -> None:
    client = make_client()
    before = metric_samples(client)
    assert requests(before, PREDICT_ROUTE, "200") == 0

    for name in ("lstm", "gru", "lstm"):
        assert client.post(f"/v1/models/{name}/predict", json={"window": WINDOW}).status_code == 200
    assert client.post("/v1/models/lstm/predict", json={"window": WINDOW[:3]}).status_code == 422
    assert client.post("/v1/models/nope/predict", json={"window": WINDOW}).status_code == 404
    assert client.post("/v1/models/gru/forecast", json={"window": WINDOW, "horizon": 4}).status_code == 200
    assert client.get("/v1/models/ensemble").status_code == 200
    assert (
        client.post("/v1/models/lstm/predict", content=b"x", headers={"content-type": "text/plain"}).status_code == 415
    )

    after = metric_samples(client)
    assert requests(after, PREDICT_ROUTE, "200") == 3
    assert requests(after, PREDICT_ROUTE, "422") == 1
    assert requests(after, PREDICT_ROUTE, "404") == 1
    assert requests(after, FORECAST_ROUTE, "200") == 1
    assert requests(after, "/v1/models/{name}", "200", method="GET") == 1
    assert value(after, "http_requests_total", status="415") == 1
    assert requests(after, "/readyz", "200", method="GET") >= 1
    assert value(after, "http_request_duration_seconds_count", method="POST", route=PREDICT_ROUTE) == 5

    routes = {labels["route"] for name, labels, _ in after if "route" in labels}
    assert PREDICT_ROUTE in routes
    assert FORECAST_ROUTE in routes
    for route in routes:  # templates only: a raw path would give one series per model name or typo
        assert not any(raw in route for raw in ("/lstm", "/gru", "/ensemble", "/nope")), route

    # The counters move with every request.
    assert client.post("/v1/models/ensemble/predict", json={"window": WINDOW}).status_code == 200
    assert requests(metric_samples(client), PREDICT_ROUTE, "200") == 4


def test_prediction_counters_by_model_and_kind(
    make_client: Callable[..., TestClient], metric_samples: Callable[[TestClient], Samples]
) -> None:
    client = make_client()
    assert client.post("/v1/models/lstm/predict", json={"windows": [WINDOW] * 3}).status_code == 200
    assert client.post("/v1/models/lstm/predict", json={"window": WINDOW}).status_code == 200
    assert client.post("/v1/models/gru/forecast", json={"window": WINDOW, "horizon": 6}).status_code == 200
    assert client.post("/v1/models/ensemble/forecast", json={"window": WINDOW, "horizon": 2}).status_code == 200
    assert client.post("/v1/models/gru/predict", json={"window": WINDOW[:4]}).status_code == 422  # not counted

    s = metric_samples(client)
    assert value(s, "forecast_predictions_total", model="lstm", kind="predict") == 4
    assert value(s, "forecast_predictions_total", model="lstm", kind="forecast") == 0
    assert value(s, "forecast_predictions_total", model="gru", kind="forecast") == 6
    assert value(s, "forecast_predictions_total", model="gru", kind="predict") == 0
    assert value(s, "forecast_predictions_total", model="ensemble", kind="forecast") == 2
    assert value(s, "forecast_batch_size_count", model="lstm") == 2
    assert value(s, "forecast_batch_size_sum", model="lstm") == 4
    assert value(s, "forecast_model_inference_seconds_count", model="gru", kind="forecast") == 1


def test_model_info_and_process_metrics(
    client: TestClient, tiny_artifacts: Path, metric_samples: Callable[[TestClient], Samples]
) -> None:
    s = metric_samples(client)
    info = {labels["model"]: (labels, v) for name, labels, v in s if name == "forecast_model_info"}
    assert set(info) == {"lstm", "gru", "ensemble"}
    for labels, v in info.values():
        assert v == 1
        assert labels["version"] == "1"  # the repository's version: the committed layout is each set's version 1
        assert labels["backend"] == "onnx"
    assert [v for name, _, v in s if name == "forecast_ready"] == [1.0]
    rss = [v for name, _, v in s if name == "process_resident_memory_bytes"]
    assert rss
    assert rss[0] > 1_000_000
    assert any(name == "process_cpu_seconds_total" for name, _, _ in s)
    assert any(name == "python_info" for name, _, _ in s)


def test_each_app_counts_its_own_requests(
    make_client: Callable[..., TestClient], metric_samples: Callable[[TestClient], Samples]
) -> None:
    first, second = make_client(), make_client()
    assert first.post("/v1/models/lstm/predict", json={"window": WINDOW}).status_code == 200
    assert requests(metric_samples(first), PREDICT_ROUTE, "200") == 1
    assert requests(metric_samples(second), PREDICT_ROUTE, "200") == 0


def test_the_ready_gauge_is_0_while_an_artifact_cannot_be_served(
    make_client: Callable[..., TestClient], tmp_path: Path, metric_samples: Callable[[TestClient], Samples]
) -> None:
    client = make_client(ready=False, artifacts_dir=tmp_path / "missing")
    assert client.get("/readyz").status_code == 503
    assert [v for name, _, v in metric_samples(client) if name == "forecast_ready"] == [0.0]


def test_made_up_methods_are_counted_as_other_so_they_add_no_series(
    make_client: Callable[..., TestClient], metric_samples: Callable[[TestClient], Samples]
) -> None:
    client = make_client()
    for method in ("FROBNICATE", "BREW", "frobnicate", "GETX"):
        assert client.request(method, "/healthz").status_code == 405, method
    assert client.request("DELETE", "/healthz").status_code == 405
    samples = metric_samples(client)
    methods = {lab["method"] for n, lab, _ in samples if n == "http_requests_total"}
    assert methods <= {"GET", "POST", "DELETE", "other"}, methods
    assert value(samples, "http_requests_total", method="other", route="/healthz", status="405") == 4
    assert value(samples, "http_requests_total", method="DELETE", route="/healthz", status="405") == 1
    latency = {lab["method"] for n, lab, _ in samples if n == "http_request_duration_seconds_count"}
    assert "FROBNICATE" not in latency
    assert "other" in latency
