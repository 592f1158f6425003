"""The peers benchmark's pieces that need no peer installed: payloads, answers, the table, the skip message.

No server is started and nothing is timed; the one model check runs ``benchmarks/peers/lstm_onnx.py``
(what KServe and MLServer serve) beside the service's own predictor on the committed artifacts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks import workloads
from benchmarks.config import ARTIFACTS, REPO
from benchmarks.peers import measure, servers, table
from benchmarks.peers import run as peers_run

WINDOW = [150.0 + 0.05 * i for i in range(60)]


def test_bodies_in_each_protocol() -> None:
    assert json.loads(servers.body("ours-v1", WINDOW)) == {"window": WINDOW}
    assert json.loads(servers.body("kserve-v1", WINDOW)) == {"instances": [WINDOW]}
    v2 = json.loads(servers.body("v2", WINDOW))
    assert v2 == {"inputs": [{"name": "window", "datatype": "FP32", "shape": [1, 60], "data": WINDOW}]}
    # The very body the rest of the harness sends to our /v2.
    assert servers.body("v2", WINDOW) == workloads.infer_requests([WINDOW], count=1)[0][2]
    with pytest.raises(ValueError, match="unknown protocol"):
        servers.body("v3", WINDOW)


def window_of(body: str | None) -> list[float]:
    """The window in a request body of any of the three protocols."""
    data = json.loads(body or "null")
    if "window" in data:
        return list(data["window"])
    if "instances" in data:
        return list(data["instances"][0])
    return list(data["inputs"][0]["data"])


def test_every_server_gets_the_same_windows() -> None:
    windows = [[float(i + j) for j in range(60)] for i in range(200)]
    sent = {}
    for server in servers.SERVERS.values():
        for endpoint in server.endpoints:
            reqs = servers.requests(endpoint, windows)
            assert len(reqs) == servers.REQUESTS_PER_ENDPOINT
            assert {(m, p) for m, p, _ in reqs} == {("POST", endpoint.path)}
            sent[(server.name, endpoint.label)] = [window_of(b) for _, _, b in reqs]
    first = next(iter(sent.values()))
    assert all(v == first for v in sent.values())


@pytest.mark.parametrize(
    ("protocol", "text"),
    [
        ("ours-v1", '{"model": "lstm", "predictions": [153.5], "warnings": []}'),
        ("kserve-v1", '{"predictions": [153.5]}'),
        ("kserve-v1", '{"predictions": [[153.5]]}'),
        ("v2", '{"outputs": [{"name": "prediction", "shape": [1, 1], "datatype": "FP64", "data": [153.5]}]}'),
    ],
)
def test_answers_are_read(protocol: str, text: str) -> None:
    assert servers.answer(protocol, text) == 153.5


@pytest.mark.parametrize(("protocol", "text"), [("v2", '{"outputs": []}'), ("ours-v1", "{}"), ("kserve-v1", "oops")])
def test_an_answer_without_a_prediction_is_an_error(protocol: str, text: str) -> None:
    with pytest.raises(ValueError, match="no prediction"):
        servers.answer(protocol, text)


def test_compare_within_and_beyond_the_tolerance() -> None:
    assert measure.compare("x", [100.0, 200.0], [100.005, 200.0]) == pytest.approx(5e-5, rel=1e-3)
    with pytest.raises(measure.AnswerMismatchError, match=r"kserve V2 infer.*relative 1\.00e-03"):
        measure.compare("kserve V2 infer", [100.1], [100.0])


def test_a_missing_peer_is_skipped_with_the_command_that_installs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(servers, "VENVS", tmp_path / "nowhere")
    assert servers.missing_message(servers.OURS) is None
    message = servers.missing_message(servers.KSERVE)
    assert message is not None
    assert "kserve: skipped" in message
    assert "benchmarks/peers/setup.sh kserve" in message
    assert peers_run.main(["--only", "mlserver"]) == 2
    err = capsys.readouterr().err
    assert "benchmarks/peers/setup.sh mlserver" in err
    assert "no peer is installed" in err


def test_an_installed_peer_is_not_reported_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(servers, "VENVS", tmp_path)
    python = tmp_path / "mlserver" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.touch()
    assert servers.missing_message(servers.MLSERVER) is None
    assert servers.missing_message(servers.KSERVE) is not None
    (tmp_path / "mlserver" / "lib" / "python3.11" / "site-packages" / "mlserver-1.7.1.dist-info").mkdir(parents=True)
    assert servers.peer_version(servers.MLSERVER) == "1.7.1"


def test_unknown_peers_are_refused() -> None:
    with pytest.raises(SystemExit):
        peers_run.parse_args(["--only", "kserve,triton"])


def test_peer_command_lines(tmp_path: Path) -> None:
    kserve = servers.server_process(servers.KSERVE, tmp_path, "kserve")
    assert kserve.argv[:3] == [str(servers.VENVS / "kserve" / "bin" / "python"), "-m", "benchmarks.peers.kserve_model"]
    assert ["--http_port", str(kserve.port)] == kserve.argv[kserve.argv.index("--http_port") :][:2]
    assert kserve.env["PYTHONPATH"] == str(REPO)
    ml = servers.server_process(servers.MLSERVER, tmp_path, "mlserver")
    folder = Path(ml.argv[-1])
    settings = json.loads((folder / "settings.json").read_text())
    assert settings["host"] == "127.0.0.1"
    assert settings["http_port"] == ml.port
    assert settings["parallel_workers"] == 0
    model = json.loads((folder / "model-settings.json").read_text())
    module, cls = model["implementation"].rsplit(".", 1)
    assert cls in (REPO / (module.replace(".", "/") + ".py")).read_text()
    assert model["parameters"]["uri"] == str(ARTIFACTS)


def test_the_peers_model_matches_the_service(tmp_path: Path) -> None:
    from benchmarks.peers.lstm_onnx import LstmOnnx
    from forecast_core.loader import load_set

    windows = np.array([WINDOW, [80.0 + i for i in range(60)], [200.0 - 0.5 * i for i in range(60)]])
    ours = load_set(ARTIFACTS, models=("lstm",)).predictors["lstm"].predict(windows)
    peer = LstmOnnx(ARTIFACTS).predict(windows)
    np.testing.assert_allclose(peer, ours, rtol=1e-9)


def result(ours: float, kserve: float, mlserver: float) -> dict[str, Any]:
    """One round's results with every figure of a server set to one number (req/s ×1000, latencies ×1e-3)."""

    def endpoint(label: str, x: float, non2xx: int = 0) -> dict[str, Any]:
        return {
            "label": label,
            "c1": {"p50": x * 1e-3, "non2xx": 0, "errors": 0},
            "c64": {"rps": x * 1000, "p99": x * 1e-3, "non2xx": non2xx, "errors": 0},
        }

    return {
        "order": ["ours", "kserve", "mlserver"],
        "servers": {
            "ours": {"endpoints": {"predict": endpoint("/v1 predict", ours), "infer": endpoint("/v2 infer", ours)},
                     "health": {"rps": ours * 3000}},
            "kserve": {"endpoints": {"predict": endpoint("V1 :predict", kserve), "infer": endpoint("V2 infer", kserve)},
                       "health": {"rps": kserve * 3000}},
            "mlserver": {"endpoints": {"infer": endpoint("V2 infer", mlserver, non2xx=3)},
                         "health": {"rps": mlserver * 3000}},
        },
    }  # fmt: skip


def results(rounds: list[dict[str, Any]], start_load: str = "0.10 0.20 0.30") -> dict[str, Any]:
    return {
        "meta": {"date": "2026-11-27 12:00 UTC", "cpu_model": "CPU", "cpus": "2", "commit": "abc", "command": "x"},
        "loadavg": {"start": start_load, "end": "1.9 1.0 0.5"},
        "settings": {"rounds": len(rounds), "duration_s": 3, "warm_s": 1, "rel_tolerance": 1e-4},
        "loadgen": "wrk (-t1, --latency), wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer",
        "servers": {
            "ours": {"title": "this service", "short": "ours",
                     "endpoints": [["predict", "/v1 predict"], ["infer", "/v2 infer"]]},
            "kserve": {"title": "KServe 0.21.0", "short": "KServe",
                       "endpoints": [["predict", "V1 :predict"], ["infer", "V2 infer"]]},
            "mlserver": {"title": "MLServer 1.7.1", "short": "MLServer", "endpoints": [["infer", "V2 infer"]]},
        },
        "skipped": [],
        "rounds": rounds,
    }  # fmt: skip


def test_ratios_are_ours_over_the_peer_within_each_round() -> None:
    res = results([result(2.0, 1.0, 4.0), result(3.0, 1.0, 4.0)])
    text = table.ratios_table(res)
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines()[2:]}
    assert set(rows) == {"ours /v1 predict ÷ KServe V1 :predict", "ours /v2 infer ÷ KServe V2 infer",
                         "ours /v2 infer ÷ MLServer V2 infer"}  # fmt: skip
    # Per-round ratios 2 and 3 against KServe: median 2.50, range 2.00-3.00, the same for every figure.
    assert rows["ours /v1 predict ÷ KServe V1 :predict"].count("2.50 (2.00–3.00)") == 4
    assert rows["ours /v2 infer ÷ MLServer V2 infer"].count("0.62 (0.50–0.75)") == 4


def test_figures_table_gives_the_range_over_rounds() -> None:
    text = table.figures_table(results([result(2.0, 1.0, 4.0), result(3.0, 1.0, 4.0)]))
    lines = text.splitlines()
    assert lines[2] == "| **this service** | /v1 predict | 2.00–3.00 ms | 2,000–3,000 | 2.00–3.00 ms | 6,000–9,000 |"
    assert lines[4] == "| KServe 0.21.0 | V1 :predict | 1.00 ms | 1,000 | 1.00 ms | 3,000 |"
    assert lines[6].startswith("| MLServer 1.7.1 | V2 infer | 4.00 ms |")


def test_a_peer_left_out_leaves_its_rows_out() -> None:
    res = results([result(2.0, 1.0, 4.0)])
    del res["servers"]["mlserver"]
    for rnd in res["rounds"]:
        del rnd["servers"]["mlserver"]
    assert "MLServer" not in table.ratios_table(res)
    assert "MLServer" not in table.figures_table(res)


def test_render_warns_when_the_machine_was_busy_and_lists_failures() -> None:
    quiet = table.render(results([result(2.0, 1.0, 4.0)]))
    assert "Warning" not in quiet
    assert "Copyright" not in quiet
    assert "round 1, mlserver V2 infer c64: 3 non-2xx, 0 socket errors" in quiet
    busy = table.render(results([result(2.0, 1.0, 4.0)], start_load="1.70 1.20 0.90"))
    assert "**Warning:** the 1-minute load average was 1.7" in busy


def test_formats() -> None:
    assert table.fmt_span([], table.fmt_rate) == "—"
    assert table.fmt_span([None, 1500.0], table.fmt_rate) == "1,500"
    assert table.fmt_span([0.00109, 0.00103], table.fmt_duration) == "1.03–1.09 ms"
    assert table.fmt_span([0.0009, 0.00109], table.fmt_duration) == "900 µs–1.09 ms"
    assert table.round_ratios([2.0, None, 3.0], [1.0, 1.0, 0.0]) == [2.0]
    assert table.fmt_ratios([]) == "—"
    assert table.fmt_ratios([1.234]) == "1.23"
    assert table.busy_warning("unknown") is None


def test_from_json_renders_without_measuring(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    saved = tmp_path / "peers.json"
    saved.write_text(json.dumps(results([result(2.0, 1.0, 4.0)])))
    out = tmp_path / "peers.md"
    assert peers_run.main(["--from-json", str(saved), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") in capsys.readouterr().out
    assert "| ours /v1 predict ÷ KServe V1 :predict | 2.00 |" in out.read_text(encoding="utf-8")
