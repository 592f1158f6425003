"""``forecast-train``'s command line: where it writes, what it refuses (and how fast), what it prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import COMMITTED_ARTIFACTS, REPO, TINY_WINDOW, synthetic_prices
from training import train
from training.cli import check_out, new_run_dir
from training.train import main

TINY = ["--epochs", "1", "--units", "4", "--window", str(TINY_WINDOW), "--verbose", "0", "--no-plots"]
# Runs main() in a fresh interpreter and reports its exit code, whether TensorFlow or Keras was ever
# imported, and TF_CPP_MIN_LOG_LEVEL as main left it.
PROBE = """
import json, os, sys
from training.train import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules,
                  "tf_log_level": os.environ.get("TF_CPP_MIN_LOG_LEVEL")}))
"""


def probe(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[dict[str, object], str]:
    base = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    base["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def yahoo_csv(path: Path, n: int, start: str) -> Path:
    frame = synthetic_prices(n, start=start).drop(columns=["Name"])
    frame.insert(5, "Adj Close", frame["Close"])
    frame.to_csv(path, index=False)
    return path


def test_a_bad_csv_is_refused_before_tensorflow_is_imported(tmp_path: Path) -> None:
    frame = synthetic_prices(400).astype({"High": object})
    frame.loc[123, "High"] = "12,5"
    path = tmp_path / "mine.csv"
    frame.to_csv(path, index=False)
    result, stderr = probe("--data", str(path), cwd=tmp_path)
    assert result == {"code": 2, "tensorflow": False, "keras": False, "tf_log_level": "3"}
    assert f"{path}: row 125: High value '12,5' is not a number" in stderr
    assert not (tmp_path / "runs").exists()  # nothing written


def test_a_bad_ohlc_csv_is_refused_before_tensorflow_is_imported(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    frame = synthetic_prices(100).astype({"Close": object})
    frame.loc[7, "Close"] = "n/a"
    frame.to_csv(data / "AAA.csv", index=False)
    result, stderr = probe("--inputs", "ohlc", "--data", str(data), cwd=tmp_path)
    assert result["code"] == 2
    assert result["tensorflow"] is False
    assert "AAA.csv: row 9: Close value 'n/a' is not a number" in stderr


def test_a_split_without_enough_rows_is_refused_before_tensorflow(tmp_path: Path) -> None:
    path = yahoo_csv(tmp_path / "young.csv", 300, "2023-01-02")
    result, stderr = probe("--data", str(path), cwd=tmp_path)
    assert result["code"] == 2
    assert result["tensorflow"] is False
    assert "--test-start" in stderr


def test_the_users_tf_log_level_is_kept(tmp_path: Path) -> None:
    result, _ = probe("--data", str(tmp_path / "missing.csv"), cwd=tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "1"})
    assert result["code"] == 2
    assert result["tf_log_level"] == "1"


def test_a_non_empty_out_needs_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "artifacts"
    out.mkdir()
    (out / "manifest.json").write_text("{}", encoding="utf-8")
    path = yahoo_csv(tmp_path / "mine.csv", 400, "2014-01-01")
    assert main(["--data", str(path), "--out", str(out), *TINY]) == 2
    assert f"--out {out} is not empty (1 entry: manifest.json); pass --force" in capsys.readouterr().err
    assert (out / "manifest.json").read_text(encoding="utf-8") == "{}"
    assert check_out(out, force=True) is None
    assert check_out(tmp_path / "new", force=False) is None
    (tmp_path / "file").write_text("x", encoding="utf-8")
    assert "is a file" in (check_out(tmp_path / "file", force=True) or "")


def test_the_ohlc_trainer_refuses_a_non_empty_out_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ohlc"
    out.mkdir()
    (out / "lstm.keras").write_bytes(b"")
    assert main(["--inputs", "ohlc", "--data", str(tmp_path), "--out", str(out)]) == 2
    assert "pass --force" in capsys.readouterr().err


def test_new_run_dirs_are_unique(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    now = datetime(2026, 11, 27, 16, 5, 9, tzinfo=UTC)
    first = new_run_dir("mine", now)
    assert first == Path("runs/20261127T160509Z-mine")
    first.mkdir(parents=True)
    assert new_run_dir("mine", now) == Path("runs/20261127T160509Z-mine-2")


@pytest.mark.slow
def test_default_options_train_a_yahoo_csv_into_a_new_run_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Ten years of Yahoo data, no --out, no split options: the last 12 months test, nothing else is touched."""
    committed = {p.name: p.stat().st_mtime_ns for p in COMMITTED_ARTIFACTS.iterdir()}
    path = yahoo_csv(tmp_path / "MINE.csv", 2700, "2014-01-01")  # 2014-01-01 ... 2024-05-07
    monkeypatch.chdir(tmp_path)
    caplog.set_level("INFO")
    assert main(["--data", str(path), *TINY]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.endswith("-MINE")
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["split"]["train_end"] == "2023-04-30"  # data to 2024-05-07: test from 2023-05-01
    assert manifest["split"]["train_rows"] + manifest["split"]["test_rows"] == 2700
    assert f"writing to a new directory, runs/{run.name}" in caplog.text
    assert "test       2023-05-01" in caplog.text
    assert "never trained on" not in caplog.text
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "Reference notebook" not in report  # IBM's published figures are not this data's
    assert "this data's own (MINE.csv" in report
    assert {p.name: p.stat().st_mtime_ns for p in COMMITTED_ARTIFACTS.iterdir()} == committed


def test_help_shows_the_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        train.parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("(default: High)", "runs/<UTC time>-<data file name>/", "--force", "(default: 60)", "Adj Close"):
        assert needle in text
    assert "(default: None)" not in text


def test_test_start_and_train_end_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        train.parse_args(["--data", "x.csv", "--test-start", "2017-01-01", "--train-end", "2016-12-31"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_ohlc_help_defaults_are_the_recipes() -> None:
    from dataclasses import asdict

    from training.ohlc.train import RECIPE_DEFAULTS
    from training.recipes import OhlcRecipe

    recipe = asdict(OhlcRecipe())
    assert {k: recipe[k] for k in RECIPE_DEFAULTS} == RECIPE_DEFAULTS


def test_reference_figures_only_for_the_reference_data(tiny_artifacts: Path) -> None:
    from forecast_core.manifest import read_manifest
    from training.report import is_reference_data

    assert is_reference_data(read_manifest(COMMITTED_ARTIFACTS))
    assert not is_reference_data(read_manifest(tiny_artifacts))
    assert "Reference notebook" not in (tiny_artifacts / "report.md").read_text(encoding="utf-8")
