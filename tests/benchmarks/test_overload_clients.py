"""benchmarks/overload.py's retrying clients, against a server that never answers: no timing asserted."""

from __future__ import annotations

import asyncio

from benchmarks import overload


def test_a_client_that_gives_up_drops_its_connection_and_asks_again() -> None:
    connections: list[int] = []

    async def run() -> dict[str, int]:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.append(1)
            await reader.read()  # read until the client closes; never answer
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            statuses, latencies = await overload.clients(port, 2, 0.5, b"{}", give_up=0.05)
        finally:
            server.close()
        assert latencies == {}
        return dict(statuses)

    statuses = asyncio.run(run())
    assert set(statuses) == {"gave up"}
    assert statuses["gave up"] >= 2  # each client's first try at least
    assert len(connections) == statuses["gave up"]  # every retry on a fresh connection


def test_the_table_shows_give_ups_and_server_side_cancellations_apart() -> None:
    result = {
        "config": "after",
        "statuses": {"200": 5, "gave up": 7, "503": 1},
        "goodput": 0.5,
        "solo_rate": 2.0,
        "forecast_p50": 0.8,
        "forecast_max": 0.9,
        "refusal_max": 0.001,
        "late": 0,
        "healthz_p50": 0.001,
        "healthz_p99": 0.002,
        "healthz_max": 0.003,
        "probes": 10,
        "probes_over_1s": 0,
        "cancelled": 6.0,
    }
    header, _, row = overload.table([result]).splitlines()[:3]
    cells = [c.strip() for c in row.strip("|").split("|")]
    names = [c.strip() for c in header.strip("|").split("|")]
    assert cells[names.index("client gave up")] == "7"
    assert cells[names.index("cancelled by the server")] == "6"
    assert cells[names.index("other")] == "0"
