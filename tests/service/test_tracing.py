"""OpenTelemetry tracing: off and absent by default; on, a real server exports its spans over OTLP/HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from service.core.tracing import enabled
from tests.service.serverproc import running_server
from tests.service.test_server_process import REPO, clean_env

W = 20
WINDOW = [100.0 + 0.25 * i for i in range(W)]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_SERVICE_NAME": "x"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_tracing_is_on_only_when_the_otel_variables_name_an_endpoint(env: dict[str, str], on: bool) -> None:
    assert enabled(env) is on


def test_tracing_off_imports_nothing_of_opentelemetry_beyond_what_fastapi_does(tiny_artifacts: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        import fastapi  # FastAPI itself imports opentelemetry's API (fastapi.telemetry): that much is a given
        from fastapi.testclient import TestClient

        def otel():
            return sorted(m for m in sys.modules if m.startswith("opentelemetry"))

        given = otel()
        from service.core.config import Settings
        from service.main import create_app

        with TestClient(create_app(Settings(artifacts_dir=sys.argv[1]))) as client:
            deadline = time.monotonic() + 60
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, client.get("/readyz").text
                time.sleep(0.02)
            r = client.post("/v1/models/lstm/forecast", json={"window": [100.0] * 20, "horizon": 30})
            assert r.status_code == 200, r.text
        print("MORE=" + ",".join(sorted(set(otel()) - set(given))))
        """
    )
    env = {k: v for k, v in clean_env().items() if not k.startswith("OTEL_")}
    argv = [sys.executable, "-c", script, str(tiny_artifacts)]
    result = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.strip().splitlines()[-1] == "MORE=", result.stdout


class Receiver:
    """A small OTLP/HTTP trace receiver: keeps every span it is sent, decoded from protobuf."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceRequest,
            ExportTraceServiceResponse,
        )

        self.spans: list[Any] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                export = ExportTraceServiceRequest()
                export.ParseFromString(body)
                with receiver.lock:
                    for resource in export.resource_spans:
                        for scope in resource.scope_spans:
                            receiver.spans.extend(scope.spans)
                reply = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, names: set[str], timeout: float = 60.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                spans = list(self.spans)
            if names <= {s.name for s in spans}:
                return spans
            assert time.monotonic() < deadline, f"spans {sorted(names)} not received; got {[s.name for s in spans]}"
            time.sleep(0.05)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    r = Receiver()
    yield r
    r.server.shutdown()


def attributes(span: Any) -> dict[str, Any]:
    out = {}
    for kv in span.attributes:
        value = kv.value
        out[kv.key] = value.string_value if value.HasField("string_value") else value.int_value
    return out


@pytest.mark.slow
def test_a_running_server_exports_a_span_per_request_with_its_children(
    tiny_artifacts: Path, tmp_path: Path, receiver: Receiver
) -> None:
    env = {
        "FORECAST_ARTIFACTS_DIR": str(tiny_artifacts),
        "FORECAST_ACCESS_LOG": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
        "OTEL_SERVICE_NAME": "forecast-test",
        "OTEL_BSP_SCHEDULE_DELAY": "50",
    }
    with running_server(tmp_path, **env) as server:
        headers = {"X-Request-ID": "trace-me", "traceparent": TRACEPARENT}
        response = server.post("/v1/models/lstm/forecast", json={"window": WINDOW, "horizon": 30}, headers=headers)
        assert response.status_code == 200, response.text

        spans = receiver.wait_for({"POST /v1/models/{name}/forecast", "admission wait", "model"})
        by_name = {s.name: s for s in spans if s.trace_id.hex() == TRACEPARENT[3:35]}
        request = by_name["POST /v1/models/{name}/forecast"]
        assert request.parent_span_id.hex() == TRACEPARENT[36:52]  # the caller's span is its parent
        assert attributes(request)["forecast.request_id"] == "trace-me"
        assert attributes(request)["http.response.status_code"] == 200
        for child in ("admission wait", "model"):
            assert by_name[child].parent_span_id == request.span_id, child
            assert attributes(by_name[child])["forecast.model"] == "lstm"
            assert attributes(by_name[child])["forecast.horizon"] == 30
        assert by_name["admission wait"].end_time_unix_nano <= by_name["model"].start_time_unix_nano

        deadline = time.monotonic() + 30
        while '"trace-me"' not in server.output():  # the line is written once the response is sent
            assert time.monotonic() < deadline, f"no log line for trace-me:\n{server.output()[-4000:]}"
            time.sleep(0.05)
        lines = [json.loads(x) for x in server.output().splitlines() if x.startswith("{")]
        (line,) = [x for x in lines if x.get("request_id") == "trace-me"]
        assert line["trace_id"] == TRACEPARENT[3:35]
        assert line["span_id"] == request.span_id.hex()
