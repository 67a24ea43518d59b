"""Benchmarks run by `make bench`: every figure is a ratio to a baseline measured in the same run."""
