"""Broken artifacts: readiness stays 503 with a reason naming the file, and nothing is served from them.

helper-1's tests/service/test_readiness.py already covers a missing artifacts directory, a missing
manifest, flipped bytes in a model, the scaler and the manifest, a model file the runtime cannot parse,
and partial serving with a corrupt model; these are the other faults.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forecast_core.loader import load_set
from tests.reliability.conftest import GOOD, check_error, reseal, start_client, wait_loaded

MODELS = ("lstm", "gru", "ensemble")


def edit_json(directory: Path, file: str, change: Callable[[Any], Any], sealed: bool = True) -> None:
    path = directory / file
    raw = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(change(raw) or raw, indent=2), encoding="utf-8")
    if sealed and file != "manifest.json":
        reseal(directory, file)


def write(directory: Path, file: str, data: bytes, sealed: bool = True) -> None:
    (directory / file).write_bytes(data)
    if sealed:
        reseal(directory, file)


def truncate(directory: Path, file: str, sealed: bool) -> None:
    data = (directory / file).read_bytes()
    write(directory, file, data[: len(data) // 2], sealed)


def manifest(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], None]:
    return lambda d: edit_json(d, "manifest.json", change)


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for key in parents:
        raw = raw[key]
    raw[last] = value


def _drop(raw: dict[str, Any], key: str) -> None:
    del raw[key]


# (id, how to break a copy of the artifacts, words the readiness reason must contain)
FAULTS: list[tuple[str, Callable[[Path], None], tuple[str, ...]]] = [
    ("model-truncated", lambda d: truncate(d, "lstm.onnx", sealed=False), ("lstm.onnx", "checksum mismatch")),
    ("model-truncated-resealed", lambda d: truncate(d, "gru.onnx", sealed=True), ("gru.onnx", "cannot be loaded")),
    ("model-empty-resealed", lambda d: write(d, "lstm.onnx", b""), ("lstm.onnx", "cannot be loaded")),
    ("model-missing", lambda d: (d / "gru.onnx").unlink(), ("gru.onnx", "missing")),
    (
        "manifest-bad-json",
        lambda d: write(d, "manifest.json", b'{"format_version": 1,', False),
        ("manifest.json", "JSON"),
    ),
    ("manifest-not-utf8", lambda d: write(d, "manifest.json", b"\xff\xfe{}", False), ("manifest.json", "JSON")),
    ("manifest-not-an-object", lambda d: write(d, "manifest.json", b"[1, 2]", False), ("manifest.json", "invalid")),
    ("manifest-missing-field", manifest(lambda m: _drop(m, "window")), ("manifest.json", "window", "required")),
    ("manifest-wrong-type", manifest(lambda m: _set(m, "window", "sixty")), ("manifest.json", "window")),
    ("manifest-unknown-field", manifest(lambda m: _set(m, "pickle", "x")), ("manifest.json", "pickle")),
    ("manifest-bad-sha", manifest(lambda m: _set(m, "scaler.sha256", "abc")), ("manifest.json", "scaler.sha256")),
    (
        "manifest-path-escape",
        manifest(lambda m: _set(m, "scaler.file", "../scaler.json")),
        ("manifest.json", "scaler.file"),
    ),
    ("manifest-format-2", manifest(lambda m: _set(m, "format_version", 2)), ("manifest.json", "format_version 2")),
    ("manifest-format-string", manifest(lambda m: _set(m, "format_version", "1")), ("manifest.json", "format_version")),
    ("manifest-format-missing", manifest(lambda m: _drop(m, "format_version")), ("manifest.json", "format_version")),
    ("manifest-window-mismatch", manifest(lambda m: _set(m, "window", 21)), ("lstm.onnx", "cannot be loaded")),
    (
        "scaler-range-mismatch",
        lambda d: edit_json(d, "scaler.json", lambda s: _set(s, "data_max", 130.0)),
        ("scaler.json", "does not match the manifest's training range"),
    ),
    (
        "scaler-inverted",
        lambda d: edit_json(d, "scaler.json", lambda s: _set(s, "data_min", 1000.0)),
        ("scaler.json", "invalid scaler parameters"),
    ),
    ("scaler-not-json", lambda d: write(d, "scaler.json", b"\x80\x04\x95 pickled?"), ("scaler.json", "invalid")),
    ("scaler-missing", lambda d: (d / "scaler.json").unlink(), ("scaler.json", "missing")),
    (
        "training-range-mismatch",
        manifest(lambda m: _set(m, "training_range.min", 50.0)),
        ("scaler.json", "does not match the manifest's training range"),
    ),
    (
        "intervals-bad-json",
        lambda d: write(d, "intervals.json", b'{"method": '),
        ("intervals.json", "invalid interval"),
    ),
    (
        "intervals-wrong-schema",
        lambda d: edit_json(d, "intervals.json", lambda t: _set(t, "max_horizon", 3)),
        ("intervals.json", "invalid interval"),
    ),
    (
        "intervals-nan-quantile",
        lambda d: write(
            d,
            "intervals.json",
            (d / "intervals.json").read_bytes().replace(b'"quantiles": {', b'"quantiles": {"nan": {"50": [NaN]},', 1),
        ),
        ("intervals.json", "invalid interval"),
    ),
    (
        "intervals-tampered",
        lambda d: edit_json(d, "intervals.json", lambda t: _set(t, "levels", [50]), sealed=False),
        ("intervals.json", "checksum mismatch"),
    ),
    ("intervals-missing", lambda d: (d / "intervals.json").unlink(), ("intervals.json", "missing")),
]


@pytest.mark.parametrize(("fault", "words"), [(f, w) for _, f, w in FAULTS], ids=[i for i, _, _ in FAULTS])
def test_broken_artifacts_are_never_served(
    artifacts_copy: Path, fault: Callable[[Path], None], words: tuple[str, ...]
) -> None:
    fault(artifacts_copy)
    client = start_client(artifacts_dir=artifacts_copy)
    try:
        body = wait_loaded(client)
        assert body["status"] == "failed", body
        reason = body["reason"]
        for word in words:
            assert word in reason, (word, reason)
        assert str(artifacts_copy.parent) not in reason, reason
        assert "Traceback" not in reason, reason
        assert client.get("/readyz").status_code == 503
        assert client.get("/healthz").status_code == 200
        served = []
        for name in MODELS:
            for path, request in (("predict", {"window": GOOD}), ("forecast", {"window": GOOD, "horizon": 3})):
                response = client.post(f"/v1/models/{name}/{path}", json=request)
                if response.status_code == 200:
                    served.append(f"{name}/{path}")
                else:
                    check_error(response, 503, "model_unavailable")
        # A model whose own files loaded may answer, but readiness is 503 (require_all_models) so the
        # load balancer sends it nothing; what a fault in a shared file breaks serves nothing at all.
        broken = {word.split(".")[0] for word in words if word.endswith((".onnx", ".keras"))}
        assert not (not broken and served), served
        assert not [s for s in served if s.split("/")[0] in broken | {"ensemble"}], served
    finally:
        client.__exit__(None, None, None)


def test_one_broken_model_leaves_the_other_serving_correct_answers(artifacts_copy: Path, tiny_artifacts: Path) -> None:
    """require_all_models=False with lstm,gru, gru's file gone: lstm answers what an intact copy answers; gru 503."""
    reference = load_set(tiny_artifacts, ("lstm",)).predictors["lstm"]
    (artifacts_copy / "gru.onnx").unlink()
    client = start_client(artifacts_dir=artifacts_copy, models=("lstm", "gru"), require_all_models=False)
    try:
        body = wait_loaded(client)
        assert body["status"] == "ready", body
        assert body["models"]["lstm"] == "ready", body
        assert "gru.onnx" in body["models"]["gru"], body
        window = np.array(GOOD)
        response = client.post("/v1/models/lstm/forecast", json={"window": GOOD, "horizon": 10})
        assert response.status_code == 200, response.text
        np.testing.assert_allclose(response.json()["forecast"], reference.forecast(window, 10), rtol=1e-9)
        for path, request in (("predict", {"window": GOOD}), ("forecast", {"window": GOOD, "horizon": 3})):
            error = check_error(client.post(f"/v1/models/gru/{path}", json=request), 503, "model_unavailable")
            assert "gru.onnx" in error["message"]
            assert client.post(f"/v1/models/gru/{path}", json=request).headers["retry-after"] == "1"
    finally:
        client.__exit__(None, None, None)


def test_an_intact_copy_loads(artifacts_copy: Path) -> None:
    """Guard for the faults above: the copy they break is servable before it is broken."""
    client = start_client(artifacts_dir=artifacts_copy)
    try:
        assert wait_loaded(client)["status"] == "ready"
    finally:
        client.__exit__(None, None, None)
