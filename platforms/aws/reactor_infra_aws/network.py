"""Network: one region's VPC, its subnets per zone, the way out and the S3 gateway endpoint.

- Size 2 runs one node with its own Elastic IP: one public subnet (the range's first /24), an
  internet gateway and its route; nothing is private.
- From size 3 (`private=True`) the core's address plan (`addressing.subnet_plan`) gives one
  public subnet per zone, which only load balancers and NAT gateways use, and one private subnet
  per zone for every machine, task, file system and database. The private subnets leave through
  NAT: one gateway per zone when the Plan says so (`policy.egress_per_zone`, E and C: losing a
  zone never cuts the others' way out), else one shared gateway in the first zone. An S3 gateway
  endpoint on every route table keeps bucket traffic (and image layers from ECR) off NAT.

The security groups (Firewall) decide what may reach what; nothing here is open by itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.addressing import subnet_plan
from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import physical_name, tags

TIER = "network"


@dataclass(frozen=True)
class NetworkArgs:
    plan: Plan  # stack name, zones and egress policy
    vpc_cidr: str  # the VPC's IPv4 range
    zones: list[str]  # availability zones, one subnet of each kind per zone
    private: bool  # private subnets behind NAT (size >= 3); False: one public subnet (size 2)
    subnet_cidr: str | None = None  # size 2: the public subnet's range; default from the address plan
    region: str = ""  # the region (names the S3 endpoint's service); default: the provider's, unnamed
    suffix: str = ""  # physical-name suffix in a second region; default none


def _zone_suffix(index: int) -> str:
    """Logical names of the first zone's resources carry no suffix (size 2's names stay as they were)."""
    return "" if index == 0 else f"-{index + 1}"


class Network(AwsComponent):
    """`vpc`; `public_subnets` and `private_subnets` (one per zone; `subnet` is the first public);
    `private_cidrs`; `route_tables` (every table, for endpoints and peering routes)."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._args, self._plan = name, args, args.plan
        zones = len(args.zones)
        layout = subnet_plan(args.vpc_cidr, zones) if args.private else None
        self.vpc = self._create_vpc()
        self.gateway = self._create_internet_gateway()
        public_cidrs = layout.public if layout else [args.subnet_cidr or args.vpc_cidr]
        self.public_subnets = [self._create_subnet("public", i, cidr) for i, cidr in enumerate(public_cidrs)]
        self.subnet = self.public_subnets[0]
        self.route_table = self._create_public_route_table()
        self.route_tables = [self.route_table]
        self.private_subnets: list[aws.ec2.Subnet] = []
        self.private_cidrs: list[str] = list(layout.private) if layout else []
        self.private_route_tables: list[aws.ec2.RouteTable] = []
        if layout:
            nats = self._create_nat_gateways()
            for i, cidr in enumerate(layout.private):
                subnet = self._create_subnet("private", i, cidr)
                self.private_subnets.append(subnet)
                self.private_route_tables.append(self._create_private_route_table(i, subnet, nats[min(i, len(nats) - 1)]))
            self.route_tables += self.private_route_tables
            self._create_s3_endpoint()
        self.register_outputs({"vpc_id": self.vpc.id, "subnet_id": self.subnet.id})

    def _child(self, **extra) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **extra)

    def _tags(self, role: str) -> dict[str, str]:
        return tags(self._plan, TIER, physical_name(self._plan, TIER, role + self._args.suffix))

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

    def _create_subnet(self, kind: str, index: int, cidr: str) -> aws.ec2.Subnet:
        return aws.ec2.Subnet(
            f"{self._name}-{kind}{_zone_suffix(index)}",
            vpc_id=self.vpc.id,
            cidr_block=cidr,
            availability_zone=self._args.zones[index],
            # nothing gets a public address by launching here: the size-2 node's is its Elastic
            # IP, load balancers and NAT gateways bring their own
            map_public_ip_on_launch=False,
            tags=self._tags(f"{kind}{_zone_suffix(index)}"),
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
        for i, subnet in enumerate(self.public_subnets):
            aws.ec2.RouteTableAssociation(
                f"{self._name}-public-routes-public{_zone_suffix(i)}",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=self._child(),
            )
        return table

    def _create_nat_gateways(self) -> list[aws.ec2.NatGateway]:
        count = len(self.public_subnets) if self._plan.policy.egress_per_zone else 1
        gateways = []
        for i in range(count):
            address = aws.ec2.Eip(f"{self._name}-nat{_zone_suffix(i)}-address", domain="vpc",
                                  tags=self._tags(f"nat{_zone_suffix(i)}-address"), opts=self._child())
            gateways.append(aws.ec2.NatGateway(
                f"{self._name}-nat{_zone_suffix(i)}",
                allocation_id=address.allocation_id,
                subnet_id=self.public_subnets[i].id,
                tags=self._tags(f"nat{_zone_suffix(i)}"),
                opts=self._child(depends_on=[self.gateway]),
            ))
        return gateways

    def _create_private_route_table(self, index: int, subnet: aws.ec2.Subnet,
                                    nat: aws.ec2.NatGateway) -> aws.ec2.RouteTable:
        role = f"private-routes{_zone_suffix(index)}"
        table = aws.ec2.RouteTable(f"{self._name}-{role}", vpc_id=self.vpc.id, tags=self._tags(role),
                                   opts=self._child())
        # a separate route, so peering routes (a second region) can join the table
        aws.ec2.Route(f"{self._name}-{role}-nat", route_table_id=table.id, destination_cidr_block="0.0.0.0/0",
                      nat_gateway_id=nat.id, opts=self._child())
        aws.ec2.RouteTableAssociation(f"{self._name}-{role}-private{_zone_suffix(index)}", subnet_id=subnet.id,
                                      route_table_id=table.id, opts=self._child())
        return table

    def _create_s3_endpoint(self) -> None:
        aws.ec2.VpcEndpoint(
            f"{self._name}-s3",
            vpc_id=self.vpc.id,
            service_name=f"com.amazonaws.{self._args.region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in self.route_tables],
            tags=self._tags("s3"),
            opts=self._child(),
        )
