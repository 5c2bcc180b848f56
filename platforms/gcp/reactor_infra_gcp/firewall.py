"""Firewall: the VPC firewall rules of the install, one per Plan link, and the egress rules.

Machines wear two network tags: the install's and their tier's. A link between tiers is an
ingress rule from the source tier's tag to the target's on its port (Google's pass-through load
balancers keep the client's address, so a link through the vault router or the pool router is
the caller's rule to the machines behind it). A link from outside comes from a fixed range:
the world (0.0.0.0/0, only 80/443 to the ingress), Google's load balancer and health-check
ranges, IAP's TCP forwarding range (operators' SSH). A link to a producer service reached over
Private Service Access (Cloud SQL, Filestore) is an egress rule from the source tier to the
reserved range on its port; every other way to that range is denied.

Egress: everything inside the install's subnets (the ingress rules guard each target); the
world on every port only for the tiers the Plan lets call out (reactor-server, Caddy, OpenBao
with its KMS seal); the world on 443 for every machine (Google's APIs, image registries) and 80
(Ubuntu's package mirror, plain HTTP; apt verifies its signatures); nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import (FILE_SYSTEM, INTERNET, LOAD_BALANCER, OPERATORS, POOL_ROUTER, VAULT_ROUTER,
                                  Link, Plan, Service, Tier, TlsTermination)

from .component import GcpComponent
from .naming import install_tag, physical_name, tier_tag

TIER = "network"
WORLD = "0.0.0.0/0"
IAP_RANGE = ("35.235.240.0/20",)  # IAP TCP forwarding
# Google Front Ends and the health checks of proxy load balancers and internal pass-through ones
PROXY_RANGES = ("35.191.0.0/16", "130.211.0.0/22")
# health checks of external pass-through Network Load Balancers
PASSTHROUGH_CHECK_RANGES = ("35.191.0.0/16", "209.85.152.0/22", "209.85.204.0/22")
NFS_PORTS = (2049, 2050)  # Filestore (NFSv3): nfsd, and mountd at its fixed port
API_PORTS = (443, 80)  # Google's APIs and registries (443); Ubuntu's package mirror (80)
PRODUCER_TARGETS = (str(Tier.DATABASE), str(FILE_SYSTEM))


@dataclass(frozen=True)
class FirewallArgs:
    plan: Plan
    network: pulumi.Input[str]  # the VPC's id
    subnets: Sequence[str]  # every region's subnet range (inside the install)
    services_cidr: str | None = None  # Private Service Access range; none: no producer service


def _ports(link: Link) -> list[str]:
    return [str(p) for p in (NFS_PORTS if link.target == FILE_SYSTEM else (link.port,))]


class Firewall(GcpComponent):
    """`rules[link]` is the rule a Plan link became."""

    def __init__(self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._plan, self._network = name, args.plan, args.network
        plan = args.plan
        self.rules: dict[Link, gcp.compute.Firewall] = {}
        everyone = [install_tag(plan)]
        for link in plan.links:
            if link.source == INTERNET and plan.ingress.tls is TlsTermination.LOAD_BALANCER:
                continue  # Google's front ends take these: the load balancer's forwarding rules
            self.rules[link] = self._link(link, args)
        if args.services_cidr:  # the producer range: only the links above reach it
            self._rule("deny-services", "EGRESS", priority=950, target_tags=everyone,
                       destination_ranges=[args.services_cidr], denies=[gcp.compute.FirewallDenyArgs(protocol="all")],
                       description="nothing else reaches Google's producer services")
        self._rule("allow-internal", "EGRESS", target_tags=everyone, destination_ranges=list(args.subnets),
                   allows=[gcp.compute.FirewallAllowArgs(protocol="all")],
                   description="inside the install's subnets (each target's ingress rules decide)")
        callers = sorted(t.name.value for t in plan.tiers if t.egress and t.services)
        if callers:
            self._rule("allow-egress", "EGRESS", target_tags=[tier_tag(plan, t) for t in callers],
                       destination_ranges=[WORLD], allows=[gcp.compute.FirewallAllowArgs(protocol="all")],
                       description=f"the tiers the plan lets call out: {', '.join(callers)}")
        self._rule("allow-apis", "EGRESS", target_tags=everyone, destination_ranges=[WORLD],
                   allows=[gcp.compute.FirewallAllowArgs(protocol="tcp", ports=[str(p) for p in API_PORTS])],
                   description="Google's APIs and image registries (443), Ubuntu's package mirror (80)")
        self._rule("deny-egress", "EGRESS", priority=65534, target_tags=everyone, destination_ranges=[WORLD],
                   denies=[gcp.compute.FirewallDenyArgs(protocol="all")], description="nothing else")
        self.register_outputs({})

    def _link(self, link: Link, args: FirewallArgs) -> gcp.compute.Firewall:
        plan = self._plan
        role = f"{link.source}-{link.target}-{link.port}"
        allows = [gcp.compute.FirewallAllowArgs(protocol="tcp", ports=_ports(link))]
        why = f"{link.source} -> {link.target} :{link.port} ({link.purpose})"
        if str(link.target) in PRODUCER_TARGETS:
            assert args.services_cidr, f"{link.target} needs the services range"
            return self._rule(role, "EGRESS", priority=900, target_tags=[tier_tag(plan, str(link.source))],
                              destination_ranges=[args.services_cidr], allows=allows, description=why)
        target = str(link.target)
        if link.target == LOAD_BALANCER:  # the world's connections, passed through to the tier behind
            target = str(plan.ingress.tier)
        elif link.target == VAULT_ROUTER:
            target = str(plan.tier_of(Service.OPENBAO).name)
        kwargs: dict = {"target_tags": [tier_tag(plan, target)]}
        if link.source == INTERNET:
            kwargs["source_ranges"] = [WORLD]
        elif link.source == OPERATORS:
            kwargs["source_ranges"] = list(IAP_RANGE)
        elif link.source == LOAD_BALANCER:
            passthrough = plan.ingress.tls is TlsTermination.CADDY
            kwargs["source_ranges"] = list(PASSTHROUGH_CHECK_RANGES if passthrough else PROXY_RANGES)
        elif link.source in (VAULT_ROUTER, POOL_ROUTER):
            kwargs["source_ranges"] = list(PROXY_RANGES)
        else:
            kwargs["source_tags"] = [tier_tag(plan, str(link.source))]
        return self._rule(role, "INGRESS", allows=allows, description=why, **kwargs)

    def _rule(self, role: str, direction: str, *, priority: int = 1000, description: str, **kwargs) -> gcp.compute.Firewall:
        return gcp.compute.Firewall(
            f"{self._name}-{role}", name=physical_name(self._plan, "fw", role), network=self._network,
            direction=direction, priority=priority, description=description[:2048],
            log_config=gcp.compute.FirewallLogConfigArgs(metadata="EXCLUDE_ALL_METADATA"),
            opts=pulumi.ResourceOptions(parent=self), **kwargs)
