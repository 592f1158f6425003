"""Training of the global OHLC set: many files, whole-bar windows, LSTM/GRU beside ridge and persistence."""
