"""Offline render of C6@fly and of the largest @fly token: time and peak RSS, beside the floor.

Render: `reactor-infra render ... --json` as a fresh process (Python start, imports, render,
JSON), wall time and the process's peak RSS (getrusage of that child, via os.wait4), median of
--runs. C6@fly is the managed shared cluster, rendered as its operator renders it:
`reactor-infra render --stack stacks/Pulumi.c6-fly.yaml --json`. Any other token renders with
tests/renders.py's `default_settings(token)` written to a stack file (a domain for edition C, the
operator's Postgres URL from size 3), i.e. `reactor-infra render <token> --stack <file> --json`.
Floor: a plain Pulumi program in a fresh process that registers as many resources of the same
types as that render (per type: App, Machine, Volume, AppIPAssignment, Secrets, Secret of
pulumi_fly_machines, the pulumi_random types, and the render's components as bare
ComponentResources of the same type) by calling the SDK's own classes with trivial constant
inputs, under `pulumi.runtime.set_mocks` with trivial mocks: no parents, no Outputs between
resources, no Plan, no components' logic, no templates, no recording, no graph. So it is about
what Pulumi and the two SDKs cost for that many resources; the rest of a render is reactor-infra's.
Also the in-process times (the first render, then 5 more in the same process) of both, and the
import cost of pulumi, pulumi_fly_machines (and the apps/v1 module a render touches) and
pulumi_random, each in a fresh interpreter.
Runs one process at a time (2 cores: the Pulumi runtime's executor threads get the second).
Run by hand (never a timed test):
    uv run python benchmarks/bench_fly.py [--runs 5] [--largest] [--profile] [TOKEN ...]
--largest renders every @fly token once (87 tokens, about 40 s) and benches the largest instead
of the default C10+ha+mr@fly; --profile adds the import share (-X importtime) and a cProfile of
one warm render.

Measured (2 shared vCPUs under other work, load average 3-4; Python 3.11, pulumi 3.272,
pulumi-fly-machines 0.0.18, pulumi-random 4.21): median of the 3 invocations' medians of 5
(their range), all single runs in brackets:
  token           resources  render s                 RSS MiB  floor s                  RSS MiB
  C6@fly                 66  1.37 (1.23-1.41) [1.07-1.56]   77   0.95 (0.90-0.95) [0.77-1.10]   58
  C10+ha+mr@fly         159  1.81 (1.67-1.97) [1.48-2.14]   86   1.11 (1.05-1.21) [0.95-1.29]   65
  in-process, warm: C6@fly render 0.40 s (0.23-0.47) vs floor 0.13 s (0.10-0.22);
                    C10+ha+mr@fly render 1.00 s (0.61-1.27) vs floor 0.33 s (0.26-0.46)
So reactor-infra's own work is about 0.4 s of a cold C6@fly render and 0.7 s of a C10+ha+mr@fly
one; the rest (about 1 s) is Python, Pulumi and the SDKs, which the floor pays too.
Imports (a timer around one import in a fresh interpreter, same medians): pulumi 0.29 s;
pulumi_fly_machines 0.38 s with pulumi, 0.01 s on top of it (its subpackages are lazy); touching
fly.apps.v1 (as every render does) loads the whole generated module, 0.23 s on top of pulumi;
pulumi_random 0.02 s on top. `-X importtime` of a render: pulumi_fly_machines is its biggest
import (0.28 s self time of 1.17 s). The CLI tunes the GC (cli.py); the in-process renders do not.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchkit import CLI, ENV, ROOT, child_json, largest, measure, median

C6_STACK = ROOT / "stacks" / "Pulumi.c6-fly.yaml"  # the managed shared cluster's stack file (token C6@fly)
# The largest @fly tokens by resource count, from `--largest` (every valid @fly token rendered with
# tests/renders.py's default_settings): C10+ha+mr@fly 159, E10+ha+mr@fly 159, O10+ha+mr@fly 159,
# C10+mr@fly 155, C6+ha+mr+as@fly 155 (87 tokens, the smallest C3/E3/O3@fly with 21 each).
# C10+ha+mr is the first of the three tied (and the one that also needs a domain).
DEFAULT_TOKENS = ("C6@fly", "C10+ha+mr@fly")
WARM_RENDERS = 5  # in-process renders after the first (and floor programs after the first); median and range

# In-process render times: imports, the first render, then WARM_RENDERS more in the same process.
# argv: token ('' = the stack file's), stack file ('' = none), number of warm renders.
WARM = r"""
import json, sys, time
t0 = time.perf_counter()
from reactor_infra.render import render
token, stack_file = sys.argv[1] or None, sys.argv[2] or None
def go():
    return render(token, stack_file=stack_file) if stack_file else render(token)
t1 = time.perf_counter(); go().to_json(); t2 = time.perf_counter()
warm, to_json, cpu, main = [], [], [], []
for _ in range(int(sys.argv[3])):
    c0, m0 = time.process_time(), time.thread_time()  # CPU of the whole process, of the main thread
    t3 = time.perf_counter(); graph = go(); t4 = time.perf_counter(); graph.to_json(); t5 = time.perf_counter()
    warm.append(t4 - t3); to_json.append(t5 - t4)
    cpu.append(time.process_time() - c0); main.append(time.thread_time() - m0)
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "warm": warm, "to_json": to_json, "cpu": cpu,
                  "main_cpu": main}))
"""

# The floor: a plain Pulumi program (no reactor_infra) registering, in the render's order, one
# resource per entry of the spec file (its type and whether it is custom), with trivial inputs.
# argv: spec path, number of programs to run in this process (times printed as JSON).
FLOOR = r"""
import asyncio, contextvars, importlib, json, sys, threading, time
t0 = time.perf_counter()
import pulumi
import pulumi.runtime as rt
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime import settings as rs
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

spec = json.load(open(sys.argv[1]))
FLY = "pulumi_fly_machines.apps.v1"
TRIVIAL = {  # type -> (module, class, constant inputs)
    "fly-machines:apps/v1:App": (FLY, "App", {"name": "app", "org_slug": "org"}),
    "fly-machines:apps/v1:Machine": (FLY, "Machine", {"app_name": "app", "region": "iad", "config": {"image": "img"}}),
    "fly-machines:apps/v1:Volume": (FLY, "Volume", {"app_name": "app", "name": "data", "region": "iad", "size_gb": 1}),
    "fly-machines:apps/v1:AppIPAssignment": (FLY, "AppIPAssignment", {"app_name": "app", "type": "shared_v4"}),
    "fly-machines:apps/v1:Secrets": (FLY, "Secrets", {"app_name": "app", "values": {"KEY": "value"}}),
    "fly-machines:apps/v1:Secret": (FLY, "Secret", {"app_name": "app", "secret_name": "key", "value": "value"}),
    "random:index/randomPassword:RandomPassword": ("pulumi_random", "RandomPassword", {"length": 32}),
    "random:index/randomBytes:RandomBytes": ("pulumi_random", "RandomBytes", {"length": 32}),
    "random:index/randomId:RandomId": ("pulumi_random", "RandomId", {"byte_length": 8}),
}
missing = sorted({r["type"] for r in spec if r["custom"]} - TRIVIAL.keys())
if missing:
    raise SystemExit(f"floor: no trivial inputs for {missing}")

class Trivial(rt.Mocks):
    def new_resource(self, args):
        return (args.name + "_id" if args.custom else None), args.inputs
    def call(self, args):
        return {}

def program():
    for i, r in enumerate(spec):
        name = f"r{i}"
        if not r["custom"]:
            pulumi.ComponentResource(r["type"], name)
        else:
            module, cls, inputs = TRIVIAL[r["type"]]
            getattr(importlib.import_module(module), cls)(name, **inputs)

def run_once():
    loop = asyncio.new_event_loop(); asyncio.set_event_loop(loop)
    try:
        # a fresh root, outputs set and lock per program (pulumi-notes §1: the thread pitfall)
        rs.ROOT.set(None); rs.SETTINGS.outputs = set(); rs.SETTINGS.lock = threading.Lock()
        monitor = MockMonitor(Trivial())
        rt.set_mocks(monitor.mocks, project="floor", stack="floor", preview=False, monitor=monitor)
        _sync_await(run_pulumi_func(program))
        return len(monitor.resources)
    finally:
        rs.ROOT.set(None); asyncio.set_event_loop(None); loop.close()

t1 = time.perf_counter()
times, counts = [], []
for _ in range(int(sys.argv[2])):
    s = time.perf_counter()
    counts.append(contextvars.copy_context().run(run_once))
    times.append(time.perf_counter() - s)
print(json.dumps({"import": t1 - t0, "runs": times, "registered": counts}))
"""

# One import timed in a fresh interpreter (after `import pulumi` when argv[2] is "after").
IMPORT = r"""
import importlib, sys, time
if sys.argv[2] == "after":
    import pulumi
t0 = time.perf_counter(); importlib.import_module(sys.argv[1]); print(time.perf_counter() - t0)
"""
IMPORTS = (("pulumi", ""), ("pulumi_fly_machines", ""), ("pulumi_fly_machines.apps.v1", ""),
           ("pulumi_random", ""), ("pulumi_fly_machines", "after"), ("pulumi_fly_machines.apps.v1", "after"),
           ("pulumi_random", "after"))




def target(token: str, tmp: Path) -> dict:
    """How a token is rendered: C6@fly from its stack file; others with tests/renders.py's
    default_settings(token) in a stack file of their own (none if it gives no settings)."""
    if token == "C6@fly":
        return {"token": token, "arg": "", "stack_file": str(C6_STACK), "note": ""}
    sys.path.insert(0, str(ROOT))
    from tests.renders import default_settings  # noqa: PLC0415 (the parent only; children never import it)

    settings = default_settings(token)
    if not settings:
        return {"token": token, "arg": token, "stack_file": "", "note": ""}
    stack_file = tmp / f"Pulumi.{token.lower().replace('+', '-').replace('@', '-')}.yaml"
    stack_file.write_text(json.dumps({"config": {f"reactor-infra:{k}": v for k, v in settings.items()}}, indent=2))
    return {"token": token, "arg": token, "stack_file": str(stack_file),  # JSON is YAML
            "note": f" (the stack file holds default_settings: {json.dumps(settings)})"}


def render_cmd(t: dict) -> list[str]:
    return ([str(CLI), "render"] + ([t["arg"]] if t["arg"] else [])
            + (["--stack", t["stack_file"]] if t["stack_file"] else []) + ["--json"])


def floor_spec(render_json: Path, spec: Path) -> list[dict]:
    """The render's resources as the floor program registers them: type and custom, in order."""
    doc = json.loads(render_json.read_text())
    resources = [{"type": r["type"], "custom": r["custom"]} for r in doc["resources"]]
    spec.write_text(json.dumps(resources))
    return resources




def _kind(typ: str) -> str:
    return typ.split(":")[-1]


def bench(t: dict, runs: int, tmp: Path, floor_program: str = FLOOR, spec_of=None, kind=_kind) -> dict:
    """A token's fresh-process renders and floors in turn, and both in-process. `floor_program`
    and `spec_of` (default this file's FLOOR and floor_spec): the floor's Pulumi program and what
    it reads of the render; `kind`: how the table names a resource type."""
    out, spec = tmp / "render.json", tmp / "floor-spec.json"
    measure(render_cmd(t), out)  # warm the file cache and .pyc files
    resources = (spec_of or floor_spec)(out, spec)
    floor_cmd = [sys.executable, "-c", floor_program, str(spec), "1"]
    measure(floor_cmd, tmp / "floor.out")
    render, floor = [], []
    for _ in range(runs):  # in turn, so that other load on the machine hits both alike
        render.append(measure(render_cmd(t), out))
        floor.append(measure(floor_cmd, tmp / "floor.out"))
    registered = json.loads((tmp / "floor.out").read_text())["registered"][0]
    if registered != len(resources):
        raise SystemExit(f"{t['token']}: the floor registered {registered} resources, the render has {len(resources)}")
    return {
        "token": t["token"], "cmd": render_cmd(t), "note": t["note"], "resources": len(resources),
        "custom": sum(r["custom"] for r in resources),
        "by_type": collections.Counter(kind(r["type"]) for r in resources if r["custom"]),
        "json_kib": out.stat().st_size / 1024,
        "render_s": median(render, 0), "render_cpu": median(render, 1), "render_rss": median(render, 2),
        "render_all": render,
        "floor_s": median(floor, 0), "floor_cpu": median(floor, 1), "floor_rss": median(floor, 2),
        "floor_all": floor,
        "warm": child_json([sys.executable, "-c", WARM, t["arg"], t["stack_file"], str(WARM_RENDERS)]),
        "floor_warm": child_json([sys.executable, "-c", floor_program, str(spec), str(1 + WARM_RENDERS)]),
    }


def spread(samples: list[tuple[float, float, float]], field: int, fmt: str) -> str:
    values = [s[field] for s in samples]
    return f"{min(values):{fmt}}-{max(values):{fmt}}"


def mid(values: list[float], fmt: str = ".2f") -> str:
    """Median (range) of a list of seconds."""
    return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}-{max(values):{fmt}})"


def shown(cmd: list[str]) -> str:
    """A command as a user types it (the CLI by name, paths in the repository relative to it)."""
    def one(i: int, c: str) -> str:
        if i == 0:
            return Path(c).name
        return str(Path(c).relative_to(ROOT)) if c.startswith(str(ROOT) + os.sep) else c
    return " ".join(one(i, c) for i, c in enumerate(cmd))


def report(rows: list[dict], runs: int) -> None:
    print(f"\nfresh process, median of {runs}: wall s, CPU s (user+sys), peak RSS MiB; x floor = render / floor")
    print(f"{'token':<17} {'resources':>9} | {'render s':>8} {'CPU s':>6} {'RSS':>5} | {'floor s':>7} {'CPU s':>6} "
          f"{'RSS':>5} | {'x floor s':>9} {'CPU':>5} {'RSS':>5}")
    for r in rows:
        print(f"{r['token']:<17} {r['resources']:>9} | {r['render_s']:>8.2f} {r['render_cpu']:>6.2f} "
              f"{r['render_rss']:>5.0f} | {r['floor_s']:>7.2f} {r['floor_cpu']:>6.2f} {r['floor_rss']:>5.0f} | "
              f"{r['render_s'] / r['floor_s']:>9.2f} {r['render_cpu'] / r['floor_cpu']:>5.2f} "
              f"{r['render_rss'] / r['floor_rss']:>5.2f}")
    for r in rows:
        w, f = r["warm"], r["floor_warm"]
        print(f"\n{r['token']}: {r['resources']} resources ({r['custom']} custom: "
              + ", ".join(f"{n} {k}" for k, n in r["by_type"].most_common())
              + f"; {r['resources'] - r['custom']} components), render JSON {r['json_kib']:.0f} KiB")
        print(f"  command: {shown(r['cmd'])} > out{r['note']}")
        print(f"  render runs: {', '.join(f'{s[0]:.2f}' for s in r['render_all'])} s "
              f"(range {spread(r['render_all'], 0, '.2f')} s, RSS {spread(r['render_all'], 2, '.0f')} MiB)")
        print(f"  floor runs:  {', '.join(f'{s[0]:.2f}' for s in r['floor_all'])} s "
              f"(range {spread(r['floor_all'], 0, '.2f')} s, RSS {spread(r['floor_all'], 2, '.0f')} MiB)")
        threads = [c - m for c, m in zip(w["cpu"], w["main_cpu"])]
        print(f"  in-process render: imports {w['import']:.2f} s, first render {w['first']:.2f} s (incl. Pulumi/SDK "
              f"imports and to_json); warm render, median (range) of {len(w['warm'])}: {mid(w['warm'])} s "
              f"+ to_json {mid(w['to_json'], '.3f')} s (CPU {statistics.median(w['cpu']):.2f} s, of it "
              f"{statistics.median(threads):.2f} s on the SDK's executor threads)")
        print(f"  in-process floor: imports {f['import']:.2f} s, first program {f['runs'][0]:.2f} s "
              f"(incl. SDK submodule imports); warm program, median (range) of {len(f['runs']) - 1}: "
              f"{mid(f['runs'][1:])} s")


def import_costs(runs: int, tmp: Path) -> None:
    """Each import timed in its own fresh interpreter (a timer around it), median and range of `runs`;
    and the whole `python -c "import X"` process (start included) beside `python -c pass`."""
    print(f"\nimports in a fresh interpreter, median (range) of {runs}: the import alone (a timer around it)")
    for module, after in IMPORTS:
        times = []
        for _ in range(runs):
            measure([sys.executable, "-c", IMPORT, module, after or "alone"], tmp / "import.out")
            times.append(float((tmp / "import.out").read_text()))
        label = f"{module}" + (" (pulumi already imported)" if after else "")
        print(f"  {label:<55} {statistics.median(times):.3f} s ({min(times):.3f}-{max(times):.3f})")
    print("whole process, median of runs: wall s, peak RSS MiB")
    for code in ("pass", "import pulumi", "import pulumi_fly_machines", "import pulumi_fly_machines.apps.v1"):
        samples = [measure([sys.executable, "-c", code], tmp / "import.out") for _ in range(runs)]
        print(f"  python -c {code!r:<40} {median(samples, 0):.2f} s ({spread(samples, 0, '.2f')}), "
              f"{median(samples, 2):.0f} MiB")


def import_share(t: dict) -> None:
    """Where a fresh render's import time goes, by top-level package (-X importtime, self times)."""
    cmd = [sys.executable, "-X", "importtime", "-m", "reactor_infra"] + render_cmd(t)[1:]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=ENV, cwd=ROOT)
    by_root: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = (p.strip() for p in line[len("import time:"):].split("|"))
            by_root[name.split(".")[0]] += int(self_us)
    total = sum(by_root.values())
    print(f"\nimports of one fresh `render {t['token']}` (-X importtime, which inflates them): {total / 1e6:.2f} s; "
          "by top-level package:")
    print("  " + ", ".join(f"{name} {us / 1e6:.2f}" for name, us in by_root.most_common(10)))


PROFILE = r"""
import cProfile, collections, io, pstats, sys
from reactor_infra.render import render
token, stack_file = sys.argv[1] or None, sys.argv[2] or None
def go():
    return render(token, stack_file=stack_file) if stack_file else render(token)
go()  # imports and first-use caches out of the way
prof = cProfile.Profile(); prof.enable(); go().to_json(); prof.disable()
stats = pstats.Stats(prof)
areas = collections.Counter()
for (path, _, _), (_, _, tottime, _, _) in stats.stats.items():
    area = next((a for a in ("reactor_infra_fly", "reactor_infra", "pulumi_fly_machines", "pulumi_random", "pulumi",
                             "grpc", "google", "asyncio", "yaml", "jinja2", "json") if f"/{a}/" in path),
                "builtins" if path == "~" else "other")
    areas[area] += tottime
total = sum(areas.values())
print(f"cProfile of one warm render + to_json, main thread only ({total:.2f} s under the profiler), own time by area: "
      + ", ".join(f"{a} {t / total:.0%}" for a, t in areas.most_common()))
out = io.StringIO(); pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime").print_stats(15)
print(out.getvalue()[out.getvalue().find("   ncalls"):].rstrip())
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tokens", nargs="*", help=f"tokens to bench (default: {' '.join(DEFAULT_TOKENS)})")
    parser.add_argument("--runs", type=int, default=5, help="fresh-process runs per measurement (the median counts)")
    parser.add_argument("--largest", action="store_true", help="find the largest @fly token by rendering all of them")
    parser.add_argument("--profile", action="store_true", help="import share and a cProfile of the first token")
    args = parser.parse_args()
    print(f"cpu cores: {os.cpu_count()}; load average at the start: {os.getloadavg()[0]:.1f}")
    tokens = list(args.tokens) or [DEFAULT_TOKENS[0], largest('fly') if args.largest else DEFAULT_TOKENS[1]]
    with tempfile.TemporaryDirectory(prefix="bench-fly-") as name:
        tmp = Path(name)
        rows = []
        for token in tokens:
            rows.append(bench(target(token, tmp), args.runs, tmp))
            print(f"{token}: render {rows[-1]['render_s']:.2f} s, floor {rows[-1]['floor_s']:.2f} s", flush=True)
        report(rows, args.runs)
        import_costs(args.runs, tmp)
        if args.profile:
            first = target(tokens[0], tmp)
            import_share(first)
            print(subprocess.run([sys.executable, "-c", PROFILE, first["arg"], first["stack_file"]],
                                 capture_output=True, text=True, check=True, env=ENV, cwd=ROOT).stdout)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine inflates the times)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
