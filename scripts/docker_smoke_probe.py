"""HTTP and timing helpers for scripts/docker-smoke.sh (run with the project's .venv python).

    start TIMEOUT -- docker run -d ... IMAGE     run the command, then poll /readyz on the host port
                                                 Docker mapped to the container's 8000; prints
                                                 "CONTAINER_ID PORT SECONDS" (docker run -> first 200)
    predict PORT ARTIFACTS_DIR MODEL             one /v1/models/MODEL/predict against the same
                                                 prediction computed in-process from ARTIFACTS_DIR
    models PORT                                  /v1/models lists every configured model as ready
    metrics PORT MODEL                           /metrics parses as Prometheus text and counted the predict
    history IMAGE BASE                           bytes the image's own layers add over BASE

Each check prints one line saying what it saw and exits non-zero when the check fails.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

HOST = "127.0.0.1"


def _get(port: int, path: str, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _post(port: int, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"http://{HOST}:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def start(timeout: float, command: list[str]) -> int:
    t0 = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        print(f"docker run failed ({run.returncode}): {run.stderr.strip()}", file=sys.stderr)
        return 1
    cid = run.stdout.strip().splitlines()[-1]
    port = int(_docker("port", cid, "8000/tcp").splitlines()[0].rsplit(":", 1)[1])
    deadline = t0 + timeout
    while time.perf_counter() < deadline:
        try:
            status, _, body = _get(port, "/readyz", timeout=1.0)
        except OSError:  # not listening yet (refused, reset while uvicorn binds)
            status, body = 0, b""
        if status == 200:
            print(cid, port, f"{time.perf_counter() - t0:.2f}")
            return 0
        if status == 503 and json.loads(body).get("status") == "failed":  # the artifacts cannot be served
            print(cid, port, "failed:", json.loads(body).get("reason"))
            return 1
        if _docker("inspect", "-f", "{{.State.Running}}", cid) != "true":
            print(cid, port, "exited")
            return 1
        time.sleep(0.02)
    print(cid, port, "timeout")
    return 1


def reference_window(low: float, high: float, n: int) -> np.ndarray:
    """A deterministic, price-like window well inside the training range."""
    t = np.linspace(0.0, 6.0, n)
    return low + (high - low) * (0.5 + 0.2 * np.sin(t) + 0.05 * np.cos(5 * t))


def predict(port: int, artifacts: Path, model: str) -> int:
    from forecast_core.loader import load_set

    loaded = load_set(artifacts, models=(model,))
    if model not in loaded.predictors:
        print(f"{model} does not load in-process from {artifacts}: {loaded.errors.get(model)}")
        return 1
    m = loaded.manifest
    window = reference_window(m.training_range.min, m.training_range.max, m.window)
    expected = float(loaded.predictors[model].predict(window[None, :])[0])
    # With several workers, /readyz answered by one of them does not mean every worker has loaded its
    # models yet: a 503 (with Retry-After) is retried for a few seconds.
    deadline = time.perf_counter() + 10
    while True:
        status, body = _post(port, f"/v1/models/{model}/predict", {"window": window.tolist()})
        if status != 503 or time.perf_counter() > deadline:
            break
        time.sleep(0.1)
    if status != 200:
        print(f"HTTP {status}: {body}")
        return 1
    got = float(body["predictions"][0])
    # A flat set is its repository version 1; the training run's id is on the model card.
    _, _, raw = _get(port, f"/v1/models/{model}")
    card = json.loads(raw)
    run = loaded.predictors[model].version
    ok = math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-6) and body["version"] == "1" and card.get("run") == run
    print(f"{model} {body['version']}: container {got:.6f}, in-process {expected:.6f} (run {card.get('run')}, {run})")
    return 0 if ok else 1


def models(port: int) -> int:
    status, _, raw = _get(port, "/v1/models")
    listed = {m["name"]: m["ready"] for m in json.loads(raw)["models"]} if status == 200 else {}
    print(f"HTTP {status}: {listed}")
    return 0 if status == 200 and listed and all(listed.values()) else 1


def metrics(port: int, model: str) -> int:
    from prometheus_client.parser import text_string_to_metric_families

    status, headers, raw = _get(port, "/metrics")
    ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(raw.decode())
        for s in family.samples
    }
    counted = samples.get(("forecast_predictions_total", (("kind", "predict"), ("model", model))), 0.0)
    requests = sum(v for (name, _), v in samples.items() if name == "http_requests_total")
    print(
        f"HTTP {status}, {ctype}, {len(samples)} samples, "
        f'forecast_predictions_total{{model="{model}",kind="predict"}} = {counted}, http_requests_total = {requests}'
    )
    ok = status == 200 and ctype.startswith("text/plain") and counted >= 1 and requests >= 1
    return 0 if ok else 1


def history(image: str, base: str) -> int:
    def sizes(ref: str) -> list[int]:
        return [int(s) for s in _docker("history", "--human=false", "--format", "{{.Size}}", ref).split()]

    own, base_sizes = sizes(image), sizes(base)
    # docker history lists newest first; the base image's entries are the tail.
    if own[len(own) - len(base_sizes) :] != base_sizes:
        print(f"{image} does not sit on {base}'s layers")
        return 1
    added = own[: len(own) - len(base_sizes)]
    print(sum(added), len([s for s in added if s]), sum(base_sizes))
    return 0


def main(argv: list[str]) -> int:
    cmd, *rest = argv
    if cmd == "start":
        sep = rest.index("--")
        return start(float(rest[0]), rest[sep + 1 :])
    if cmd == "predict":
        return predict(int(rest[0]), Path(rest[1]), rest[2])
    if cmd == "models":
        return models(int(rest[0]))
    if cmd == "metrics":
        return metrics(int(rest[0]), rest[1])
    if cmd == "history":
        return history(rest[0], rest[1])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
