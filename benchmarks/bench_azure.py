"""Offline render of E5+ha@azure and of the largest @azure token: time and peak RSS, beside the floor.

Render: `reactor-infra render <token> [--stack <file>] --json` as a fresh process (Python start,
imports, render, JSON), wall time, CPU and the process's peak RSS (getrusage of that child, via
os.wait4), median of --runs. A token renders with tests/renders.py's `default_settings(token)`
written to a stack file when it gives any (edition C: a domain and the Azure DNS zone, at size 3
the wildcard certificate too), as bench_fly.py's `target`.
Floor: bench_aws.py's, a plain Pulumi program in a fresh process that registers the resources of
that render, the same types the same number of times (with the same names, parents, protect and
input values on the wire), by calling the SDK's own classes (pulumi_azure_native, pulumi_random,
pulumi_tls) under `pulumi.runtime.set_mocks` with trivial mocks: no Plan, no components' logic, no
templates, no recording, no graph, no Outputs between resources; with the CLI's collector settings
(bench_gcp's CLI_GC), as the render process has them. bench_aws's floor takes what azure-native
does differently from the bridged SDKs (its package's module name, the constructor's names of
inputs that are no outputs, resourceGroupName and resourceName, a required input the render gave as
an Output of None, the identity map mocks must answer) and drops the aliases with the very stack
transformation the offline render registers (reactor_infra/render.py `_without_aliases`):
azure-native gives each class an alias per earlier API version and the SDK computes each alias's
URN in every constructor, so a program keeping them pays about 3x a render's time for nothing an
offline render needs, and is no floor. `--aliases` also times the floor with them kept
(FLOOR_KEEP_ALIASES=1: what a plain Pulumi mocks program on azure-native pays by default).
So the floor is what Pulumi's mock engine and the SDKs cost for that graph; the rest of a render
is reactor-infra's. Also the in-process times (the first render, then 5 more in the same
process) of both, untuned (no CLI_GC).
Submodules: pulumi_azure_native's 263 submodules are lazy; which ones each benched token's render
loads is read in a child (TOUCHED, with default_settings), and checked against AZURE_MODULES (the
plugin's `az.<module>.` references, checked against its source).
Imports: in a fresh interpreter (bench_gcp's IMPORT: a lazy submodule is touched, so loaded), a
timer around the import, and the whole process (start included, wall and peak RSS) beside the
one that imports pulumi alone and `python -c pass`: pulumi, pulumi_azure_native's top level, the
plugin (`import reactor_infra_azure`: the core, pulumi, the SDK's top level, no submodule), the
plugin with the submodules each benched token's render loads and with all of AZURE_MODULES, and
each submodule alone on top of pulumi_azure_native.
The helpers are the sibling benchmarks' own (benchkit; bench_fly's target, bench, report and
import share; bench_aws's floor program and spec; bench_gcp's collector settings, resource kinds,
import program and import table), imported, not copied.
Runs one process at a time (2 cores: the Pulumi runtime's executor threads get the second).
Run by hand (never a timed test):
    uv run python benchmarks/bench_azure.py [--runs 3] [--largest] [--aliases] [--profile] [--json] [TOKEN ...]
--largest renders every @azure token once (87 tokens, a few minutes) and benches the largest
instead of the default LARGEST; --profile adds the import share (-X importtime) of a fresh render
of the first token; --json prints one JSON document instead of the tables (progress on stderr).

Measured (`--runs 3`, after the floor moved into bench_aws; 2 vCPUs, load average 1.3 at the
start; Python 3.11, pulumi 3.272, pulumi-azure-native 3.29), fresh processes, median of 3:
  token           resources  render s  CPU s  RSS MiB  floor s  CPU s  RSS MiB  render/floor s
  E5+ha@azure           179      3.31   3.32      152     2.43   2.43      134            1.36
  C6+ha+mr@azure        349      3.51   3.54      175     2.71   2.73      155            1.29
  in-process, warm: E5+ha@azure render 1.01 s vs floor 0.50 s; C6+ha+mr@azure 2.92 s vs 0.98 s
So reactor-infra's own work is under 1 s of a cold render; the rest is Python, Pulumi and the
SDKs, which the floor pays too. An earlier `--largest --aliases --profile` run (other sessions'
tests on the cores) found the largest tokens C6+ha+mr@azure 343 (349 since every Key Vault has
a private endpoint), C6+mr@azure 329, E6+ha+mr@azure 324, and the floor with the SDK's aliases
kept at 3.98 s / 197 MiB (E5+ha) and 7.20 s / 277 MiB (C6+ha+mr): slower than either render.
E5+ha@azure's render loads 10 of the 15 submodules, C6+ha+mr@azure's 12 (cdn, frontdoor, monitor:
size 3 and +as only).
Imports, whole process over `import pulumi` (0.34-0.37 s, 45 MiB): the SDK's top level +0.11-0.15
s, +3 MiB; the plugin +0.32-0.52 s, +17 MiB (the core, pydantic, the SDK's top level); the plugin
and E5+ha@azure's 10 submodules +2.0-2.5 s, +80 MiB; all 15 +2.5-3.4 s, +97 MiB (two runs). Of the
submodules network dominates: 0.62-0.78 s and +31 MiB on its own (8.8 MB of generated source),
then compute 0.23 s, monitor 0.21 s, cdn 0.16 s, storage 0.13 s, every other one under 0.1 s.
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
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_aws import FLOOR, floor_spec
from bench_fly import bench as fly_bench
from bench_fly import import_share, report, target
from bench_gcp import CLI_GC, IMPORT, check_cli_gc, kind, report_imports
from benchkit import ENV, ROOT, largest, measure, median

# The largest @azure token by resource count, from `--largest` (every valid @azure token rendered with
# tests/renders.py's default_settings): C6+ha+mr@azure 343, C6+mr@azure 329, E6+ha+mr@azure 324,
# O6+ha+mr@azure 306 (87 tokens).
LARGEST = "C6+ha+mr@azure"
DEFAULT_TOKENS = ("E5+ha@azure", LARGEST)
# The pulumi_azure_native submodules the platform uses (its `az.<module>.` references; checked below).
AZURE_MODULES = ("network", "compute", "authorization", "keyvault", "privatedns", "dbforpostgresql", "dataprotection",
                 "storage", "managedidentity", "resources", "cdn", "frontdoor", "monitor", "dns", "trafficmanager")
PLUGIN = ROOT / "platforms" / "azure" / "reactor_infra_azure"
SDK = "pulumi_azure_native"


# bench_aws's floor: it drops aliases as the offline render does, and takes azure-native's module
# name, input-only argument names and identity maps; FLOOR_KEEP_ALIASES=1 keeps the aliases
AZURE_FLOOR = FLOOR
FLOOR_WITH_ALIASES = 'import os\nos.environ["FLOOR_KEEP_ALIASES"] = "1"\n' + FLOOR


def with_cli_gc(program: str) -> str:
    """A floor program under the CLI's collector settings (as bench_gcp's FLOOR_CLI_GC)."""
    return f"import atexit, gc\n{CLI_GC}\natexit.register(gc.freeze)  # before the final collection\n" + program


# Which pulumi_azure_native submodules a render loads (beyond what importing the plugin loads), with
# tests/renders.py's default_settings as benchkit.largest renders (in the child: the parent stays small).
# argv: token.
TOUCHED = r"""
import json, sys
import reactor_infra_azure
from reactor_infra.render import render
from reactor_infra.settings import load_settings
from tests.renders import default_settings
def loaded():
    return {m.split(".")[1] for m, v in list(sys.modules.items())
            if m.startswith("pulumi_azure_native.") and m.count(".") == 1 and type(v).__name__ == "module"}
before = loaded()
settings = default_settings(sys.argv[1])
render(sys.argv[1], load_settings(settings) if settings else None)
print(json.dumps(sorted(loaded() - before)))
"""


def check_modules() -> None:
    """Warn when the plugin's source names a pulumi_azure_native submodule that AZURE_MODULES lacks, or no
    longer one it has."""
    used = {m for f in PLUGIN.glob("*.py") for m in re.findall(r"\baz\.([a-z_]+)\.[A-Za-z_]", f.read_text())}
    if used != set(AZURE_MODULES):
        print(f"warning: the plugin uses {SDK} submodules {sorted(used)}, AZURE_MODULES lists {sorted(AZURE_MODULES)}",
              file=sys.stderr)


def touched(token: str) -> list[str]:
    """The submodules a fresh render of the token loads, in AZURE_MODULES' order (a child process; warns
    on one that AZURE_MODULES lacks)."""
    done = subprocess.run([sys.executable, "-c", TOUCHED, token], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{token}: the render that lists its submodules failed: {done.stderr.strip()[-600:]}")
    mods = json.loads(done.stdout.strip().splitlines()[-1])
    if extra := sorted(set(mods) - set(AZURE_MODULES)):
        print(f"warning: a render of {token} loads {extra}, which AZURE_MODULES lacks", file=sys.stderr)
    return [m for m in AZURE_MODULES if m in mods] + extra


def submodules(names=AZURE_MODULES) -> str:
    return ",".join(f"{SDK}.{m}" for m in names)


def import_items(modules: dict[str, list[str]]) -> list[tuple[str, str, str]]:
    """(label, imported first, timed) of each import measurement; the whole process counts over `import
    pulumi` only when nothing is imported first. `modules`: each benched token's submodules."""
    every, n = submodules(), len(AZURE_MODULES)
    plugin = "reactor_infra_azure"
    per_token = {}  # the plugin with the submodules a render of the token loads (one row per distinct set)
    for token, mods in modules.items():
        if len(mods) != n:
            per_token.setdefault(submodules(mods), f"plugin + {len(mods)} ({token})")
    return ([("pulumi", "", "pulumi"),
             (f"{SDK} (top level)", "", SDK),
             (f"{plugin} (the plugin)", "", plugin)]
            + [(label, "", f"{plugin},{mods}") for mods, label in per_token.items()]
            + [(f"plugin + all {n} submodules", "", f"{plugin},{every}"),
               (f"{SDK} after pulumi", "pulumi", SDK),
               (f"the plugin after {SDK}", SDK, plugin),
               (f"all {n} submodules after the plugin", plugin, every)]
            + [(f"  .{m} after {SDK}", SDK, f"{SDK}.{m}") for m in AZURE_MODULES])


def import_costs(runs: int, tmp: Path, modules: dict[str, list[str]]) -> dict:
    """Each import measurement in `runs` fresh interpreters: the timer around the import and the whole
    process (wall, CPU, peak RSS), medians and all samples; `python -c pass` beside them (as bench_gcp's)."""
    items = []
    for label, first, timed in [("python -c pass", "", "")] + import_items(modules):
        cmd = [sys.executable, "-c", "pass"] if not timed else [sys.executable, "-c", IMPORT, first, timed]
        samples, times = [], []
        for _ in range(runs):
            samples.append(measure(cmd, tmp / "import.out"))
            times.append(float((tmp / "import.out").read_text() or 0))
        items.append({"label": label, "first": first, "timed": timed, "import_s": statistics.median(times),
                      "import_all": times, "process_s": median(samples, 0), "process_cpu": median(samples, 1),
                      "process_rss": median(samples, 2), "process_all": samples})
    return {"items": items}


def bench(t: dict, runs: int, tmp: Path, aliases: bool) -> dict:
    """A token's fresh-process renders and floors in turn, and both in-process (bench_fly's bench with
    this floor); with `aliases`, also `runs` fresh floors that keep the SDK's aliases."""
    row = fly_bench(t, runs, tmp, floor_program=with_cli_gc(AZURE_FLOOR), spec_of=floor_spec, kind=kind)
    if aliases:  # bench_fly's bench left this token's floor spec in tmp
        cmd = [sys.executable, "-c", with_cli_gc(FLOOR_WITH_ALIASES), str(tmp / "floor-spec.json"), "1"]
        samples = [measure(cmd, tmp / "floor.out") for _ in range(runs)]
        row.update(aliased_s=median(samples, 0), aliased_cpu=median(samples, 1), aliased_rss=median(samples, 2),
                   aliased_all=samples)
    return row


def report_extra(rows: list[dict], modules: dict[str, list[str]]) -> None:
    for r in rows:
        print(f"\n{r['token']}: loads {len(modules[r['token']])} of the {len(AZURE_MODULES)} submodules: "
              + ", ".join(modules[r["token"]]))
        if "aliased_s" in r:
            print(f"  floor with the SDK's aliases kept: {r['aliased_s']:.2f} s, CPU {r['aliased_cpu']:.2f} s, "
                  f"{r['aliased_rss']:.0f} MiB (render / it: {r['render_s'] / r['aliased_s']:.2f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tokens", nargs="*", help=f"tokens to bench (default: {' '.join(DEFAULT_TOKENS)})")
    parser.add_argument("--runs", type=int, default=3, help="fresh-process runs per measurement (the median counts)")
    parser.add_argument("--largest", action="store_true", help="find the largest @azure token by rendering all of them")
    parser.add_argument("--aliases", action="store_true", help="also time the floor with the SDK's aliases kept")
    parser.add_argument("--profile", action="store_true", help="import share of a fresh render of the first token")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of the tables")
    args = parser.parse_args()
    log = sys.stderr if args.json else sys.stdout  # with --json, stdout holds the JSON alone
    check_modules()
    check_cli_gc()
    load_start = os.getloadavg()
    print(f"cpu cores: {os.cpu_count()}; load average at the start: {load_start[0]:.1f}", file=log)
    with contextlib.redirect_stdout(log):
        tokens = list(args.tokens) or [DEFAULT_TOKENS[0], largest("azure") if args.largest else DEFAULT_TOKENS[1]]
    modules = {token: touched(token) for token in tokens}  # children: this process stays small
    for token, mods in modules.items():
        print(f"{token}: its render loads {len(mods)} of the {len(AZURE_MODULES)} submodules", file=log, flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-azure-") as name:
        tmp = Path(name)
        # A child's peak RSS (benchkit.measure) reads at least this process's own peak at the spawn (Linux
        # keeps the high-water mark across exec), so the small import processes go first, while it is small
        # (bench_fly's target imports tests.renders, and with it the core, into this process).
        imports = import_costs(args.runs, tmp, modules)
        print(f"imports measured (python -c pass: {imports['items'][0]['process_rss']:.0f} MiB)", file=log, flush=True)
        rows = []
        for token in tokens:
            rows.append(bench(target(token, tmp), args.runs, tmp, args.aliases))
            print(f"{token}: render {rows[-1]['render_s']:.2f} s, floor {rows[-1]['floor_s']:.2f} s", file=log,
                  flush=True)
        if not args.json:
            report(rows, args.runs)
            report_extra(rows, modules)
            report_imports(imports, args.runs)
        if args.profile:
            with contextlib.redirect_stdout(log):
                import_share(target(tokens[0], tmp))
    load_end = os.getloadavg()
    parent_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process's peak RSS: {parent_rss:.0f} MiB (no child reads less)", file=log)
    print(f"load average at the end: {load_end[0]:.1f} (other work on the machine inflates the times)", file=log)
    if args.json:
        versions = {p: importlib.metadata.version(p)
                    for p in ("pulumi", "pulumi-azure-native", "pulumi-random", "pulumi-tls")}
        print(json.dumps({"cpu_cores": os.cpu_count(), "load_start": load_start, "load_end": load_end,
                          "parent_rss": parent_rss, "python": platform.python_version(), "versions": versions,
                          "runs": args.runs, "renders": rows, "modules": modules, "imports": imports},
                         indent=2, default=list))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
