"""Percentiles, timing summaries, verdicts against targets, and the report's number formats and tables.

Pure functions on plain values: no I/O, nothing imported beyond the standard library (the harness's
tests check them in milliseconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between closest ranks: NumPy's default method."""
    xs = sorted(values)
    if not xs:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within [0, 100], got {q}")
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """Median, p90, p99, mean and count of timing samples (seconds)."""
    return {
        "n": len(samples),
        "median": percentile(samples, 50),
        "p90": percentile(samples, 90),
        "p99": percentile(samples, 99),
        "mean": sum(samples) / len(samples),
    }


def verdict(value: float | None, target: float, *, at_most: bool) -> str:
    """MET / MISSED against an upper (``at_most``) or lower bound; '—' when not measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    ok = value <= target if at_most else value >= target
    return "MET" if ok else "MISSED"


def fmt_duration(seconds: float | None) -> str:
    """Seconds in the unit that reads best (µs, ms, s), with the digits that matter at that size."""
    if seconds is None:
        return "—"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs" if seconds < 1e-5 else f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(value: float | None) -> str:
    """A rate (req/s, windows/s): thousands separated, one decimal below 100."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def fmt_ratio(value: float | None) -> str:
    """A speed-up as ``×n``."""
    if value is None:
        return "—"
    if value >= 100:
        return f"×{value:,.0f}"
    return f"×{value:.1f}"


def fmt_mb(kb: float | None) -> str:
    """kB (as /proc gives them) in MiB."""
    return "—" if kb is None else f"{kb / 1024:.0f} MiB"


def render_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], align: str | None = None) -> str:
    """A GitHub-flavoured markdown table; ``align`` holds one 'l' or 'r' per column (default: l, then r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    if len(align) != len(headers):
        raise ValueError("align needs one letter per column")
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} has {len(row)} cells, expected {len(headers)}")
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |")
    return "\n".join(lines)


def dig(data: Any, *keys: Any) -> Any:
    """``data[k1][k2]…`` or None as soon as a level is missing."""
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(str(key))
        if data is None:
            return None
    return data


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is zero."""
    return a / b if a is not None and b not in (None, 0) else None
