"""``examples/``: every request body is valid for the current API, and the commands in its README send them.

The app is the real one (``create_app``) on the committed model sets, in-process. The README's shell
blocks run in bash with ``curl`` replaced by a function that prints what curl would send (reading
``-d @FILE`` and ``-d @-`` as curl does), so the commands are checked as a reader would type them.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from service.core.config import Settings
from service.main import create_app
from tests.docs.markdown import blocks

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
# Which models each example body is for.
BODIES = {
    "ibm-window.json": ("lstm", "gru", "ensemble"),
    "ohlc-window.json": ("ohlc-lstm", "ohlc-gru", "ohlc-ensemble"),
}
CURL_STUB = r"""
import json, sys
args, method, headers, body, url = iter(sys.argv[1:]), None, {}, None, None
for arg in args:
    if arg in ("-X", "--request"):
        method = next(args)
    elif arg in ("-H", "--header"):
        key, _, value = next(args).partition(":")
        headers[key.strip().lower()] = value.strip()
    elif arg in ("-d", "--data", "--data-binary"):
        body = next(args)
        if body == "@-":
            body = sys.stdin.read()
        elif body.startswith("@"):
            body = open(body[1:], encoding="utf-8").read()
    elif arg.startswith("-"):
        assert arg in ("-s", "--silent", "-S", "-f", "--fail"), f"unexpected curl option {arg}"
    else:
        url = arg
print(json.dumps({"method": method or ("POST" if body is not None else "GET"), "url": url,
                  "headers": headers, "body": body}))
"""


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(artifacts_dir=REPO / "artifacts"))) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.05)
        yield client


def test_every_example_file_is_listed() -> None:
    assert {p.name for p in EXAMPLES.glob("*.json")} == set(BODIES)


@pytest.mark.parametrize(("name", "model"), [(name, model) for name, models in BODIES.items() for model in models])
def test_example_body_predicts(name: str, model: str, app_client: TestClient) -> None:
    body = (EXAMPLES / name).read_text(encoding="utf-8")
    window = json.loads(body)["window"]
    assert len(window) == 60 if isinstance(window, list) else all(len(v) == 60 for v in window.values())
    response = app_client.post(
        f"/v1/models/{model}/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == model
    assert response.json()["warnings"] == [], response.json()["warnings"]


def curl_requests(script: str) -> list[dict[str, Any]]:
    """What each ``curl`` in a shell block would send, the block run by bash from the repository root."""
    stub = f'curl() {{ {shlex.quote(sys.executable)} -c {shlex.quote(CURL_STUB)} "$@"; }}\n'
    result = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + stub + script],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"{script}\n{result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


SHELL_BLOCKS = [b for b in blocks(EXAMPLES / "README.md") if b.lang in ("bash", "sh", "shell")]


def test_the_readme_sends_every_example() -> None:
    text = "\n".join(b.text for b in SHELL_BLOCKS)
    for name in BODIES:
        assert f"@examples/{name}" in text, f"examples/README.md has no command that sends {name}"


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.where for b in SHELL_BLOCKS])
def test_readme_commands_get_answers(block: Any, app_client: TestClient) -> None:
    if "jq " in block.text and shutil.which("jq") is None:
        pytest.skip("jq is not installed")
    sent = curl_requests(block.text)
    assert sent, f"{block.where}: no curl command"
    for request in sent:
        path = urlsplit(request["url"] if "://" in request["url"] else f"http://{request['url']}").path
        response = app_client.request(request["method"], path, content=request["body"], headers=request["headers"])
        assert response.status_code == 200, f"{block.where}: {path}: {response.status_code} {response.text[:300]}"
