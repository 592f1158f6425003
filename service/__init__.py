"""Stock-price forecasting service: serves the LSTM/GRU artifacts made by `training`."""

__version__ = "0.1.0"
