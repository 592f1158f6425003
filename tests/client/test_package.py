"""``forecast_client`` as a package of its own: its imports and its size."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import forecast_client

PACKAGE = Path(forecast_client.__file__).parent
REPO = PACKAGE.parent
# What a client user does not install: the service's stack (pydantic among it, whose ValidationError the
# client's errors must not shadow) and the numerical one.
SERVER_STACK = ("fastapi", "starlette", "pydantic", "pydantic_settings", "numpy", "onnxruntime", "tensorflow")


def test_importing_forecast_client_pulls_in_only_httpx() -> None:
    code = (
        "import sys, forecast_client; "
        f"print(sorted(m for m in {SERVER_STACK!r} if m in sys.modules)); "
        "print('httpx' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.split() == ["[]", "True"]


def test_modules_import_nothing_outside_the_standard_library_but_httpx() -> None:
    allowed = {"httpx", "forecast_client", "__future__"}
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert ast.get_docstring(tree), f"{path.name} has no module docstring"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                roots = {(node.module or "").split(".")[0]}
            else:
                continue
            for root in roots:
                assert root in allowed or root in sys.stdlib_module_names, f"{path.name} imports {root}"
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 300, f"{path.name} is over 300 lines"


def test_no_name_shadows_pydantics_validation_error() -> None:
    assert "ValidationError" not in forecast_client.__all__
    assert not hasattr(forecast_client, "ValidationError")
    assert issubclass(forecast_client.InvalidInputError, forecast_client.ForecastError)


def test_every_public_name_is_exported() -> None:
    for name in forecast_client.__all__:
        assert getattr(forecast_client, name) is not None
