"""Firewall: one region's security groups, one per link end present there (each tier, the load
balancer, the vault router, the network file system), with rules from the Plan's links.

Each link becomes exactly one ingress rule per region its source is in (a separate
`aws.vpc.SecurityGroupIngressRule`, never an inline rule): from `internet` it is 0.0.0.0/0;
from an end in the same region it references that end's group; from the same tier in the other
region (+mr: security groups cannot be referenced across regions) it names a managed prefix
list of that region's private subnets. Nothing else is open: no SSH, no admin port.

Egress: a tier the Plan lets call out (`TierPlan.egress`) gets one rule to anywhere; every
other group gets egress only along its own links, and a tier that does not call out may still
open the platform's API port (`traits.platform_api_port`: SSM, ECR, CloudWatch Logs, the
operators' session agent) and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import INTERNET, Link, Plan

from .component import AwsComponent
from .naming import SECURITY_GROUP_MAX, physical_name, tags

TIER = "network"
ANYWHERE_V4 = "0.0.0.0/0"
SOURCE_TAG = "reactor:source"


@dataclass(frozen=True)
class FirewallArgs:
    plan: Plan  # tiers and links come from it
    vpc_id: pulumi.Input[str]  # the VPC the groups live in
    region: str = ""  # the region of this VPC; default the primary region
    # the private subnets of the install's other regions (+mr): region -> CIDRs; default none
    remote: Mapping[str, Sequence[str]] = field(default_factory=dict)
    suffix: str = ""  # physical-name suffix in a second region; default none


class Firewall(AwsComponent):
    """`groups[end]` is the security group of that link end in this region."""

    def __init__(self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        self._name, self._plan, self._args = name, plan, args
        self._region = args.region or plan.primary_region
        self.groups: dict[str, aws.ec2.SecurityGroup] = {}
        for end in plan.ends_in(self._region):
            self.groups[end] = self._create_security_group(end)
        self._prefix_lists: dict[str, aws.ec2.ManagedPrefixList] = {}
        calls_out = {t.name.value for t in plan.tiers if t.egress}
        runs = {t.name.value for t in plan.tiers if t.services}  # machines and tasks, not managed services
        api = plan.traits.platform_api_port if plan.topology.size >= 3 else None
        for end in self.groups:
            for link in plan.links_into(end):
                for source_region in plan.regions_of(link.source):
                    self._create_ingress_rule(end, link, source_region)
            if end in calls_out:
                self._create_egress_to_anywhere(end)
                continue
            for link in plan.links:
                if link.source == end:
                    for target_region in plan.regions_of(link.target):
                        self._create_egress_rule(end, link, target_region)
            if api and end in runs:
                self._create_platform_api_egress(end, api)
        self.register_outputs({f"{t}": g.id for t, g in self.groups.items()})

    def quiet_group(self, end: str = "database") -> aws.ec2.SecurityGroup:
        """A group for `end` here though no link reaches it in this region (the database's
        read replica until it is promoted): nothing may reach it."""
        if end not in self.groups:
            self.groups[end] = self._create_security_group(end)
        return self.groups[end]

    def _opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self)

    def _create_security_group(self, end: str) -> aws.ec2.SecurityGroup:
        name = physical_name(self._plan, end, "sg" + self._args.suffix, SECURITY_GROUP_MAX)
        return aws.ec2.SecurityGroup(
            f"{self._name}-{end}",
            name=name,
            description=f"Reactor {end}: only the plan's links",  # no token: the description replaces the group
            vpc_id=self._args.vpc_id,
            tags=tags(self._plan, end, name),
            opts=self._opts(),
        )

    def _prefix_list(self, region: str) -> aws.ec2.ManagedPrefixList:
        """The private subnets of another region of the install, as one prefix list here."""
        if region not in self._prefix_lists:
            cidrs = self._args.remote.get(region)
            if not cidrs:
                raise ValueError(f"aws: a link reaches {region}, whose private subnets were not given")
            self._prefix_lists[region] = aws.ec2.ManagedPrefixList(
                f"{self._name}-{region}",
                name=physical_name(self._plan, TIER, f"{region}-private{self._args.suffix}"),
                address_family="IPv4",
                max_entries=len(cidrs),
                entries=[aws.ec2.ManagedPrefixListEntryArgs(cidr=c, description=f"{region} private subnet")
                         for c in cidrs],
                tags=tags(self._plan, TIER),
                opts=self._opts(),
            )
        return self._prefix_lists[region]

    def _peer(self, end: str, region: str) -> dict[str, pulumi.Input[str]]:
        """How a rule names the other end of a link: the internet, a group here, another region."""
        if end == INTERNET:
            return {"cidr_ipv4": ANYWHERE_V4}
        if region == self._region:
            if end not in self.groups:
                raise ValueError(f"aws: no security group for {end} in {region}")
            return {"referenced_security_group_id": self.groups[end].id}
        return {"prefix_list_id": self._prefix_list(region).id}

    def _rule_name(self, group: str, direction: str, end: object, port: int, region: str) -> str:
        where = "" if region == self._region or end == INTERNET else f"-{region}"
        return f"{self._name}-{group}-{direction}-{end}{where}-{port}"

    def _create_ingress_rule(self, group: str, link: Link, source_region: str) -> None:
        if link.source == INTERNET and source_region != self._region:
            return  # the internet is one source, named once
        aws.vpc.SecurityGroupIngressRule(
            self._rule_name(group, "from", link.source, link.port, source_region),
            security_group_id=self.groups[group].id,
            ip_protocol=link.protocol,
            from_port=link.port,
            to_port=link.port,
            description=link.purpose if source_region == self._region else f"{link.purpose} (from {source_region})",
            # a rule from another region names a prefix list, not a group: say whose it is
            tags={**tags(self._plan, group), **({SOURCE_TAG: str(link.source)} if source_region != self._region else {})},
            opts=self._opts(),
            **self._peer(str(link.source), source_region),
        )

    def _create_egress_rule(self, group: str, link: Link, target_region: str) -> None:
        aws.vpc.SecurityGroupEgressRule(
            self._rule_name(group, "to", link.target, link.port, target_region),
            security_group_id=self.groups[group].id,
            ip_protocol=link.protocol,
            from_port=link.port,
            to_port=link.port,
            description=link.purpose if target_region == self._region else f"{link.purpose} (to {target_region})",
            tags=tags(self._plan, group),
            opts=self._opts(),
            **self._peer(str(link.target), target_region),
        )

    def _create_egress_to_anywhere(self, group: str) -> None:
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{group}-to-anywhere",
            security_group_id=self.groups[group].id,
            ip_protocol="-1",
            cidr_ipv4=ANYWHERE_V4,
            description="outbound: ACME, image pulls, webhooks, SSM, KMS (TierPlan.egress)",
            tags=tags(self._plan, group),
            opts=self._opts(),
        )

    def _create_platform_api_egress(self, group: str, port: int) -> None:
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{group}-to-platform-api",
            security_group_id=self.groups[group].id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            cidr_ipv4=ANYWHERE_V4,
            description="the platform's APIs only: SSM, ECR, CloudWatch Logs, session agent (no service calls out)",
            tags=tags(self._plan, group),
            opts=self._opts(),
        )
