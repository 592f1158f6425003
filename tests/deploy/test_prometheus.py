"""deploy/prometheus/: the alert rules pass `promtool check rules` and their unit tests, the scrape configs
are valid and aimed at what the Deployment annotates, and a real Prometheus scrapes a real `forecast-serve`
and answers PromQL queries for its request rate and its shed count.

promtool and prometheus come from Debian's `prometheus` package (`.ci/run` installs it when it runs as
root); where they are missing these tests skip and say so. Nothing waits a fixed time: every step polls
for the state it needs (the server holding its one model slot, a scrape that saw the counters) under
generous deadlines, so a slow machine takes longer but gets the same answers.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from benchmarks.config import ARTIFACTS
from benchmarks.server import HOST, ServerProcess, clean_env, free_port, http_get
from benchmarks.server import start_server as start_forecast_server
from tests.deploy.conftest import REPO

yaml = pytest.importorskip("yaml", reason="PyYAML is in the dev extra")

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
JOB = "stock-forecast"
ALERT_NAMES = {
    "ForecastHighErrorRatio",
    "ForecastHighLatencyP99",
    "ForecastRequestsShed",
    "ForecastInstanceDown",
    "ForecastNotReady",
}
# The routes that do model work, as alerts.yml selects them.
MODEL_ROUTES = 'route=~"/v[12]/models/.+/(predict|forecast|infer)"'
# The queries the live test asks Prometheus: model requests per second over the last 15 s (15 scrapes),
# the requests admission control refused, and the 503s the forecast route answered.
REQUEST_RATE = f'sum(rate(http_requests_total{{job="{JOB}", {MODEL_ROUTES}}}[15s]))'
SHED_COUNT = f'sum(forecast_requests_shed_total{{job="{JOB}", model="ensemble", reason="queue_full"}})'
FORECAST_503S = f'sum(http_requests_total{{job="{JOB}", route="/v1/models/{{name}}/forecast", status="503"}})'
PROMQL_WORDS = {"sum", "rate", "histogram_quantile", "unless", "group_left", "and", "or"}
WAIT_S = 90.0  # the longest any step may take; a healthy run needs a few seconds in all
T = TypeVar("T")


def tool(name: str) -> str:
    """The path of a Prometheus binary, or a skip that says how to get it."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed: `apt-get install prometheus` (Debian/Ubuntu) provides it, and .ci/run "
            "installs it when it runs as root"
        )
    return path


def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def poll(what: str, attempt: Callable[[], T | None], timeout: float = WAIT_S, every: float = 0.1) -> T:
    """Call ``attempt`` until it returns something other than None; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while (result := attempt()) is None:
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(every)
    return result


# --- the files, checked by promtool -----------------------------------------------------------------------


def test_alert_rules_pass_promtool_check_rules() -> None:
    result = run_tool(tool("promtool"), "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in result.stdout, result.stdout


def test_every_alert_passes_its_promtool_unit_tests_both_firing_and_silent() -> None:
    result = run_tool(tool("promtool"), "test", "rules", str(PROMETHEUS_DIR / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    # Each alert is tested both ways: at least one evaluation expecting it and one expecting silence.
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts.test.yml").read_text(encoding="utf-8"))["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]
    assert {c["alertname"] for c in checks if c["exp_alerts"]} == ALERT_NAMES
    assert {c["alertname"] for c in checks if not c["exp_alerts"]} == ALERT_NAMES


def test_the_rules_name_only_metrics_the_service_exports_or_prometheus_adds() -> None:
    from service.core.metrics import Metrics

    exported = {"up"}
    for family in Metrics().registry.collect():
        exported |= {family.name, *(f"{family.name}{suffix}" for suffix in ("_total", "_bucket", "_sum", "_count"))}
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    assert {rule["alert"] for group in groups for rule in group["rules"]} == ALERT_NAMES
    named = {name for expr in exprs for name in metric_names(expr)}
    assert named, exprs
    assert named <= exported, f"not exported by the service: {sorted(named - exported)}"


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression: what is left once strings, label matchers, ranges,
    grouping clauses and the functions and keywords alerts.yml uses are taken out (a new function shows
    up as an unknown metric, and is then added here)."""
    bare = re.sub(r'"[^"]*"|\{[^}]*\}|\[[^\]]*\]|\b(by|on)\s*\([^)]*\)', " ", expr)
    return set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare)) - PROMQL_WORDS


def test_the_standalone_scrape_config_passes_promtool_check_config() -> None:
    result = run_tool(tool("promtool"), "check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_the_kubernetes_scrape_config_keeps_the_pods_the_deployment_annotates(manifests: dict[str, dict]) -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "kubernetes.yml").read_text(encoding="utf-8"))
    (job,) = config["scrape_configs"]
    assert job["job_name"] == JOB
    assert config["rule_files"] == ["alerts.yml"]
    template = manifests["Deployment"]["spec"]["template"]["metadata"]
    # Pod discovery turns the pod's label app.kubernetes.io/name and annotation prometheus.io/x into
    # __meta_kubernetes_pod_label_app_kubernetes_io_name and ..._annotation_prometheus_io_x.
    meta: dict[str, str] = {"__meta_kubernetes_pod_phase": "Running", "__address__": "10.0.0.7:8000"}
    for kind, values in (("label", template["labels"]), ("annotation", template["annotations"])):
        meta |= {f"__meta_kubernetes_pod_{kind}_{re.sub(r'[^a-zA-Z0-9_]', '_', k)}": v for k, v in values.items()}
    kept = relabel(meta, job["relabel_configs"])
    assert kept is not None, "the job drops the Deployment's pods"
    assert kept["__address__"] == f"10.0.0.7:{template['annotations']['prometheus.io/port']}"
    assert kept["__metrics_path__"] == template["annotations"]["prometheus.io/path"]
    # ...and drops a pod that opts out, or another application's.
    opted_out = meta | {"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "false"}
    assert relabel(opted_out, job["relabel_configs"]) is None
    other = meta | {"__meta_kubernetes_pod_label_app_kubernetes_io_name": "something-else"}
    assert relabel(other, job["relabel_configs"]) is None


def relabel(labels: dict[str, str], configs: list[dict[str, Any]]) -> dict[str, str] | None:
    """Prometheus' `keep` and `replace` relabelling (the two actions kubernetes.yml uses); None when dropped.

    Regexes are anchored at both ends and source labels joined with ';', as Prometheus does; RE2 and
    Python agree on the syntax used here, and Prometheus' `$1` becomes Python's `\\1`.
    """
    out = dict(labels)
    for config in configs:
        value = ";".join(out.get(name, "") for name in config["source_labels"])
        match = re.fullmatch(config.get("regex", "(.*)"), value)
        action = config.get("action", "replace")
        if action == "keep":
            if match is None:
                return None
        elif action == "replace":
            if match is not None:
                out[config["target_label"]] = match.expand(re.sub(r"\$(\d+)", r"\\\1", config.get("replacement", "$1")))
        else:
            raise AssertionError(f"relabel action {action!r} is not modelled here")
    return out


def test_the_kubernetes_scrape_config_passes_promtool_where_it_has_kubernetes_discovery() -> None:
    result = run_tool(tool("promtool"), "check", "config", str(PROMETHEUS_DIR / "kubernetes.yml"))
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        pytest.skip("this promtool is built without Kubernetes service discovery (Debian's package is)")
    assert result.returncode == 0, result.stdout + result.stderr


# --- a real Prometheus scraping a real server -------------------------------------------------------------


@dataclass
class Prometheus:
    """A Prometheus server's HTTP API."""

    url: str

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` evaluates to now (a list of {metric, value})."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=30)
        body = response.json()
        assert response.status_code == 200, body
        assert body["status"] == "success", body
        assert body["data"]["resultType"] == "vector", body
        return list(body["data"]["result"])

    def scalar(self, promql: str, accept: Callable[[float], bool]) -> float | None:
        """The value of a one-series ``promql`` when ``accept`` takes it, else None (for :func:`poll`)."""
        result = self.query(promql)
        if len(result) != 1:
            return None
        value = float(result[0]["value"][1])
        return value if accept(value) else None


@pytest.fixture
def forecast_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """One worker with one model slot and no queue: a second heavy request while one runs is shed (503)."""
    server = start_forecast_server(
        tmp_path / "forecast-serve.log",
        env=clean_env(
            FORECAST_ARTIFACTS_DIR=str(ARTIFACTS),
            FORECAST_LOG_LEVEL="warning",
            FORECAST_MAX_INFLIGHT="1",
            FORECAST_MAX_QUEUE="0",
            # The forecast that holds the slot must outlast the requests sent to be shed, on any machine:
            # the longest horizon the server allows, no deadline to cut it short, stopped by disconnecting.
            FORECAST_MAX_HORIZON="10000",
            FORECAST_REQUEST_TIMEOUT_S="600",
        ),
        timeout=WAIT_S,
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def prometheus_binary() -> str:
    return tool("prometheus")


@pytest.fixture
def prometheus(prometheus_binary: str, forecast_server: ServerProcess, tmp_path: Path) -> Iterator[Prometheus]:
    """deploy/prometheus/prometheus.yml, made to scrape ``forecast_server`` every second, running for real.

    ``prometheus_binary`` comes first so that a missing binary skips before the server is started.
    """
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"] |= {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ALERTS)]  # the real rules, so that their evaluation is checked too
    (job,) = config["scrape_configs"]
    job |= {"scrape_interval": "1s", "scrape_timeout": "1s"}
    job["static_configs"] = [{"targets": [f"{HOST}:{forecast_server.port}"]}]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    argv = [prometheus_binary, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'data'}"]
    argv += [f"--web.listen-address={HOST}:{port}", "--log.level=warn"]
    server = ServerProcess(argv, port=port, log=tmp_path / "prometheus.log", label="prometheus").start()
    try:
        server.wait_ready("/-/ready", timeout=WAIT_S, poll=0.1)
        yield Prometheus(server.url)
    finally:
        server.stop()


def gauge(server: ServerProcess, name: str) -> float | None:
    """An unlabelled gauge read straight from the server's /metrics, or None when it does not answer."""
    answer = http_get(server.port, "/metrics", timeout=10.0)
    if answer is None or answer[0] != 200:
        return None
    match = re.search(rf"^{re.escape(name)} (\S+)$", answer[1], re.M)
    return float(match.group(1)) if match else None


def hold_the_model_slot(server: ServerProcess, window: list[float]) -> socket.socket:
    """Start a 10,000-step ensemble forecast and return once it holds the one slot; close the socket to stop it.

    A raw socket rather than a client library: closing it is the disconnect that makes the server stop
    the forecast at its next step (docs/reliability.md, "Cancellation"), so the test never waits for it.
    """
    body = json.dumps({"window": window, "horizon": 10_000}).encode()
    head = f"POST /v1/models/ensemble/forecast HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
    sock = socket.create_connection((HOST, server.port), timeout=WAIT_S)
    sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    poll("the long forecast to take the model slot", lambda: gauge(server, "forecast_work_running") == 1 or None)
    return sock


def send_until_shed(server: ServerProcess, window: list[float], wanted: int) -> int:
    """Heavy forecasts while the slot is held, until ``wanted`` of them are answered 503; how many were.

    A heavy request (365 steps, so it goes through admission control) finds the slot taken and no queue,
    so it is refused at once. Should the holding forecast ever end first on a very fast machine, the
    request is simply answered and another round holds the slot again.
    """
    shed = 0
    deadline = time.monotonic() + WAIT_S
    with httpx.Client(base_url=server.url, timeout=WAIT_S) as client:
        while shed < wanted:
            assert time.monotonic() < deadline, f"only {shed} of {wanted} requests were shed"
            holder = hold_the_model_slot(server, window)
            try:
                while shed < wanted:
                    response = client.post("/v1/models/ensemble/forecast", json={"window": window, "horizon": 365})
                    if response.status_code != 503:
                        assert response.status_code == 200, response.text
                        break
                    assert response.json()["error"]["code"] == "overloaded", response.text
                    assert response.headers["retry-after"] == "1"
                    shed += 1
            finally:
                holder.close()
            poll("the cancelled forecast to free its slot", lambda: gauge(server, "forecast_work_running") == 0 or None)
    return shed


@pytest.mark.slow
def test_a_real_prometheus_scrapes_the_request_rate_and_the_shed_count(
    prometheus: Prometheus, forecast_server: ServerProcess
) -> None:
    manifest = json.loads((ARTIFACTS / "manifest.json").read_text(encoding="utf-8"))
    window = [round(150 + 0.05 * i, 2) for i in range(manifest["window"])]
    # Requests are counted by rate() only once Prometheus has a sample from before them.
    poll("Prometheus' first scrape of the server", lambda: prometheus.scalar(f'up{{job="{JOB}"}}', lambda v: v == 1))

    # Cheap predicts (run inline, never shed) all along, so that the request rate has requests to see
    # in every scrape interval, whenever the queries below are answered.
    stop = threading.Event()
    answered: list[int] = []

    def predict_until_stopped() -> None:
        with httpx.Client(base_url=forecast_server.url, timeout=WAIT_S) as client:
            while not stop.is_set():
                response = client.post("/v1/models/lstm/predict", json={"window": window})
                answered.append(response.status_code)
                stop.wait(0.05)

    traffic = threading.Thread(target=predict_until_stopped, daemon=True)
    traffic.start()
    try:
        shed = send_until_shed(forecast_server, window, wanted=3)
        rate = poll("a request rate above zero", lambda: prometheus.scalar(REQUEST_RATE, lambda v: v > 0))
        shed_count = poll(f"the shed count to reach {shed}", lambda: prometheus.scalar(SHED_COUNT, lambda v: v == shed))
    finally:
        stop.set()
        traffic.join(timeout=WAIT_S)
    assert answered, "no predict was answered"
    assert set(answered) == {200}, sorted(set(answered))
    # Each shed request is also an HTTP 503 of the forecast route, in the same scrape or a later one.
    refused = poll("the shed requests' 503s", lambda: prometheus.scalar(FORECAST_503S, lambda v: v >= shed))
    by_route = prometheus.query(f'sum by (route, status) (rate(http_requests_total{{job="{JOB}"}}[15s]))')
    print(f"request rate {rate:.2f}/s, shed {shed_count:g} (sent {shed}), forecast 503s {refused:g}")
    print("by route and status:", {f"{r['metric']['route']} {r['metric']['status']}": r["value"][1] for r in by_route})
    assert refused == shed

    # The real Prometheus loaded alerts.yml and evaluates every rule on the real series without error.
    def rule_health() -> dict[str, str] | None:
        groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=30).json()["data"]["groups"]
        health = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
        return health if "unknown" not in health.values() else None

    health = poll("every rule to be evaluated", rule_health)
    assert health == dict.fromkeys(ALERT_NAMES, "ok"), health


def with_authorization_on(text: str) -> str:
    """A scrape config with its commented ``authorization`` block (for FORECAST_METRICS_REQUIRE_KEY) turned on."""
    lines = text.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == "# authorization:")
    indent = lines[start].index("#")
    for n in range(start, start + 3):
        assert lines[n][indent : indent + 2] == "# ", lines[n]
        lines[n] = lines[n][:indent] + lines[n][indent + 2 :]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", ["prometheus.yml", "kubernetes.yml"])
def test_both_scrape_configs_carry_the_authorization_block_for_keyed_metrics(name: str) -> None:
    (job,) = yaml.safe_load(with_authorization_on((PROMETHEUS_DIR / name).read_text(encoding="utf-8")))[
        "scrape_configs"
    ]
    assert job["authorization"]["type"] == "Bearer"
    assert job["authorization"]["credentials_file"].startswith("/")


@pytest.mark.slow
def test_a_real_prometheus_scrapes_metrics_behind_the_key_with_the_documented_authorization(tmp_path: Path) -> None:
    """The service with FORECAST_METRICS_REQUIRE_KEY=true; prometheus.yml with its `authorization` block on
    scrapes it (up 1), and the same job without the block is refused (up 0)."""
    binary = tool("prometheus")
    key = "scrape-key-of-this-test"
    key_file = tmp_path / "api-key"
    key_file.write_text(key, encoding="utf-8")
    env = clean_env(
        FORECAST_ARTIFACTS_DIR=str(ARTIFACTS),
        FORECAST_MODELS="lstm",
        FORECAST_API_KEY=key,
        FORECAST_METRICS_REQUIRE_KEY="true",
    )
    server = start_forecast_server(tmp_path / "forecast-serve.log", env=env, timeout=WAIT_S)
    try:
        config = yaml.safe_load(with_authorization_on((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8")))
        config["global"] |= {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = []
        (job,) = config["scrape_configs"]
        job |= {"scrape_interval": "1s", "scrape_timeout": "1s"}
        job["static_configs"] = [{"targets": [f"{HOST}:{server.port}"]}]
        job["authorization"]["credentials_file"] = str(key_file)
        anonymous = {k: v for k, v in job.items() if k != "authorization"} | {"job_name": "anonymous"}
        config["scrape_configs"] = [job, anonymous]
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        port = free_port()
        argv = [binary, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'data'}"]
        argv += [f"--web.listen-address={HOST}:{port}", "--log.level=warn"]
        with ServerProcess(argv, port=port, log=tmp_path / "prometheus.log", label="prometheus") as prometheus:
            prometheus.wait_ready("/-/ready", timeout=WAIT_S, poll=0.1)
            api = Prometheus(prometheus.url)
            poll("a scrape with the key", lambda: api.scalar(f'up{{job="{JOB}"}}', lambda v: v == 1))
            poll("a scrape without it", lambda: api.scalar('up{job="anonymous"}', lambda v: v == 0))
            assert api.scalar(f'up{{job="{JOB}"}}', lambda v: v == 1) == 1
    finally:
        server.stop()
