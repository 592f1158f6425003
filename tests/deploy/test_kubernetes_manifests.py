"""deploy/kubernetes/*.yaml: schema-valid offline (kubernetes-validate ships the schemas) and wired to the
image: probes on the service's real paths, ports equal to the Dockerfile's EXPOSE, a hardened pod."""

from __future__ import annotations

import copy
import socket
from typing import Any

import pytest

from tests.deploy.conftest import KUBERNETES, Stage

kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is in the dev extra")

# The oldest Kubernetes minor still commonly run, and the newest the package ships schemas for.
VERSIONS = ("1.27.0", kv.latest_version())


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any network connection: validation must use the packaged schemas only."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network access during validation: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def _container(manifests: dict[str, dict]) -> dict[str, Any]:
    containers = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _port_number(container: dict[str, Any], port: int | str) -> int:
    """Resolve a probe's or Service's port (a number or a container port's name)."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container["ports"] if "name" in p}
    assert port in named, f"no container port named {port!r}"
    return int(named[port])


def test_files_present(manifests: dict[str, dict]) -> None:
    assert {"Deployment", "Service", "HorizontalPodAutoscaler"} <= set(manifests)
    assert {p.name for p in KUBERNETES.glob("*.yaml")} >= {"deployment.yaml", "service.yaml", "hpa.yaml"}


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("kind", ["Deployment", "Service", "HorizontalPodAutoscaler"])
def test_schema_valid_strict_and_offline(manifests: dict[str, dict], kind: str, version: str) -> None:
    kv.validate(manifests[kind], version, strict=True)


@pytest.mark.usefixtures("offline")
def test_validator_rejects_mistakes(manifests: dict[str, dict]) -> None:
    """The check above is not vacuous: a misspelt field and a wrong type both fail."""
    misspelt = copy.deepcopy(manifests["Deployment"])
    misspelt["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"httpGet": {"path": "/readyz"}}
    with pytest.raises(kv.ValidationError):
        kv.validate(misspelt, VERSIONS[-1], strict=True)
    wrong_type = copy.deepcopy(manifests["HorizontalPodAutoscaler"])
    wrong_type["spec"]["minReplicas"] = "two"
    with pytest.raises(kv.ValidationError):
        kv.validate(wrong_type, VERSIONS[-1], strict=True)


def test_ports_match_the_dockerfile(manifests: dict[str, dict], exposed_port: int) -> None:
    container = _container(manifests)
    assert [p["containerPort"] for p in container["ports"]] == [exposed_port]
    service_ports = manifests["Service"]["spec"]["ports"]
    assert [_port_number(container, p["targetPort"]) for p in service_ports] == [exposed_port]
    annotations = manifests["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == exposed_port


@pytest.mark.parametrize(
    ("probe", "path"), [("startupProbe", "/readyz"), ("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")]
)
def test_probes_use_the_service_endpoints(manifests: dict[str, dict], exposed_port: int, probe: str, path: str) -> None:
    container = _container(manifests)
    get = container[probe]["httpGet"]
    assert get["path"] == path
    assert _port_number(container, get["port"]) == exposed_port
    assert container[probe].get("timeoutSeconds", 1) >= 1


def test_probe_paths_exist_in_the_app() -> None:
    from service.api import health, metrics

    paths = {r.path for r in health.router.routes} | {r.path for r in metrics.router.routes}  # type: ignore[attr-defined]
    assert {"/healthz", "/readyz", "/metrics"} <= paths


def test_startup_allows_the_models_to_load(manifests: dict[str, dict]) -> None:
    startup = _container(manifests)["startupProbe"]
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= 10, f"{budget} s for the models to load; the image is ready in about 1 s"


def test_resources_requests_and_limits(manifests: dict[str, dict]) -> None:
    resources = _container(manifests)["resources"]
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[section]), section


def test_pod_is_hardened(manifests: dict[str, dict], dockerfile: list[Stage]) -> None:
    pod = manifests["Deployment"]["spec"]["template"]["spec"]
    container = _container(manifests)
    sc = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    user = dockerfile[-1].last("USER")
    assert user is not None
    assert pod["securityContext"]["runAsUser"] == int(user.args.split(":")[0]), "the image's USER"
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert "add" not in sc["capabilities"]
    # The only writable path is an emptyDir at /tmp (HOME in the image).
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert all("emptyDir" in volumes[name] or "configMap" in volumes[name] for name in mounts.values())


def test_env_matches_the_image(manifests: dict[str, dict], dockerfile: list[Stage]) -> None:
    env = {e["name"]: e.get("value") for e in _container(manifests).get("env", [])}
    assert env.get("FORECAST_ARTIFACTS_DIR", "/app/artifacts") == dockerfile[-1].env()["FORECAST_ARTIFACTS_DIR"]
    assert env.get("FORECAST_BACKEND", "onnx") == "onnx", "the default image has no TensorFlow"


def test_the_api_key_comes_from_a_secret_that_the_repository_does_not_ship(manifests: dict[str, dict]) -> None:
    env = {e["name"]: e for e in _container(manifests)["env"]}
    key = env["FORECAST_API_KEY"]
    assert "value" not in key, "the key must not be written into the manifest"
    ref = key["valueFrom"]["secretKeyRef"]
    assert (ref["name"], ref["key"]) == ("stock-forecast-api-key", "api-key")
    assert not ref.get("optional", False), "without the Secret a pod must not start (and serve without a key)"
    following = env["FORECAST_API_KEY_NEXT"]["valueFrom"]["secretKeyRef"]
    assert (following["name"], following["key"], following["optional"]) == (ref["name"], "api-key-next", True)
    assert "Secret" not in manifests, "a Secret in deploy/kubernetes/ would be applied with its key"


def test_the_manifest_turns_the_docs_off_and_sets_only_real_settings(
    manifests: dict[str, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.core.config import Settings

    env = _container(manifests)["env"]
    server_variables = {"WEB_CONCURRENCY", "FORECAST_HOST", "FORECAST_PORT"}
    fields = {f"FORECAST_{name.upper()}" for name in Settings.model_fields}
    assert {e["name"] for e in env} <= fields | server_variables
    for variable in [*fields, *server_variables]:
        monkeypatch.delenv(variable, raising=False)
    for e in env:  # what the pod's environment holds, with a stand-in for the Secret's key
        if "value" in e or not e["valueFrom"]["secretKeyRef"].get("optional", False):
            monkeypatch.setenv(e["name"], e.get("value", "stand-in-key"))
    settings = Settings()
    assert settings.docs_enabled is False
    assert settings.api_key is not None
    assert settings.api_key_next is None


def test_service_selects_the_pods(manifests: dict[str, dict]) -> None:
    selector = manifests["Service"]["spec"]["selector"]
    deployment = manifests["Deployment"]["spec"]
    labels = deployment["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()
    assert deployment["selector"]["matchLabels"].items() <= labels.items()


def test_hpa_scales_the_deployment_on_cpu(manifests: dict[str, dict]) -> None:
    hpa = manifests["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    deployment = manifests["Deployment"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert target["apiVersion"] == deployment["apiVersion"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    cpu = [m for m in hpa["spec"]["metrics"] if m["type"] == "Resource" and m["resource"]["name"] == "cpu"]
    assert len(cpu) == 1
    assert cpu[0]["resource"]["target"]["type"] == "Utilization"
    # Utilization is measured against the request, so the container must request CPU.
    assert "cpu" in _container(manifests)["resources"]["requests"]
