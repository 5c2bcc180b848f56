"""How to read a fly render for the conformance suite (`reactor_infra.conformance`).

Fly has no firewall between the machines of one 6PN network (every machine of the install
reaches every other), so the rules are the ways in through Fly's proxy (`Granularity.NETWORK`):
an app with public addresses admits the internet at its load balancer (the proxy) on each port
its machines publish, and passes those ports to its tier; the vault router's Flycast service
passes :8200 to its tier. A Flycast service of an app without public addresses in front of
anything else (an autoscaled pool) is reachable only from inside the network, which the links
already allow: not a way in. Machines reach the internet whatever the Plan says
(`egress_unrestricted`, the platform's README). Health checks are each machine's checks; names
are the apps' (global) and, inside each app, its machines' and volumes'.
"""

from __future__ import annotations

from reactor_infra.conformance import WORLD, Granularity, Readings, Rule
from reactor_infra.graph import Resource, ResourceGraph
from reactor_infra.layout import LOAD_BALANCER, VAULT_API, VAULT_ROUTER

APP, MACHINE, VOLUME, IP = ("fly-machines:apps/v1:App", "fly-machines:apps/v1:Machine",
                            "fly-machines:apps/v1:Volume", "fly-machines:apps/v1:AppIPAssignment")
PUBLIC = frozenset({"v4", "v6", "shared_v4"})


def _tier(m: Resource) -> str:
    return m.inputs["config"]["metadata"]["reactor_tier"]


def _service(m: Resource) -> str:
    group = m.inputs["config"]["metadata"]["fly_process_group"]
    head, _, tail = group.rpartition("-")
    return head if tail.isdigit() else group


class FlyReadings(Readings):
    granularity = Granularity.NETWORK
    egress_unrestricted = True

    def rules(self, graph: ResourceGraph) -> set[Rule]:
        public = {ip.inputs["appName"] for ip in graph.find(IP) if ip.inputs.get("type") in PUBLIC}
        rules = set()
        for m in graph.find(MACHINE):
            for service in m.inputs["config"].get("services", []):
                for port in (p["port"] for p in service["ports"]):
                    if m.inputs["appName"] in public:
                        rules |= {Rule(WORLD, str(LOAD_BALANCER), port), Rule(str(LOAD_BALANCER), _tier(m), port)}
                    elif port == VAULT_API and _service(m) == "openbao":
                        rules.add(Rule(str(VAULT_ROUTER), _tier(m), port))
        return rules

    def egress(self, graph: ResourceGraph) -> set[str]:
        return {_tier(m) for m in graph.find(MACHINE)}

    def health_checked(self, graph: ResourceGraph) -> set[str]:
        return {_service(m) for m in graph.find(MACHINE) if m.inputs["config"].get("checks")}

    def physical_names(self, graph: ResourceGraph) -> list[str]:
        names = [f"{a.inputs['name']} (App)" for a in graph.find(APP)]
        names += [f"{m.inputs['appName']}/{m.inputs['name']} (Machine)" for m in graph.find(MACHINE)]
        names += [f"{v.inputs['appName']}/{v.inputs['name']} (Volume, {v.inputs['region']})"
                  for v in graph.find(VOLUME)]
        return names
