"""The OHLC networks: one LSTM or GRU layer over (window, 4) model-unit bars, a Dense(4) head.

The head starts at zero, so the untrained model predicts a flat bar at the last Close; it outputs
the next bar in model units (percent log ratios to the last Close), decoded by
``forecast_core.bars.from_relative``. Built-in layers only (safe-mode loading, ONNX export).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import keras

OhlcKind = Literal["lstm", "gru"]


@dataclass(frozen=True)
class OhlcRecipe:
    units: int = 32
    dropout: float = 0.0
    learning_rate: float = 1e-3
    batch_size: int = 256
    # An epoch cap and a short patience keep one network to about 5 CPU-minutes on 2 cores.
    epochs: int = 15
    patience: int = 3

    def hyperparameters(self) -> dict[str, str | int | float | bool | list[int] | None]:
        return dict(asdict(self))


def build_ohlc_model(kind: OhlcKind, recipe: OhlcRecipe, window: int, features: int = 4) -> Any:
    rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[kind]
    inputs = keras.Input(shape=(window, features), name="window")
    x = rnn(recipe.units, activation="tanh", name=f"{kind}_0")(inputs)
    x = keras.layers.Dropout(recipe.dropout, name="dropout_0")(x)
    outputs = keras.layers.Dense(features, kernel_initializer="zeros", bias_initializer="zeros", name="next_bar")(x)
    model = keras.Model(inputs, outputs, name=kind)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=recipe.learning_rate), loss="mean_squared_error")
    return model
