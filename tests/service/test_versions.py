"""Model versions: a repository of numbered version directories, read again without a restart.

Each test builds its own repository from the tiny set (``<root>/ibm/<version>/``), so what is served can
be changed under a running app: versions added by rename, broken, half-copied, removed; reloads asked
for directly, by the poll timer, by SIGHUP and through the repository API.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import TINY_WINDOW, flip_bytes
from tests.service.test_server_process import SERVE, clean_env, free_port

WINDOW = [100.0 + 0.5 * i for i in range(TINY_WINDOW)]
ADMIN = "admin-s3cret"


def add_version(root: Path, source: Path, version: int, *, set_name: str = "ibm") -> Path:
    """Copy ``source`` in under a name that is not a number, then rename it into place, as documented."""
    staging = root / set_name / f".{version}.incoming"
    shutil.copytree(source, staging)
    final = root / set_name / str(version)
    staging.rename(final)
    return final


@pytest.fixture
def repo(tmp_path: Path, tiny_artifacts: Path) -> Path:
    root = tmp_path / "repository"
    (root / "ibm").mkdir(parents=True)
    add_version(root, tiny_artifacts, 1)
    return root


def predict(client: TestClient, path: str = "/v1/models/lstm/predict") -> Any:
    return client.post(path, json={"window": WINDOW})


def served_version(client: TestClient, name: str = "lstm") -> str:
    response = predict(client, f"/v1/models/{name}/predict")
    assert response.status_code == 200, response.text
    return str(response.json()["version"])


def policy(root: Path, **rule: Any) -> None:
    (root / "ibm" / "versions.json").write_text(json.dumps(rule))


def test_a_flat_set_is_its_version_1_and_its_training_run_is_on_the_card(
    client: TestClient, tiny_artifacts: Path
) -> None:
    manifest = json.loads((tiny_artifacts / "manifest.json").read_text())
    assert served_version(client) == "1"
    info = client.get("/v1/models/lstm").json()
    assert (info["version"], info["run"]) == ("1", manifest["models"]["lstm"]["version"])
    assert client.post("/v1/models/lstm/versions/1/predict", json={"window": WINDOW}).status_code == 200


def test_the_highest_version_answers_unversioned_requests_and_each_kept_one_its_own_url(
    repo: Path, tiny_artifacts: Path, make_client: Callable[..., TestClient]
) -> None:
    add_version(repo, tiny_artifacts, 2)
    policy(repo, policy="all")
    client = make_client(artifacts_dir=repo)
    assert served_version(client) == "2"
    assert predict(client, "/v1/models/lstm/versions/1/predict").json()["version"] == "1"
    body = {"inputs": [{"name": "window", "datatype": "FP32", "shape": [1, TINY_WINDOW], "data": WINDOW}]}
    v2 = client.post("/v2/models/gru/versions/1/infer", json=body)
    assert v2.status_code == 200, v2.text
    assert v2.json()["model_version"] == "1"
    assert client.get("/v2/models/gru").json()["versions"] == ["2", "1"]
    listed = client.get("/v1/models/gru").json()["versions"]
    assert listed == [
        {"version": "2", "state": "ready", "reason": None},
        {"version": "1", "state": "ready", "reason": None},
    ]
    # Both versions are the same networks: the same numbers, whichever URL.
    a, b = predict(client).json()["predictions"], predict(client, "/v1/models/lstm/versions/1/predict").json()
    assert a == b["predictions"]


@pytest.mark.parametrize(
    ("rule", "current", "missing"), [({}, "2", "1"), ({"policy": "specific", "versions": [1]}, "1", "2")]
)
def test_the_version_policy_says_which_versions_are_loaded(
    repo: Path,
    tiny_artifacts: Path,
    make_client: Callable[..., TestClient],
    expect_error: Callable[..., dict[str, Any]],
    rule: dict[str, Any],
    current: str,
    missing: str,
) -> None:
    add_version(repo, tiny_artifacts, 2)
    if rule:
        policy(repo, **rule)
    client = make_client(artifacts_dir=repo)
    assert served_version(client) == current
    error = expect_error(predict(client, f"/v1/models/lstm/versions/{missing}/predict"), 404, "unknown_version")
    assert f"serves {current!r}" in error["message"]
    for bad in ("latest", "01", "1.5", "x" * 200):
        expect_error(predict(client, f"/v1/models/lstm/versions/{bad}/predict"), 404, "unknown_version")


def test_a_new_version_is_swapped_in_and_a_request_holding_the_old_one_finishes_on_it(
    repo: Path, tiny_artifacts: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(artifacts_dir=repo)
    registry = client.app.state.dataplane.registry  # type: ignore[attr-defined]
    running = registry.get("lstm")  # what a request in flight holds
    add_version(repo, tiny_artifacts, 2)
    registry.refresh()
    assert served_version(client) == "2"
    assert running.version == "1"
    assert np.isfinite(running.predict(np.array([WINDOW]))).all()  # the old version still answers its caller
    assert registry.get("lstm").version == "2"
    metrics = client.get("/metrics").text  # one version serving, the one before says it no longer does
    assert 'forecast_model_info{backend="onnx",model="lstm",version="2"} 1.0' in metrics
    assert 'forecast_model_info{backend="onnx",model="lstm",version="1"} 0.0' in metrics


def test_a_broken_version_never_replaces_the_serving_one_and_says_why(
    repo: Path, tiny_artifacts: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(artifacts_dir=repo)
    broken = add_version(repo, tiny_artifacts, 2, set_name="ibm")
    flip_bytes(broken / "lstm.onnx")
    client.app.state.dataplane.registry.refresh()  # type: ignore[attr-defined]
    for name in ("lstm", "gru", "ensemble"):
        assert served_version(client, name) == "1", name  # the set stays on its whole version
    versions = client.get("/v1/models/lstm").json()["versions"]
    assert versions[0]["version"] == "2"
    assert versions[0]["state"] == "failed"
    assert "checksum" in versions[0]["reason"]
    refused = predict(client, "/v1/models/lstm/versions/2/predict")
    assert refused.status_code == 503
    assert "version 2 failed to load" in refused.json()["error"]["message"]
    assert client.get("/readyz").status_code == 200
    assert 'forecast_model_version_load_failures_total{set="ibm"} 1.0' in client.get("/metrics").text
    # Fixed in place (the files change): read again, and served.
    shutil.copy(tiny_artifacts / "lstm.onnx", broken / "lstm.onnx")
    client.app.state.dataplane.registry.refresh()  # type: ignore[attr-defined]
    assert served_version(client) == "2"


def test_half_copied_and_non_numeric_directories_are_never_read(
    repo: Path, tiny_artifacts: Path, make_client: Callable[..., TestClient]
) -> None:
    half = repo / "ibm" / "3"
    half.mkdir()
    shutil.copy(tiny_artifacts / "lstm.onnx", half / "lstm.onnx")  # still arriving: no manifest yet
    for name in ("latest", "01", "2.tmp", ".4.incoming"):
        shutil.copytree(tiny_artifacts, repo / "ibm" / name)
    client = make_client(artifacts_dir=repo)
    assert [v["version"] for v in client.get("/v1/models/lstm").json()["versions"]] == ["1"]
    assert served_version(client) == "1"


def test_removing_the_current_version_falls_back_to_the_next_highest(
    repo: Path, tiny_artifacts: Path, make_client: Callable[..., TestClient]
) -> None:
    add_version(repo, tiny_artifacts, 2)
    client = make_client(artifacts_dir=repo)
    assert served_version(client) == "2"
    shutil.rmtree(repo / "ibm" / "2")
    client.app.state.dataplane.registry.refresh()  # type: ignore[attr-defined]
    assert served_version(client) == "1"


def test_polling_serves_a_version_renamed_into_place(
    repo: Path, tiny_artifacts: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(artifacts_dir=repo, poll_s=0.05)
    assert served_version(client) == "1"
    add_version(repo, tiny_artifacts, 2)
    give_up = time.monotonic() + 60
    while served_version(client) != "2":
        assert time.monotonic() < give_up, "the poller never served version 2"
        time.sleep(0.05)


def test_a_bad_policy_file_is_named(repo: Path, make_client: Callable[..., TestClient]) -> None:
    (repo / "ibm" / "versions.json").write_text('{"policy": "newest"}')
    client = make_client(artifacts_dir=repo, ready=False)
    give_up = time.monotonic() + 60
    while (ready := client.get("/readyz").json())["status"] == "loading":
        assert time.monotonic() < give_up, ready
        time.sleep(0.02)
    assert ready["status"] == "failed"
    assert "versions.json" in ready["reason"]


def test_the_repository_api_exists_only_with_an_admin_key_and_takes_only_that_key(
    repo: Path, tiny_artifacts: Path, tiny_ohlc_artifacts: Path, make_client: Callable[..., TestClient]
) -> None:
    shutil.copytree(tiny_ohlc_artifacts, repo / "ohlc")  # a second set, which keeps serving throughout
    plain = make_client(artifacts_dir=repo)
    assert plain.post("/v2/repository/index").status_code == 404
    client = make_client(artifacts_dir=repo, admin_key=ADMIN, api_key="predict-key")
    for headers in ({}, {"X-Admin-Key": ""}, {"X-Admin-Key": "wrong"}, {"X-API-Key": "predict-key"}):
        assert client.post("/v2/repository/index", headers=headers).status_code == 401, headers
    admin = {"X-Admin-Key": ADMIN}
    index = client.post("/v2/repository/index", headers=admin).json()
    assert {"name": "lstm", "version": "1", "state": "READY"} in index
    add_version(repo, tiny_artifacts, 2)
    assert client.post("/v2/repository/models/lstm/load", headers=admin).status_code == 200
    keyed = {"X-API-Key": "predict-key"}
    assert client.post("/v1/models/lstm/predict", json={"window": WINDOW}, headers=keyed).json()["version"] == "2"
    assert client.post("/v2/repository/models/lstm/unload", headers=admin).status_code == 200
    unloaded = client.post("/v1/models/gru/predict", json={"window": WINDOW}, headers=keyed)
    assert unloaded.status_code == 503
    assert "unloaded" in unloaded.json()["error"]["message"]
    assert client.get("/readyz").status_code == 200  # unloaded on purpose: the other set keeps it ready
    assert client.post("/v2/repository/models/gru/load", headers=admin).status_code == 200
    assert client.post("/v1/models/gru/predict", json={"window": WINDOW}, headers=keyed).status_code == 200
    unknown = client.post("/v2/repository/models/nope/load", headers=admin)
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["error"]


@pytest.mark.slow
def test_sighup_makes_a_running_server_serve_a_new_version(repo: Path, tiny_artifacts: Path, tmp_path: Path) -> None:
    port, log = free_port(), (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [str(SERVE), "--host", "127.0.0.1", "--port", str(port)],
        env=clean_env(FORECAST_ARTIFACTS_DIR=str(repo)),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as http:

            def version() -> str | None:
                try:
                    response = http.post("/v1/models/lstm/predict", json={"window": WINDOW})
                except httpx.TransportError:
                    return None  # not listening yet
                return str(response.json()["version"]) if response.status_code == 200 else None

            give_up = time.monotonic() + 90
            while version() != "1":
                assert process.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < give_up, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
            add_version(repo, tiny_artifacts, 2)
            os.kill(process.pid, signal.SIGHUP)
            give_up = time.monotonic() + 60
            while version() != "2":
                assert process.poll() is None, (tmp_path / "server.log").read_text()
                assert time.monotonic() < give_up, (tmp_path / "server.log").read_text()
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_a_canary_answers_its_share_of_unversioned_requests_and_is_timed_apart(
    repo: Path, tiny_artifacts: Path, make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    import random

    from service.dataplane import registry as registry_module

    add_version(repo, tiny_artifacts, 2)
    policy(repo, policy="latest", canary={"version": 2, "percent": 25})
    monkeypatch.setattr(registry_module, "random", random.Random(7))  # a fixed draw, so the count is exact
    client = make_client(artifacts_dir=repo)
    answered = [served_version(client) for _ in range(400)]
    share = answered.count("2") / len(answered)
    assert set(answered) == {"1", "2"}
    assert 0.18 < share < 0.32, share
    assert client.get("/v1/models/lstm").json()["version"] == "1"  # the current one is still version 1
    metrics = client.get("/metrics").text
    for version in ("1", "2"):
        assert f'forecast_version_inference_seconds_count{{model="lstm",version="{version}"}}' in metrics
    # Without the canary, version 2 is current and takes everything.
    policy(repo, policy="latest")
    client.app.state.dataplane.registry.refresh()  # type: ignore[attr-defined]
    assert {served_version(client) for _ in range(20)} == {"2"}


def test_a_version_of_another_kind_placed_under_a_set_is_refused_and_the_set_keeps_serving(
    repo: Path, tiny_ohlc_artifacts: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(artifacts_dir=repo)
    add_version(repo, tiny_ohlc_artifacts, 2)  # an OHLC run copied under the IBM set
    client.app.state.dataplane.registry.refresh()  # type: ignore[attr-defined]
    assert served_version(client) == "1"
    (failed,) = [v for v in client.get("/v1/models/lstm").json()["versions"] if v["version"] == "2"]
    assert failed["state"] == "failed"
    assert "ohlc-lstm" in failed["reason"]
    assert client.post("/v1/models/ohlc-lstm/predict", json={"window": WINDOW}).status_code == 404
