"""Run the benchmark suite (issue #6), print one table and write bench/results.md.

    python -m bench.main [--quick] [--only throughput,latency,memory,collector,credits] [--out bench/results.md]

Not timed tests: every figure is printed beside its baseline measured in the same run, as a ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from bench.benches import ALL, FULL, QUICK
from bench.common import ROOT, Figure, log, machine


def table(figures: list[Figure]) -> list[str]:
    rows = ["| # | figure | value | baseline (same run) | ratio | target | result |",
            "|---|---|---|---|---|---|---|"]
    for f in figures:
        ratio = f"{f.ratio:.2f}×" if f.ratio is not None else "—"
        result = "—" if f.passed is None else ("PASS" if f.passed else "FAIL")
        rows.append(f"| {f.bench} | {f.name} | {f.value} | {f.baseline} | {ratio} | {f.target} | {result} |")
    return rows


def notes(figures: list[Figure]) -> list[str]:
    return [f"- {f.bench}. {f.name}: {f.detail}" for f in figures if f.detail]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bash bench/run.sh", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a ~1-minute smoke run (small sizes)")
    parser.add_argument("--only", default="", help="comma-separated subset of " + ",".join(ALL))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.md")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    chosen = [name.strip() for name in args.only.split(",") if name.strip()] or list(ALL)
    unknown = [name for name in chosen if name not in ALL]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(ALL)}")
    info = machine()
    load_before = os.getloadavg()[0]
    started = time.time()
    log(f"bench suite ({'quick' if args.quick else 'full'}) on {info['cores']}, {info['cpu']}")
    figures: list[Figure] = []
    failures: list[str] = []
    for name in chosen:
        try:
            figures.extend(ALL[name](sizes))
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failures.append(f"{name}: {type(exc).__name__}: {exc}"[:600])
            figures.append(Figure("?", f"{name} did not complete", "error", "—", None, "—", False,
                                  f"{type(exc).__name__}: {exc}"[:400]))
    elapsed = time.time() - started
    # The machine may be shared (other test runs): a high load average means noisier figures.
    info["load average (1 min) before/after"] = f"{load_before:.2f} / {os.getloadavg()[0]:.2f}"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    mode = "quick" if args.quick else "full"
    lines = [
        f"# Benchmark results ({mode} run, {when})",
        "",
        f"Reproduce: `bash bench/run.sh{' --quick' if args.quick else ''}` (took {elapsed / 60:.1f} min).",
        "",
        *(["Quick run: small sizes, so start-up and warm-up dominate (10k-ticket reads, 1-second load rounds); "
           "only the full run's verdicts count.", ""] if args.quick else []),
        *table(figures),
        "",
        "Notes:",
        *notes(figures),
        "",
        "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()),
        "",
    ]
    print("\n".join(lines))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines))
        log(f"wrote {args.out}")
    if failures:
        log("benchmarks that did not complete: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
