"""The servers the peers benchmark compares: how each starts, what it is sent, and how its answer reads.

Standard library only (the tests build payloads and read answers without any peer installed). The
three servers serve the same ``lstm.onnx`` with the same scaling; each endpoint is given the same 64
windows, spread over the IBM ``High`` series, in its own protocol's JSON: our /v1 ``{"window": [...]}``,
KServe V1 ``{"instances": [[...]]}``, and for every V2 endpoint the very same Open Inference Protocol
body (one ``[1, 60]`` FP32 tensor named ``window``, as ``benchmarks/workloads.py`` builds it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.config import ARTIFACTS, HTTP_MODEL, REPO, Request
from benchmarks.server import ServerProcess, clean_env, free_port, serve_argv
from benchmarks.workloads import infer_requests, spread

PEERS_DIR = REPO / "benchmarks" / "peers"
VENVS = PEERS_DIR / ".venvs"
PEERS = ("kserve", "mlserver")
REQUESTS_PER_ENDPOINT = 64


@dataclass(frozen=True)
class Endpoint:
    """One way to ask a server for a next-step prediction; ``kind`` pairs it with ours ("predict", "infer")."""

    kind: str
    label: str
    protocol: str  # "ours-v1", "kserve-v1" or "v2": the body and answer shapes
    path: str


@dataclass(frozen=True)
class Server:
    """A server under test: its name, the title the table shows, how it says it is ready and alive."""

    name: str
    title: str  # "{version}" is replaced by the installed version
    short: str
    ready_path: str
    health_path: str
    endpoints: tuple[Endpoint, ...]

    @property
    def venv(self) -> Path | None:
        """The peer's own virtual environment (None for ours, which runs from the project's .venv)."""
        return None if self.name == "ours" else VENVS / self.name


V2_PATH = f"/v2/models/{HTTP_MODEL}/infer"
V2_INFER = Endpoint("infer", "V2 infer", "v2", V2_PATH)
OURS = Server(
    "ours",
    "this service",
    "ours",
    "/readyz",
    "/healthz",
    (
        Endpoint("predict", "/v1 predict", "ours-v1", f"/v1/models/{HTTP_MODEL}/predict"),
        Endpoint("infer", "/v2 infer", "v2", V2_PATH),
    ),
)
KSERVE = Server(
    "kserve",
    "KServe {version} `kserve.ModelServer`",
    "KServe",
    f"/v2/models/{HTTP_MODEL}/ready",
    "/v2/health/live",
    (Endpoint("predict", "V1 :predict", "kserve-v1", f"/v1/models/{HTTP_MODEL}:predict"), V2_INFER),
)
MLSERVER = Server(
    "mlserver",
    "MLServer {version} (custom runtime, `parallel_workers` 0)",
    "MLServer",
    f"/v2/models/{HTTP_MODEL}/ready",
    "/v2/health/live",
    (V2_INFER,),
)
SERVERS = {s.name: s for s in (OURS, KSERVE, MLSERVER)}


def body(protocol: str, window: Sequence[float]) -> str:
    """The JSON body that asks for the next step after one ``window`` in ``protocol``."""
    if protocol == "ours-v1":
        return json.dumps({"window": list(window)})
    if protocol == "kserve-v1":
        return json.dumps({"instances": [list(window)]})
    if protocol == "v2":
        return infer_requests([window], count=1)[0][2] or ""
    raise ValueError(f"unknown protocol {protocol!r}")


def requests(
    endpoint: Endpoint, windows: Sequence[Sequence[float]], count: int = REQUESTS_PER_ENDPOINT
) -> list[Request]:
    """``count`` POSTs to ``endpoint``, one window each, spread over ``windows``."""
    return [("POST", endpoint.path, body(endpoint.protocol, w)) for w in spread(windows, count)]


def answer(protocol: str, text: str) -> float:
    """The one predicted price in a response body of ``protocol``; ValueError when it holds none."""
    try:
        data: Any = json.loads(text)
        if protocol in ("ours-v1", "kserve-v1"):
            value = data["predictions"][0]
        elif protocol == "v2":
            value = data["outputs"][0]["data"][0]
        else:
            raise ValueError(f"unknown protocol {protocol!r}")
        while isinstance(value, list):  # [[x]] as well as [x]
            value = value[0]
        return float(value)
    except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"no prediction in a {protocol} answer: {text[:200]!r}") from exc


def missing_message(server: Server) -> str | None:
    """Why ``server`` cannot run here (its virtual environment is not set up), or None when it can."""
    if server.venv is None:
        return None
    python = server.venv / "bin" / "python"
    if python.exists():
        return None
    where = os.path.relpath(python, Path.cwd())
    return (
        f"{server.name}: skipped, {where} is missing; install it with "
        f"`benchmarks/peers/setup.sh {server.name}` (its own virtual environment, not the project's)"
    )


def peer_version(server: Server) -> str:
    """The installed version of a peer's distribution, read from its environment's metadata folder."""
    if server.venv is None:
        return ""
    for dist in sorted(server.venv.glob(f"lib/python*/site-packages/{server.name}-*.dist-info")):
        return dist.name.removesuffix(".dist-info").split("-", 1)[1]
    return "unknown"


def mlserver_folder(folder: Path, port: int, artifacts: Path = ARTIFACTS) -> Path:
    """``settings.json`` and ``model-settings.json`` for ``mlserver start``: loopback, free ports, no workers."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = {
        "host": "127.0.0.1",
        "http_port": port,
        "grpc_port": free_port(),
        "metrics_port": free_port(),
        "parallel_workers": 0,
    }
    model = {
        "name": HTTP_MODEL,
        "implementation": "benchmarks.peers.mlserver_model.LstmRuntime",
        "parameters": {"uri": str(artifacts)},
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=2), encoding="utf-8")
    (folder / "model-settings.json").write_text(json.dumps(model, indent=2), encoding="utf-8")
    return folder


def server_process(server: Server, tmp: Path, label: str) -> ServerProcess:
    """``server`` on a free loopback port, one worker or process, not started yet."""
    port = free_port()
    log = tmp / f"{label}-{port}.log"
    if server.venv is None:
        env = clean_env(FORECAST_ARTIFACTS_DIR=str(ARTIFACTS), FORECAST_LOG_LEVEL="warning")
        return ServerProcess(serve_argv(port), port=port, log=log, env=env, cwd=REPO, label=label)
    env = clean_env(PYTHONPATH=str(REPO))  # the peer's model module: benchmarks.peers.*
    bin_dir = server.venv / "bin"
    if server.name == "mlserver":
        argv = [str(bin_dir / "mlserver"), "start", str(mlserver_folder(tmp / f"mlserver-{port}", port))]
    else:
        argv = [str(bin_dir / "python"), "-m", "benchmarks.peers.kserve_model", "--artifacts", str(ARTIFACTS)]
        argv += ["--model_name", HTTP_MODEL, "--http_port", str(port), "--grpc_port", str(free_port())]
        argv += ["--enable_grpc", "false"]
    return ServerProcess(argv, port=port, log=log, env=env, cwd=REPO, label=label)
