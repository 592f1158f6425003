"""The schemathesis figures ``docs/reliability.md`` and ``benchmarks/RELIABILITY.md`` quote: operations
fuzzed, cases sent, and the statuses answered.

Usage, from the repository root::

    .venv/bin/python benchmarks/schemathesis_report.py                                  # normal run (30)
    SCHEMATHESIS_MAX_EXAMPLES=300 .venv/bin/python benchmarks/schemathesis_report.py    # the deep run

It runs ``tests/reliability/test_schemathesis.py`` (every operation of the app's OpenAPI schema fuzzed,
every check applied) and then prints what that run sent and was answered. The exit status is pytest's:
a failing check fails the report, so no figure is printed for a run that found a problem.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import os
from collections import Counter

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "tests" / "reliability" / "test_schemathesis.py"
MODULE = "tests.reliability.test_schemathesis"


def figures(cases: Counter[str], statuses: Counter[int]) -> list[str]:
    """The report's lines: totals, statuses seen, then cases per operation."""
    import schemathesis

    lines = [f"schemathesis {schemathesis.__version__}: {len(cases)} operations, {sum(cases.values()):,} cases"]
    lines.append("statuses: " + ", ".join(f"{status}: {count:,}" for status, count in sorted(statuses.items())))
    lines += [f"  {label}: {count}" for label, count in sorted(cases.items())]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -x)")
    args = parser.parse_args(argv)
    os.chdir(REPO)
    status = pytest.main([str(SUITE), "-q", "-p", "no:cacheprovider", *args.pytest_args])
    if status != 0:
        print(f"the schemathesis suite failed (pytest exit status {int(status)}): no figures", file=sys.stderr)
        return int(status)
    fuzz = sys.modules[MODULE]
    if not fuzz.CASES:
        print("no operation was fuzzed", file=sys.stderr)
        return 1
    examples = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30")
    print(f"\nmax examples per operation: {examples}")
    print("\n".join(figures(fuzz.CASES, fuzz.STATUSES)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
