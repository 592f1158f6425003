"""Benchmark harness (``benchmarks/run.py``); see BENCHMARKS.md for the latest figures."""
