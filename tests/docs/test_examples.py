"""The README's and docs' examples run: JSON blocks parse, curl requests get their documented answers from
the app, the Python client session prints what the page shows, and shell blocks hold commands only.

The app is the real one (``create_app``) on the committed model sets, in-process; curl commands are
run by bash with ``curl`` replaced by a function that prints its arguments, so the shell expands the
request exactly as a reader's shell would.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

import forecast_client
from service.core.config import Settings
from service.main import create_app
from tests.docs.markdown import PAGES, REPO, Block, all_blocks, anchors, following, links

ARTIFACTS = REPO / "artifacts"  # every committed model set, as ./scripts/serve.sh serves them
API_PREFIXES = ("/v1", "/v2")
# Floats from the models may differ in their last digits between CPUs; everything else must match.
REL_TOL = 1e-4
FLOAT = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?")
# Keys of the time-series protocol's answers that differ on every call (response and output ids, the
# creation time): documented, and compared by type only on that protocol's paths.
VARYING = frozenset({"id", "created_at"})
VARYING_PREFIX = "/v1/timeseries/"


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(artifacts_dir=ARTIFACTS))) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.05)
        yield client


# --- curl ---------------------------------------------------------------------------------------------


def logical_lines(script: str) -> list[str]:
    """Shell lines with backslash continuations joined."""
    lines, current = [], ""
    for line in script.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
        else:
            lines.append(current + line)
            current = ""
    return [line for line in lines if line.strip()]


def curl_argv(command: str) -> list[str]:
    """What ``curl`` would receive: bash expands the command with curl as a printing function."""
    stub = f'curl() {{ "{sys.executable}" -c "import json, sys; print(json.dumps(sys.argv[1:]))" "$@"; }}\n'
    result = subprocess.run(
        ["bash", "-c", stub + command], capture_output=True, text=True, cwd=REPO, timeout=30, check=False
    )
    assert result.returncode == 0, f"{command}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def parse_curl(argv: list[str]) -> tuple[str, str, dict[str, str], str | None]:
    """Method, path, headers and body of a curl command line (the options the docs use)."""
    method, headers, data, url = None, {}, None, None
    args = iter(argv)
    for arg in args:
        if arg in ("-X", "--request"):
            method = next(args)
        elif arg in ("-H", "--header"):
            key, _, value = next(args).partition(":")
            headers[key.strip()] = value.strip()
        elif arg in ("-d", "--data", "--data-raw"):
            data = next(args)
        elif arg.startswith("-"):
            assert arg in ("-s", "--silent", "-S", "-f", "--fail"), f"unexpected curl option {arg}"
        else:
            url = arg
    assert url, f"no URL in {argv}"
    path = urlsplit(url if "://" in url else f"http://{url}").path
    return method or ("POST" if data is not None else "GET"), path, headers, data


def curl_examples() -> list[tuple[Block, str]]:
    return [
        (block, line)
        for block in all_blocks()
        if block.lang in ("bash", "sh", "shell")
        for line in logical_lines(block.text)
        if line.lstrip().startswith("curl ")
    ]


CURLS = curl_examples()


def test_the_docs_have_curl_examples_for_both_protocols() -> None:
    paths = [parse_curl(curl_argv(line))[1] for _, line in CURLS]
    assert any(p.startswith("/v1/") for p in paths)
    assert any(p.startswith("/v2/") for p in paths)


def close(actual: Any, expected: Any, where: str = "", varying: frozenset[str] = frozenset()) -> None:
    """Equal, with floats compared to REL_TOL (ints and strings exactly; keys in ``varying`` by type only)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), where
        assert set(actual) == set(expected), f"{where}: keys {sorted(actual)} != documented {sorted(expected)}"
        for key in expected:
            if key in varying:
                assert type(actual[key]) is type(expected[key]), f"{where}.{key}: {actual[key]!r}"
            else:
                close(actual[key], expected[key], f"{where}.{key}", varying)
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: {actual!r}"
        assert len(actual) == len(expected), f"{where}: {actual} != {expected}"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            close(a, e, f"{where}[{i}]", varying)
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(actual, int | float), f"{where}: {actual!r}"
        assert math.isclose(actual, expected, rel_tol=REL_TOL), f"{where}: {actual} != documented {expected}"
    else:
        assert actual == expected, f"{where}: {actual!r} != documented {expected!r}"


@pytest.mark.parametrize(("block", "command"), CURLS, ids=[f"{b.where}" for b, _ in CURLS])
def test_curl_example_gets_its_documented_answer(block: Block, command: str, app_client: TestClient) -> None:
    method, path, headers, data = parse_curl(curl_argv(command))
    if data is not None and path.startswith(API_PREFIXES):
        assert "..." not in data, f"{block.where}: an elided request body cannot be run"
        try:
            json.loads(data)
        except json.JSONDecodeError as exc:
            pytest.fail(f"{block.where}: the request body is not valid JSON ({exc}): {data[:200]}")
    response = app_client.request(method, path, content=data, headers=headers)
    assert response.status_code < 500, f"{block.where}: {response.status_code} {response.text[:300]}"
    output = following(block)
    single = len([c for b, c in CURLS if b is block]) == 1
    if not single or output is None or output.lang != "json":
        assert response.status_code in (200, 503), f"{block.where}: {response.status_code} {response.text[:300]}"
        return
    expected = json.loads(output.text)
    if isinstance(expected, dict) and expected.get("error") is not None:  # the time-series protocol says "error": null
        assert response.status_code >= 400, f"{block.where}: documented an error, got {response.text[:300]}"
    else:
        assert response.status_code == 200, f"{block.where}: {response.status_code} {response.text[:300]}"
    close(response.json(), expected, output.where, VARYING if path.startswith(VARYING_PREFIX) else frozenset())


# --- JSON blocks and shell blocks ---------------------------------------------------------------------


JSON_BLOCKS = [b for b in all_blocks() if b.lang == "json"]


@pytest.mark.parametrize("block", JSON_BLOCKS, ids=[b.where for b in JSON_BLOCKS])
def test_json_blocks_are_valid_json(block: Block) -> None:
    try:
        json.loads(block.text)
    except json.JSONDecodeError as exc:
        pytest.fail(f"{block.where}: not valid JSON ({exc}); outputs and sketches go in text blocks")


def test_shell_blocks_hold_commands_not_output() -> None:
    for block in all_blocks():
        if block.lang not in ("bash", "sh", "shell"):
            continue
        previous = ""
        for line in block.text.splitlines():
            stripped = line.strip()
            if not previous.rstrip().endswith("\\"):
                assert not re.match(r"(\{|\[|>>>|HTTP/|\d{3} )", stripped), f"{block.where}: output line {line!r}"
            previous = line


def test_every_code_block_says_its_language() -> None:
    untagged = [b.where for b in all_blocks() if not b.lang]
    assert not untagged, f"tag these blocks (bash, python, json, text): {untagged}"


# --- the Python client session ------------------------------------------------------------------------


CLIENT_BLOCKS = [b for b in all_blocks() if b.lang == "python" and "from forecast_client import" in b.text]


def test_the_client_session_is_documented() -> None:
    assert CLIENT_BLOCKS, "no python block imports forecast_client"


def same_text(actual: str, expected: str, where: str) -> None:
    """Printed output equal to the documented one, floats to REL_TOL."""
    a_words, e_words = FLOAT.split(actual.strip()), FLOAT.split(expected.strip())
    assert a_words == e_words, f"{where}: printed\n{actual}\ndocumented\n{expected}"
    for a, e in zip(FLOAT.findall(actual), FLOAT.findall(expected), strict=True):
        assert math.isclose(float(a), float(e), rel_tol=REL_TOL), f"{where}: {a} != documented {e}\n{actual}"


@pytest.mark.parametrize("block", CLIENT_BLOCKS, ids=[b.where for b in CLIENT_BLOCKS])
def test_python_client_example_runs(block: Block, app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    transport = app_client._transport  # the TestClient's in-process transport to the app

    class InProcessClient(forecast_client.ForecastClient):
        def __init__(self, base_url: str = "http://localhost:8000", **kwargs: Any) -> None:
            kwargs.setdefault("transport", transport)
            super().__init__(base_url, **kwargs)

    monkeypatch.setattr(forecast_client, "ForecastClient", InProcessClient)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block.text, block.where, "exec"), {"__name__": "__docs__"})
    output = following(block)
    if output is not None and output.lang == "text":
        same_text(printed.getvalue(), output.text, output.where)


# --- links --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_relative_links_resolve(page: Path) -> None:
    for target in links(page):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (page.parent / file).resolve() if file else page
        assert resolved.exists(), f"{page.name}: broken link {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in anchors(resolved), f"{page.name}: no heading for #{anchor} in {resolved.name}"


def test_readme_stays_short() -> None:
    size = os.path.getsize(REPO / "README.md")
    assert size < 15_000, f"README.md is {size} bytes: move reference material into docs/"
