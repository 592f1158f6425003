"""The interface every inference backend implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Maps a batch of scaled windows, float32 of shape (n, window), to scaled next values (n,)."""

    kind: str
    window: int

    def predict(self, windows: np.ndarray) -> np.ndarray: ...
