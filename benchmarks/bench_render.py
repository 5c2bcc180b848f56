"""Offline render time and peak memory, per token and for every token built so far.

Each token is rendered in a fresh process (cold: imports included) and again in the same
process (warm), then all tokens one after another in one process. Peak RSS comes from
getrusage (the whole process), the Python heap peak from tracemalloc.
Run by hand (never a timed test):  uv run python benchmarks/bench_render.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

CHILD = r"""
import json, resource, sys, time, tracemalloc
t0 = time.perf_counter()
from reactor_infra.render import render
token = sys.argv[1]
tracemalloc.start()
t1 = time.perf_counter(); graph = render(token); t2 = time.perf_counter()
cold_heap = tracemalloc.get_traced_memory()[1]
tracemalloc.reset_peak()
warm = []
for _ in range(int(sys.argv[2])):
    s = time.perf_counter(); render(token); warm.append(time.perf_counter() - s)
print(json.dumps({"import": t1 - t0, "cold": t2 - t1, "warm": min(warm), "resources": len(graph.resources),
                  "heap_mib": cold_heap / 2**20,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def tokens() -> list[str]:
    from reactor_infra.platforms import available, load
    from reactor_infra.token import Platform, valid_topologies

    built = []
    for name in sorted(available()):
        platform = load(name)
        built += [t.token for t in valid_topologies(Platform(name)) if not platform.unsupported(t)]
    return built


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="warm renders per token (the best counts)")
    args = parser.parse_args()
    todo = tokens()
    print(f"{'token':<12} {'resources':>9} {'import s':>9} {'cold s':>7} {'warm s':>7} {'heap MiB':>9} {'RSS MiB':>8}")
    for token in todo:
        out = subprocess.run([sys.executable, "-c", CHILD, token, str(args.repeat)],
                             capture_output=True, text=True, check=True,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{token:<12} {r['resources']:>9} {r['import']:>9.2f} {r['cold']:>7.2f} {r['warm']:>7.3f} "
              f"{r['heap_mib']:>9.1f} {r['rss_mib']:>8.0f}")

    from reactor_infra.render import render

    tracemalloc.start()
    start = time.perf_counter()
    total = sum(len(render(token).resources) for token in todo)
    elapsed = time.perf_counter() - start
    heap = tracemalloc.get_traced_memory()[1] / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"all {len(todo)} tokens in one process: {total} resources in {elapsed:.2f} s "
          f"({elapsed / len(todo):.3f} s each), heap peak {heap:.0f} MiB, peak RSS {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
