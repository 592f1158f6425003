"""One Keras builder and one fit for every feature set: stacked LSTM/GRU layers over (window, columns).

A one-column set's networks take (batch, window) and reshape it to a sequence inside the model; a
multi-column set's take (batch, window, columns). Heads: ``dense`` (a plain Dense), ``zero`` (a
Dense that starts at zero: the untrained model predicts "no change" in model units, the OHLC bars'
log ratios) and ``residual`` (a zero-started change added to the window's last value: the untrained
model is persistence). Built-in layers only, so the saved files load in safe mode and export to ONNX.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

log = logging.getLogger("forecast-train")
ModelKind = Literal["lstm", "gru"]
Head = Literal["dense", "zero", "residual"]


@dataclass(frozen=True)
class Network:
    """The architecture and optimiser of one network, whichever recipe it came from."""

    kind: ModelKind
    window: int
    features: int | None  # None: a one-column set's (batch, window) input
    units: tuple[int, ...]
    dropout: float
    head: Head
    optimizer: Literal["rmsprop", "sgd", "adam"]
    learning_rate: float
    momentum: float = 0.0


def build_model(net: Network) -> Any:
    import keras

    rnn = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[net.kind]
    w, outputs_per_step = net.window, net.features or 1
    inputs = keras.Input(shape=(w,) if net.features is None else (w, net.features), name="window")
    x = keras.layers.Reshape((w, 1), name="as_sequence")(inputs) if net.features is None else inputs
    seq = x
    for i, units in enumerate(net.units):
        last = i == len(net.units) - 1
        seq = rnn(units, return_sequences=not last, activation="tanh", name=f"{net.kind}_{i}")(seq)
        seq = keras.layers.Dropout(net.dropout, name=f"dropout_{i}")(seq)
    if net.head == "residual":
        if net.features is not None:
            raise ValueError("a residual head needs a one-column input")
        change = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros", name="change")(seq)
        last_value = keras.layers.Flatten(name="last_value")(keras.layers.Cropping1D((w - 1, 0), name="last_step")(x))
        outputs = keras.layers.Add(name="next_value")([last_value, change])
    elif net.head == "zero":
        outputs = keras.layers.Dense(
            outputs_per_step, kernel_initializer="zeros", bias_initializer="zeros", name="next_bar"
        )(seq)
    else:
        outputs = keras.layers.Dense(outputs_per_step, name="next_value")(seq)
    model = keras.Model(inputs, outputs, name=net.kind)
    model.compile(optimizer=_optimizer(net), loss="mean_squared_error")
    return model


def _optimizer(net: Network) -> Any:
    import keras

    if net.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=net.learning_rate, momentum=net.momentum)
    if net.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=net.learning_rate)
    return keras.optimizers.Adam(learning_rate=net.learning_rate)


def fit_model(
    net: Network,
    x: np.ndarray,
    y: np.ndarray,
    validation: tuple[np.ndarray, np.ndarray] | None,
    *,
    epochs: int,
    batch_size: int,
    patience: int,
    seed: int,
    verbose: int,
) -> tuple[Any, dict[str, Any]]:
    """Train one network; with ``validation`` windows, early stopping keeps the best epoch's weights."""
    import keras

    keras.utils.set_random_seed(seed)
    model = build_model(net)
    callbacks: list[Any] = []
    if validation is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
        )
    log.info("training %s: %d windows, %d parameters, %s", net.kind, len(x), model.count_params(), net)
    started = time.perf_counter()
    history = model.fit(
        x, y, epochs=epochs, batch_size=batch_size, validation_data=validation, callbacks=callbacks, verbose=verbose,
        shuffle=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    info: dict[str, Any] = {
        "train_seconds": round(seconds, 1),
        "epochs_run": len(history.history["loss"]),
        "final_loss": float(history.history["loss"][-1]),
    }
    if validation is not None:
        val = history.history["val_loss"]
        info.update({"best_epoch": int(np.argmin(val)) + 1, "best_val_loss": float(min(val))})
    log.info("trained %s in %.1f s (%d epochs)", net.kind, seconds, info["epochs_run"])
    return model, info
