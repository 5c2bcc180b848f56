"""What the platform render benchmarks share (bench_aws.py, bench_fly.py): a fresh child process
measured (wall, CPU, peak RSS), a child's last JSON line, medians, and the largest token of a
platform by resource count. Run from the repository root's interpreter; no timed assertions."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Measure what users get: bytecode cached (see bench_explain.py).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
CLI = Path(sys.executable).with_name("reactor-infra")


def measure(cmd: list[str], out: Path) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of one fresh process; its stdout goes to `out`."""
    with open(out, "wb") as sink:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not every child's
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    errors = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {errors.strip()[-600:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def median(samples: list[tuple[float, float, float]], field: int) -> float:
    return statistics.median(s[field] for s in samples)


def child_json(cmd: list[str]) -> dict:
    done = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:2] + cmd[3:])} failed ({done.returncode}): {done.stderr.strip()[-600:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def largest(platform: str) -> str:
    """Every token of a platform rendered once in one child process, with the settings the tests
    use (tests/renders.py: a domain for edition C, the operator's database where one is needed);
    the one with the most resources."""
    code = ("import json\nfrom reactor_infra.render import render\nfrom reactor_infra.settings import load_settings\n"
            "from reactor_infra.token import Platform, valid_topologies\nfrom tests.renders import default_settings\n"
            f"counts = {{}}\nfor t in valid_topologies(Platform({platform!r})):\n    s = default_settings(t.token)\n"
            "    counts[t.token] = len(render(t.token, load_settings(s) if s else None).resources)\n"
            "print(json.dumps(counts))")
    counts = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                       env=ENV, cwd=ROOT).stdout)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    print(f"largest @{platform} renders of {len(counts)}: " + ", ".join(f"{t} {n}" for t, n in ranked[:4]))
    return ranked[0][0]
