"""Property-based API testing with schemathesis against the app's own OpenAPI schema, in-process (ASGI).

Every operation the schema documents is called with generated valid (positive) and invalid (negative)
requests, with the API key configured and sent; schemathesis' default checks then require: no 5xx, every
status code documented, content types, headers and bodies matching their declared schemas, schema-invalid
requests refused, a missing or wrong API key refused, and (GET operations) schema-valid requests accepted.
On top, no response body may carry a stack trace or a file system path.

The schemathesis pytest plugin (``from_fixture``/``parametrize``) does not run on pytest 9.2 (it sets
``node._nodeid``), so the operations are driven through schemathesis' Python API: ``as_strategy`` with
Hypothesis' ``@given``, ``case.call()`` and ``case.validate_response()``.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from service.core.config import Settings
from service.main import create_app
from tests.reliability.conftest import LEAKS, W

# Per operation; SCHEMATHESIS_MAX_EXAMPLES=300 for a deeper run (docs/reliability.md quotes one). The
# figures it quotes (CASES, STATUSES below) are printed by benchmarks/schemathesis_report.py.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
API_KEY = "fuzz-key"
AUTH = {"X-API-Key": API_KEY}
# The operations, read from the schema the app builds (it does not depend on the artifacts).
OPERATIONS = sorted(
    (method.upper(), path)
    for path, item in create_app(Settings(artifacts_dir=Path("/nonexistent"))).openapi()["paths"].items()
    for method in item
)
CASES: Counter[str] = Counter()
STATUSES: Counter[int] = Counter()


def valid_bodies(kind: str) -> st.SearchStrategy[dict[str, Any]]:
    prices = st.floats(min_value=1.0, max_value=1e4, allow_nan=False, allow_infinity=False)
    window = st.lists(prices, min_size=W, max_size=W)
    levels = st.none() | st.lists(st.sampled_from([50, 80, 90, 95, 99]), min_size=1, max_size=5, unique=True)
    if kind == "forecast":
        body = st.fixed_dictionaries({"window": window, "horizon": st.integers(1, 30)}, optional={"intervals": levels})
    else:
        body = st.fixed_dictionaries({}, optional={"intervals": levels}).flatmap(
            lambda extra: st.one_of(
                st.builds(lambda w: {"window": w, **extra}, window),
                st.builds(lambda ws: {"windows": ws, **extra}, st.lists(window, min_size=1, max_size=8)),
            )
        )
    return body.map(lambda b: {k: v for k, v in b.items() if v is not None})


@pytest.fixture(scope="module")
def api_schema(tiny_artifacts: Path) -> Any:
    # With an API key configured, so the schema's X-API-Key security scheme is live and checked both ways.
    app = create_app(Settings(artifacts_dir=tiny_artifacts, api_key=API_KEY))
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the app's lifespan (model loading)
    registry = app.state.dataplane.registry
    deadline = time.monotonic() + 90
    while registry.state == "loading":
        assert time.monotonic() < deadline, "the models never loaded"
        time.sleep(0.02)
    assert registry.ready, registry.reason
    return loaded


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_its_schema(api_schema: Any, method: str, path: str) -> None:
    operation = api_schema[path][method]
    label = f"{method} {path}"
    # Generated path parameters almost never name a served model, so half the cases name one (and its
    # served version) to reach validation and the models; the other half keep generated ones (404s).
    fixed: list[dict[str, str] | None] = [None]
    if "{name}" in path:
        registry = api_schema.app.state.dataplane.registry
        models = {name: registry.get(name) for name in registry.names()}
        fixed = [None] * len(models)
        for name, model in models.items():
            fixed.append({"name": name, "version": model.version} if "{version}" in path else {"name": name})
    strategies = [
        operation.as_strategy(generation_mode=mode, path_parameters=params)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for params in fixed
    ]
    if path.startswith("/v1/models/{name}/"):
        # Bodies the models answer (right window length): their 200 responses get schema-checked too.
        kind = path.rsplit("/", 1)[-1]
        strategies += [
            valid_bodies(kind).flatmap(
                lambda body, name=name: operation.as_strategy(path_parameters={"name": name}, body=body)
            )
            for name in api_schema.app.state.dataplane.registry.names()
        ]
    cases = st.one_of(*strategies)

    # A body the schema allows may still be refused: the window length is the loaded model's (20 here, 60
    # for the IBM artifacts), the horizon limit a server setting, and "exactly one of window/windows" a
    # rule JSON Schema is not told. So for the POST operations only "schema-valid data is accepted" is
    # not checked; its 4xx answers must still be documented and match their schemas.
    excluded = [schemathesis.checks.positive_data_acceptance] if method == "POST" else []

    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=cases)
    def run(case: Any) -> None:
        response = case.call(headers=AUTH)
        CASES[label] += 1
        STATUSES[response.status_code] += 1
        if path.startswith("/v2/"):  # the protocol's own error shape, for every error v2 routes answer
            assert response.status_code < 400 or isinstance(response.json()["error"], str), response.text
        case.validate_response(response, excluded_checks=excluded, headers=AUTH)
        assert response.status_code < 500, response.text
        leak = LEAKS.search(response.text)
        assert leak is None, f"{leak.group()!r} leaked into {label}: {response.text[:300]}"

    run()
    assert CASES[label] > 0
