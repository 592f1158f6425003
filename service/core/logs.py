"""Structured logs: every line one JSON object, carrying the id of the request it was written for.

``forecast-serve`` gives uvicorn :func:`log_config`, so uvicorn's own lines, the service's (``service.*``)
and the request log (``forecast.access``, service/core/requestlog.py) all leave through one handler in
one format, one JSON object per line on stderr, which log collectors (Loki, Fluent Bit, CloudWatch)
parse without a pattern of their own. The request a line belongs to is found through a context
variable the request log middleware sets, so any log call made while a request is handled (on its
event loop task, or in a thread started with its context) names that request's id.
"""

from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar
from typing import Any

from service.core.config import Settings

#: The request being handled in this context: its id and what the handlers noted about it (model,
#: version, rows, horizon); None outside a request. A dict, so a handler running in a copied context
#: (Starlette runs sync handlers in threads with a copy) still writes into the request's own record.
REQUEST: ContextVar[dict[str, Any] | None] = ContextVar("forecast_request", default=None)

ACCESS_LOGGER = "forecast.access"


def note(**fields: Any) -> None:
    """Add ``fields`` to the request log line of the request being handled (nothing outside one)."""
    info = REQUEST.get()
    if info is not None:
        info.update(fields)


# One encoder for every line: json.dumps with options of its own builds a new one per call. default=str:
# a value json cannot encode (a Path, a numpy scalar) is written as text, not lost with the line.
_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the request id when
    the record was written for a request, the record's ``fields`` (the request log's) and any exception."""

    _second, _stamp = -1, ""

    def _time(self, created: float) -> str:
        # The date and time to the second change once a second, not once a line: formatted once per second.
        second = int(created)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._stamp}.{int((created - second) * 1000):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        else:
            info = REQUEST.get()
            if info is not None:
                out["request_id"] = info["request_id"]
                if "trace_id" in info:  # tracing on (service/core/tracing.py)
                    out["trace_id"], out["span_id"] = info["trace_id"], info["span_id"]
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return _ENCODE(out)


def log_config(settings: Settings) -> dict[str, Any]:
    """uvicorn's ``log_config`` (a ``logging.config.dictConfig`` dict): every logger through one JSON
    handler on stderr, filtered by ``FORECAST_LOG_LEVEL`` (the request log too, at its own level)."""
    level = settings.log_level.upper()
    # uvicorn's loggers keep no handler of their own and hand their records to the root's, so a line is
    # written once, in one format; uvicorn.access stays silent (forecast-serve passes access_log=False:
    # the request log replaces it, with the route template, the request id and the model).
    quiet: dict[str, Any] = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "service.core.logs.JsonFormatter"}},
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {**quiet, "level": level},
            "uvicorn.error": {**quiet, "level": level},
            "uvicorn.access": {**quiet, "level": "WARNING"},
            ACCESS_LOGGER: quiet,
        },
        "root": {"handlers": ["json"], "level": level},
    }
