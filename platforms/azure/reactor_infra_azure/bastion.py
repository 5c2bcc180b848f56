"""Bastion: the operators' way to the machines: Azure Bastion (Standard, native client tunnels)
in the primary region's AzureBastionSubnet, reaching every machine of the install (the second
region's over the peering) on port 22 only (the firewall's `operators` links). Operators sign in
with Entra ID (`az network bastion ssh --auth-type AAD`; the machines run the AADSSHLoginForLinux
extension; the role Virtual Machine Administrator Login is the organisation's to grant). No
machine has an inbound port from the internet for this."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import OPERATORS, Plan

from .component import AzureComponent
from .naming import physical_name, tags

TIER = str(OPERATORS)


@dataclass(frozen=True)
class BastionArgs:
    plan: Plan
    region: str
    resource_group: pulumi.Input[str]
    subnet: pulumi.Input[str]  # AzureBastionSubnet


class Bastion(AzureComponent):
    """`host`; `name` (what `az network bastion` takes)."""

    def __init__(self, name: str, args: BastionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        address = az.network.PublicIPAddress(
            f"{name}-ip", public_ip_address_name=physical_name(plan, "bastion", "ip"),
            resource_group_name=args.resource_group, location=args.region, sku={"name": "Standard"},
            public_ip_allocation_method="Static", tags=tags(plan, TIER), opts=child)
        self.name = physical_name(plan, "bastion", "host")
        self.host = az.network.BastionHost(
            f"{name}-host", bastion_host_name=self.name, resource_group_name=args.resource_group,
            location=args.region, sku={"name": "Standard"}, enable_tunneling=True, enable_ip_connect=False,
            enable_shareable_link=False, enable_file_copy=False, scale_units=2,
            ip_configurations=[{"name": "primary", "subnet": {"id": args.subnet}, "public_ip_address": {"id": address.id}}],
            tags=tags(plan, TIER), opts=child)
        self.register_outputs({"host": self.host.id})
