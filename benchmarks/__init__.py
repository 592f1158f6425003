"""Benchmarks: the one-run harness (``run.py`` and its section modules), ``soak.py``, ``ab.py``, and the shared
server helper (``server.py``) the tests use too; see BENCHMARKS.md for the latest figures."""
