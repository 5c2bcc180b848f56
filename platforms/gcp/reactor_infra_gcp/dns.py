"""Dns: the domain's public records in its Cloud DNS zone (`extras.gcp.dns_zone`): the domain
(and `*.<domain>` for edition C's tenants) at the ingress's address (with +mr each region's
pass-through balancer, picked by the caller's location), and the CNAME that proves the domain
to Certificate Manager (size 3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent

TIER = "dns"
TTL = 300


@dataclass(frozen=True)
class DnsArgs:
    plan: Plan
    zone: str  # the managed zone's name
    addresses: Mapping[str, pulumi.Input[str]]  # region -> the ingress's public address there
    authorization: pulumi.Input | None = None  # (name, type, data) of Certificate Manager's record


class Dns(GcpComponent):
    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        domain = plan.settings.domain
        assert domain, "public records need the stack's domain"
        hosts = [domain] + ([f"*.{domain}"] if plan.policy.multi_tenant else [])
        for i, host in enumerate(hosts):
            if len(args.addresses) == 1:
                rrdatas, policy = [next(iter(args.addresses.values()))], None
            else:
                rrdatas, policy = None, gcp.dns.RecordSetRoutingPolicyArgs(geos=[
                    gcp.dns.RecordSetRoutingPolicyGeoArgs(location=region, rrdatas=[address])
                    for region, address in args.addresses.items()])
            gcp.dns.RecordSet(f"{name}-{'wildcard' if i else 'domain'}", managed_zone=args.zone, name=f"{host}.",
                              type="A", ttl=TTL, rrdatas=rrdatas, routing_policy=policy, opts=child)
        if args.authorization is not None:
            auth = pulumi.Output.from_input(args.authorization)
            gcp.dns.RecordSet(f"{name}-authorization", managed_zone=args.zone, name=auth.apply(lambda a: a[0]),
                              type=auth.apply(lambda a: a[1]), ttl=TTL, rrdatas=[auth.apply(lambda a: a[2])], opts=child)
        self.register_outputs({})
