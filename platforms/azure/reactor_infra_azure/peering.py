"""Peering: the two regions' networks of a +mr install, peered both ways (traffic between them
stays on Microsoft's backbone; no gateway transit)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .network import Network

TIER = "network"


@dataclass(frozen=True)
class PeeringArgs:
    plan: Plan
    resource_group: pulumi.Input[str]
    first: tuple[str, Network]  # (region, its network)
    second: tuple[str, Network]


class Peering(AzureComponent):
    def __init__(self, name: str, args: PeeringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        for (here, local), (there, remote) in ((args.first, args.second), (args.second, args.first)):
            az.network.VirtualNetworkPeering(
                f"{name}-{here}-{there}", virtual_network_peering_name=f"to-{there}", resource_group_name=args.resource_group,
                virtual_network_name=local.vnet.name, remote_virtual_network={"id": remote.vnet.id},
                allow_virtual_network_access=True, allow_forwarded_traffic=False, allow_gateway_transit=False,
                use_remote_gateways=False, opts=pulumi.ResourceOptions(parent=self, depends_on=list(local.subnets.values())))
        self.register_outputs({})
