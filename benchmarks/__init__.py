"""Benchmarks: each script answers one question with a table (README.md is the index).

Run them from the repository root as modules, ``python -m benchmarks.speed.throughput``; every one
takes ``--smoke``, a size that runs in seconds on data it makes itself (tests/test_benchmarks.py).
"""
