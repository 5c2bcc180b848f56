"""On-prem: the offline render of an @onprem stack and `reactor-infra bundle`, as fresh processes.

Render: `reactor-infra render --stack <file> --json` (Python start, imports, the render under
Pulumi's mock engine, JSON); bundle: `reactor-infra bundle --stack <file> --out <dir>` (no
Pulumi: the per-host files, secrets from os.urandom, the README). Wall time, CPU and the child's
peak RSS (benchkit.measure), median of --runs, for the example inventories `reactor-infra
inventory` prints. Also every @onprem token rendered once in one process (the snapshot suite's
work). Run by hand, never a timed test:
    uv run python benchmarks/bench_onprem.py [--runs 5] [TOKEN ...]

Measured (2 vCPUs, quiet machine; Python 3.11, pulumi 3.272, pulumi-command 1.2.1), median of 3:
  token          resources  render s  CPU s  RSS MiB  bundle s  CPU s  RSS MiB
  E5@onprem             39      0.86   0.85       69      0.46   0.46       41
  E6+ha@onprem          70      1.09   1.10       72      0.50   0.50       41
  every @onprem token in one process: 18 renders, 632 resources, 3.85 s
pulumi-command's SDK is small (no cloud SDK to import): an on-prem render costs little more
than Pulumi's own start; the bundle imports no Pulumi at all.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchkit import CLI, ENV, ROOT, measure, median

DEFAULT_TOKENS = ("E5@onprem", "E6+ha@onprem")


def stack_file(token: str, directory: Path) -> Path:
    text = subprocess.run([str(CLI), "inventory", token], capture_output=True, text=True, check=True, env=ENV,
                          cwd=ROOT).stdout
    path = directory / f"Pulumi.bench-{token.replace('+', '-').replace('@', '-').lower()}.yaml"
    path.write_text(text)
    return path


def every_token_in_one_process() -> tuple[int, float]:
    code = ("import time\nfrom reactor_infra.render import render\nfrom reactor_infra.settings import load_settings\n"
            "from reactor_infra.token import Platform, valid_topologies\nfrom tests.renders import default_settings\n"
            "start = time.perf_counter(); n = 0\nfor t in valid_topologies(Platform.ONPREM):\n"
            "    n += len(render(t.token, load_settings(default_settings(t.token))).resources)\n"
            "print(n, time.perf_counter() - start)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=ENV, cwd=ROOT)
    count, seconds = out.stdout.split()
    return int(count), float(seconds)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("tokens", nargs="*", default=list(DEFAULT_TOKENS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for token in args.tokens:
            path = stack_file(token, directory)
            render = [measure([str(CLI), "render", "--stack", str(path), "--json"], directory / "render.json")
                      for _ in range(args.runs)]
            resources = len(json.loads((directory / "render.json").read_text())["resources"])
            bundles = []
            for i in range(args.runs):
                out = directory / f"bundle-{i}"
                bundles.append(measure([str(CLI), "bundle", "--stack", str(path), "--out", str(out)], directory / "b.txt"))
                shutil.rmtree(out)
            rows.append((token, resources, render, bundles))
        count, seconds = every_token_in_one_process()
    print(f"{'token':<14} {'resources':>9} {'render s':>9} {'CPU s':>6} {'RSS MiB':>8} {'bundle s':>9} {'CPU s':>6} {'RSS MiB':>8}")
    for token, resources, render, bundles in rows:
        print(f"{token:<14} {resources:>9} {median(render, 0):>9.2f} {median(render, 1):>6.2f} {median(render, 2):>8.0f}"
              f" {median(bundles, 0):>9.2f} {median(bundles, 1):>6.2f} {median(bundles, 2):>8.0f}")
    print(f"every @onprem token in one process: 18 renders, {count} resources, {seconds:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
