"""Input rules every protocol shares: what a price is, and the server's limits.

The wire layers check types (a number, not a string or a boolean); the rules on values live here
once, vectorised, so /v1 and /v2 (and any future protocol) refuse exactly the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from service.dataplane.errors import InvalidInput

# float32 is the models' dtype: a larger price would overflow to infinity inside the model.
FLOAT32_MAX = float(np.finfo(np.float32).max)
PRICE_RULE = "every value must be a finite positive number (a price)"

Locator = Callable[[tuple[int, ...]], str]


def default_locator(field: str) -> Locator:
    """``windows[2][5]``-style names for an element of an (n, window[, columns]) array."""

    def locate(index: tuple[int, ...]) -> str:
        return field + "".join(f"[{i}]" for i in index)

    return locate


def check_prices(x: np.ndarray, locate: Locator) -> None:
    """Refuse the first value that is not a finite positive price within float32's range."""
    # Two reductions decide the usual case: a NaN makes min() NaN, so the test fails and the full
    # check below names the value.
    if x.size and x.min() > 0 and x.max() <= FLOAT32_MAX:
        return
    ok = np.isfinite(x) & (x > 0) & (x <= FLOAT32_MAX)
    if ok.all():
        return
    index = tuple(int(i) for i in np.argwhere(~ok)[0])
    value = float(x[index])
    rule = "finite_number" if not np.isfinite(value) else ("positive" if value <= 0 else "max_value")
    where = locate(index)
    raise InvalidInput(where, rule, f"is {value!r}", PRICE_RULE, text=f"{where} is {value!r}; {PRICE_RULE}")


def check_limit(value: int, limit: int, field: str, rule: str, what: str) -> None:
    if value > limit:
        raise InvalidInput(field, rule, f"{what} {value} is over the limit of {limit}", f"at most {limit}")


def check_finite_output(values: np.ndarray, field: str) -> None:
    """A model fed extreme (but valid) prices can overflow; say so rather than answer inf or NaN."""
    if not np.isfinite(values).all():
        raise InvalidInput(
            field,
            "computable",
            "the model's output overflowed for this input",
            "input values are too extreme to forecast",
        )
