"""Running a recursive forecast under the server's per-request deadline, shared by /v1 and /v2."""

from __future__ import annotations

import time

import numpy as np

from service.core.errors import ApiError
from service.inference.predictor import DeadlineExceeded, Predictor


def forecast_within_deadline(predictor: Predictor, window: np.ndarray, horizon: int, timeout_s: float) -> np.ndarray:
    """``predictor.forecast``, or a 504 ``deadline_exceeded`` once ``timeout_s`` has passed between steps."""
    try:
        return predictor.forecast(window, horizon, deadline=time.monotonic() + timeout_s)
    except DeadlineExceeded as exc:
        raise ApiError(
            504,
            "deadline_exceeded",
            f"the forecast took longer than the server's limit of {timeout_s:g} s "
            f"({exc.steps_done} of {exc.horizon} steps done); ask for a shorter horizon",
        ) from None
