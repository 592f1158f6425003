"""``forecast-serve``: run the service with uvicorn."""

from __future__ import annotations

import argparse
import os
import signal
from types import FrameType

import uvicorn
from pydantic import ValidationError

from service.core import logs, multiproc, server
from service.core.config import Settings


def _stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="forecast-serve", description="Serve the forecast models over HTTP.")
    parser.add_argument("--host", default=os.environ.get("FORECAST_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("FORECAST_PORT", "8000")))
    parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="worker processes; each loads the models after the fork (default: $WEB_CONCURRENCY or 1)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings()  # fail fast on bad FORECAST_* variables, before forking workers
    except ValidationError as exc:
        parser.exit(2, f"forecast-serve: bad settings: {exc}\n")
    # After a graceful shutdown uvicorn re-raises the SIGTERM it caught, which with the default handler
    # kills the process by the signal (exit 143, a failure to orchestrators). SIGTERM is the normal way to
    # stop this server, so the handler uvicorn restores and re-raises into exits with status 0.
    signal.signal(signal.SIGTERM, _stop)
    # Several workers share their metrics through files (service/core/multiproc.py): the directory is set
    # up here, before uvicorn spawns the workers, which inherit the variable.
    multiproc.prepare_dir(args.workers)
    uvicorn.run(
        # Each serving process (the one worker, or each of uvicorn's spawned workers) prepares itself
        # (the link to its supervisor, memory trimming) before it builds service.main's app.
        "service.core.process:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=settings.log_level,
        # Every line one JSON object, the request log's and uvicorn's own (service/core/logs.py).
        log_config=logs.log_config(settings),
        access_log=False,
        proxy_headers=False,
        # No "server: uvicorn" header: it tells a scanner which server (and so which bugs) to try.
        server_header=False,
        timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout_s)),
        # Slow and greedy clients (docs/reliability.md): headers over the cap are refused (431 by the
        # body guard; with FORECAST_HTTP=h11 also while still arriving, 400), idle keep-alive connections
        # are closed, and past max_connections a new request gets a fast 503 instead of a share of an overloaded worker.
        # The protocol is uvicorn's own plus a read deadline: a request must arrive whole (headers and body)
        # within FORECAST_READ_TIMEOUT_S of its first byte, else 408 and close (slowloris, stalled uploads).
        http=server.PROTOCOLS[settings.http],
        loop=settings.loop,
        h11_max_incomplete_event_size=settings.max_header_bytes,
        timeout_keep_alive=settings.keep_alive_s,
        limit_concurrency=settings.max_connections,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
