"""docs/timeseries.md's httpx example runs against the app and prints what the page shows.

tests/docs/test_examples.py runs the curl examples of every page and the ``forecast_client`` sessions
(this page's ``forecast_series`` one too); the page's other Python block uses plain httpx, so it is run
here with ``httpx.post`` sent to the app in-process.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from service.core.config import Settings
from service.main import create_app
from tests.docs.markdown import DOCS, blocks, following
from tests.docs.test_examples import ARTIFACTS, same_text
from tests.service.conftest import wait_ready

PAGE = DOCS / "timeseries.md"


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(artifacts_dir=ARTIFACTS))) as client:
        wait_ready(client)
        yield client


def test_the_python_example_prints_what_the_page_shows(app_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    (block,) = [b for b in blocks(PAGE) if b.lang == "python" and "forecast_client" not in b.text]
    assert "/v1/timeseries/forecast" in block.text

    def post(url: str, **kwargs: Any) -> httpx.Response:
        return app_client.post(httpx.URL(url).path, **kwargs)

    monkeypatch.setattr(httpx, "post", post)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block.text, block.where, "exec"), {"__name__": "__docs__"})
    output = following(block)
    assert output is not None
    assert output.lang == "text"
    same_text(printed.getvalue(), output.text, output.where)
