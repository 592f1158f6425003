"""deploy/kserve: the ServingRuntime and the InferenceService that serve this image through KServe, with a canary.

No cluster here: their structure and field names are checked against KServe's v1alpha1/v1beta1 APIs as
documented (kind, the runtime's container name and port that KServe routes to, the model format that ties
the two together, the canary's percentage), and against the service itself (the readiness path, its
settings, the protocol it speaks).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from service.core.config import Settings
from tests.service.conftest import running_client

KSERVE = Path(__file__).resolve().parents[2] / "deploy" / "kserve"


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((KSERVE / name).read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def test_the_runtime_and_the_inference_service_are_kserve_resources_that_name_each_other() -> None:
    runtime, service = _load("servingruntime.yaml"), _load("inferenceservice.yaml")
    assert (runtime["apiVersion"], runtime["kind"]) == ("serving.kserve.io/v1alpha1", "ServingRuntime")
    assert (service["apiVersion"], service["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == runtime["metadata"]["name"]
    assert model["modelFormat"]["name"] in {f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert model["protocolVersion"] in runtime["spec"]["protocolVersions"] == ["v2"]
    assert model["storageUri"].split("/")[-1].isdigit()  # a version directory of the set
    percent = service["spec"]["predictor"]["canaryTrafficPercent"]
    assert isinstance(percent, int)
    assert 0 < percent < 100


def test_the_runtime_container_is_what_kserve_routes_to_and_the_service_accepts() -> None:
    (container,) = _load("servingruntime.yaml")["spec"]["containers"]
    assert container["name"] == "kserve-container"  # the container KServe injects its storage and routing into
    assert [p["containerPort"] for p in container["ports"]] == [8080]
    args = container["args"]
    assert args[0] == "forecast-serve"
    assert args[args.index("--port") + 1] == "8080"
    assert container["readinessProbe"]["httpGet"]["port"] == 8080
    env = {e["name"]: e for e in container["env"]}
    assert env["FORECAST_ARTIFACTS_DIR"]["value"] == "/mnt/models"  # where KServe's storage initializer writes
    assert "secretKeyRef" in env["FORECAST_API_KEY"]["valueFrom"]
    settings = Settings.model_fields
    for name in env:
        assert name.removeprefix("FORECAST_").lower() in settings, name


def test_the_readiness_path_the_runtime_probes_is_the_services(tiny_artifacts: Path) -> None:
    (container,) = _load("servingruntime.yaml")["spec"]["containers"]
    path = container["readinessProbe"]["httpGet"]["path"]
    with running_client(artifacts_dir=tiny_artifacts) as client:
        assert client.get(path).status_code == 200
