"""Peering: the second region's VPC joined to the primary's (+mr).

The Plan keeps OpenBao, NATS and the database's primary in the first region; the second
region's app, edge and pooler reach them over a VPC peering connection (requested from the
second region, accepted in the first), with a route in every private route table of each side
to the other's private subnets only. Security groups cannot name groups across regions, so the
Firewall admits the other region's private subnets by a prefix list, one rule per link.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import physical_name, tags

TIER = "network"


@dataclass(frozen=True)
class Side:
    region: str
    provider: aws.Provider
    vpc_id: pulumi.Input[str]
    route_table_ids: Sequence[pulumi.Input[str]]  # the private route tables
    private_cidrs: Sequence[str]


@dataclass(frozen=True)
class PeeringArgs:
    plan: Plan  # names and tags
    primary: Side  # accepts
    second: Side  # requests


class Peering(AwsComponent):
    """`connection` (requested in the second region) and its acceptance in the primary."""

    def __init__(self, name: str, args: PeeringArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, primary, second = args.plan, args.primary, args.second
        role = physical_name(plan, TIER, f"peering-{second.region}")
        self.connection = aws.ec2.VpcPeeringConnection(
            f"{name}-request",
            vpc_id=second.vpc_id,
            peer_vpc_id=primary.vpc_id,
            peer_region=primary.region,
            auto_accept=False,  # across regions only the other side can accept
            tags=tags(plan, TIER, role),
            opts=pulumi.ResourceOptions(parent=self, provider=second.provider),
        )
        accepted = aws.ec2.VpcPeeringConnectionAccepter(
            f"{name}-accept",
            vpc_peering_connection_id=self.connection.id,
            auto_accept=True,
            tags=tags(plan, TIER, role),
            opts=pulumi.ResourceOptions(parent=self, provider=primary.provider),
        )
        for here, there in ((primary, second), (second, primary)):
            for i, table in enumerate(here.route_table_ids):
                for j, cidr in enumerate(there.private_cidrs):
                    aws.ec2.Route(
                        f"{name}-{here.region}-{i}-to-{there.region}-{j}",
                        route_table_id=table,
                        destination_cidr_block=cidr,
                        vpc_peering_connection_id=self.connection.id,
                        opts=pulumi.ResourceOptions(parent=self, provider=here.provider, depends_on=[accepted]),
                    )
        self.register_outputs({"connection": self.connection.id})
