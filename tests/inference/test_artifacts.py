"""Manifest, checksums and the loader: what an artifact directory must hold to be served."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forecast_core.checksums import sha256_file, verified_path
from forecast_core.loader import load_set
from forecast_core.manifest import MANIFEST_FILE, ArtifactError, Manifest, load_scaler, read_manifest
from forecast_core.scaler import MinMaxScaling


def raw_manifest(directory: Path) -> dict[str, Any]:
    return json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def write_raw(directory: Path, raw: dict[str, Any]) -> None:
    (directory / MANIFEST_FILE).write_text(json.dumps(raw), encoding="utf-8")


@pytest.mark.parametrize("size", [0, 1, 1 << 20, (1 << 20) + 17, 3 * (1 << 20) - 1])
def test_sha256_file_matches_hashlib(tmp_path: Path, size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_every_listed_file_matches_its_checksum(tiny_artifacts: Path) -> None:
    manifest = read_manifest(tiny_artifacts)
    refs = [manifest.scaler, *manifest.extra_files]
    refs += [ref for entry in manifest.models.values() for ref in (entry.keras, entry.onnx)]
    assert {"scaler.json", "lstm.onnx", "gru.onnx", "lstm.keras", "gru.keras"} <= {r.file for r in refs}
    for ref in refs:
        assert verified_path(tiny_artifacts, ref) == tiny_artifacts / ref.file
        assert sha256_file(tiny_artifacts / ref.file) == ref.sha256


def test_manifest_round_trip(tiny_artifacts: Path, tmp_path: Path) -> None:
    manifest = read_manifest(tiny_artifacts)
    assert manifest.window == 20
    assert set(manifest.models) == {"lstm", "gru"}
    assert manifest.training_range.min < manifest.training_range.max
    manifest.save(tmp_path)
    again = read_manifest(tmp_path)
    assert again == manifest
    assert Manifest.model_validate(raw_manifest(tmp_path)) == manifest
    assert manifest.model("gru").kind == "gru"
    with pytest.raises(ArtifactError, match="no model named 'tcn'"):
        manifest.model("tcn")


def test_load_artifacts_round_trip(tiny_artifacts: Path) -> None:
    loaded = load_set(tiny_artifacts)
    assert loaded.errors == {}
    assert set(loaded.predictors) == {"lstm", "gru", "ensemble"}
    assert loaded.manifest == read_manifest(tiny_artifacts)
    assert loaded.features.scaler == MinMaxScaling.load(tiny_artifacts / "scaler.json")  # type: ignore[attr-defined]
    for name in ("lstm", "gru"):
        assert loaded.predictors[name].version == loaded.manifest.models[name].version
        assert loaded.predictors[name].window == loaded.manifest.window
    ensemble = loaded.predictors["ensemble"]
    assert ensemble.members == ("lstm", "gru")
    assert "mean" in ensemble.description
    x = np.linspace(95.0, 110.0, 40).reshape(2, 20)
    expected = (loaded.predictors["lstm"].predict(x) + loaded.predictors["gru"].predict(x)) / 2
    np.testing.assert_allclose(ensemble.predict(x), expected, rtol=1e-6)
    only = load_set(tiny_artifacts, ("gru",))
    assert set(only.predictors) == {"gru"}
    assert only.errors == {}


@pytest.mark.parametrize("file", ["lstm.onnx", "gru.onnx"])
def test_tampered_model_file_is_refused_by_name(
    artifacts_copy: Path, corrupt: Callable[[Path], None], file: str
) -> None:
    corrupt(artifacts_copy / file)
    name = file.split(".")[0]
    other = "gru" if name == "lstm" else "lstm"
    manifest = read_manifest(artifacts_copy)
    with pytest.raises(ArtifactError, match=rf"{file}: checksum mismatch"):
        verified_path(artifacts_copy, manifest.models[name].onnx)

    loaded = load_set(artifacts_copy)
    assert set(loaded.predictors) == {other}
    assert file in loaded.errors[name]
    assert "checksum" in loaded.errors[name]
    assert name in loaded.errors["ensemble"]
    assert file in loaded.errors["ensemble"]
    assert str(artifacts_copy) not in loaded.errors[name]


def test_model_file_of_the_other_backend_is_not_read(artifacts_copy: Path, corrupt: Callable[[Path], None]) -> None:
    corrupt(artifacts_copy / "lstm.keras")
    assert load_set(artifacts_copy, backend="onnx").errors == {}


def test_missing_model_file(artifacts_copy: Path) -> None:
    (artifacts_copy / "gru.onnx").unlink()
    loaded = load_set(artifacts_copy, ("gru", "lstm"))
    assert loaded.errors == {"gru": "gru.onnx is missing"}
    assert set(loaded.predictors) == {"lstm"}


def test_unparsable_model_with_a_valid_checksum(artifacts_copy: Path, reseal: Callable[[Path, str], None]) -> None:
    (artifacts_copy / "lstm.onnx").write_bytes(b"not an onnx graph")
    reseal(artifacts_copy, "lstm.onnx")
    loaded = load_set(artifacts_copy, ("lstm",))
    assert "lstm.onnx" in loaded.errors["lstm"]
    assert "cannot be loaded by the onnx backend" in loaded.errors["lstm"]
    assert loaded.predictors == {}


def test_onnx_model_with_the_wrong_window_is_refused(artifacts_copy: Path) -> None:
    raw = raw_manifest(artifacts_copy)
    raw["window"] = 21
    write_raw(artifacts_copy, raw)
    loaded = load_set(artifacts_copy, ("lstm",))
    assert "lstm.onnx" in loaded.errors["lstm"], loaded.errors


def test_tampered_scaler_is_refused(artifacts_copy: Path, corrupt: Callable[[Path], None]) -> None:
    corrupt(artifacts_copy / "scaler.json")
    with pytest.raises(ArtifactError, match=r"scaler\.json: checksum mismatch"):
        load_set(artifacts_copy)


@pytest.mark.parametrize(("key", "factor"), [("data_max", 1.01), ("data_min", 0.99)])
def test_scaler_range_mismatch_is_refused(
    artifacts_copy: Path, reseal: Callable[[Path, str], None], key: str, factor: float
) -> None:
    """A scaler.json whose checksum is right but whose range is not the manifest's training range."""
    path = artifacts_copy / "scaler.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw[key] *= factor
    path.write_text(json.dumps(raw), encoding="utf-8")
    reseal(artifacts_copy, "scaler.json")
    manifest = read_manifest(artifacts_copy)
    with pytest.raises(ArtifactError, match=r"scaler\.json: range .* does not match the manifest's training range"):
        load_scaler(artifacts_copy, manifest)
    with pytest.raises(ArtifactError, match="does not match"):
        load_set(artifacts_copy)


def test_scaler_with_invalid_parameters_is_refused(artifacts_copy: Path, reseal: Callable[[Path, str], None]) -> None:
    path = artifacts_copy / "scaler.json"
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["data_max"] = raw["data_min"]
    path.write_text(json.dumps(raw), encoding="utf-8")
    reseal(artifacts_copy, "scaler.json")
    with pytest.raises(ArtifactError, match=r"scaler\.json: invalid scaler parameters"):
        load_set(artifacts_copy)


def test_missing_manifest_and_directory(artifacts_copy: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="'nowhere' does not exist"):
        read_manifest(tmp_path / "nowhere")
    (artifacts_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"manifest\.json is missing"):
        load_set(artifacts_copy)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda raw: raw.update(format_version=2), "format_version 2 is not supported"),
        (lambda raw: raw.pop("window"), "invalid at window"),
        (lambda raw: raw.update(window="twenty"), "invalid at window"),
        (lambda raw: raw.update(surprise=True), "invalid at surprise"),
        (lambda raw: raw["scaler"].update(file="../scaler.json"), "invalid at scaler.file"),
        (lambda raw: raw["models"]["lstm"]["onnx"].update(sha256="abc"), "invalid at models.lstm.onnx.sha256"),
    ],
)
def test_invalid_manifest_is_refused(artifacts_copy: Path, edit: Callable[[dict[str, Any]], Any], match: str) -> None:
    raw = raw_manifest(artifacts_copy)
    edit(raw)
    write_raw(artifacts_copy, raw)
    with pytest.raises(ArtifactError, match=match) as info:
        read_manifest(artifacts_copy)
    assert str(info.value).startswith("manifest.json")


def test_manifest_that_is_not_json(artifacts_copy: Path) -> None:
    (artifacts_copy / MANIFEST_FILE).write_bytes(b"{\xff not json")
    with pytest.raises(ArtifactError, match=r"manifest\.json is not valid JSON"):
        read_manifest(artifacts_copy)


def test_unknown_model_requested(tiny_artifacts: Path) -> None:
    loaded = load_set(tiny_artifacts, ("lstm", "tcn"))
    assert set(loaded.predictors) == {"lstm"}
    assert "tcn" in loaded.errors["tcn"]
