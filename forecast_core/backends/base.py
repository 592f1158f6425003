"""The interface every inference backend implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Maps a batch of model-unit windows to next values, float32 in, in one of two shapes.

    Univariate: (n, window) -> (n,). Multi-feature (the OHLC set): (n, window, features) ->
    (n, features); such backends say so with a ``features`` attribute (``None`` for univariate).
    """

    kind: str
    window: int

    def predict(self, windows: np.ndarray) -> np.ndarray: ...
