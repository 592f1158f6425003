"""Keras model construction. Only built-in layers, so the saved files load in safe mode."""

from __future__ import annotations

from typing import Any

import keras

from training.recipes import ModelKind, ModelRecipe


def build_model(kind: ModelKind, recipe: ModelRecipe, window: int) -> Any:
    """Stacked LSTM/GRU with Dropout and a Dense(1) head; input shape (batch, window)."""
    rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[kind]
    inputs = keras.Input(shape=(window,), name="window")
    x = keras.layers.Reshape((window, 1), name="as_sequence")(inputs)
    seq = x
    for i, units in enumerate(recipe.units):
        last = i == len(recipe.units) - 1
        seq = rnn(units, return_sequences=not last, activation="tanh", name=f"{kind}_{i}")(seq)
        seq = keras.layers.Dropout(recipe.dropout, name=f"dropout_{i}")(seq)
    if recipe.residual:
        head = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros", name="change")(seq)
        last_value = keras.layers.Flatten(name="last_value")(
            keras.layers.Cropping1D((window - 1, 0), name="last_step")(x)
        )
        outputs = keras.layers.Add(name="next_value")([last_value, head])
    else:
        outputs = keras.layers.Dense(1, name="next_value")(seq)
    model = keras.Model(inputs, outputs, name=kind)
    model.compile(optimizer=_optimizer(recipe), loss="mean_squared_error")
    return model


def _optimizer(recipe: ModelRecipe) -> Any:
    if recipe.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=recipe.learning_rate, momentum=recipe.momentum)
    if recipe.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=recipe.learning_rate)
    return keras.optimizers.Adam(learning_rate=recipe.learning_rate)
