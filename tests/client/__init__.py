"""The forecast_client package on its own: imports and size."""
