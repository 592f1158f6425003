"""Many concurrent requests to different models: every answer is its own window's, and nothing deadlocks."""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from forecast_core.loader import load_set
from forecast_core.predictor import Predictor
from tests.reliability.conftest import GOOD, start_client, wait_ready

THREADS = 24
PER_THREAD = 12
JOIN_TIMEOUT = 180.0  # seconds for everything; a deadlock fails the test instead of hanging it


@pytest.fixture(scope="module")
def reference(tiny_artifacts: Path) -> dict[str, Predictor]:
    return load_set(tiny_artifacts).predictors


def distinct_window(k: int, total: int) -> np.ndarray:
    """Window number ``k``: the good window scaled by its own factor, 0.1 % apart from the next one's."""
    return np.array(GOOD) * (0.85 + 0.3 * k / total)


@pytest.mark.parametrize("batching", [True, False], ids=["micro-batching", "no-batching"])
def test_concurrent_mixed_requests_get_their_own_answers(
    tiny_artifacts: Path, reference: dict[str, Predictor], batching: bool
) -> None:
    client = start_client(artifacts_dir=tiny_artifacts, batching=batching, batch_max_wait_us=2000)
    try:
        wait_ready(client)
        total = THREADS * PER_THREAD * 4
        failures: list[str] = []
        done: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def worker(t: int) -> None:
            rng = random.Random(t)
            start.wait(timeout=60)
            for i in range(PER_THREAD):
                k = (t * PER_THREAD + i) * 4
                model = rng.choice(["lstm", "gru", "ensemble"])
                kind = rng.choice(["one", "batch", "forecast"])
                failure = call(client, reference, model, kind, k, total)
                with lock:
                    done.append(1)
                    if failure:
                        failures.append(failure)

        threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=JOIN_TIMEOUT)
        assert not any(thread.is_alive() for thread in threads), f"deadlock? {len(done)} of {THREADS * PER_THREAD} done"
        assert len(done) == THREADS * PER_THREAD
        assert not failures, failures[:5]
    finally:
        client.__exit__(None, None, None)


def call(client: TestClient, reference: dict[str, Predictor], model: str, kind: str, k: int, total: int) -> str | None:
    """One request; a description of what went wrong, or None."""
    if kind == "one":
        x = distinct_window(k, total)[None, :]
        response = client.post(f"/v1/models/{model}/predict", json={"window": x[0].tolist()})
        key, expected = "predictions", reference[model].predict(x)
    elif kind == "batch":
        x = np.stack([distinct_window(k + j, total) for j in range(4)])
        response = client.post(f"/v1/models/{model}/predict", json={"windows": x.tolist()})
        key, expected = "predictions", reference[model].predict(x)
    else:
        x = distinct_window(k, total)
        response = client.post(f"/v1/models/{model}/forecast", json={"window": x.tolist(), "horizon": 15})
        key, expected = "forecast", reference[model].forecast(x, 15)
    if response.status_code != 200:
        return f"{model} {kind}: {response.status_code} {response.text[:200]}"
    body: dict[str, Any] = response.json()
    got = np.asarray(body[key])
    if body["model"] != model or not np.allclose(got, expected, rtol=1e-6, atol=0):
        return f"{model} {kind} #{k}: got {got[:3]}, expected {expected[:3]}"
    return None


def test_windows_are_told_apart_by_the_comparison(reference: dict[str, Predictor]) -> None:
    """Guard: neighbouring windows' answers differ by far more than the 1e-6 tolerance, so cross-talk shows."""
    total = THREADS * PER_THREAD * 4
    x = np.stack([distinct_window(k, total) for k in range(total)])
    for predictor in reference.values():
        answers = predictor.predict(x)
        assert np.min(np.abs(np.diff(answers)) / answers[1:]) > 100e-6
