"""Benchmark scripts, run as modules from the repository's root so that they import the project and
its test helpers as packages:

    .venv/bin/python -m benchmarks.fanout --count 1000
"""
