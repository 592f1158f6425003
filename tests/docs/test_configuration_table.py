"""docs/configuration.md holds the one table of environment variables; it must match ``Settings`` exactly."""

from __future__ import annotations

import re

import pytest

from service.core.config import Settings
from tests.docs.markdown import DOCS, PAGES, table_rows

PAGE = DOCS / "configuration.md"
# Read by forecast-serve (service/cli.py), not by Settings.
SERVER_VARIABLES = {"FORECAST_HOST", "FORECAST_PORT", "WEB_CONCURRENCY", "PROMETHEUS_MULTIPROC_DIR"}


def documented() -> dict[str, str]:
    """Variable -> its default cell, from every table row whose first cell is one backticked name."""
    table: dict[str, str] = {}
    for row in table_rows(PAGE.read_text(encoding="utf-8")):
        name = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", row[0])
        if name:
            assert name.group(1) not in table, f"{name.group(1)} is listed twice"
            assert len(row) == 3, f"{name.group(1)}: expected variable | default | meaning, got {row}"
            table[name.group(1)] = row[1]
    return table


def settings_variables() -> dict[str, object]:
    prefix = Settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper(): field.default for name, field in Settings.model_fields.items()}


def test_the_table_lists_exactly_the_settings_and_the_server_variables() -> None:
    expected = set(settings_variables()) | SERVER_VARIABLES
    listed = set(documented())
    assert not expected - listed, f"missing from docs/configuration.md: {sorted(expected - listed)}"
    assert not listed - expected, f"in docs/configuration.md but not read by the service: {sorted(listed - expected)}"


@pytest.mark.parametrize(("variable", "default"), sorted(settings_variables().items()))
def test_the_documented_default_is_the_settings_default(variable: str, default: object) -> None:
    cell = documented()[variable]
    if isinstance(default, bool):
        assert f"`{str(default).lower()}`" in cell, f"{variable}: default {default}, documented {cell!r}"
    elif isinstance(default, int | float):
        number = re.search(r"\d+(?:\.\d+)?", cell)
        assert number, f"{variable}: no number in {cell!r}"
        assert float(number.group()) == float(default), f"{variable}: default {default}, documented {cell!r}"
    elif isinstance(default, str):
        assert f"`{default}`" in cell, f"{variable}: default {default!r}, documented {cell!r}"
    elif default is None:
        assert cell, f"{variable}: say what happens when it is unset"


def test_there_is_one_configuration_table() -> None:
    """No other page repeats the variables in a table of its own (they drift apart)."""
    for page in PAGES:
        if page == PAGE:
            continue
        for row in table_rows(page.read_text(encoding="utf-8")):
            assert not re.fullmatch(r"`(FORECAST_[A-Z_]+|WEB_CONCURRENCY)`", row[0]), f"{page.name}: {row[0]}"
