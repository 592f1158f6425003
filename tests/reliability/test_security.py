"""Security checks: nothing is unpickled, Keras files open in safe mode, the manifest has a schema, and error
responses carry no stack traces or internal paths. (Switching the docs off is tests/service/test_access.py's.)
"""

from __future__ import annotations

import ast
import dataclasses
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from forecast_core.manifest import ArtifactError, FileRef, Manifest, read_manifest
from tests.reliability.conftest import GOOD, LEAKS, check_error, reseal, start_client, wait_loaded, wait_ready

SERVICE = Path(__file__).resolve().parents[2] / "service"
# Modules and calls that turn bytes into arbitrary objects (or code).
UNSAFE_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve", "yaml"}
UNSAFE_CALLS = {"eval", "exec", "__import__"}


def python_sources() -> list[Path]:
    sources = sorted(SERVICE.rglob("*.py"))
    assert len(sources) > 10, sources
    return sources


@pytest.mark.parametrize("source", python_sources(), ids=lambda p: str(p.relative_to(SERVICE.parent)))
def test_service_code_never_unpickles(source: Path) -> None:
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names = {(node.module or "").split(".")[0]}
        else:
            names = set()
        assert not names & UNSAFE_MODULES, f"{source.name}:{node.lineno} imports {names & UNSAFE_MODULES}"
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            assert name not in UNSAFE_CALLS, f"{source.name}:{node.lineno} calls {name}"
            if name in {"load", "loads"} and isinstance(func, ast.Attribute):
                owner = ast.unparse(func.value)
                # np.load unpickles object arrays when allowed to; torch.load unpickles by design.
                assert owner not in {"np", "numpy", "torch", "pickle", "joblib"}, f"{source.name}:{node.lineno}"
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle":
                    pytest.fail(f"{source.name}:{node.lineno} passes allow_pickle")
                if keyword.arg == "safe_mode":
                    assert isinstance(keyword.value, ast.Constant), source.name
                    assert keyword.value.value is True, source.name


def test_keras_files_are_opened_in_safe_mode() -> None:
    """The one place that opens .keras files passes safe_mode=True to keras.saving.load_model."""
    source = (SERVICE.parent / "forecast_core" / "backends" / "keras_backend.py").read_text(encoding="utf-8")
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("load_model")
    ]
    assert calls, "no load_model call found"
    for call in calls:
        assert {k.arg: ast.unparse(k.value) for k in call.keywords}.get("safe_mode") == "True", ast.unparse(call)


def lambda_model(path: Path, marker: Path, window: int) -> None:
    """A .keras file whose Lambda layer would write ``marker`` if its code ever ran."""
    import keras

    # A real lambda (Keras stores its bytecode), with the marker's path baked into its constants.
    side_effect = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]")
    inputs = keras.Input(shape=(window,))
    hidden = keras.layers.Lambda(side_effect, output_shape=(window,))(inputs)
    outputs = keras.layers.Dense(1)(hidden)
    keras.Model(inputs, outputs).save(path)
    marker.unlink(missing_ok=True)  # saving traced the function once


def test_a_lambda_layer_model_is_refused_by_the_keras_backend(artifacts_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    lambda_model(artifacts_copy / "lstm.keras", marker, window=20)
    reseal(artifacts_copy, "lstm.keras")  # the checksum passes: only safe mode stands in the way

    from forecast_core.backends.keras_backend import KerasBackend

    with pytest.raises(ValueError, match=r"(?i)lambda|unsafe|safe_mode"):
        KerasBackend.from_file(artifacts_copy / "lstm.keras", 20)

    client = start_client(artifacts_dir=artifacts_copy, backend="keras", models=("lstm",))
    try:
        body = wait_loaded(client, timeout=180)
        assert body["status"] == "failed", body
        assert "lstm.keras" in body["reason"], body
        assert "cannot be loaded" in body["reason"], body
        check_error(client.post("/v1/models/lstm/predict", json={"window": GOOD}), 503, "model_unavailable")
    finally:
        client.__exit__(None, None, None)
    assert not marker.exists(), "the Lambda layer's code ran"

    # Guard: the file does carry code that runs when safe mode is off.
    import keras

    unsafe = keras.saving.load_model(artifacts_copy / "lstm.keras", compile=False, safe_mode=False)
    unsafe(np.zeros((1, 20), dtype=np.float32))
    assert marker.read_text() == "ran"


def test_the_manifest_is_validated_with_a_schema(tiny_artifacts: Path, tmp_path: Path) -> None:
    schema = Manifest.model_json_schema()
    assert schema.get("additionalProperties") is False
    assert {"format_version", "window", "scaler", "models", "training_range"} <= set(schema["required"])
    # File references are plain names: no separators, so they cannot leave the artifact directory (".."
    # passes the pattern but names a directory, which the loader reports as a missing file).
    for name in ("../scaler.json", "/etc/passwd", "sub/dir.onnx", "a\\b", ""):
        with pytest.raises(ValueError, match="file"):
            FileRef(file=name, sha256="0" * 64)
    raw = json.loads((tiny_artifacts / "manifest.json").read_text(encoding="utf-8"))
    raw["models"]["lstm"]["onnx"]["file"] = "../../outside.onnx"
    (tmp_path / "manifest.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(ArtifactError, match=r"manifest\.json: invalid at models\.lstm\.onnx\.file"):
        read_manifest(tmp_path)


def test_error_responses_carry_no_traces_or_paths(
    tiny_artifacts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = start_client(artifacts_dir=tiny_artifacts, max_body_bytes=4096, request_timeout_s=1e-6)
    try:
        wait_ready(client)
        predict = "/v1/models/lstm/predict"
        responses = {
            "404 model": client.post("/v1/models/nope/predict", json={"window": GOOD}),
            "404 path": client.get("/etc/passwd"),
            "405": client.get(predict),
            "422 value": client.post(predict, json={"window": [*GOOD[:-1], -1.0]}),
            "422 length": client.post(predict, json={"window": GOOD[:5]}),
            "400 json": client.post(predict, content=b'{"window": [1,', headers={"content-type": "application/json"}),
            "400 utf8": client.post(
                predict, content=b'{"w": "\xc3\x28"}', headers={"content-type": "application/json"}
            ),
            "413": client.post(predict, json={"windows": [GOOD] * 50}),
            "415": client.post(predict, content=b"window=1", headers={"content-type": "text/plain"}),
            "504": client.post("/v1/models/lstm/forecast", json={"window": GOOD, "horizon": 50}),
        }
        # An unexpected exception whose message names internal paths: 500 in the shape, nothing of it shown.
        gru = client.app.state.dataplane.registry.get("gru")  # type: ignore[attr-defined]

        class Exploding:
            kind, window = "test", 20

            def predict(self, windows: np.ndarray) -> np.ndarray:
                raise RuntimeError('File "/work/main/service/secret.py", line 3: boom at /tmp/x')

        monkeypatch.setattr(gru, "predictor", dataclasses.replace(gru.predictor, backends=[Exploding()]))
        with caplog.at_level(logging.ERROR, logger="service.errors"):
            crashed = client.post("/v1/models/gru/predict", json={"window": GOOD})
    finally:
        client.__exit__(None, None, None)
    for label, response in responses.items():
        error = check_error(response, int(label.split()[0]))
        assert error["status"] == response.status_code, label
    assert crashed.status_code == 500
    assert crashed.json() == {
        "error": {
            "status": 500,
            "code": "internal_error",
            "message": "internal error; the incident was logged",
            "details": [],
        }
    }
    assert LEAKS.search(crashed.text) is None
    assert "boom" in caplog.text  # logged server-side, where it belongs

    # Broken artifacts in a directory with a telling path: the reason names the file, not the path.
    deep = tmp_path / "secret-location" / "artifacts"
    deep.parent.mkdir()
    (deep.parent / "placeholder").write_text("")
    broken = start_client(artifacts_dir=deep)
    try:
        body = wait_loaded(broken)
        answer = broken.post(predict, json={"window": GOOD})
    finally:
        broken.__exit__(None, None, None)
    assert body["status"] == "failed", body
    assert str(tmp_path) not in body["reason"], body
    error = check_error(answer, 503, "model_unavailable")
    assert str(tmp_path) not in error["message"]
