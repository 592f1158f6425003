"""Forecast-vs-actual plots, like the reference notebook's ``plot_predictions``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def plot_forecasts(
    path: Path,
    dates: pd.DatetimeIndex,
    actual: np.ndarray,
    forecasts: Mapping[str, np.ndarray],
    title: str,
    ylabel: str,
) -> None:
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=80)
    ax.plot(dates, actual, color="black", linewidth=1.6, label="actual")
    for name, values in forecasts.items():
        style = "--" if name in {"persistence", "flat", "drift"} else "-"
        ax.plot(dates, values, style, linewidth=1.0, label=name)
    ax.set_title(title)
    ax.set_xlabel("date")
    ax.set_ylabel(ylabel)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
