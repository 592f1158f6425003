"""Shared fixtures: a synthetic price series and a tiny artifact set made by the real training code."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
ARTIFACTS_ROOT = REPO / "artifacts"
COMMITTED_ARTIFACTS = ARTIFACTS_ROOT / "ibm-high"
TINY_WINDOW = 20


def synthetic_prices(n: int = 700, seed: int = 0, start: str = "2014-01-01") -> pd.DataFrame:
    """A geometric random walk in the Kaggle DJIA CSV layout, on business days."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(start, periods=n)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    high = close * (1 + np.abs(rng.normal(0, 0.004, n)))
    low = close * (1 - np.abs(rng.normal(0, 0.004, n)))
    return pd.DataFrame(
        {
            "Date": dates.strftime("%Y-%m-%d"),
            "Open": close.round(2),
            "High": high.round(2),
            "Low": low.round(2),
            "Close": close.round(2),
            "Volume": rng.integers(1_000_000, 5_000_000, n),
            "Name": "SYN",
        }
    )


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "SYN.csv"
    synthetic_prices().to_csv(path, index=False)
    return path


def train_tiny(csv: Path, out: Path, *extra: str) -> Path:
    """Run the real training CLI with tiny layers and one epoch (seconds, not minutes)."""
    from training.train import main

    args = [
        "--data",
        str(csv),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--units",
        "4,4",
        "--window",
        str(TINY_WINDOW),
        "--train-end",
        "2016-06-30",
        "--verbose",
        "0",
        "--no-plots",
        *extra,
    ]
    assert main(args) == 0
    return out


@pytest.fixture(scope="session")
def tiny_artifacts(tmp_path_factory: pytest.TempPathFactory, synthetic_csv: Path) -> Path:
    """A complete artifact directory (both models, ONNX and Keras) trained on the synthetic series."""
    return train_tiny(synthetic_csv, tmp_path_factory.mktemp("artifacts") / "tiny")


TINY_OHLC_WINDOW = 10


@pytest.fixture(scope="session")
def tiny_ohlc_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete OHLC set (lstm, gru, ensemble, intervals) trained for one epoch on four synthetic tickers."""
    from tests.training.test_ohlc_data import ohlc_frame
    from training.train import main

    data = tmp_path_factory.mktemp("ohlc-data")
    for k, ticker in enumerate(("AAA", "BBB", "CCC", "DDD")):
        frame = ohlc_frame(420, seed=k, start="2015-01-01")
        for col in ("Open", "High", "Low", "Close"):
            frame[col] = (frame[col] * (1 + 9 * k)).round(2)  # different price levels, one model
        frame.to_csv(data / f"{ticker}.csv", index=False)
    out = tmp_path_factory.mktemp("ohlc-artifacts") / "ohlc"
    args = ["--inputs", "ohlc", "--data", str(data), "--hold-out", "DDD", "--out", str(out)]
    args += ["--window", str(TINY_OHLC_WINDOW), "--train-end", "2016-03-31", "--validation-days", "40"]
    args += ["--epochs", "1", "--lstm-units", "3", "--gru-units", "3", "--verbose", "0"]
    assert main(args) == 0
    return out


@pytest.fixture(scope="session")
def tiny_model_sets(tmp_path_factory: pytest.TempPathFactory, tiny_artifacts: Path, tiny_ohlc_artifacts: Path) -> Path:
    """An artifacts root holding two sets, as the committed one does: ``ibm-high/`` and ``ohlc/``."""
    import shutil

    root = tmp_path_factory.mktemp("model-sets")
    shutil.copytree(tiny_artifacts, root / "ibm-high")
    shutil.copytree(tiny_ohlc_artifacts, root / "ohlc")
    return root


@pytest.fixture
def artifacts_copy(tiny_artifacts: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny artifacts that a test may break."""
    import shutil

    target = tmp_path / "artifacts"
    shutil.copytree(tiny_artifacts, target)
    return target


@pytest.fixture(scope="session")
def reseal() -> Callable[[Path, str], None]:
    """Record a file's current SHA-256 in the manifest, so a test can plant a change the checksum accepts."""
    import json

    from forecast_core.checksums import sha256_file

    def reseal_file(directory: Path, file: str) -> None:
        manifest_path = directory / "manifest.json"
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
        digest = sha256_file(directory / file)
        refs = [raw["scaler"], *raw.get("extra_files", [])]
        refs += [raw["intervals"]] if isinstance(raw.get("intervals"), dict) else []
        refs += [ref for entry in raw["models"].values() for ref in (entry["keras"], entry["onnx"])]
        matching = [ref for ref in refs if ref["file"] == file]
        assert matching, f"the manifest lists no file {file!r}"
        for ref in matching:
            ref["sha256"] = digest
        manifest_path.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")

    return reseal_file


def flip_bytes(path: Path) -> None:
    """Corrupt a file in place (a few bytes in its middle), keeping its size."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, min(middle + 8, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(scope="session")
def corrupt() -> Callable[[Path], None]:
    return flip_bytes
