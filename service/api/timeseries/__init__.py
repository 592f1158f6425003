"""KServe's time-series forecast protocol (``POST /v1/timeseries/forecast``): types, codec, quantiles, route."""
