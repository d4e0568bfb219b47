"""Benchmarks, each measured against a baseline in the same run. No runtime package imports this."""
