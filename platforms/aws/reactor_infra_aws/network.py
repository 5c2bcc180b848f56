"""Network: a VPC with DNS, one public subnet in one zone, an internet gateway and its route.

Size 2 runs one node, so one public subnet is all it needs; the security groups (Firewall)
decide what may reach it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import physical_name, tags

TIER = "network"


@dataclass(frozen=True)
class NetworkArgs:
    plan: Plan  # stack name and token for names and tags
    vpc_cidr: str  # the VPC's IPv4 range
    subnet_cidr: str  # the public subnet's range, inside vpc_cidr
    availability_zone: str  # where the subnet (and so the node) lives


class Network(AwsComponent):
    """`vpc`, `subnet` (public, in `availability_zone`)."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._args, self._plan = name, args, args.plan
        self.vpc = self._create_vpc()
        self.gateway = self._create_internet_gateway()
        self.subnet = self._create_public_subnet()
        self.route_table = self._create_public_route_table()
        self.register_outputs({"vpc_id": self.vpc.id, "subnet_id": self.subnet.id})

    def _child(self, **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)

    def _tags(self, role: str) -> dict[str, str]:
        return tags(self._plan, TIER, physical_name(self._plan, TIER, role))

    def _create_vpc(self) -> aws.ec2.Vpc:
        return aws.ec2.Vpc(
            f"{self._name}-vpc",
            cidr_block=self._args.vpc_cidr,
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=self._tags("vpc"),
            opts=self._child(),
        )

    def _create_internet_gateway(self) -> aws.ec2.InternetGateway:
        return aws.ec2.InternetGateway(
            f"{self._name}-igw", vpc_id=self.vpc.id, tags=self._tags("igw"), opts=self._child())

    def _create_public_subnet(self) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            f"{self._name}-public",
            vpc_id=self.vpc.id,
            cidr_block=self._args.subnet_cidr,
            availability_zone=self._args.availability_zone,
            # the node's address is its Elastic IP; nothing else here gets a public address
            map_public_ip_on_launch=False,
            tags=self._tags("public"),
            opts=self._child(),
        )

    def _create_public_route_table(self) -> aws.ec2.RouteTable:
        table = aws.ec2.RouteTable(
            f"{self._name}-public-routes",
            vpc_id=self.vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=self.gateway.id)],
            tags=self._tags("public-routes"),
            opts=self._child(),
        )
        aws.ec2.RouteTableAssociation(
            f"{self._name}-public-routes-public",
            subnet_id=self.subnet.id,
            route_table_id=table.id,
            opts=self._child(),
        )
        return table
