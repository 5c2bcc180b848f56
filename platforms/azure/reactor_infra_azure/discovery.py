"""Discovery: a region's private DNS zone `reactor.internal`, linked to that region's network,
where each service is found by name: a tier's machines (`nats.reactor.internal`, all of them),
each machine of several (`nats-1.reactor.internal`), a router's fixed address.

Azure's private DNS has no location routing, so with +mr each region has a zone of its own (in
its own resource group: a network links one zone of a name) naming the region's own machines
where the tier has some there and the primary's otherwise: the second region's gateway reaches
its own app machines, every region the one OpenBao cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags
from .places import DOMAIN

TIER = "network"
TTL = 60


@dataclass(frozen=True)
class DiscoveryArgs:
    plan: Plan
    region: str
    resource_group: pulumi.Input[str]
    network: pulumi.Input[str]  # the region's virtual network id


class Discovery(AzureComponent):
    """`record(name, addresses)` adds `<name>.reactor.internal`."""

    def __init__(self, name: str, args: DiscoveryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._rg = name, args.resource_group
        child = pulumi.ResourceOptions(parent=self)
        self.zone = az.privatedns.PrivateZone(f"{name}-zone", private_zone_name=DOMAIN,
                                              resource_group_name=args.resource_group, location="global",
                                              tags=tags(args.plan, TIER), opts=child)
        az.privatedns.VirtualNetworkLink(
            f"{name}-link", virtual_network_link_name=physical_name(args.plan, "internal", f"link-{args.region}"),
            private_zone_name=self.zone.name, resource_group_name=args.resource_group, location="global",
            virtual_network={"id": args.network}, registration_enabled=False, tags=tags(args.plan, TIER), opts=child)
        self.register_outputs({"zone": self.zone.id})

    def record(self, name: str, addresses: Sequence[str]) -> None:
        az.privatedns.PrivateRecordSet(
            f"{self._name}-{name}", relative_record_set_name=name, record_type="A", private_zone_name=self.zone.name,
            resource_group_name=self._rg, ttl=TTL, a_records=[{"ipv4_address": a} for a in addresses],
            opts=pulumi.ResourceOptions(parent=self))
