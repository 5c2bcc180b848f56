"""Offline render time and peak memory, per token and for every token built so far.

Each token is rendered in a fresh process (cold: imports included) and again in the same
process (warm), then all tokens one after another in one process, each compared byte for byte (sha256)
with its fresh-process render. Times are untraced; peak RSS comes from getrusage (the
whole process, read before tracing), the Python heap peak from one extra traced render.
Run by hand (never a timed test):  uv run python benchmarks/bench_render.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

# tracemalloc slows Python 3-7x (measured: O2@aws cold 0.65 s plain, 4.6 s traced), so the
# timed renders run untraced and one extra warm render measures the heap peak.
CHILD = r"""
import hashlib, json, resource, sys, time, tracemalloc
t0 = time.perf_counter()
from reactor_infra.render import render
from reactor_infra.settings import load_settings
token = sys.argv[1]
# edition C is deployable only with a domain (its tenants live under it)
settings = load_settings({"domain": "api.example.com"}) if token.startswith("C") else None
t1 = time.perf_counter(); graph = render(token, settings); t2 = time.perf_counter()
warm = []
for _ in range(int(sys.argv[2])):
    s = time.perf_counter(); render(token, settings); warm.append(time.perf_counter() - s)
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
tracemalloc.start(); render(token, settings); heap = tracemalloc.get_traced_memory()[1]; tracemalloc.stop()
print(json.dumps({"import": t1 - t0, "cold": t2 - t1, "warm": min(warm), "resources": len(graph.resources),
                  "heap_mib": heap / 2**20, "rss_mib": rss,
                  "sha": hashlib.sha256(graph.to_json().encode()).hexdigest()}))
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
    fresh: dict[str, str] = {}
    print(f"{'token':<12} {'resources':>9} {'import s':>9} {'cold s':>7} {'warm s':>7} {'warm heap MiB':>13} {'RSS MiB':>8}")
    for token in todo:
        out = subprocess.run([sys.executable, "-c", CHILD, token, str(args.repeat)],
                             capture_output=True, text=True, check=True,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}).stdout
        r = json.loads(out.strip().splitlines()[-1])
        fresh[token] = r["sha"]
        print(f"{token:<12} {r['resources']:>9} {r['import']:>9.2f} {r['cold']:>7.2f} {r['warm']:>7.3f} "
              f"{r['heap_mib']:>13.1f} {r['rss_mib']:>8.0f}")

    from reactor_infra.render import render as render_token
    from reactor_infra.settings import load_settings

    def render(token):  # edition C is deployable only with a domain, as in CHILD
        return render_token(token, load_settings({"domain": "api.example.com"}) if token.startswith("C") else None)

    # the same tokens one after another in one process: time, and whether any render
    # differs from its fresh-process twin (state leaking between renders would show here)
    start = time.perf_counter()
    graphs = {token: render(token) for token in todo}
    elapsed = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    differ = [t for t, g in graphs.items() if hashlib.sha256(g.to_json().encode()).hexdigest() != fresh[t]]
    total = sum(len(g.resources) for g in graphs.values())
    del graphs
    tracemalloc.start()
    for token in todo:
        render(token)
    heap = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"all {len(todo)} tokens in one process: {total} resources in {elapsed:.2f} s "
          f"({elapsed / len(todo):.3f} s each), heap peak {heap:.0f} MiB, peak RSS {rss:.0f} MiB; "
          f"identical to fresh-process renders: {len(todo) - len(differ)}/{len(todo)}"
          + (f" (differ: {', '.join(differ)})" if differ else ""))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
