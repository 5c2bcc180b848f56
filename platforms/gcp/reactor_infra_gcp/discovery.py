"""Discovery: the install's private Cloud DNS zone `reactor.internal.` on its VPC, and a record
per private name: a tier (every fixed address it has in a region; with +mr each region's
machines answer the callers in that region: a geolocation routing policy), one machine of
several (`nats-1`), a router's address (a clustered OpenBao, an autoscaled app pool).

Not `internal.`: a private zone for it would hide `metadata.google.internal`, which every
machine's service account signs in through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import labels, physical_name
from .places import DOMAIN

TIER = "network"
TTL = 30


@dataclass(frozen=True)
class DiscoveryArgs:
    plan: Plan
    network: pulumi.Input[str]  # the VPC's id


class Discovery(GcpComponent):
    def __init__(self, name: str, args: DiscoveryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._plan = name, args.plan
        self.zone = gcp.dns.ManagedZone(
            f"{name}-zone", name=physical_name(args.plan, TIER, "private"), dns_name=f"{DOMAIN}.",
            visibility="private", description=f"private names of stack {args.plan.stack}",
            private_visibility_config=gcp.dns.ManagedZonePrivateVisibilityConfigArgs(
                networks=[gcp.dns.ManagedZonePrivateVisibilityConfigNetworkArgs(network_url=args.network)]),
            labels=labels(args.plan, TIER), opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"zone": self.zone.name})

    def record(self, host: str, by_region: Mapping[str, Sequence[pulumi.Input[str]]]) -> None:
        """`host` (without the domain) -> its addresses per region (one region: a plain record)."""
        regions = [r for r, addresses in by_region.items() if addresses]
        if len(regions) == 1:
            rrdatas, policy = list(by_region[regions[0]]), None
        else:
            rrdatas, policy = None, gcp.dns.RecordSetRoutingPolicyArgs(geos=[
                gcp.dns.RecordSetRoutingPolicyGeoArgs(location=r, rrdatas=list(by_region[r])) for r in regions])
        gcp.dns.RecordSet(f"{self._name}-{host}", managed_zone=self.zone.name, name=f"{host}.{DOMAIN}.", type="A",
                          ttl=TTL, rrdatas=rrdatas, routing_policy=policy, opts=pulumi.ResourceOptions(parent=self))
