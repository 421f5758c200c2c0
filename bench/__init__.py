"""Benchmark suite of issue #6: `bash bench/run.sh [--quick]` (see docs/bench.md)."""
