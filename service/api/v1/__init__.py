"""The /v1 protocol: JSON bodies of prices (or OHLC bars), one error shape with field and rule."""
