"""Offline render of E5+ha@aws and of the largest @aws token: time and peak RSS, beside the floor.

Render: `reactor-infra render <token> --json` as a fresh process (Python start, imports, render,
JSON), wall time and the process's peak RSS (getrusage of that child, via os.wait4), median of
--runs. Edition C renders with a stack file that gives the domain it needs (as tests/renders.py).
Floor: a plain Pulumi program in a fresh process that registers exactly the resources of that
render (same types, counts, names, parents, explicit providers, protect, and the same input
values on the wire) by calling the SDK's own classes (pulumi_aws, pulumi_random, pulumi_tls) with
keyword arguments, under `pulumi.runtime.set_mocks` with trivial mocks: no Plan, no components'
logic, no templates, no recording, no graph. Its inputs are plain values (no Outputs between
resources, no applies), so it is about what Pulumi itself costs for these resources.
Also the in-process times (first render and the second in the same process) of both.
Reference: AWS CDK's `cdk synth` of an E5+ha-shaped stack (87 resources): 4.55 s, 530 MiB here.
Runs one process at a time (2 cores: the Pulumi runtime's executor threads get the second).
Run by hand (never a timed test):
    uv run python benchmarks/bench_aws.py [--runs 5] [--largest] [--profile] [TOKEN ...]
--largest renders every @aws token once (about 3 minutes) and benches the largest instead of
the default C6+ha+mr+as@aws; --profile adds the import share (-X importtime) and a cProfile of
one warm render.

Measured (2 shared vCPUs, Python 3.11, pulumi_aws 7, a quiet machine, median of 5):
  token               resources  render s  RSS MiB  floor s  RSS MiB  render/floor  warm render  warm floor
  E5+ha@aws                 181      3.72      159     2.81      141    1.32 / 1.12       0.88 s      0.64 s
  C6+ha+mr+as@aws           440      5.14      184     3.81      166    1.35 / 1.11       2.38 s      1.96 s
  cdk synth (E5+ha-shaped)   87      4.55      530
About 2 s of a cold render is importing pulumi_aws's service packages (touching one class loads
its whole package; the floor pays it too); under load every time here grows by up to 1.5x.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchkit import CLI, ENV, child_json, largest, measure, median

CDK = {"resources": 87, "seconds": 4.55, "rss_mib": 530}  # cdk synth, E5+ha-shaped stack, this machine
DEFAULT_TOKENS = ("E5+ha@aws", "C6+ha+mr+as@aws")  # C6+ha+mr+as and C10+ha+mr tie as the largest (--largest)
C_DOMAIN = "api.example.com"  # edition C is deployable only with a domain (tests/renders.py)

# In-process render times: imports, the first render, the second render in the same process.
WARM = r"""
import json, sys, time
t0 = time.perf_counter()
from reactor_infra.render import render
from reactor_infra.settings import load_settings
token = sys.argv[1]
settings = load_settings({"domain": sys.argv[2]}) if token.startswith("C") else None
t1 = time.perf_counter(); render(token, settings).to_json(); t2 = time.perf_counter()
c0, m0 = time.process_time(), time.thread_time()  # CPU of the whole process, of the main thread
graph = render(token, settings); t3 = time.perf_counter(); graph.to_json(); t4 = time.perf_counter()
cpu, main = time.process_time() - c0, time.thread_time() - m0
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "warm": t3 - t2, "to_json": t4 - t3, "cpu": cpu,
                  "main_cpu": main}))
"""

# The floor: a plain Pulumi program (no reactor_infra) registering the resources listed in the
# spec file. argv: spec path, number of programs to run in this process (times printed as JSON).
# It drops every resource's aliases as the offline render does (FLOOR_KEEP_ALIASES=1 keeps them:
# azure-native's per-API-version aliases alone make a plain program slower than a render); it
# takes azure-native's module name, its input-only argument names and identity maps too.
FLOOR = r"""
import asyncio, contextvars, importlib, json, os, re, sys, threading, time
t0 = time.perf_counter()
import pulumi
import pulumi.runtime as rt
from pulumi import _types
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime import settings as rs
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

spec = json.load(open(sys.argv[1]))
KEEP_ALIASES = os.environ.get("FLOOR_KEEP_ALIASES") == "1"

def as_answered(state):  # a managed identity's user-assigned identities: Azure answers a map of them
    identity = state.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        return {**state, "identity": {**identity,
                                      "userAssignedIdentities": {i: {} for i in identity["userAssignedIdentities"]}}}
    return state

class Trivial(rt.Mocks):
    def new_resource(self, args):
        return (args.name + "_id" if args.custom else None), as_answered(args.inputs)
    def call(self, args):
        return {}

def sdk_class(typ):  # the SDK's class for a type token, and its wire name -> Python argument name map
    pkg, middle, name = typ.split(":")
    if pkg == "pulumi":  # pulumi:providers:<pkg>; a provider's arguments are inputs only
        module = importlib.import_module(f"pulumi_{name.replace('-', '_')}")
        return module.Provider, {v: k for k, v in _types.input_type_py_to_pulumi_names(module.ProviderArgs).items()}
    mod = middle.split("/")[0]
    cls = getattr(importlib.import_module(f"pulumi_{pkg.replace('-', '_')}" + ("" if mod == "index" else f".{mod}")), name)
    # inputs that are no outputs (azure-native's resourceGroupName, ...) are named by the arguments
    # class only (<Name>InitArgs where <Name>Args is an input type); resource_name_ is an input's
    own = sys.modules[cls.__module__]
    args = getattr(own, name + "InitArgs", None) or getattr(own, name + "Args", None)
    names = {**({v: k for k, v in _types.input_type_py_to_pulumi_names(args).items()} if args else {}),
             **_types.resource_pulumi_to_py_names(cls)}
    return cls, {k: v + "_" if v in ("resource_name", "opts") else v for k, v in names.items()}

def construct(cls, name, opts, kwargs):
    while True:  # a required input the render gave as an Output of None (absent on the wire)
        try:
            return cls(name, opts=opts, **kwargs)
        except TypeError as err:
            missing = re.fullmatch(r"Missing required property '(\w+)'", str(err))
            if not missing or missing[1] in kwargs:
                raise
            kwargs[missing[1]] = pulumi.Output.from_input(None)

def drop_aliases(args):  # as the offline render does (reactor_infra/render.py `_without_aliases`)
    if args.opts is None or not args.opts.aliases:
        return None
    opts = args.opts._copy()
    opts.aliases = None
    return pulumi.ResourceTransformationResult(args.props, opts)

def program():
    if not KEEP_ALIASES:
        pulumi.runtime.register_stack_transformation(drop_aliases)
    made = {}
    def make(r):
        if r["urn"] in made:
            return made[r["urn"]]
        opts = pulumi.ResourceOptions(parent=make(by_urn[r["parent"]]) if r["parent"] else None,
                                      provider=make(by_urn[r["provider"]]) if r["provider"] else None,
                                      protect=r["protect"])
        if not r["custom"]:
            res = pulumi.ComponentResource(r["type"], r["name"], None, opts)
        else:  # the SDK's own class with the render's input values (nested ones as plain dicts)
            cls, py_names = sdk_class(r["type"])
            res = construct(cls, r["name"], opts, {py_names[k]: v for k, v in r["inputs"].items()})
        made[r["urn"]] = res
        return res
    by_urn = {r["urn"]: r for r in spec}
    for r in spec:
        make(r)

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




def render_cmd(token: str, stack_file: Path) -> list[str]:
    return [str(CLI), "render", token, "--json"] + (["--stack", str(stack_file)] if token.startswith("C") else [])


def floor_spec(render_json: Path, spec: Path) -> list[dict]:
    """The render's resources as the floor program registers them."""
    doc = json.loads(render_json.read_text())
    keep = ("urn", "type", "name", "custom", "parent", "provider", "protect", "inputs")
    resources = [{k: r[k] for k in keep} for r in doc["resources"]]
    spec.write_text(json.dumps(resources))
    return resources




def bench(token: str, runs: int, tmp: Path, stack_file: Path) -> dict:
    out, spec = tmp / "render.json", tmp / "floor-spec.json"
    measure(render_cmd(token, stack_file), out)  # warm the file cache and .pyc files
    resources = floor_spec(out, spec)
    floor_cmd = [sys.executable, "-c", FLOOR, str(spec), "1"]
    measure(floor_cmd, tmp / "floor.out")
    render, floor = [], []
    for _ in range(runs):  # in turn, so that other load on the machine hits both alike
        render.append(measure(render_cmd(token, stack_file), out))
        floor.append(measure(floor_cmd, tmp / "floor.out"))
    registered = json.loads((tmp / "floor.out").read_text())["registered"][0]
    if registered != len(resources):
        raise SystemExit(f"{token}: the floor registered {registered} resources, the render has {len(resources)}")
    return {
        "token": token, "resources": len(resources), "custom": sum(r["custom"] for r in resources),
        "types": len({r["type"] for r in resources}), "json_kib": out.stat().st_size / 1024,
        "render_s": median(render, 0), "render_cpu": median(render, 1), "render_rss": median(render, 2),
        "render_all": [t for t, _, _ in render],
        "floor_s": median(floor, 0), "floor_cpu": median(floor, 1), "floor_rss": median(floor, 2),
        "warm": child_json([sys.executable, "-c", WARM, token, C_DOMAIN]),
        "floor_warm": child_json([sys.executable, "-c", FLOOR, str(spec), "2"]),
    }


def report(rows: list[dict], runs: int) -> None:
    print(f"\nfresh process, median of {runs}: wall s, CPU s (user+sys), peak RSS MiB; x floor = render / floor")
    print(f"{'token':<17} {'resources':>9} | {'render s':>8} {'CPU s':>6} {'RSS':>5} | {'floor s':>7} {'CPU s':>6} "
          f"{'RSS':>5} | {'x floor s':>9} {'CPU':>5} {'RSS':>5}")
    for r in rows:
        print(f"{r['token']:<17} {r['resources']:>9} | {r['render_s']:>8.2f} {r['render_cpu']:>6.2f} "
              f"{r['render_rss']:>5.0f} | {r['floor_s']:>7.2f} {r['floor_cpu']:>6.2f} {r['floor_rss']:>5.0f} | "
              f"{r['render_s'] / r['floor_s']:>9.2f} {r['render_cpu'] / r['floor_cpu']:>5.2f} "
              f"{r['render_rss'] / r['floor_rss']:>5.2f}")
    print(f"{'cdk synth (ref.)':<17} {CDK['resources']:>9} | {CDK['seconds']:>8.2f} {'':>6} {CDK['rss_mib']:>5.0f} "
          "(an E5+ha-shaped stack; CloudFormation resources only)")
    for r in rows:
        w, f = r["warm"], r["floor_warm"]
        print(f"\n{r['token']}: {r['resources']} resources ({r['custom']} custom, "
              f"{r['resources'] - r['custom']} components; {r['types']} types), "
              f"render JSON {r['json_kib']:.0f} KiB; render runs: {', '.join(f'{t:.2f}' for t in r['render_all'])} s")
        print(f"  in-process render: imports {w['import']:.2f} s, first render {w['first']:.2f} s (incl. Pulumi/SDK "
              f"imports and to_json), second render {w['warm']:.2f} s + to_json {w['to_json']:.3f} s "
              f"(CPU {w['cpu']:.2f} s, of it {w['cpu'] - w['main_cpu']:.2f} s on the SDK's executor threads)")
        print(f"  in-process floor: imports {f['import']:.2f} s, first program {f['runs'][0]:.2f} s "
              f"(incl. SDK submodule imports), second {f['runs'][1]:.2f} s")
        if r["token"].startswith("E5+ha"):
            print(f"  cdk synth / this render: wall time {CDK['seconds'] / r['render_s']:.2f}x (best run "
                  f"{CDK['seconds'] / min(r['render_all']):.2f}x), peak RSS {CDK['rss_mib'] / r['render_rss']:.1f}x")


def import_share(token: str, stack_file: Path) -> None:
    """Where a fresh render's import time goes, by top-level package (-X importtime, self times)."""
    cmd = [sys.executable, "-X", "importtime", "-m", "reactor_infra"] + render_cmd(token, stack_file)[1:]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=ENV)
    by_root: collections.Counter[str] = collections.Counter()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            self_us, _, name = (p.strip() for p in line[len("import time:"):].split("|"))
            by_root[name.split(".")[0]] += int(self_us)
    total = sum(by_root.values())
    print(f"\nimports of one fresh `render {token}` (-X importtime, which inflates them): {total / 1e6:.2f} s; "
          "by top-level package:")
    print("  " + ", ".join(f"{name} {us / 1e6:.2f}" for name, us in by_root.most_common(10)))


PROFILE = r"""
import cProfile, collections, io, pstats, sys
from reactor_infra.render import render
from reactor_infra.settings import load_settings
token = sys.argv[1]
settings = load_settings({"domain": sys.argv[2]}) if token.startswith("C") else None
render(token, settings)  # imports and first-use caches out of the way
prof = cProfile.Profile(); prof.enable(); render(token, settings).to_json(); prof.disable()
stats = pstats.Stats(prof)
areas = collections.Counter()
for (path, _, _), (_, _, tottime, _, _) in stats.stats.items():
    area = next((a for a in ("reactor_infra_aws", "reactor_infra", "pulumi_aws", "pulumi", "grpc", "google",
                             "asyncio", "yaml", "jinja2", "json") if f"/{a}/" in path),
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
    parser.add_argument("--largest", action="store_true", help="find the largest @aws token by rendering all of them")
    parser.add_argument("--profile", action="store_true", help="import share and a cProfile of the first token")
    args = parser.parse_args()
    print(f"cpu cores: {os.cpu_count()}; load average at the start: {os.getloadavg()[0]:.1f}")
    tokens = list(args.tokens) or [DEFAULT_TOKENS[0], largest('aws') if args.largest else DEFAULT_TOKENS[1]]
    with tempfile.TemporaryDirectory(prefix="bench-aws-") as name:
        tmp = Path(name)
        stack_file = tmp / "Pulumi.bench.yaml"
        stack_file.write_text(f"config:\n  reactor-infra:domain: {C_DOMAIN}\n")
        rows = []
        for token in tokens:
            rows.append(bench(token, args.runs, tmp, stack_file))
            print(f"{token}: render {rows[-1]['render_s']:.2f} s, floor {rows[-1]['floor_s']:.2f} s", flush=True)
        report(rows, args.runs)
        if args.profile:
            import_share(tokens[0], stack_file)
            print(subprocess.run([sys.executable, "-c", PROFILE, tokens[0], C_DOMAIN], capture_output=True, text=True,
                                 check=True, env=ENV).stdout)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other work on the machine inflates the times)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
