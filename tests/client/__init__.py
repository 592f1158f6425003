"""The forecast_client package on its own: imports, size, and the deprecated service.client."""
