"""Render stacks for a diff, in this process or in a child process on another revision's code.

`diff --base/--head` renders each git revision with that revision's own code. The parent runs
this file's source with `python -c` in a directory that holds the revision (`git archive`),
so `import reactor_infra` finds the revision's package first (the working directory leads
sys.path) and the revision's platform packages lead PYTHONPATH. That is cheaper than a
virtualenv per revision (`uv run --project` takes seconds); the price is that both revisions
share this environment's installed SDKs, which is what a pull request that changes only our
code needs. A revision whose platforms need an SDK that is not installed fails that stack
with one line, not the whole diff.

Nothing here may import reactor_infra at module level or use anything the old revision lacks:
the source runs against code of any age, so it reads the Plan defensively.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def plan_summary(plan: Any) -> dict[str, Any]:
    """The Plan facts a diff report shows and compares: tiers, links, where state lives."""
    tiers = []
    for tier in getattr(plan, "tiers", ()):
        replicas = getattr(tier, "replicas", None)
        tiers.append({
            "name": str(tier.name),
            "services": [str(s) for s in getattr(tier, "services", ())],
            "replicas": str(replicas) if replicas is not None else "1",
            "stateful": bool(getattr(tier, "stateful", False)),
            "public": bool(getattr(tier, "public", False)),
        })
    links = [{"source": str(link.source), "target": str(link.target), "port": int(link.port),
              "purpose": str(getattr(link, "purpose", ""))} for link in getattr(plan, "links", ())]
    database = getattr(plan, "database", None)
    return {
        "token": str(getattr(plan, "topology", "")),
        "tiers": tiers,
        "links": links,
        "database": str(getattr(database, "hosting", "")) or None,
        "storage": str(getattr(plan, "storage", "")) or None,
        "vault": str(getattr(plan, "vault", "")) or None,
    }


def _revision_platforms(root: Path) -> dict[str, Any]:
    """The revision's own platform plugins, from its platforms/*/pyproject.toml entry points
    (the installed entry points describe this checkout, not the revision)."""
    import importlib
    import tomllib

    found: dict[str, Any] = {}
    for pyproject in sorted(root.glob("platforms/*/pyproject.toml")):
        try:
            doc = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        eps = doc.get("project", {}).get("entry-points", {}).get("reactor_infra.platforms", {})
        for name, target in eps.items():
            module, _, attr = str(target).partition(":")
            try:
                obj = importlib.import_module(module)
                found[name] = getattr(obj, attr) if attr else obj
            except Exception as err:  # noqa: BLE001 - reported per stack, never a traceback
                found[name] = err
    return found


def render_one(spec: dict[str, Any], platforms: dict[str, Any] | None = None, *,
               catch: bool = True) -> dict[str, Any]:
    """Render one stack file (`{"file": path, "token": optional}`) or token (`{"token", "stack"}`):
    `{"ok": True, "graph": <render contract>, "plan": <plan_summary>}`, or `{"ok": False, "error"}`
    (with `catch=False` the error is raised instead)."""
    try:
        from reactor_infra.plan import build_plan
        from reactor_infra.render import render, render_stack_file
        from reactor_infra.settings import read_stack_file
        from reactor_infra.token import parse

        token = spec.get("token")
        if spec.get("file"):
            stack_file = read_stack_file(spec["file"], token)
            topology, settings = stack_file.topology, stack_file.settings
        else:
            topology, settings = parse(token), None
        platform = (platforms or {}).get(topology.platform.value)
        if isinstance(platform, Exception):
            raise platform
        kwargs = {"platform": platform} if platform is not None else {}
        if spec.get("file"):
            graph = render_stack_file(spec["file"], token=token, **kwargs)
        else:
            graph = render(topology, settings, stack=spec.get("stack"), **kwargs)
        stack = graph.stack if hasattr(graph, "stack") else None
        try:
            plan = build_plan(topology, settings, stack)
        except TypeError:  # a revision from before plans knew their stack's name
            plan = build_plan(topology, settings)
        return {"ok": True, "graph": json.loads(graph.to_json()), "plan": plan_summary(plan)}
    except Exception as err:  # noqa: BLE001 - one line per failed stack
        if not catch:
            raise
        lines = err.lines() if hasattr(err, "lines") else [f"{type(err).__name__}: {err}"]
        return {"ok": False, "error": " ".join(" ".join(lines).split())[:600]}


def main(argv: list[str]) -> int:
    """Child process: argv[1] is a JSON list of specs; prints a JSON list of results."""
    specs = json.loads(argv[1])
    platforms = _revision_platforms(Path.cwd())
    results = [render_one(spec, platforms) for spec in specs]
    sys.stdout.write(json.dumps(results) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
