"""Baselines on the same inputs as the networks, usable wherever a backend is (so they can recurse).

* ``RidgeBars``: scikit-learn ridge on the last ``lags`` days of Open, High, Low, Close in model
  units (log ratios to the last Close), predicting the whole next bar; fitted on the pooled training
  samples, its ``alpha`` chosen on the validation samples.
* ``PersistenceBars``: the last bar again (next-day High = last High); recursively, a flat forecast.
"""

from __future__ import annotations

import numpy as np

RIDGE_ALPHAS: tuple[float, ...] = (1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0)


class RidgeBars:
    kind = "ridge"
    features = 4

    def __init__(self, window: int, lags: int, coef: np.ndarray, intercept: np.ndarray, alpha: float) -> None:
        self.window, self.lags, self.alpha = window, lags, alpha
        self.coef = np.asarray(coef, dtype=np.float64)  # (lags * 4, 4)
        self.intercept = np.asarray(intercept, dtype=np.float64)

    @classmethod
    def fit(
        cls, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, lags: int = 5
    ) -> tuple[RidgeBars, dict[str, float]]:
        """Fit on (x, y), choose alpha by validation MSE; returns the model and each alpha's score."""
        from sklearn.linear_model import Ridge

        def features(a: np.ndarray) -> np.ndarray:
            return a[:, -lags:, :].reshape(len(a), -1).astype(np.float64)

        scores: dict[str, float] = {}
        best: tuple[float, float, Ridge] | None = None
        for alpha in RIDGE_ALPHAS:
            model = Ridge(alpha=alpha).fit(features(x), y)
            mse = float(np.mean((model.predict(features(x_val)) - y_val) ** 2))
            scores[str(alpha)] = mse
            if best is None or mse < best[0]:
                best = (mse, alpha, model)
        assert best is not None
        _, alpha, model = best
        return cls(x.shape[1], lags, model.coef_.T, model.intercept_, alpha), scores

    def predict(self, windows: np.ndarray) -> np.ndarray:
        feats = np.asarray(windows[:, -self.lags :, :], dtype=np.float64).reshape(len(windows), -1)
        return feats @ self.coef + self.intercept


class PersistenceBars:
    kind = "persistence"
    features = 4

    def __init__(self, window: int) -> None:
        self.window = window

    def predict(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(windows[:, -1, :], dtype=np.float64)
