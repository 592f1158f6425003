"""MinMax scaling stored as JSON, so the service never unpickles a scikit-learn object.

Training fits scikit-learn's ``MinMaxScaler`` and converts it with :meth:`MinMaxScaling.from_sklearn`;
the service rebuilds the same affine map from ``scaler.json`` with NumPy only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class MinMaxScaling(BaseModel):
    """The affine map ``x * scale + offset`` that sends [data_min, data_max] onto [0, 1]."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data_min: float
    data_max: float
    feature_range: tuple[float, float] = Field(default=(0.0, 1.0))

    @model_validator(mode="after")
    def _check(self) -> MinMaxScaling:
        values = (self.data_min, self.data_max, *self.feature_range)
        if not all(math.isfinite(v) for v in values):
            raise ValueError("scaler parameters must be finite")
        if self.data_max <= self.data_min:
            raise ValueError("scaler data_max must be greater than data_min")
        if self.feature_range[1] <= self.feature_range[0]:
            raise ValueError("scaler feature_range must be increasing")
        return self

    @property
    def scale(self) -> float:
        low, high = self.feature_range
        return (high - low) / (self.data_max - self.data_min)

    @property
    def offset(self) -> float:
        return self.feature_range[0] - self.data_min * self.scale

    @classmethod
    def from_sklearn(cls, scaler: Any) -> MinMaxScaling:
        """Convert a fitted one-feature ``sklearn.preprocessing.MinMaxScaler``."""
        low, high = scaler.feature_range
        return cls(
            data_min=float(scaler.data_min_[0]),
            data_max=float(scaler.data_max_[0]),
            feature_range=(float(low), float(high)),
        )

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Prices to model units (float32, the models' dtype)."""
        return (np.asarray(values, dtype=np.float64) * self.scale + self.offset).astype(np.float32)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        """Model units back to prices (float64)."""
        return (np.asarray(values, dtype=np.float64) - self.offset) / self.scale

    def save(self, path: Path) -> None:
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> MinMaxScaling:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))
