"""Network: one region's virtual network and its subnets, the NAT gateway machines go out by.

The region's range splits in quarters (`subnets_of`): machines (every VM and scale set, the
routers' fixed frontends), the database's subnet delegated to PostgreSQL flexible servers,
private endpoints (Key Vault, Azure Files), and AzureBastionSubnet (the primary region's
Bastion, /26). No subnet has default outbound access: machines go out through the region's NAT
gateway (a static public address), which the Plan's egress rules (the firewall) narrow. Each
subnet carries its network security group (`Firewall`). Subnets are made one after another:
Azure refuses concurrent changes to one network's subnets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags

TIER = "network"
DATABASE_DELEGATION = "Microsoft.DBforPostgreSQL/flexibleServers"
BASTION_SUBNET = "AzureBastionSubnet"


@dataclass(frozen=True)
class Subnets:
    machines: str
    database: str
    endpoints: str
    bastion: str


def subnets_of(cidr: str) -> Subnets:
    """The quarters of a region's range (the last one's first /26 for Bastion)."""
    quarters = list(ipaddress.IPv4Network(cidr).subnets(prefixlen_diff=2))
    bastion = next(quarters[3].subnets(new_prefix=26)) if quarters[3].prefixlen <= 26 else quarters[3]
    return Subnets(machines=str(quarters[0]), database=str(quarters[1]), endpoints=str(quarters[2]),
                   bastion=str(bastion))


@dataclass(frozen=True)
class NetworkArgs:
    plan: Plan
    region: str
    cidr: str
    resource_group: pulumi.Input[str]
    security_groups: Mapping[str, pulumi.Input[str]]  # subnet role -> its network security group's id
    bastion: bool = False  # the primary region: AzureBastionSubnet
    database: bool = False  # a delegated subnet for the flexible server (or its replica)


class Network(AzureComponent):
    """`vnet`; `subnets[role]` (machines, database, endpoints, bastion); `nat_ip`."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, region, child = args.plan, args.region, pulumi.ResourceOptions(parent=self)
        rg, ranges = args.resource_group, subnets_of(args.cidr)
        self.vnet = az.network.VirtualNetwork(
            f"{name}-vnet", virtual_network_name=physical_name(plan, "vnet", region), resource_group_name=rg,
            location=region, address_space={"address_prefixes": [args.cidr]}, tags=tags(plan, TIER), opts=child)
        self.nat_ip = az.network.PublicIPAddress(
            f"{name}-nat-ip", public_ip_address_name=physical_name(plan, "nat", f"{region}-ip"), resource_group_name=rg,
            location=region, sku={"name": "Standard", "tier": "Regional"}, public_ip_allocation_method="Static",
            public_ip_address_version="IPv4", tags=tags(plan, TIER), opts=child)
        self.nat = az.network.NatGateway(
            f"{name}-nat", nat_gateway_name=physical_name(plan, "nat", region), resource_group_name=rg, location=region,
            sku={"name": "Standard"}, idle_timeout_in_minutes=10, public_ip_addresses=[{"id": self.nat_ip.id}],
            tags=tags(plan, TIER), opts=child)
        wanted = [("machines", ranges.machines, {"nat_gateway": {"id": self.nat.id}}),
                  *([("database", ranges.database, {"delegations": [
                      {"name": "postgres", "service_name": DATABASE_DELEGATION}]})] if args.database else []),
                  ("endpoints", ranges.endpoints, {"private_endpoint_network_policies": "Enabled"}),
                  *([("bastion", ranges.bastion, {})] if args.bastion else [])]
        self.subnets: dict[str, az.network.Subnet] = {}
        previous: list[pulumi.Resource] = []
        for role, prefix, extra in wanted:
            nsg = args.security_groups.get(role)
            self.subnets[role] = az.network.Subnet(
                f"{name}-{role}", subnet_name=BASTION_SUBNET if role == "bastion" else role, resource_group_name=rg,
                virtual_network_name=self.vnet.name, address_prefix=prefix, default_outbound_access=False,
                network_security_group={"id": nsg} if nsg is not None else None, **extra,
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous))
            previous = [self.subnets[role]]
        self.register_outputs({"vnet": self.vnet.id})
