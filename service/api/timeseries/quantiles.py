"""Quantiles from the calibrated central intervals: the protocol asks for quantiles, the models carry
split-conformal intervals at fixed levels (50, 80, 90, 95, 99 %).

A central interval at level L holds the quantiles q = (1 - L/100) / 2 (its lower bound) and 1 - q (its
upper bound), so q and 1 - q map to the level 100 * (1 - 2q): 0.1 and 0.9 are the 80 % interval's
bounds, 0.025 and 0.975 the 95 % one's. 0.5 is the point forecast (the model is trained on squared
error, so the point is its mean; the calibrated intervals are symmetric around it). Any other quantile
is refused with the list the calibration gives, rather than interpolated between levels: conformal
bounds between two levels are not calibrated at the level in between.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.dataplane import InvalidInput

MEDIAN = 0.5
_TOLERANCE = 1e-9  # JSON's 0.1 is the double 0.1; this only forgives 0.30000000000000004-style sums


@dataclass(frozen=True)
class Quantile:
    """One requested quantile: its response key, and which interval bound gives it (None: the point)."""

    key: str
    level: int | None
    upper: bool


def available(levels: tuple[int, ...]) -> list[float]:
    """The quantiles ``levels`` give, ascending: each level's two bounds and the median."""
    lows = [round((100 - level) / 200, 6) for level in levels]
    return sorted({MEDIAN, *lows, *(round(1 - q, 6) for q in lows)})


def plan(quantiles: list[float] | None, levels: tuple[int, ...]) -> tuple[list[Quantile], tuple[int, ...]]:
    """The requested quantiles and the interval levels to compute for them; a 422 for any the
    calibration cannot give (naming those it can)."""
    if not quantiles:
        return [], ()
    if len(set(quantiles)) != len(quantiles):
        raise InvalidInput("options.quantiles", "unique", "quantiles must not repeat", "distinct quantiles")
    out: list[Quantile] = []
    for q in quantiles:
        key = str(q)  # the key the client will look up: the quantile as it sent it
        if abs(q - MEDIAN) <= _TOLERANCE:
            out.append(Quantile(key, None, False))
            continue
        level = 100 * (1 - 2 * min(q, 1 - q))
        rounded = round(level)
        if not 0 < q < 1 or abs(level - rounded) > 1e-6 or rounded not in levels:
            can = ", ".join(f"{v:g}" for v in available(levels))
            why = "" if levels else " (this model carries no interval calibration)"
            raise InvalidInput(
                "options.quantiles",
                "calibrated_quantile",
                f"quantile {q:g} is not one the calibration gives{why}; ask for any of {can}",
                f"one of {can}",
            )
        out.append(Quantile(key, rounded, q > MEDIAN))
    return out, tuple(sorted({q.level for q in out if q.level is not None}))
