"""/docs (Swagger UI) and /redoc (ReDoc), served with every asset from the service itself.

FastAPI's own pages load Swagger UI and ReDoc from a public CDN (and a favicon from FastAPI's site): they
break offline and in air-gapped clusters, and hand a third party the page. Here the pages load the same
builds (swagger-ui-dist 5, ReDoc 2) from the ``fastapi-offline`` package, a dependency of the service
installed from the lock files like any other, mounted at ``/docs/static``; nothing is copied into this
repository. This follows FastAPI's "Custom Docs UI Static Assets (Self-Hosting)".

Swagger UI's online validator badge is off (``validatorUrl: null``): it would send the address of the
OpenAPI document to a third party.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
STATIC_URL = "/docs/static"


def asset_dir() -> Path:
    """The installed Swagger UI and ReDoc files (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js,
    favicon.png)."""
    return Path(str(files("fastapi_offline") / "static"))


def install_docs(app: FastAPI, openapi_url: str) -> None:
    """Add /docs, /redoc and the assets they load to ``app`` (whose ``docs_url`` and ``redoc_url`` are None)."""
    app.mount(STATIC_URL, StaticFiles(directory=asset_dir()), name="docs-static")

    def base(request: Request) -> str:
        # Behind a proxy that strips a path prefix, the pages must ask for their assets under it.
        return str(request.scope.get("root_path", ""))

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = base(request)
        return get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = base(request)
        return get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            with_google_fonts=False,
        )
