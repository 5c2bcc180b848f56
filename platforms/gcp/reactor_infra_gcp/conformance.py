"""How to read a gcp render for the conformance suite (`reactor_infra.conformance`).

Rules are the VPC firewall rules. An INGRESS rule's target is the tier its target tag names;
its source is the tier its source tag names, or by its source ranges: the world, IAP's range
(`operators`), Google's load balancer and health-check ranges (`load-balancer`; `vault-router`
for the checks on :8200, `pool-router` for those of the internal balancer in front of an
autoscaled app pool). Behind a pass-through load balancer the world's connections reach the
tier unchanged: a world rule there is the `internet -> load-balancer` link, the checks' rule
the `load-balancer -> tier` one; without a load balancer (size 2) the world reaches the tier.
Through an internal router the caller's own address arrives too: a caller's rule on the router's
port to the routed tier is the `caller -> router` link. At size 3 the internet reaches the
global load balancer through its forwarding rules (80, 443). An EGRESS allow to the Private
Service Access range is a link to Cloud SQL (5432) or Filestore (2049; its mountd's 2050 is
the same link). Egress: tiers with an all-protocol allow to 0.0.0.0/0; one-port allows are
`world_egress`. Health checks: what each machine runs (the compose file in its user data).
Names: the `name`-like input of each named object, per kind.
"""

from __future__ import annotations


from reactor_infra.conformance import WORLD, Granularity, Readings, Rule, compose_services, named
from reactor_infra.graph import Resource, ResourceGraph
from reactor_infra.layout import LOAD_BALANCER, OPERATORS, POOL_ROUTER, REACTOR, VAULT_API, VAULT_ROUTER

from .firewall import IAP_RANGE, NFS_PORTS, PASSTHROUGH_CHECK_RANGES, PROXY_RANGES

FIREWALL = "gcp:compute/firewall:Firewall"
FORWARDING = "gcp:compute/forwardingRule:ForwardingRule"
GLOBAL_FORWARDING = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
MACHINES = ("gcp:compute/instance:Instance", "gcp:compute/instanceTemplate:InstanceTemplate")
ANYWHERE = "0.0.0.0/0"
CHECKS = set(PROXY_RANGES) | set(PASSTHROUGH_CHECK_RANGES)
NAME_INPUTS = {"gcp:serviceaccount/account:Account": "accountId", "gcp:secretmanager/secret:Secret": "secretId",
               "gcp:compute/instanceTemplate:InstanceTemplate": "namePrefix",
               "gcp:compute/sSLCertificate:SSLCertificate": "namePrefix"}
# names that are not ours to choose (records of the domain and the private zone) or not names
NOT_OUR_NAMES = frozenset({"gcp:dns/recordSet:RecordSet", "gcp:sql/user:User", "gcp:kms/cryptoKey:CryptoKey"})


def _tiers_by_tag(graph: ResourceGraph) -> dict[str, str]:
    """network tag -> tier, from the machines that wear it (a machine's second tag is its tier's)."""
    out = {}
    for r in graph.resources:
        if r.type in MACHINES and len(r.inputs.get("tags") or []) == 2:
            out[r.inputs["tags"][1]] = r.inputs.get("labels", {}).get("tier", "?")
    return out


def _ports(rule: Resource) -> list[int | None]:
    ports = [p for a in rule.inputs.get("allows") or [] for p in a.get("ports") or [None]]
    return [int(p) if p is not None else None for p in ports]


class GcpReadings(Readings):
    granularity = Granularity.TIER_PORT

    def rules(self, graph: ResourceGraph) -> set[Rule]:
        tiers = _tiers_by_tag(graph)
        internal = {int(p) for r in graph.find(FORWARDING) if r.inputs.get("loadBalancingScheme") == "INTERNAL"
                    for p in r.inputs.get("ports") or []}
        passthrough = any(r.inputs.get("loadBalancingScheme") == "EXTERNAL" for r in graph.find(FORWARDING))
        out = {Rule(WORLD, str(LOAD_BALANCER), int(r.inputs["portRange"])) for r in graph.find(GLOBAL_FORWARDING)}
        for r in graph.find(FIREWALL):
            if not r.inputs.get("allows"):
                continue
            if r.inputs.get("direction") == "EGRESS":
                out |= self._producer(r, tiers)
                continue
            (tag,) = r.inputs.get("targetTags") or ["?"]
            target = tiers.get(tag, f"untagged {tag}")
            ranges = set(r.inputs.get("sourceRanges") or [])
            for port in _ports(r):
                if ranges == {ANYWHERE}:
                    out.add(Rule(WORLD, str(LOAD_BALANCER), port) if passthrough else Rule(WORLD, target, port))
                elif ranges == set(IAP_RANGE):
                    out.add(Rule(str(OPERATORS), target, port))
                elif ranges and ranges <= CHECKS:
                    source = (VAULT_ROUTER if port == VAULT_API and VAULT_API in internal
                              else POOL_ROUTER if port == REACTOR and REACTOR in internal else LOAD_BALANCER)
                    out.add(Rule(str(source), target, port))
                elif ranges:
                    out.add(Rule(f"cidr {','.join(sorted(ranges))}", target, port))
                else:
                    (source_tag,) = r.inputs.get("sourceTags") or ["?"]
                    source = tiers.get(source_tag, f"untagged {source_tag}")
                    routed = port == VAULT_API and VAULT_API in internal and source != target
                    out.add(Rule(source, str(VAULT_ROUTER) if routed else target, port))
        return out

    @staticmethod
    def _producer(rule: Resource, tiers: dict[str, str]) -> set[Rule]:
        """An egress allow to the Private Service Access range: a link to a producer service."""
        if rule.inputs.get("priority") != 900:
            return set()
        (tag,) = rule.inputs.get("targetTags") or ["?"]
        out = set()
        for port in _ports(rule):
            if port == NFS_PORTS[1]:
                continue  # Filestore's mountd: the NFS link's second port
            out.add(Rule(tiers.get(tag, "?"), "file-system" if port == NFS_PORTS[0] else "database", port))
        return out

    def egress(self, graph: ResourceGraph) -> set[str]:
        tiers = _tiers_by_tag(graph)
        return {tiers.get(tag, tag) for r in _world_allows(graph) if _all(r) for tag in r.inputs.get("targetTags") or []}

    def world_egress(self, graph: ResourceGraph) -> set[tuple[str, int | None]]:
        return {("every machine", port) for r in _world_allows(graph) if not _all(r) for port in _ports(r)}

    def health_checked(self, graph: ResourceGraph) -> set[str]:
        checked: set[str] = set()
        for machine in (r for r in graph.resources if r.type in MACHINES):
            for name, service in compose_services((machine.inputs.get("metadata") or {}).get("user-data")).items():
                if service.get("healthcheck", {}).get("test"):
                    checked.add(name)
        return checked

    def backup_retention_days(self, graph: ResourceGraph) -> dict[str, int]:
        out = {}
        for r in graph.find("gcp:sql/databaseInstance:DatabaseInstance"):
            backups = (r.inputs.get("settings") or {}).get("backupConfiguration")
            if backups:
                out[r.name] = int(backups["backupRetentionSettings"]["retainedBackups"])
        for r in graph.find("gcp:compute/resourcePolicy:ResourcePolicy"):
            out[r.name] = int(r.inputs["snapshotSchedulePolicy"]["retentionPolicy"]["maxRetentionDays"])
        return out

    def physical_names(self, graph: ResourceGraph) -> list[str]:
        names = []
        for r, value in named(graph, NAME_INPUTS, NOT_OUR_NAMES):
            if isinstance(value, str):
                where = r.inputs.get("region") or r.inputs.get("zone") or r.inputs.get("location") or "global"
                names.append(f"{value} ({r.type.rsplit(':', 1)[-1]}, {where})")
        return names


def _world_allows(graph: ResourceGraph) -> list[Resource]:
    return [r for r in graph.find(FIREWALL) if r.inputs.get("direction") == "EGRESS" and r.inputs.get("allows")
            and ANYWHERE in (r.inputs.get("destinationRanges") or [])]


def _all(rule: Resource) -> bool:
    return any(a.get("protocol") == "all" for a in rule.inputs.get("allows") or [])

