"""Address: a static external IPv4 address of the ingress: the size-2 node's, a pass-through load
balancer's in its region, or the global load balancer's (region None). Made before the
machines: without a domain, Caddy's site and Reactor.toml's public URL name it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import labels, physical_name


@dataclass(frozen=True)
class AddressArgs:
    plan: Plan
    tier: str
    region: str | None  # None: a global address (the global load balancer's)


class Address(GcpComponent):
    """`address` (Output[str], the IP); `self_link`."""

    def __init__(self, name: str, args: AddressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        plan = args.plan
        keep = pulumi.ResourceOptions(parent=self, protect=plan.policy.protect)  # DNS points at it
        if args.region is None:
            static = gcp.compute.GlobalAddress(f"{name}-ip", name=physical_name(plan, args.tier, "address"),
                                               address_type="EXTERNAL", labels=labels(plan, args.tier), opts=keep)
        else:
            static = gcp.compute.Address(
                f"{name}-ip", name=physical_name(plan, args.tier, f"address-{args.region}"), region=args.region,
                address_type="EXTERNAL", network_tier="PREMIUM", labels=labels(plan, args.tier), opts=keep)
        self.address: pulumi.Output[str] = static.address
        self.self_link: pulumi.Output[str] = static.self_link
        self.register_outputs({"address": self.address})
