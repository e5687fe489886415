"""Benchmarks (`make bench`): figures printed beside the machine's floor, from the same run."""
