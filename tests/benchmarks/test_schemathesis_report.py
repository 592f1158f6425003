"""The schemathesis report (benchmarks/schemathesis_report.py) prints the figures the docs quote."""

from __future__ import annotations

from collections import Counter

from benchmarks.schemathesis_report import MODULE, SUITE, figures


def test_the_report_sums_cases_over_operations_and_lists_statuses_in_order() -> None:
    cases = Counter({"POST /v1/models/{name}/predict": 1200, "GET /healthz": 1})
    statuses = Counter({404: 1819, 200: 181, 401: 179})
    lines = figures(cases, statuses)
    assert lines[0].endswith(": 2 operations, 1,201 cases")
    assert lines[1] == "statuses: 200: 181, 401: 179, 404: 1,819"
    assert lines[2:] == ["  GET /healthz: 1", "  POST /v1/models/{name}/predict: 1200"]


def test_the_report_runs_the_suite_whose_counters_it_reads() -> None:
    assert SUITE.is_file()
    suite = SUITE.read_text(encoding="utf-8")
    assert "CASES: Counter[str] = Counter()" in suite
    assert "STATUSES: Counter[int] = Counter()" in suite
    assert ".".join(SUITE.relative_to(SUITE.parents[2]).with_suffix("").parts) == MODULE
