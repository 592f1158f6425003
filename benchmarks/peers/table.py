"""The peers benchmark's report: figures per server over the rounds, and ours ÷ peer ratios, in Markdown.

Pure functions on the results dict that ``measure.measure_rounds`` and ``run.py`` build (also what
``--json`` writes and ``--from-json`` reads back); standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.stats import dig, fmt_duration, fmt_rate, percentile, render_table

# (ours kind, peer, peer kind): the rows of the ratio table, in order.
COMPARISONS = (("predict", "kserve", "predict"), ("infer", "kserve", "infer"), ("infer", "mlserver", "infer"))
FIGURES = (("c1", "p50", fmt_duration), ("c64", "rps", fmt_rate), ("c64", "p99", fmt_duration))
BUSY_LOAD = 0.5  # a 1-minute load average above this at the start: other work shared the CPUs


def series(results: dict[str, Any], server: str, kind: str | None, conc: str, key: str) -> list[float | None]:
    """One figure of one server in each round (``kind`` None: its health endpoint), None where missing."""
    out = []
    for rnd in results.get("rounds", []):
        path = ("servers", server, "health", key) if kind is None else ("servers", server, "endpoints", kind, conc, key)
        value = dig(rnd, *path)
        out.append(None if value is None else float(value))
    return out


def fmt_span(values: Sequence[float | None], fmt: Callable[[float | None], str]) -> str:
    """The range over rounds, as ``min–max`` (one value alone; '—' when none was measured)."""
    got = [v for v in values if v is not None]
    if not got:
        return "—"
    lo, hi = fmt(min(got)), fmt(max(got))
    if lo == hi:
        return lo
    lo_number, _, lo_unit = lo.rpartition(" ")
    same_unit = lo_number and lo_unit == hi.rpartition(" ")[2]
    return f"{lo_number if same_unit else lo}–{hi}"  # "1.03–1.09 ms", "900 µs–1.09 ms"


def round_ratios(ours: Sequence[float | None], peer: Sequence[float | None]) -> list[float]:
    """ours ÷ peer within each round (both measured in the same minutes), rounds missing either skipped."""
    return [o / p for o, p in zip(ours, peer, strict=False) if o is not None and p]


def fmt_ratios(ratios: Sequence[float]) -> str:
    """The median of the per-round ratios, with their range when there are several: ``0.85 (0.80–0.90)``."""
    if not ratios:
        return "—"
    mid = f"{percentile(ratios, 50):.2f}"
    lo, hi = f"{min(ratios):.2f}", f"{max(ratios):.2f}"
    return mid if lo == hi else f"{mid} ({lo}–{hi})"


def figures_table(results: dict[str, Any]) -> str:
    """One row per server and endpoint: p50 at c=1, req/s and p99 at c=64, and its health endpoint's req/s."""
    rows = []
    for name, info in results["servers"].items():
        health = fmt_span(series(results, name, None, "c64", "rps"), fmt_rate)
        title = info["title"]
        for i, (kind, label) in enumerate(info["endpoints"]):
            cells = [fmt_span(series(results, name, kind, conc, key), fmt) for conc, key, fmt in FIGURES]
            shown = f"**{title}**" if name == "ours" else title
            rows.append([shown if i == 0 else "", label, *cells, health if i == 0 else ""])
    headers = ["server", "endpoint", "p50 at c=1", "req/s at c=64", "p99 at c=64", "its health endpoint, req/s at c=64"]
    return render_table(headers, rows, align="llrrrr")


def ratios_table(results: dict[str, Any]) -> str:
    """ours ÷ peer for every figure, per round then the median over rounds, for each comparison measured."""
    servers = results["servers"]
    rows = []
    for ours_kind, peer, peer_kind in COMPARISONS:
        if peer not in servers or "ours" not in servers:
            continue
        cells = [
            fmt_ratios(
                round_ratios(series(results, "ours", ours_kind, conc, key), series(results, peer, peer_kind, conc, key))
            )
            for conc, key, _ in FIGURES
        ]
        health = round_ratios(series(results, "ours", None, "c64", "rps"), series(results, peer, None, "c64", "rps"))
        ours_label = dict(servers["ours"]["endpoints"]).get(ours_kind, ours_kind)
        peer_label = dict(servers[peer]["endpoints"]).get(peer_kind, peer_kind)
        rows.append(
            [f"ours {ours_label} ÷ {servers[peer].get('short', peer)} {peer_label}", *cells, fmt_ratios(health)]
        )
    headers = ["ours ÷ peer", "p50 at c=1", "req/s at c=64", "p99 at c=64", "health req/s at c=64"]
    return render_table(headers, rows, align="lrrrr")


def failures(results: dict[str, Any]) -> list[str]:
    """Every load run that had non-2xx answers or socket errors, as 'round N, server endpoint c: counts'."""
    out = []
    for n, rnd in enumerate(results.get("rounds", []), 1):
        for name, srv in rnd["servers"].items():
            runs = [(f"{e['label']} {c}", e[c]) for e in srv["endpoints"].values() for c in ("c1", "c64")]
            for label, r in [*runs, ("health c64", srv.get("health", {}))]:
                if r.get("non2xx") or r.get("errors"):
                    out.append(
                        f"round {n}, {name} {label}: {r.get('non2xx', 0)} non-2xx, {r.get('errors', 0)} socket errors"
                    )
    return out


def busy_warning(start_load: str, threshold: float = BUSY_LOAD) -> str | None:
    """A warning line when the 1-minute load average at the start shows other work on the machine."""
    try:
        one_minute = float(start_load.split()[0])
    except (IndexError, ValueError):
        return None
    if one_minute <= threshold:
        return None
    return (
        f"**Warning:** the 1-minute load average was {one_minute:g} when the run started: other work was "
        "running on the shared cores, so absolute figures are low and noisy; read the ratios, measured in "
        "the same minutes."
    )


def method(results: dict[str, Any]) -> str:
    """How the figures were taken, in one sentence for the report's header."""
    cfg = results["settings"]
    loadgen = results["loadgen"].split(" Copyright")[0]  # wrk's version line runs on
    return (
        "The same `lstm.onnx` and min-max scaling in each server, one worker or process each, default settings, "
        f"over loopback; {loadgen}; the same 64 IBM `High` windows per endpoint. {cfg['rounds']} round(s), the "
        "order reversed every other round, each server started fresh, one at a time; "
        f"{cfg['duration_s']} s per figure after {cfg['warm_s']} s of warm-up per endpoint. Every server's "
        f"answers matched ours within {cfg['rel_tolerance']:g} relative before it was measured. KServe and "
        "MLServer log every request (their default); ours does not."
    )


def render(results: dict[str, Any]) -> str:
    """The whole Markdown section: header, how it was measured, the two tables, skips and failures."""
    meta = results["meta"]
    lines = [
        "## Peers: the same model in KServe and MLServer",
        "",
        f"- Date: {meta['date']}; machine: {meta['cpu_model']}, {meta['cpus']} CPU(s); commit `{meta.get('commit')}`"
        + (" (with uncommitted changes)" if meta.get("dirty") else ""),
        f"- Command: `{meta['command']}`",
        f"- Load average at the start: {results['loadavg']['start']}; at the end: {results['loadavg'].get('end', '?')}",
        f"- {method(results)}",
        "",
    ]
    if warning := busy_warning(results["loadavg"]["start"]):
        lines += [warning, ""]
    lines += [figures_table(results), "", "Ranges are over the rounds.", "", ratios_table(results), ""]
    lines += [
        "Each ratio is ours ÷ the peer's within a round, the median over rounds with their range: above 1 is "
        "ours ahead for req/s, below 1 is ours ahead for p50 and p99.",
        "",
    ]
    lines += [f"- {s}" for s in results.get("skipped", [])]
    lines += [f"- {f}" for f in failures(results)]
    return "\n".join(lines).rstrip() + "\n"
