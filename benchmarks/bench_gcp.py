"""Offline render of E5+ha@gcp and of the largest @gcp token: time and peak RSS, beside the floor.

Render: `reactor-infra render <token> [--stack <file>] --json` as a fresh process (Python start,
imports, render, JSON), wall time, CPU and the process's peak RSS (getrusage of that child, via
os.wait4), median of --runs. A token renders with tests/renders.py's `default_settings(token)`
written to a stack file when it gives any (edition C: a domain and the gcp DNS zone), as
bench_fly.py's `target`.
Floor: bench_aws.py's, a plain Pulumi program in a fresh process that registers the resources of
that render, the same types the same number of times (with the same names, parents, protect and
input values on the wire), by calling the SDK's own classes (pulumi_gcp, pulumi_random,
pulumi_tls) under `pulumi.runtime.set_mocks` with trivial mocks: no Plan, no components' logic,
no templates, no invokes, no recording, no graph, no Outputs between resources; with the CLI's
collector settings (CLI_GC), as the render process has them. So it is what Pulumi's mock engine
and the SDKs cost for that graph; the rest of a render is reactor-infra's.
Also the in-process times (the first render, then 5 more in the same process) of both.
Imports: pulumi, pulumi_gcp and the submodules the platform uses (GCP_MODULES), each loaded (they
are lazy: see IMPORT) in a fresh interpreter: a timer around the import, and the whole process
(start included, wall and peak RSS) beside the one that imports pulumi alone and `python -c pass`.
The helpers are the sibling benchmarks' own (benchkit; bench_fly's target, render command, warm
program and table; bench_aws's floor program and spec), imported, not copied.
Runs one process at a time (2 cores: the Pulumi runtime's executor threads get the second).
Run by hand (never a timed test):
    uv run python benchmarks/bench_gcp.py [--runs 5] [--largest] [--profile] [--json] [TOKEN ...]
--largest renders every @gcp token once (87 tokens, about 3 minutes) and benches the largest
instead of the default C6+ha+mr@gcp; --profile adds the import share (-X importtime) of a fresh
render of the first token; --json prints one JSON document instead of the tables (progress on
stderr).

Measured on the final code (2 vCPUs, load average about 1; Python 3.11, pulumi 3.272, pulumi-gcp
10.2, pulumi-random 4.21, pulumi-tls 5.6), fresh processes, median of 3:
  token          resources  render s  CPU s  RSS MiB  floor s  CPU s  RSS MiB  render/floor s
  E5+ha@gcp            171      2.86   2.88      175     2.22   2.23      156            1.29
  C6+ha+mr@gcp         267      3.88   3.92      188     2.58   2.58      167            1.50
  in-process, warm: E5+ha@gcp render 1.12 s vs floor 0.42 s; C6+ha+mr@gcp render 1.96 s vs floor 0.71 s
Earlier, beside test suites (load 2-5), median of 3 x 5: E5+ha@gcp 3.59 s vs floor 2.74 s,
C6+ha+mr@gcp 4.04 s vs 2.96 s.
So reactor-infra's own work is about 0.9 s of a cold E5+ha@gcp render and 1.1 s of a C6+ha+mr@gcp
one; the rest is Python, Pulumi and the SDKs, which the floor pays too.
Imports (a timer around the import in a fresh interpreter): pulumi 0.28 s; pulumi_gcp's top level
0.04 s on top of it; loading the 12 submodules 2.0 s on top of that (compute 1.39 s alone: 47 MB
of generated source; storage 0.15-0.2 s, every other one under 0.07 s). Whole process: `import
pulumi` 0.38 s, 45 MiB; pulumi_gcp and its 12 submodules loaded 3.10 s, 134 MiB (+2.7 s, +89 MiB);
`python -c pass` 0.02 s, 18 MiB. Under load the wall times grow (up to 1.5x in one invocation).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import statistics
import sys
import tempfile
from pathlib import Path

from bench_aws import FLOOR, floor_spec
from bench_fly import bench as fly_bench
from bench_fly import import_share, report, target
from benchkit import ROOT, largest, measure, median

# C6+ha+mr@gcp is the largest @gcp token by resource count, from `--largest` (every valid @gcp token
# rendered with tests/renders.py's default_settings): C6+ha+mr@gcp 267, C6+mr@gcp 257,
# E6+ha+mr@gcp 256, C10+ha+mr@gcp 253 (87 tokens).
DEFAULT_TOKENS = ("E5+ha@gcp", "C6+ha+mr@gcp")
# The pulumi_gcp submodules the platform uses (its `gcp.<module>.` references; checked below).
GCP_MODULES = ("compute", "sql", "kms", "secretmanager", "storage", "serviceaccount", "dns", "filestore",
               "servicenetworking", "certificatemanager", "projects", "organizations")
PLUGIN = ROOT / "platforms" / "gcp" / "reactor_infra_gcp"
# The CLI's collector settings (reactor_infra/cli.py `main`: a higher threshold, gc.freeze() at the end),
# which the fresh-process floor gets too: without them it pays about 1 s more CPU than it would under
# the CLI (C6+ha+mr@gcp, 4.3 s -> 3.1 s), and stops being a floor. The in-process runs of both are untuned.
CLI_GC = "gc.set_threshold(100_000, 50, 100)"
FLOOR_CLI_GC = f"import atexit, gc\n{CLI_GC}\natexit.register(gc.freeze)  # before the final collection\n" + FLOOR

# Imports in a fresh interpreter: argv[1] imported first (untimed), then a timer around argv[2] (both
# comma-separated module lists; argv[1] may be empty). pulumi_gcp's submodules are lazy (pulumi's
# LazyLoader): importing one returns an empty shell, and the first attribute touched loads the
# whole generated module, so each module is touched once, as a render does.
IMPORT = r"""
import importlib, sys, time
def load(names):
    for name in filter(None, names.split(",")):
        getattr(importlib.import_module(name), "__all__", None)  # any attribute outside pulumi's
        assert type(sys.modules[name]).__name__ == "module", name  # _INTROSPECTION_ATTRS loads it
load(sys.argv[1])
t0 = time.perf_counter(); load(sys.argv[2]); print(time.perf_counter() - t0)
"""


def submodules() -> str:
    return ",".join(f"pulumi_gcp.{m}" for m in GCP_MODULES)


def import_items() -> list[tuple[str, str, str]]:
    """(label, imported first, timed) of each import measurement; the whole process counts only when
    nothing is imported first."""
    every, n = submodules(), len(GCP_MODULES)
    return ([("pulumi", "", "pulumi"),
             ("pulumi_gcp (top level)", "", "pulumi_gcp"),
             (f"pulumi_gcp + its {n} submodules", "", f"pulumi_gcp,{every}"),
             ("pulumi_gcp after pulumi", "pulumi", "pulumi_gcp"),
             (f"its {n} submodules after pulumi_gcp", "pulumi_gcp", every)]
            + [(f"  .{m} after pulumi_gcp", "pulumi_gcp", f"pulumi_gcp.{m}") for m in GCP_MODULES])


def check_modules() -> None:
    """Warn when the plugin's source names a pulumi_gcp submodule that GCP_MODULES lacks, or no longer one it has."""
    used = {m for f in PLUGIN.glob("*.py") for m in re.findall(r"\bgcp\.([a-z_]+)\.[A-Za-z_]", f.read_text())}
    if used != set(GCP_MODULES):
        print(f"warning: the plugin uses pulumi_gcp submodules {sorted(used)}, GCP_MODULES lists {sorted(GCP_MODULES)}",
              file=sys.stderr)


def check_cli_gc() -> None:
    if CLI_GC not in (ROOT / "reactor_infra" / "cli.py").read_text():
        print(f"warning: reactor_infra/cli.py no longer calls {CLI_GC}; the floor's CLI_GC is stale", file=sys.stderr)


def kind(typ: str) -> str:
    """A short name of a resource type that keeps the module (compute.Instance, filestore.Instance)."""
    pkg, middle, name = typ.split(":")
    module = middle.split("/")[0]
    return f"{pkg if module == 'index' else module}.{name}"


def bench(t: dict, runs: int, tmp: Path) -> dict:
    """A token's fresh-process renders and floors in turn, and both in-process; a row of bench_fly's table."""
    return fly_bench(t, runs, tmp, floor_program=FLOOR_CLI_GC, spec_of=floor_spec, kind=kind)


def import_costs(runs: int, tmp: Path) -> dict:
    """Each import measurement in `runs` fresh interpreters: the timer around the import and the whole
    process (wall, CPU, peak RSS), medians and all samples; `python -c pass` beside them."""
    items = []
    for label, first, timed in [("python -c pass", "", "")] + import_items():
        cmd = [sys.executable, "-c", "pass"] if not timed else [sys.executable, "-c", IMPORT, first, timed]
        samples, times = [], []
        for _ in range(runs):
            samples.append(measure(cmd, tmp / "import.out"))
            times.append(float((tmp / "import.out").read_text() or 0))
        items.append({"label": label, "first": first, "timed": timed, "import_s": statistics.median(times),
                      "import_all": times, "process_s": median(samples, 0), "process_cpu": median(samples, 1),
                      "process_rss": median(samples, 2), "process_all": samples})
    return {"items": items}


def report_imports(imports: dict, runs: int) -> None:
    items = imports["items"]
    base = next(i for i in items if i["timed"] == "pulumi")
    print(f"\nimports in a fresh interpreter, median of {runs}: the import alone (a timer around it, range); "
          "the whole process (start included) wall s, CPU s, peak RSS MiB, and over `import pulumi`")
    print(f"  {'':<38} {'import s':>8} {'(range)':<13} | {'process s':>9} {'CPU s':>5} {'RSS':>4} | "
          f"{'+ s':>5} {'+ MiB':>5}")
    for i in items:
        alone = not i["first"] and i["timed"] not in ("", "pulumi")
        extra = (f"{i['process_s'] - base['process_s']:>+5.2f} {i['process_rss'] - base['process_rss']:>+5.0f}"
                 if alone else "")
        timer = (f"{i['import_s']:>8.3f} ({min(i['import_all']):.3f}-{max(i['import_all']):.3f})" if i["timed"]
                 else f"{'':>8} {'':<13}")
        print(f"  {i['label']:<38} {timer} | {i['process_s']:>9.2f} {i['process_cpu']:>5.2f} "
              f"{i['process_rss']:>4.0f} | {extra}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tokens", nargs="*", help=f"tokens to bench (default: {' '.join(DEFAULT_TOKENS)})")
    parser.add_argument("--runs", type=int, default=5, help="fresh-process runs per measurement (the median counts)")
    parser.add_argument("--largest", action="store_true", help="find the largest @gcp token by rendering all of them")
    parser.add_argument("--profile", action="store_true", help="import share of a fresh render of the first token")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    args = parser.parse_args()
    log = sys.stderr if args.json else sys.stdout  # with --json, stdout holds the JSON alone
    check_modules()
    check_cli_gc()
    load_start = os.getloadavg()
    print(f"cpu cores: {os.cpu_count()}; load average at the start: {load_start[0]:.1f}", file=log)
    with contextlib.redirect_stdout(log):
        tokens = list(args.tokens) or [DEFAULT_TOKENS[0], largest("gcp") if args.largest else DEFAULT_TOKENS[1]]
    with tempfile.TemporaryDirectory(prefix="bench-gcp-") as name:
        tmp = Path(name)
        # A child's peak RSS (benchkit.measure) reads at least this process's own peak at the spawn (Linux
        # keeps the high-water mark across exec), so the small import processes go first, while it is small.
        imports = import_costs(args.runs, tmp)
        print(f"imports measured (python -c pass: {imports['items'][0]['process_rss']:.0f} MiB)", file=log, flush=True)
        rows = []
        for token in tokens:
            rows.append(bench(target(token, tmp), args.runs, tmp))
            print(f"{token}: render {rows[-1]['render_s']:.2f} s, floor {rows[-1]['floor_s']:.2f} s", file=log,
                  flush=True)
        if not args.json:
            report(rows, args.runs)
            report_imports(imports, args.runs)
        if args.profile:
            with contextlib.redirect_stdout(log):
                import_share(target(tokens[0], tmp))
    load_end = os.getloadavg()
    parent_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process's peak RSS: {parent_rss:.0f} MiB (no child reads less)", file=log)
    print(f"load average at the end: {load_end[0]:.1f} (other work on the machine inflates the times)", file=log)
    if args.json:
        versions = {p: importlib.metadata.version(p) for p in ("pulumi", "pulumi-gcp", "pulumi-random", "pulumi-tls")}
        print(json.dumps({"cpu_cores": os.cpu_count(), "load_start": load_start, "load_end": load_end,
                          "parent_rss": parent_rss,
                          "python": platform.python_version(), "versions": versions, "runs": args.runs,
                          "renders": rows, "imports": imports}, indent=2, default=list))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
