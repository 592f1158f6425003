"""Offline training: CSV -> scaler, windows, LSTM/GRU models, honest evaluation, artifacts."""
