"""forecast-promote: a run becomes the next version only through the gate, and rollback restores the previous one.

A tiny OHLC set is the live version (flat, as committed sets are); the challenger is a copy of its run,
so the two score alike and the margin decides: 0 lets it through, a demand to be half as wrong refuses
it, ``--force`` adds it anyway. A server on the repository follows every change at its next read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import running_client
from tests.training.test_ohlc_data import ohlc_frame
from training.promote import main
from training.train import main as train

pytestmark = pytest.mark.slow
WINDOW = 10
BARS = {c: [50.0 + 0.1 * i for i in range(WINDOW)] for c in ("open", "close")}
BARS |= {"high": [51.0 + 0.1 * i for i in range(WINDOW)], "low": [49.0 + 0.1 * i for i in range(WINDOW)]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    data = tmp_path_factory.mktemp("promote-data")
    for k, ticker in enumerate(("AAA", "BBB", "CCC", "DDD")):
        frame = ohlc_frame(420, seed=k, start="2015-01-01")
        for col in ("Open", "High", "Low", "Close"):
            frame[col] = (frame[col] * (1 + 9 * k)).round(2)
        frame.to_csv(data / f"{ticker}.csv", index=False)
    run = tmp_path_factory.mktemp("promote-run") / "run"
    args = ["--inputs", "ohlc", "--data", str(data), "--hold-out", "DDD", "--out", str(run), "--window", str(WINDOW)]
    args += ["--train-end", "2016-03-31", "--validation-days", "40", "--epochs", "1", "--lstm-units", "3"]
    assert train([*args, "--gru-units", "3", "--verbose", "0"]) == 0
    return run, data


@pytest.fixture
def repo(trained: tuple[Path, Path], tmp_path: Path) -> Path:
    root = tmp_path / "repository"
    shutil.copytree(trained[0], root / "ohlc")  # the live set, flat: its version 1
    return root


def _promote(repo: Path, trained: tuple[Path, Path], *extra: str) -> int:
    run, data = trained
    return main([str(run), "--repository", str(repo), "--set", "ohlc", "--data", str(data), *extra])


def _served(client: TestClient) -> str:
    client.app.state.dataplane.registry.refresh()  # type: ignore[attr-defined]  # what polling would do
    response = client.post("/v1/models/ohlc-ensemble/predict", json={"window": BARS})
    assert response.status_code == 200, response.text
    return str(response.json()["version"])


def test_a_run_scoring_like_the_live_version_is_promoted_and_rollback_restores_the_live_one(
    repo: Path, trained: tuple[Path, Path]
) -> None:
    with running_client(artifacts_dir=repo) as client:
        before = client.post("/v1/models/ohlc-ensemble/predict", json={"window": BARS}).json()
        assert before["version"] == "1"
        assert _promote(repo, trained, "--margin", "0") == 0
        assert sorted(p.name for p in (repo / "ohlc").iterdir() if not p.name.startswith(".")) == ["1", "2"]
        record = json.loads((repo / "ohlc" / "2" / "promotion.json").read_text())
        assert (record["decision"], record["live_version"], record["version"]) == ("promoted", 1, 2)
        assert record["change"] == {"1": 0.0, "5": 0.0}  # the same networks score the same
        assert set(record["scores"]["live"]["per_series"]) == {"AAA", "BBB", "CCC", "DDD"}
        assert _served(client) == "2"
        assert main(["--repository", str(repo), "--set", "ohlc", "--rollback"]) == 0
        assert _served(client) == "1"
        after = client.post("/v1/models/ohlc-ensemble/predict", json={"window": BARS}).json()
        assert after["predictions"] == before["predictions"]  # exactly the previous version's answers
        assert main(["--repository", str(repo), "--set", "ohlc", "--rollback"]) == 2  # nothing older


def test_the_gate_refuses_a_run_not_good_enough_and_says_by_how_much(repo: Path, trained: tuple[Path, Path]) -> None:
    assert _promote(repo, trained, "--margin", "-0.5") == 1
    (refusal,) = (repo / "ohlc").glob("refused-*.json")
    record = json.loads(refusal.read_text())
    assert record["decision"] == "refused"
    assert record["change"]["1"] > -0.5
    assert not (repo / "ohlc" / "2").exists()
    assert _promote(repo, trained, "--margin", "-0.5", "--force") == 0
    assert json.loads((repo / "ohlc" / "2" / "promotion.json").read_text())["decision"] == "forced"


def test_a_run_of_another_kind_is_refused_before_anything_is_scored(
    repo: Path, trained: tuple[Path, Path], tiny_artifacts: Path
) -> None:
    code = main([str(tiny_artifacts), "--repository", str(repo), "--set", "ohlc", "--data", str(trained[1])])
    assert code == 2
    assert (repo / "ohlc" / "manifest.json").is_file()  # untouched: still the flat set, no version added
    assert not [p for p in (repo / "ohlc").iterdir() if p.is_dir()]
    assert main([str(trained[0]), "--repository", str(repo), "--set", "nope", "--data", str(trained[1])]) == 2


def test_retraining_on_new_rows_then_promoting_serves_the_new_version(
    repo: Path, trained: tuple[Path, Path], tmp_path: Path
) -> None:
    """The loop docs/operations.md describes: rows appended to the CSVs (here: two more months inside the
    training period), forecast-train, forecast-promote, and the running server answers with the new version."""
    data = trained[1]
    retrained = tmp_path / "retrained"
    args = ["--inputs", "ohlc", "--data", str(data), "--hold-out", "DDD", "--out", str(retrained)]
    args += ["--window", str(WINDOW), "--train-end", "2016-05-31", "--validation-days", "40", "--epochs", "1"]
    assert train([*args, "--lstm-units", "3", "--gru-units", "3", "--verbose", "0", "--seed", "2"]) == 0
    with running_client(artifacts_dir=repo) as client:
        assert _served(client) == "1"
        code = main([str(retrained), "--repository", str(repo), "--set", "ohlc", "--data", str(data), "--margin", "1"])
        assert code == 0
        record = json.loads((repo / "ohlc" / "2" / "promotion.json").read_text())
        assert record["period_after"] == "2016-05-31"  # scored only on days neither version trained on
        assert _served(client) == "2"
        card = client.get("/v1/models/ohlc-lstm").json()
        assert card["run"] == json.loads((retrained / "manifest.json").read_text())["models"]["lstm"]["version"]
