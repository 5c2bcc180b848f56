"""How to read a local render for the conformance suite (`reactor_infra.conformance`).

On one Docker host the rules are shared networks: two services whose containers share an
internal network reach each other on every port (a bridge cannot restrict ports); a port
published on all addresses is a rule from the world, one published on 127.0.0.1 is not. Egress
is membership of the ordinary (non-internal) bridge.
"""

from __future__ import annotations

from itertools import combinations

from reactor_infra.conformance import WORLD, Granularity, Readings, Rule
from reactor_infra.graph import Resource, ResourceGraph

CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
SERVICE_LABEL = "reactor-infra.service"


def _service(container: Resource) -> str:
    found = [lab["value"] for lab in container.inputs.get("labels", []) if lab.get("label") == SERVICE_LABEL]
    return found[0] if found else container.inputs.get("name", "?")


def _services(graph: ResourceGraph) -> list[Resource]:
    """The containers that run a planned service (sidecars share a service's namespace and
    publish nothing of their own)."""
    return [c for c in graph.find(CONTAINER)
            if any(lab.get("label") == SERVICE_LABEL for lab in c.inputs.get("labels", []))]


def _networks(container: Resource) -> list[str]:
    return [n["name"] for n in container.inputs.get("networksAdvanced", [])]


class LocalReadings(Readings):
    granularity = Granularity.SERVICE_PAIR

    def _internal(self, graph: ResourceGraph) -> set[str]:
        return {n.inputs["name"] for n in graph.find(NETWORK) if n.inputs.get("internal")}

    def _isolating(self, graph: ResourceGraph) -> set[str]:
        """Bridges on which containers cannot reach each other (enable_icc=false)."""
        return {n.inputs["name"] for n in graph.find(NETWORK)
                if (n.inputs.get("options") or {}).get("com.docker.network.bridge.enable_icc") == "false"}

    def rules(self, graph: ResourceGraph) -> set[Rule]:
        members: dict[str, set[str]] = {}
        rules: set[Rule] = set()
        for c in _services(graph):
            for net in _networks(c):
                members.setdefault(net, set()).add(_service(c))
            for port in c.inputs.get("ports", []):
                if port.get("ip") not in ("127.0.0.1", "::1"):
                    rules.add(Rule(WORLD, _service(c), int(port["external"])))
        isolating = self._isolating(graph)
        for net, services in members.items():
            if net not in isolating:
                rules |= {Rule(a, b, None) for a, b in combinations(sorted(services), 2)}
        return rules

    def egress(self, graph: ResourceGraph) -> set[str]:
        internal = self._internal(graph)
        return {_service(c) for c in _services(graph) if any(n not in internal for n in _networks(c))}

    def health_checked(self, graph: ResourceGraph) -> set[str]:
        return {_service(c) for c in _services(graph) if (c.inputs.get("healthcheck") or {}).get("tests")}

    def physical_names(self, graph: ResourceGraph) -> list[str]:
        return [r.inputs["name"] for r in graph.resources
                if r.type in (CONTAINER, NETWORK, "docker:index/volume:Volume") and isinstance(r.inputs.get("name"), str)]
