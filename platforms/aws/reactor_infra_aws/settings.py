"""AwsSettings: what a stack may set under `extras.aws` (each key optional; defaults in words)."""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, field_validator

from reactor_infra.addressing import range_after

# Amazon Linux 2023, x86_64: the public parameter AWS keeps pointing at its latest AMI. The
# boot scripts expect it: dnf, the AWS CLI and the SSM agent come with it.
AL2023_AMI = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

MAX_VPC_PREFIX = 22
_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")


class AwsSettings(BaseModel):
    """`extras.aws` in a stack file, e.g. `reactor-infra:extras: {aws: {instance_type: t3.large}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # EC2 instance type of the node; none: the smallest type that fits the node tier's sizing
    instance_type: str | None = None
    # public SSM parameter naming the AMI; default Amazon Linux 2023 x86_64 (AL2023_AMI)
    ami_ssm_parameter: str = AL2023_AMI
    # EC2 key pair for SSH; none (the node is reached through SSM Session Manager, port 22 stays closed)
    key_name: str | None = None
    # the VPC's IPv4 range; default 10.42.0.0/16 (size 2: the public subnet is its first /24;
    # from size 3 its first quarter holds the public subnets, the other three the private ones)
    vpc_cidr: str = "10.42.0.0/16"
    # the second region's VPC (+mr), which must not overlap the first (they are peered);
    # default the /16 after vpc_cidr's (10.43.0.0/16)
    second_vpc_cidr: str | None = None
    # RDS instance class; none: the smallest class fitting the database tier's sizing
    db_instance_class: str | None = None
    # availability zone of the subnet, node and data volume; none: the primary region's "a" zone
    availability_zone: str | None = None
    # Route53 hosted zone for `domain`; none: the public zone of the domain's parent, looked up
    hosted_zone_id: str | None = None
    # root volume size in GiB (OS, Docker images); default 20
    root_volume_gb: int = 20

    @field_validator("vpc_cidr", "second_vpc_cidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            net = ipaddress.IPv4Network(value)
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv4 CIDR such as 10.42.0.0/16") from None
        if not 16 <= net.prefixlen <= MAX_VPC_PREFIX:
            raise ValueError(f"'{value}': between /16 and /{MAX_VPC_PREFIX} (a load balancer needs "
                             "subnets of /27 or more in each zone)") from None
        return str(net)

    @field_validator("ami_ssm_parameter")
    @classmethod
    def _parameter(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"'{value}' is not an SSM parameter name such as {AL2023_AMI}")
        return value

    @field_validator("hosted_zone_id")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not _ZONE_ID.match(value):
            raise ValueError(f"'{value}' is not a Route53 hosted zone id such as Z0123456789ABCDEFGHIJ")
        return value

    @field_validator("root_volume_gb")
    @classmethod
    def _root(cls, value: int) -> int:
        if not 8 <= value <= 1024:
            raise ValueError(f"{value}: between 8 and 1024 GiB")
        return value

    def subnet_cidr(self) -> str:
        """The public subnet: the VPC range's first /24 (or all of it if it is a /24)."""
        net = ipaddress.IPv4Network(self.vpc_cidr)
        return str(next(net.subnets(new_prefix=24)) if net.prefixlen < 24 else net)

    def zone(self, region: str) -> str:
        return self.availability_zone or f"{region}a"

    def vpc_cidr_in(self, index: int) -> str:
        """The VPC range of the install's `index`-th region (0 the primary)."""
        if index and self.second_vpc_cidr:
            return self.second_vpc_cidr
        return range_after(self.vpc_cidr, index)

    def zones(self, region: str, count: int) -> list[str]:
        """`count` availability zones of a region: a, b, c (the first is `availability_zone` when
        set in the primary region)."""
        names = [f"{region}{letter}" for letter in "abcdef"[:count]]
        if self.availability_zone and self.availability_zone.startswith(region):
            names = [self.availability_zone] + [z for z in names if z != self.availability_zone][:count - 1]
        return names
