"""PrivateLink: a private endpoint for one Azure service (a Key Vault, Azure Files) in a region's
endpoints subnet, and the private DNS zone that makes the service's own name resolve to it
from every network of the install (`privatelink.vaultcore.azure.net`, ...): made by the first
link of its kind, shared by the others (`zone_id`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags


@dataclass(frozen=True)
class PrivateLinkArgs:
    plan: Plan
    tier: str
    region: str
    resource_group: pulumi.Input[str]
    target: pulumi.Input[str]  # the service's resource id
    group: str  # its sub-resource: vault, file
    zone: str  # the private DNS zone of that sub-resource
    subnet: pulumi.Input[str]  # the endpoints subnet
    networks: Mapping[str, pulumi.Input[str]]  # region -> virtual network id (every one resolves it)
    zone_id: pulumi.Input[str] | None = None  # the zone another link of the same kind made: shared


class PrivateLink(AzureComponent):
    """`endpoint` (network.PrivateEndpoint)."""

    def __init__(self, name: str, args: PrivateLinkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        plan, child, rg = args.plan, pulumi.ResourceOptions(parent=self), args.resource_group
        self.zone_id = args.zone_id
        if self.zone_id is None:
            zone = az.privatedns.PrivateZone(f"{name}-zone", private_zone_name=args.zone, resource_group_name=rg,
                                             location="global", tags=tags(plan, args.tier), opts=child)
            self.zone_id = zone.id
            for region, network in sorted(args.networks.items()):
                az.privatedns.VirtualNetworkLink(
                    f"{name}-link-{region}", virtual_network_link_name=physical_name(plan, args.group, f"link-{region}"),
                    private_zone_name=zone.name, resource_group_name=rg, location="global",
                    virtual_network={"id": network}, registration_enabled=False, tags=tags(plan, args.tier), opts=child)
        self.endpoint = az.network.PrivateEndpoint(
            f"{name}-endpoint", private_endpoint_name=physical_name(plan, name, "pe"),
            resource_group_name=rg, location=args.region, subnet={"id": args.subnet},
            private_link_service_connections=[{"name": args.group, "private_link_service_id": args.target,
                                               "group_ids": [args.group]}],
            tags=tags(plan, args.tier), opts=child)
        az.network.PrivateDnsZoneGroup(
            f"{name}-dns", private_dns_zone_group_name="default", private_endpoint_name=self.endpoint.name,
            resource_group_name=rg, private_dns_zone_configs=[{"name": args.group, "private_dns_zone_id": self.zone_id}],
            opts=child)
        self.register_outputs({"endpoint": self.endpoint.id})
