"""Benchmarks of the sandbox's overhead: ``python -m bench`` (full) and ``--check`` (CI)."""
