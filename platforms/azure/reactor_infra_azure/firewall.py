"""Firewall: one region's network security groups, from the Plan's links, and the application
security groups its machines join (one per tier).

Three groups per region, one per kind of subnet. `machines`: a link between tiers is an inbound
rule from the source tier's application security group (its machines in this region) or, from
another region, from its machines' fixed addresses (a pool's: its region's machines subnet), to
the target tier's group on its port. Azure's load balancers keep the client's address, so a
link through the vault or pool router is the caller's rule to the machines behind it, and the
router's own link is its health probes (the AzureLoadBalancer tag). From outside: the world
(`Internet`, only 80/443 to the ingress), Front Door's back ends (`AzureFrontDoor.Backend`, size
3), operators through Azure Bastion (its subnet, port 22). Outbound: the install's networks, the
world on every port only for the tiers the Plan lets call out, 443 for every machine (Azure's
APIs, image registries) and 80 (Ubuntu's package mirror, plain HTTP; apt verifies its
signatures), nothing else. `database` (the flexible server's delegated subnet): the links to the
database, the server's own subnet (its standby), nothing else of the network. `endpoints`
(private endpoints): Key Vault (443) from every machine, the links to the file system (NFS).
Each group ends with a rule that denies what its allow rules do not name, which also overrides
Azure's default AllowVnetInBound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import (FILE_SYSTEM, INTERNET, LOAD_BALANCER, OPERATORS, POOL_ROUTER, VAULT_ROUTER, Link,
                                  Plan, Service, Tier, TlsTermination)

from .component import AzureComponent
from .naming import physical_name, tags
from .network import Subnets

TIER = "network"
API_PORTS = ("443", "80")  # Azure's APIs and registries; Ubuntu's package mirror
LAST = 4096  # the lowest priority a rule may have: the deny rules
KINDS = ("machines", "database", "endpoints")


@dataclass(frozen=True)
class Rule:
    """One security rule: `source`/`destination` are ("asg", tier), ("prefixes", [..]) or ("tag", name)."""

    name: str
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny
    ports: tuple[str, ...]  # "*" for any
    source: tuple[str, object]
    destination: tuple[str, object]
    description: str
    protocol: str = "Tcp"


@dataclass(frozen=True)
class FirewallArgs:
    plan: Plan
    region: str
    resource_group: pulumi.Input[str]
    subnets: Mapping[str, Subnets]  # region -> its subnets (every region of the install)
    # (tier, region) -> the fixed addresses of the tier's machines there (none for a pool)
    fixed: Mapping[tuple[str, str], Sequence[str]] = field(default_factory=dict)
    database_regions: Sequence[str] = ()  # where the flexible server (and its replica) live
    files_region: str | None = None  # where the Azure Files private endpoint lives


def _tier_end(plan: Plan, end: str) -> str:
    if end == str(LOAD_BALANCER):
        return str(plan.ingress.tier)
    if end == str(VAULT_ROUTER):
        return str(plan.tier_of(Service.OPENBAO).name)
    return end


def rules_of(args: FirewallArgs) -> dict[str, list[Rule]]:
    """kind -> the rules of this region's group of that kind, in priority order. Pure."""
    plan, region = args.plan, args.region
    here = args.subnets[region]
    out: dict[str, list[Rule]] = {k: [] for k in KINDS}
    regions_of = {t.name.value: list(t.regions) for t in plan.tiers}

    def sources(link: Link) -> list[tuple[str, object]]:
        src = str(link.source)
        if link.source == INTERNET:
            return [("tag", "Internet")]
        if link.source == OPERATORS:
            primary = args.subnets[plan.primary_region]
            return [("prefixes", [primary.bastion])]
        if link.source in (VAULT_ROUTER, POOL_ROUTER):
            return [("tag", "AzureLoadBalancer")]
        if link.source == LOAD_BALANCER:
            fronted = plan.ingress.tls is TlsTermination.LOAD_BALANCER
            return [("tag", "AzureFrontDoor.Backend"), ("tag", "AzureLoadBalancer")] if fronted else [
                ("tag", "AzureLoadBalancer")]
        found: list[tuple[str, object]] = []
        for r in regions_of.get(src, []):
            if r == region:
                found.append(("asg", src))
            else:
                found.append(("prefixes", list(args.fixed.get((src, r)) or [args.subnets[r].machines])))
        return found

    for link in plan.links:
        if link.source == INTERNET and plan.ingress.tls is TlsTermination.LOAD_BALANCER:
            continue  # Front Door's edge takes the world's connections
        why = f"{link.source} -> {link.target} :{link.port} ({link.purpose})"
        role = f"{link.source}-{link.target}-{link.port}"
        if link.target == Tier.DATABASE:
            if region not in args.database_regions:
                continue
            kind, dest = "database", ("prefixes", [here.database])
        elif link.target == FILE_SYSTEM:
            if region != args.files_region:
                continue
            kind, dest = "endpoints", ("prefixes", [here.endpoints])
        else:
            target = _tier_end(plan, str(link.target))
            if region not in regions_of.get(target, []):
                continue
            kind, dest = "machines", ("asg", target)
        for i, source in enumerate(sources(link)):
            out[kind].append(Rule(f"{role}-{i}" if i else role, "Inbound", "Allow", (str(link.port),), source, dest, why))
    out["database"].append(Rule("standby", "Inbound", "Allow", ("*",), ("prefixes", [here.database]),
                                ("prefixes", [here.database]), "the server and its standby", protocol="*"))
    everyone = [args.subnets[r].machines for r in sorted(args.subnets)]
    out["endpoints"].append(Rule("key-vault", "Inbound", "Allow", ("443",), ("prefixes", everyone),
                                 ("prefixes", [here.endpoints]), "every machine reads its secrets from Key Vault"))
    for kind in KINDS:
        out[kind].append(Rule("deny-inbound", "Inbound", "Deny", ("*",), ("tag", "*"), ("tag", "*"),
                              "nothing else", protocol="*"))
    machines = out["machines"]
    machines.append(Rule("allow-internal", "Outbound", "Allow", ("*",), ("tag", "VirtualNetwork"),
                         ("tag", "VirtualNetwork"), "inside the install's networks (each target's rules decide)",
                         protocol="*"))
    callers = sorted(t.name.value for t in plan.tiers if t.egress and t.services and region in t.regions)
    for tier in callers:
        machines.append(Rule(f"allow-egress-{tier}", "Outbound", "Allow", ("*",), ("asg", tier), ("tag", "Internet"),
                             f"{tier} may call out (the plan's egress)", protocol="*"))
    machines.append(Rule("allow-apis", "Outbound", "Allow", API_PORTS, ("tag", "*"), ("tag", "Internet"),
                         "Azure's APIs and image registries (443), Ubuntu's package mirror (80)"))
    machines.append(Rule("deny-outbound", "Outbound", "Deny", ("*",), ("tag", "*"), ("tag", "*"), "nothing else",
                         protocol="*"))
    return out


class Firewall(AzureComponent):
    """`groups[tier]` (application security groups, ids); `security_groups[kind]` (ids)."""

    def __init__(self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, region, child = args.plan, args.region, pulumi.ResourceOptions(parent=self)
        rg = args.resource_group
        self.groups: dict[str, pulumi.Output[str]] = {}
        for tier in plan.tiers:
            if tier.services and region in tier.regions:
                self.groups[tier.name.value] = az.network.ApplicationSecurityGroup(
                    f"{name}-{tier.name.value}", application_security_group_name=physical_name(
                        plan, tier.name.value, f"asg-{region}"),
                    resource_group_name=rg, location=region, tags=tags(plan, tier.name.value), opts=child).id
        self.rules = rules_of(args)
        self.security_groups: dict[str, pulumi.Output[str]] = {}
        for kind, rules in self.rules.items():
            self.security_groups[kind] = az.network.NetworkSecurityGroup(
                f"{name}-{kind}", network_security_group_name=physical_name(plan, f"nsg-{kind}", region),
                resource_group_name=rg, location=region, tags=tags(plan, TIER),
                security_rules=[self._rule(rule, i, len(rules)) for i, rule in enumerate(rules)], opts=child).id
        self.register_outputs({})

    def _rule(self, rule: Rule, index: int, count: int) -> dict:
        priority = LAST if rule.access == "Deny" and rule.name.startswith("deny-") else 100 + 10 * index
        out: dict = {"name": rule.name[:80], "direction": rule.direction, "access": rule.access,
                     "protocol": rule.protocol, "priority": priority, "description": rule.description[:140],
                     "source_port_range": "*"}
        if len(rule.ports) == 1:
            out["destination_port_range"] = rule.ports[0]
        else:
            out["destination_port_ranges"] = list(rule.ports)
        for end, (kind, value) in (("source", rule.source), ("destination", rule.destination)):
            if kind == "asg":
                out[f"{end}_application_security_groups"] = [{"id": self.groups[str(value)]}]
            elif kind == "prefixes":
                values = list(value)  # type: ignore[arg-type]
                if len(values) == 1:
                    out[f"{end}_address_prefix"] = values[0]
                else:
                    out[f"{end}_address_prefixes"] = values
            else:
                out[f"{end}_address_prefix"] = value
        return out
