"""The new topology as a Mermaid flowchart, with the tiers a diff touches marked.

Nodes are the Plan's tiers (services and replicas) plus the internet and the load balancer;
edges are the Plan's links with their ports. A tier is marked new (it was not in the old
Plan), changed (resources in it change) or at risk (a data-loss risk names it); tiers the old
Plan had and the new one lacks are drawn dashed. Changed tiers that are not Plan tiers (network,
dns, the secrets store at size 2) sit in a "platform" box. The text is checked by the real
Mermaid parser in the tests (tests/mermaid/check.mjs).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .diff import NO_TIER, StackDiff

LEGEND = "green: new tier · yellow: changed · red: data-loss risk · grey dashed: removed"
_SPECIAL = {"internet": ("internet", "(("), "load-balancer": ("load balancer", "[")}


def _id(name: str) -> str:
    return "t_" + re.sub(r"\W", "_", name)


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")


def _node(node_id: str, label: str, shape: str = "[") -> str:
    close = {"[": "]", "((": "))", "([": "])"}[shape]
    return f'  {node_id}{shape}"{_label(label)}"{close}'


def topology_mermaid(diff: StackDiff) -> str | None:
    """The flowchart text, or None when the new side has no Plan (a stack that is removed)."""
    topo = diff.topology
    if not topo:
        return _tiers_only(diff)
    old_tiers = {t["name"] for t in (diff.old_topology or {}).get("tiers", [])}
    risky = {r.tier for r in diff.risks if r.tier}
    changed = diff.changed_tiers
    lines = ["flowchart LR"]
    classes: dict[str, list[str]] = {"created": [], "changed": [], "risk": [], "removed": []}
    names = set()
    for tier in topo.get("tiers", []):
        name = tier["name"]
        names.add(name)
        services = ", ".join(tier.get("services") or []) or "managed"
        replicas = tier.get("replicas") or "1"
        label = f"{name}<br/>{services}" + (f" ×{replicas}" if replicas != "1" else "")
        lines.append(_node(_id(name), label))
        if name in risky:
            classes["risk"].append(_id(name))
        elif diff.old_topology is not None and name not in old_tiers:
            classes["created"].append(_id(name))
        elif name in changed:
            classes["changed"].append(_id(name))
    for special in _endpoints(topo):
        label, shape = _SPECIAL[special]
        lines.append(_node(_id(special), label, shape))
    for (source, target), ports in _edges(topo).items():
        lines.append(f'  {_id(source)} -->|"{", ".join(ports)}"| {_id(target)}')
    for name in sorted(old_tiers - names):
        lines.append(_node(_id(name), f"{name} (removed)"))
        classes["removed"].append(_id(name))
    extra = sorted(t for t in changed | risky if t not in names and t not in old_tiers and t != NO_TIER)
    if extra:
        lines.append('  subgraph platform["platform resources"]')
        for name in extra:
            lines.append("  " + _node(_id(name), name))
            classes["risk" if name in risky else "changed"].append(_id(name))
        lines.append("  end")
    lines += _styles(classes)
    return "\n".join(lines) + "\n"


def _tiers_only(diff: StackDiff) -> str | None:
    """Without a Plan (a preview whose config names no token): the changed tiers alone."""
    tiers = sorted(t for t in diff.changed_tiers if t != NO_TIER)
    if not tiers:
        return None
    risky = {r.tier for r in diff.risks if r.tier}
    lines = ["flowchart LR"]
    classes: dict[str, list[str]] = {"created": [], "changed": [], "risk": [], "removed": []}
    for name in tiers:
        lines.append(_node(_id(name), name))
        classes["risk" if name in risky else "changed"].append(_id(name))
    return "\n".join(lines + _styles(classes)) + "\n"


def _endpoints(topo: Mapping[str, Any]) -> list[str]:
    seen = []
    for link in topo.get("links", []):
        for end in (link["source"], link["target"]):
            if end in _SPECIAL and end not in seen:
                seen.append(end)
    return seen


def _edges(topo: Mapping[str, Any]) -> dict[tuple[str, str], list[str]]:
    edges: dict[tuple[str, str], list[str]] = {}
    for link in topo.get("links", []):
        ports = edges.setdefault((link["source"], link["target"]), [])
        if str(link["port"]) not in ports:
            ports.append(str(link["port"]))
    return edges


def _styles(classes: dict[str, list[str]]) -> list[str]:
    lines = [
        "  classDef created fill:#dafbe1,stroke:#1a7f37,color:#111",
        "  classDef changed fill:#fff8c5,stroke:#9a6700,color:#111",
        "  classDef risk fill:#ffebe9,stroke:#cf222e,color:#111",
        "  classDef removed fill:#eeeeee,stroke:#888888,stroke-dasharray: 4 3,color:#555",
    ]
    for name, ids in classes.items():
        if ids:
            lines.append(f"  class {','.join(ids)} {name}")
    return lines
