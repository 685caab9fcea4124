"""Benchmarks: each module is a script writing JSON and a Markdown table to ``results/``."""
