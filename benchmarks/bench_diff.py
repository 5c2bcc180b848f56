"""Wall time of `reactor-infra diff --base/--head` over every stack in stacks/ (both cores).

A throwaway git repository gets this checkout's code, templates and stack files (commit 1) and a
comment added to reactor_infra/errors.py (commit 2): a code change, so every stack is rendered on
both sides, each side in its own process, the two at once. Also times the same renders on one
core (the sides one after the other) to show what the second process buys, and one `diff A B`.
Run by hand (never a timed test):  uv run python benchmarks/bench_diff.py [--repeat 3]

Measured (2 shared vCPUs, Python 3.11, 4 stacks: e2-aws, e6-local, o2-aws, o2-local; median of 3;
other work on the machine makes single runs vary by about ±30%):
  diff --base over every stack, both sides at once ........ 10.5 s (7.4-11.7)
  the same renders on one core, sides in turn ............. 14.2 s
  diff A B (a stack file vs a token) ...................... 2.8 s
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", *args], cwd=repo,
                   check=True, capture_output=True)


def make_repo(root: Path) -> Path:
    repo = root / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", "*.pyc")
    for name in ("reactor_infra", "platforms", "templates", "stacks"):
        shutil.copytree(REPO / name, repo / name, ignore=ignore)
    for name in ("pyproject.toml", "Pulumi.yaml"):
        shutil.copy(REPO / name, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    errors = repo / "reactor_infra" / "errors.py"
    errors.write_text(errors.read_text() + "\n# bench: a code change renders every stack\n")
    git(repo, "commit", "-q", "-am", "head")
    return repo


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "reactor_infra", *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ), check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {proc.stderr.strip()[-400:]}")
    return elapsed, proc.stdout


def one_core(repo: Path) -> float:
    """The same two sides rendered one after the other (what --base would take on one core)."""
    from reactor_infra.diff_git import export, resolve, run_worker, stack_files

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for name, ref in (("base", "HEAD~1"), ("head", "HEAD")):
            sha = resolve(ref, repo)
            side = export(sha, repo, Path(tmp) / name)
            run_worker(side, [{"file": str(side / f), "key": f} for f in sorted(stack_files(sha, repo))])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (the median counts)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        repo = make_repo(Path(tmp))
        stacks = sorted(p.name for p in (repo / "stacks").glob("Pulumi.*.yaml"))
        runs, report = [], ""
        for _ in range(args.repeat):
            elapsed, report = timed(["diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "json"], repo)
            runs.append(elapsed)
        doc = json.loads(report)
        rendered = [s for s in doc["stacks"] if not s["skipped"]]
        serial = [one_core(repo) for _ in range(args.repeat)]
        pair = [timed(["diff", "stacks/Pulumi.o2-local.yaml", "O3@local", "--format", "json"], repo)[0]
                for _ in range(args.repeat)]
    print(f"cpu cores: {os.cpu_count()}; stacks: {len(stacks)} ({', '.join(stacks)}); "
          f"rendered on both sides: {len(rendered)}; changes found: {doc['totals']}")
    print(f"diff --base (2 processes, both sides at once): median {statistics.median(runs):.2f} s "
          f"(runs: {', '.join(f'{r:.2f}' for r in runs)})")
    print(f"the same renders on one core (sides in turn, no CLI start): median {statistics.median(serial):.2f} s")
    print(f"diff A B (one stack file vs a token, in-process): median {statistics.median(pair):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
