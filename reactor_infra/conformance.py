"""What every platform's render must hold, whatever the platform (the conformance suite).

Each platform plugin reads its own renders through `Readings` (its `conformance()` hook): which
rules let which traffic in, what may call out, which services have health checks, which names it
gave. `problems(plan, graph, readings)` compares those readings with the Plan:

- the links become exactly the rules: no more, no fewer; a rule between tiers names the other
  tier (a group, a tag, a network), so a world-open CIDR shows up as a rule from `internet` that
  no link asks for;
- egress only where the Plan says;
- stateful resources protected exactly when the edition protects; backups kept as long as the
  edition says, where the platform keeps backups;
- no generated secret value anywhere in any view of the render (checked against the values the
  render generated, not only for a `[secret]` marker);
- every service has a health check; physical names are unique and carry the stack's prefix.

Pure: reads a ResourceGraph, imports no Pulumi and no cloud SDK.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from collections.abc import Iterator
from typing import Any, ClassVar

from .graph import Resource, ResourceGraph
from .layout import INTERNET, LOAD_BALANCER, VAULT_ROUTER, Plan
from .naming import prefix
from .resource_kinds import is_stateful

WORLD = str(INTERNET)


class Granularity(StrEnum):
    """What a platform's rules can say."""

    TIER_PORT = "tier-port"  # firewall rules: from a tier (or the world) to a tier, per port
    SERVICE_PAIR = "service-pair"  # shared networks (a Docker bridge): two services, every port
    # one private network per install where every machine reaches every other (Fly's 6PN): the
    # rules are the ways in through the platform's proxy (the internet's, the vault router's)
    NETWORK = "network"


@dataclass(frozen=True, order=True)
class Rule:
    source: str  # a tier or a service (by granularity), or "internet" for the world
    target: str
    port: int | None  # None: every port


class Readings(ABC):
    """How to read one platform's renders."""

    granularity: ClassVar[Granularity]
    # the platform gives machines the internet and cannot take it away (Fly): egress is not
    # compared with the Plan's (the platform's README says so)
    egress_unrestricted: ClassVar[bool] = False

    @abstractmethod
    def rules(self, graph: ResourceGraph) -> set[Rule]:
        """Every way in: firewall rules, shared networks, published ports."""

    @abstractmethod
    def egress(self, graph: ResourceGraph) -> set[str]:
        """The tiers (or services) that may open connections to the internet."""

    @abstractmethod
    def health_checked(self, graph: ResourceGraph) -> set[str]:
        """The services that have a health check."""

    @abstractmethod
    def physical_names(self, graph: ResourceGraph) -> list[str]:
        """Every name the platform gave a real object (one entry per object)."""

    def world_egress(self, graph: ResourceGraph) -> set[tuple[str, int | None]]:
        """(tier, port) of every narrower way out to the world than `egress` (one port)."""
        return set()

    def backup_retention_days(self, graph: ResourceGraph) -> dict[str, int]:
        """Resource name -> days its backups are kept, for every resource that has backups."""
        return {}

    def unguarded(self, plan: Plan) -> set[str]:
        """Link targets that are the operator's, not the render's (on-prem: their database and
        NFS export): their rules are the operator's to make (the README lists them)."""
        return set()

    def stateful(self, graph: ResourceGraph) -> list[Resource]:
        return [r for r in graph.resources if is_stateful(r.type)]


# --- what the Plan expects ---------------------------------------------------------------------


def expected_rules(plan: Plan, granularity: Granularity) -> set[Rule]:
    if granularity is Granularity.NETWORK:
        return {Rule(str(link.source), str(link.target), link.port) for link in plan.links
                if link.source in (INTERNET, LOAD_BALANCER, VAULT_ROUTER)}
    if granularity is Granularity.TIER_PORT:
        return {Rule(str(link.source), str(link.target), link.port) for link in plan.links}
    rules = {Rule(WORLD, str(link.target_service), link.port)
             for link in plan.links if link.source == INTERNET and link.target_service}
    for flow in plan.flows:
        a, b = sorted((str(flow.source_service), str(flow.target_service)))
        if a != b:
            rules.add(Rule(a, b, None))
    return rules


def expected_egress(plan: Plan, granularity: Granularity) -> set[str]:
    if granularity in (Granularity.TIER_PORT, Granularity.NETWORK):
        return {t.name.value for t in plan.tiers if t.egress and t.services}
    return {str(s) for s in plan.services if s in plan.egress_services}


def generated_values(graph: ResourceGraph) -> list[str]:
    """The secret values this render generated (pulumi-random outputs and pulumi-tls private
    keys, kept in memory only)."""
    from .mocks import random_values, tls_values

    values: list[str] = []
    for r in graph.resources:
        if r.type.startswith("random:"):
            values.extend(random_values(dict(graph.outputs_of(r.urn))))
        elif r.type.startswith("tls:"):  # private keys (the install's CA, its machines, a load balancer's)
            values.extend(tls_values(dict(graph.outputs_of(r.urn))))
    return [v for v in values if len(v) >= 8]


def named(graph: ResourceGraph, name_inputs: dict[str, str], not_ours: frozenset[str]) -> Iterator[tuple[Resource, Any]]:
    """Every real object the platform named, with the input that holds its name (`name` unless
    `name_inputs` says otherwise): providers and `not_ours` types (DNS records) left out."""
    for r in graph.resources:
        if r.custom and not r.type.startswith("pulumi:providers:") and r.type not in not_ours:
            yield r, r.inputs.get(name_inputs.get(r.type, "name"))


def compose_services(user_data: object) -> dict[str, Any]:
    """The services of the compose file a machine's `#cloud-config` writes (empty if none)."""
    import yaml

    if not isinstance(user_data, str) or not user_data.startswith("#cloud-config"):
        return {}
    doc = yaml.safe_load(user_data) or {}
    for f in doc.get("write_files", []):
        if f.get("path", "").endswith("/compose.yaml"):
            return (yaml.safe_load(f.get("content", "")) or {}).get("services", {})
    return {}


def views(graph: ResourceGraph) -> dict[str, str]:
    return {"json": graph.to_json(), "tree": graph.tree(), "mermaid": graph.mermaid()}


# --- the checks -----------------------------------------------------------------------------------


def problems(plan: Plan, graph: ResourceGraph, readings: Readings) -> list[str]:
    """Everything in the render that breaks a conformance property (empty when it holds)."""
    out: list[str] = []
    g = readings.granularity
    got, want = readings.rules(graph), expected_rules(plan, g)
    want = {r for r in want if r.target not in readings.unguarded(plan)}
    out += [f"rule without a link: {r}" for r in sorted(got - want, key=repr)]
    out += [f"link without a rule: {r}" for r in sorted(want - got, key=repr)]
    got_out, want_out = readings.egress(graph), expected_egress(plan, g)
    if not readings.egress_unrestricted:
        out += [f"egress the plan does not allow: {x}" for x in sorted(got_out - want_out)]
        out += [f"egress the plan allows is missing: {x}" for x in sorted(want_out - got_out)]
    allowed = {plan.traits.platform_api_port, plan.traits.package_mirror_port} - {None}
    out += [f"egress to the world on :{port} from {tier}, beyond the platform's API port"
            for tier, port in sorted(readings.world_egress(graph), key=repr) if port not in allowed]
    for r in readings.stateful(graph):
        if r.protect != plan.policy.protect:
            out.append(f"stateful {r.type} {r.name}: protect={r.protect}, edition wants {plan.policy.protect}")
    for name, days in readings.backup_retention_days(graph).items():
        if days < plan.policy.backup_retention_days:
            out.append(f"{name} keeps backups {days} days, edition wants {plan.policy.backup_retention_days}")
    missing = {str(s) for s in plan.services} - readings.health_checked(graph)
    out += [f"no health check for {s}" for s in sorted(missing)]
    names = readings.physical_names(graph)
    dupes = sorted({n for n in names if names.count(n) > 1})
    out += [f"physical name used twice: {n}" for n in dupes]
    # where a cloud allows no '-' in a name (Azure storage accounts), the prefix without them
    out += [f"physical name without the stack's prefix: {n}" for n in sorted(set(names))
            if prefix(plan) not in n and prefix(plan).replace("-", "") not in n]
    shown = views(graph)
    for value in generated_values(graph):
        for view, text in shown.items():
            if value in text:
                out.append(f"a generated secret value appears in the {view} view")
    return out
