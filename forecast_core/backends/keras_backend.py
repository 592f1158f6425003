"""TensorFlow backend: the reference implementation, XLA-compiled with a few fixed batch shapes.

``model.predict`` per request costs ~70 ms of Python overhead; a ``tf.function`` compiled with XLA
for a handful of padded batch sizes answers in ~1 ms and never retraces at serving time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

# Batches are padded up to the next bucket so XLA compiles each shape once, then reuses it.
BATCH_BUCKETS: tuple[int, ...] = (1, 8, 64, 256)


class KerasBackend:
    kind = "keras"

    def __init__(self, model: Any, window: int, features: int | None = None) -> None:
        import tensorflow as tf

        self.window = window
        self.features = features
        self._model = model
        # Univariate models take (n, window); multi-feature ones (n, window, features).
        self._item_shape: tuple[int, ...] = (window,) if features is None else (window, features)
        self._fn = tf.function(
            lambda x: model(x, training=False),
            input_signature=[tf.TensorSpec([None, *self._item_shape], tf.float32)],
            jit_compile=True,
            reduce_retracing=True,
        )

    @classmethod
    def from_file(cls, path: Path, window: int, features: int | None = None) -> KerasBackend:
        import keras

        # safe_mode refuses Lambda layers and other deserialized code.
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        return cls(model, window, features)

    def predict(self, windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, dtype=np.float32)
        n = x.shape[0]
        biggest = BATCH_BUCKETS[-1]
        if n > biggest:
            return np.concatenate([self.predict(x[i : i + biggest]) for i in range(0, n, biggest)])
        bucket = next(b for b in BATCH_BUCKETS if b >= n)
        padded = np.zeros((bucket, *self._item_shape), dtype=np.float32)
        padded[:n] = x
        out = np.asarray(self._fn(padded))
        if self.features is None:
            return out.reshape(-1)[:n]
        return out.reshape(bucket, self.features)[:n]
