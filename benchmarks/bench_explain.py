"""Cold start of `reactor-infra explain` against importing pydantic and typer alone.

Goal: explain's cold start is at most 1.5x `python -c "import pydantic, typer"`.
Run by hand (never a timed test):  uv run python benchmarks/bench_explain.py [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

GOAL = 1.5
# Measure what users get: bytecode cached. (Some sandboxes set PYTHONDONTWRITEBYTECODE, which
# makes every run recompile every module and penalises the side that imports more.)
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def wall(cmd: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    py = sys.executable
    cases = {
        "baseline: import pydantic, typer": [py, "-c", "import pydantic, typer"],
        "explain E5+ha@aws": [py, "-m", "reactor_infra", "explain", "E5+ha@aws"],
        "explain E5+ha@aws --json": [py, "-m", "reactor_infra", "explain", "E5+ha@aws", "--json"],
        "matrix --json": [py, "-m", "reactor_infra", "matrix", "--json"],
        "config E6+ha@aws": [py, "-m", "reactor_infra", "config", "E6+ha@aws"],
    }
    for cmd in cases.values():  # warm the file cache and .pyc files
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    results = {name: wall(cmd, args.runs) for name, cmd in cases.items()}
    base = statistics.median(results["baseline: import pydantic, typer"])
    print(f"{'case':<36} {'median ms':>10} {'min ms':>8} {'x base':>7}")
    worst = 0.0
    for name, samples in results.items():
        med = statistics.median(samples)
        ratio = med / base
        if not name.startswith("baseline"):
            worst = max(worst, ratio)
        print(f"{name:<36} {med * 1000:>10.1f} {min(samples) * 1000:>8.1f} {ratio:>7.2f}")
    verdict = "meets" if worst <= GOAL else "MISSES"
    print(f"worst ratio {worst:.2f} {verdict} the goal of {GOAL}x ({args.runs} runs each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
