"""Fitting one OHLC network on the pooled training windows, early-stopped on the validation windows."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from training.ohlc.model import OhlcKind, OhlcRecipe, build_ohlc_model

log = logging.getLogger("forecast-train")


def fit_ohlc(
    kind: OhlcKind,
    recipe: OhlcRecipe,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    seed: int,
    verbose: int,
) -> tuple[Any, dict[str, Any]]:
    import keras

    x, y, x_val, y_val = data
    keras.utils.set_random_seed(seed)
    model = build_ohlc_model(kind, recipe, x.shape[1], x.shape[2])
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.patience, restore_best_weights=True)
    log.info("training %s: %d windows, %d parameters, %s", kind, len(x), model.count_params(), recipe)
    started = time.perf_counter()
    history = model.fit(
        x,
        y,
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        validation_data=(x_val, y_val),
        callbacks=[stop],
        verbose=verbose,
        shuffle=True,
    )
    seconds = time.perf_counter() - started
    val = history.history["val_loss"]
    info = {
        "train_seconds": round(seconds, 1),
        "epochs_run": len(history.history["loss"]),
        "best_epoch": int(np.argmin(val)) + 1,
        "best_val_loss": float(min(val)),
        "final_loss": float(history.history["loss"][-1]),
    }
    log.info("trained %s in %.1f s (%d epochs, best %d)", kind, seconds, info["epochs_run"], info["best_epoch"])
    return model, info
