"""How to read an on-prem render for the conformance suite (`reactor_infra.conformance`).

The rules are what each host lets in: its firewall chain (`/opt/reactor/firewall.rules`, one
RETURN per source host of a link, its comment naming the link's source tier) and the ports its
compose project publishes that no DROP restricts (open to the world). Every host of a tier gets
the same rules. Egress is the operator's network's (not compared; the README says so); health
checks are the compose services'; nothing is named in a cloud, so there are no physical names.
"""

from __future__ import annotations

import re

import yaml

from reactor_infra.conformance import WORLD, Granularity, Readings, Rule
from reactor_infra.graph import Resource, ResourceGraph

COPY = "command:remote:CopyToRemote"
_ALLOW = re.compile(r'--ctorigdstport (\d+) .*--comment "(\S+) -> (\S+) :\d+" -j RETURN')
_DROP = re.compile(r"--ctorigdstport (\d+) .* -j DROP")


def _files(copy: Resource) -> dict[str, str]:
    source = copy.inputs.get("source")
    return source.get("archive", {}) if isinstance(source, dict) else {}


def _services(files: dict[str, str]) -> dict:
    text = files.get("files/opt/reactor/compose.yaml")
    return (yaml.safe_load(text) or {}).get("services", {}) if text else {}


class OnpremReadings(Readings):
    granularity = Granularity.TIER_PORT
    egress_unrestricted = True  # the operator's network decides the way out (README)

    def rules(self, graph: ResourceGraph) -> set[Rule]:
        rules: set[Rule] = set()
        for copy in graph.find(COPY):
            files, tier = _files(copy), copy.component
            firewall = files.get("files/opt/reactor/firewall.rules", "")
            rules |= {Rule(m.group(2), m.group(3), int(m.group(1))) for m in _ALLOW.finditer(firewall)}
            restricted = {int(p) for p in _DROP.findall(firewall)}
            for service in _services(files).values():
                for port in service.get("ports", []):
                    address, _, published = str(port).rpartition(":")[0].rpartition(":")
                    number = int(published or address)
                    if not str(port).startswith("127.0.0.1:") and number not in restricted:
                        rules.add(Rule(WORLD, tier, number))
        return rules

    def unguarded(self, plan) -> set[str]:
        """The operator's database (a URL) and NFS export: no host of ours to guard them."""
        managed = not any(t.name.value == "database" and t.services for t in plan.tiers)
        return {"file-system"} | ({"database"} if managed else set())

    def egress(self, graph: ResourceGraph) -> set[str]:
        return set()

    def health_checked(self, graph: ResourceGraph) -> set[str]:
        return {name for copy in graph.find(COPY) for name, svc in _services(_files(copy)).items()
                if svc.get("healthcheck")}

    def physical_names(self, graph: ResourceGraph) -> list[str]:
        return []
