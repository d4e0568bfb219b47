"""Holder stories shared by the demo, the benchmarks and the tests; the demo itself."""
