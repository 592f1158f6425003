"""Drift signals: the input warnings a model returns to callers, named by kind so they can be counted.

The warnings are sentences for people (forecast_core/features.py ``range_warnings``, forecast_core/bars.py
``bar_warnings``); a metric needs a small fixed set of label values instead, so each sentence is mapped
to its kind by the phrase that set makes it with. A sentence no phrase matches counts as ``other``: a new
kind of warning is still counted, and cannot add series of its own.
"""

from __future__ import annotations

from collections import Counter

# (phrase in the warning, kind): the phrases are those forecast_core writes.
KINDS: tuple[tuple[str, str], ...] = (
    ("above the training maximum", "above_range"),
    ("below the training minimum", "below_range"),
    ("low above the high", "low_above_high"),
    ("outside [low, high]", "open_close_outside_bar"),
    ("under half of min(open, close)", "low_misprint"),
)


def warning_kind(message: str) -> str:
    """The kind of one input warning (``other`` for a sentence no known phrase matches)."""
    for phrase, kind in KINDS:
        if phrase in message:
            return kind
    return "other"


def count_kinds(messages: list[str]) -> Counter[str]:
    """How many warnings of each kind ``messages`` holds (one per window and kind, as they are written)."""
    return Counter(warning_kind(m) for m in messages)
