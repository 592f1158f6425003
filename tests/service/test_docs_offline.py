"""/docs and /redoc work with no network: every script, stylesheet, icon and image their pages load is
served by the service itself, from an installed package (no CDN, no FastAPI favicon from its website)."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient

from service.api.docs import asset_dir

CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
    ".json": ("application/json",),
}


class AssetLinks(HTMLParser):
    """Every URL a browser would load from a page: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def page_assets(html: str) -> list[str]:
    parser = AssetLinks()
    parser.feed(html)
    # The OpenAPI document, which Swagger UI (url: '...') and ReDoc (spec-url="...") load next.
    spec = re.findall(r"""url: '([^']+)'|spec-url="([^"]+)\"""", html)
    return parser.urls + [a or b for a, b in spec]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No connection to anywhere: serving the pages must not reach out (the test client needs no socket)."""

    def refuse(*_: Any, **__: Any) -> None:
        raise OSError("network access during the offline docs test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.usefixtures("offline")
@pytest.mark.parametrize(("page", "expected"), [("/docs", 4), ("/redoc", 3)])
def test_every_asset_of_the_docs_pages_is_served_by_the_service(
    make_client: Callable[..., TestClient], page: str, expected: int
) -> None:
    client = make_client()
    response = client.get(page)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    # Nothing absolute at all: no CDN, no web font, no FastAPI favicon, no validator badge.
    assert re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE) is None, html
    assets = page_assets(html)
    # Swagger UI: its script, stylesheet, favicon, the spec; ReDoc: the same less a stylesheet.
    assert len(assets) == expected, assets
    base = str(client.base_url) + page
    for url in assets:
        absolute = urlsplit(urljoin(base, url))
        assert (absolute.scheme, absolute.netloc) == ("http", "testserver"), url
        asset = client.get(absolute.path)
        assert asset.status_code == 200, url
        suffix = Path(absolute.path).suffix
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], (url, asset.headers)
        assert len(asset.content) > 100, url


def test_swagger_ui_never_asks_the_online_validator(make_client: Callable[..., TestClient]) -> None:
    """The validator badge would send the spec's address to a third party."""
    assert '"validatorUrl": null' in make_client().get("/docs").text


def test_the_assets_come_from_an_installed_package_not_from_this_repository(
    make_client: Callable[..., TestClient],
) -> None:
    assert "site-packages" in asset_dir().parts, asset_dir()
    served = make_client().get("/docs/static/swagger-ui-bundle.js").content
    assert served == (asset_dir() / "swagger-ui-bundle.js").read_bytes()


def test_with_docs_off_the_assets_are_not_served(make_client: Callable[..., TestClient]) -> None:
    off = make_client(docs_enabled=False)
    for path in ("/docs", "/redoc", "/docs/static/swagger-ui-bundle.js", "/docs/static/redoc.standalone.js"):
        assert off.get(path).status_code == 404, path
