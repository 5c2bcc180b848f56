"""ResourceGraph: what one offline render registered, and its views (DESIGN §5).

The tier convention platforms follow: every platform ComponentResource has the type token
`reactor-infra:<platform>:<Class>` (the class, never the tier: regrouping must not change URNs)
and carries its Reactor tier as data, the input `tier` (app, edge, infra, nats, vault, pooler,
database, node, local, network, storage, dns, observability). A resource's `component` is the
tier of its nearest such ancestor (itself included, `tier_of`); resources outside every such
component (providers) have none.

Secrets: every input that was a Pulumi secret, or that the provider's schema lists as a
secret output, is replaced by "[secret]" when the graph is built, so no view can leak one.
The mocks' outputs stay in memory for tests (`outputs_of`) and never reach a view.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

SECRET = "[secret]"
UNKNOWN = "[unknown]"
COMPONENT_PREFIX = "reactor-infra:"


@dataclass(frozen=True)
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    component: str | None
    custom: bool
    inputs: Mapping[str, Any]
    dependencies: tuple[str, ...]
    property_dependencies: Mapping[str, tuple[str, ...]]
    provider: str | None
    protect: bool
    secret_inputs: tuple[str, ...]
    delete_before_replace: bool = False
    ignore_changes: tuple[str, ...] = ()
    retain_on_delete: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "component": self.component,
            "custom": self.custom,
            "provider": self.provider,
            "inputs": self.inputs,
            "dependencies": list(self.dependencies),
            "property_dependencies": {k: list(v) for k, v in self.property_dependencies.items()},
            "protect": self.protect,
            "secret_inputs": list(self.secret_inputs),
            "delete_before_replace": self.delete_before_replace,
            "ignore_changes": list(self.ignore_changes),
            "retain_on_delete": self.retain_on_delete,
        }


@dataclass(frozen=True)
class Invoke:
    token: str
    args: Mapping[str, Any]


@dataclass(frozen=True)
class ResourceGraph:
    topology: str
    stack: str
    resources: tuple[Resource, ...]
    outputs: Mapping[str, Any]
    invokes: tuple[Invoke, ...] = ()
    _state: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    # --- lookups for tests (CDK-style) ----------------------------------------------------
    def find(self, type_: str | None = None, **props: Any) -> list[Resource]:
        """Resources of a type (any type when None) whose inputs partially match `props`."""
        return [r for r in self.resources
                if (type_ is None or r.type == type_) and _matches(dict(r.inputs), props)]

    def has_resource(self, type_: str, **props: Any) -> bool:
        return bool(self.find(type_, **props))

    def count_of(self, type_: str) -> int:
        return sum(1 for r in self.resources if r.type == type_)

    def get(self, urn: str) -> Resource:
        return next(r for r in self.resources if r.urn == urn)

    def outputs_of(self, urn: str) -> Mapping[str, Any]:
        """What the mock returned for a resource (in memory only; never in a view)."""
        return self._state.get(urn, {})

    def by_component(self) -> dict[str | None, list[Resource]]:
        groups: dict[str | None, list[Resource]] = {}
        for r in self.resources:
            groups.setdefault(r.component, []).append(r)
        return groups

    def children(self, urn: str | None) -> Iterator[Resource]:
        return (r for r in self.resources if r.parent == urn)

    # --- views ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "topology": self.topology,
            "stack": self.stack,
            "resources": [r.to_dict() for r in self.resources],
            "outputs": dict(self.outputs),
            # data-source calls the program made (a real run asks the cloud the same questions)
            "invokes": [{"token": i.token, "args": dict(i.args)} for i in self.invokes],
        }

    def to_json(self) -> str:
        """The render contract, byte-identical for the same input."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def type_counts(self) -> list[tuple[str, int]]:
        return sorted(Counter(r.type for r in self.resources).items())

    def tree(self) -> str:
        """Resources grouped by Reactor tier, each as its parent/child tree."""
        lines = [f"{self.topology} (stack {self.stack}): {len(self.resources)} resources"]
        in_view = {r.urn for r in self.resources}
        for component, members in sorted(self.by_component().items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
            lines.append(f"{component or '(providers)'}")
            urns = {r.urn for r in members}
            roots = [r for r in members if r.parent not in urns or r.parent not in in_view]
            for root in roots:
                lines.extend(self._subtree(root, urns, "  "))
        return "\n".join(lines) + "\n"

    def _subtree(self, r: Resource, urns: set[str], indent: str) -> list[str]:
        marks = (" [protected]" if r.protect else "") + (
            f" secrets: {', '.join(r.secret_inputs)}" if r.secret_inputs else "")
        lines = [f"{indent}{r.name}  {r.type}{marks}"]
        for child in self.children(r.urn):
            if child.urn in urns:
                lines.extend(self._subtree(child, urns, indent + "  "))
        return lines

    def mermaid(self) -> str:
        """A Mermaid flowchart: one subgraph per tier, parent edges solid, dependencies dotted."""
        ids = {r.urn: f"r{i}" for i, r in enumerate(self.resources)}
        lines = ["flowchart TB"]
        for component, members in sorted(self.by_component().items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
            lines.append(f"  subgraph {component or 'providers'}")
            for r in members:
                label = f"{r.name}<br/><small>{r.type}</small>".replace('"', "'")
                lines.append(f'    {ids[r.urn]}["{label}"]')
            lines.append("  end")
        for r in self.resources:
            if r.parent in ids:
                lines.append(f"  {ids[r.parent]} --> {ids[r.urn]}")
            for dep in r.dependencies:
                if dep in ids and dep != r.parent:
                    lines.append(f"  {ids[r.urn]} -.-> {ids[dep]}")
        return "\n".join(lines) + "\n"


def _matches(actual: Any, expected: Any) -> bool:
    """Partial deep match: dicts match on the expected keys; lists element-wise, same length."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            k in actual and _matches(actual[k], v) for k, v in expected.items())
    if isinstance(expected, (list, tuple)):
        return (isinstance(actual, (list, tuple)) and len(actual) == len(expected)
                and all(_matches(a, e) for a, e in zip(actual, expected)))
    return actual == expected


TIER_INPUT = "tier"
TIER_TAG = "reactor:tier"  # the tag platforms also put on taggable resources (aws)


def tier_of(ancestry: list[tuple[str, Mapping[str, Any]]]) -> str | None:
    """The Reactor tier of a resource from its ancestry, root first and itself last, as
    (type, inputs) pairs: the `tier` input of the nearest reactor-infra component (the platform
    kit gives every component one). A render, a diff and a real preview's steps all use this."""
    for type_, inputs in reversed(ancestry):
        if type_.startswith(COMPONENT_PREFIX):
            tier = inputs.get(TIER_INPUT) if isinstance(inputs, Mapping) else None
            if isinstance(tier, str) and tier:
                return tier
    return None


def tier_of_urn(urn: str, states: Mapping[str, tuple[str, Mapping[str, Any], str | None]]) -> str | None:
    """A resource's tier from the states a preview holds (urn -> (type, inputs, parent urn)):
    `tier_of` over its ancestry; when its components are not in the preview (`pulumi preview
    --json` without `--show-sames`), its own `reactor:tier` tag."""
    ancestry: list[tuple[str, Mapping[str, Any]]] = []
    seen: set[str] = set()
    at: str | None = urn
    while at and at in states and at not in seen:
        seen.add(at)
        type_, inputs, parent = states[at]
        ancestry.insert(0, (type_, inputs))
        at = parent
    tier = tier_of(ancestry)
    if tier is None and urn in states:
        tags = states[urn][1].get("tags")
        if isinstance(tags, Mapping) and isinstance(tags.get(TIER_TAG), str):
            tier = tags[TIER_TAG]
    return tier
