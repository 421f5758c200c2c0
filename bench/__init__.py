"""Benchmark suite of issue #6: `bash bench/run.sh [--quick]` (see README.md, "Benchmarks")."""
