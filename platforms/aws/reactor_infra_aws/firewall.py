"""Firewall: one security group per link end (each tier a link reaches, and the load balancer),
with rules from the Plan's links.

Each link becomes exactly one ingress rule (a separate `aws.vpc.SecurityGroupIngressRule`, never
an inline rule): from `internet` it is 0.0.0.0/0, from a tier or the load balancer it references
that group. Nothing else is open: no SSH, no admin port. A tier the Plan lets call out
(`TierPlan.egress`) gets one egress rule to anywhere; every other group gets egress only along
its own links.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import INTERNET, Link, Plan

from .component import AwsComponent
from .naming import SECURITY_GROUP_MAX, physical_name, tags

TIER = "network"
ANYWHERE_V4 = "0.0.0.0/0"


@dataclass(frozen=True)
class FirewallArgs:
    plan: Plan  # tiers and links come from it
    vpc_id: pulumi.Input[str]  # the VPC the groups live in


class Firewall(AwsComponent):
    """`groups[tier]` is the security group of that tier."""

    def __init__(self, name: str, args: FirewallArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._plan, self._vpc_id = name, args.plan, args.vpc_id
        self.groups: dict[str, aws.ec2.SecurityGroup] = {}
        ends = [str(e) for link in args.plan.links for e in (link.source, link.target) if e != INTERNET]
        for end in dict.fromkeys(ends):  # first seen first: a stable order
            self.groups[end] = self._create_security_group(end)
        calls_out = {t.name.value for t in args.plan.tiers if t.egress}
        for end in self.groups:
            for link in args.plan.links_into(end):
                self._create_ingress_rule(end, link)
            if end in calls_out:
                self._create_egress_to_anywhere(end)
            else:
                for link in args.plan.links:
                    if link.source == end and str(link.target) in self.groups:
                        self._create_egress_rule(end, link)
        self.register_outputs({f"{t}": g.id for t, g in self.groups.items()})

    def _create_security_group(self, end: str) -> aws.ec2.SecurityGroup:
        name = physical_name(self._plan, end, "sg", SECURITY_GROUP_MAX)
        return aws.ec2.SecurityGroup(
            f"{self._name}-{end}",
            name=name,
            description=f"Reactor {end}: only the plan's links",  # no token: the description replaces the group
            vpc_id=self._vpc_id,
            tags=tags(self._plan, end, name),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _source(self, link: Link) -> dict[str, pulumi.Input[str]]:
        if link.source == INTERNET:
            return {"cidr_ipv4": ANYWHERE_V4}
        if link.source in self.groups:
            return {"referenced_security_group_id": self.groups[link.source].id}
        raise ValueError(f"aws: no security group for the source of link {link}")

    def _create_ingress_rule(self, group: str, link: Link) -> None:
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-{group}-from-{link.source}-{link.port}",
            security_group_id=self.groups[group].id,
            ip_protocol=link.protocol,
            from_port=link.port,
            to_port=link.port,
            description=link.purpose,
            tags=tags(self._plan, group),
            opts=pulumi.ResourceOptions(parent=self),
            **self._source(link),
        )

    def _create_egress_rule(self, group: str, link: Link) -> None:
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{group}-to-{link.target}-{link.port}",
            security_group_id=self.groups[group].id,
            ip_protocol=link.protocol,
            from_port=link.port,
            to_port=link.port,
            referenced_security_group_id=self.groups[str(link.target)].id,
            description=link.purpose,
            tags=tags(self._plan, group),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_egress_to_anywhere(self, group: str) -> None:
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{group}-to-anywhere",
            security_group_id=self.groups[group].id,
            ip_protocol="-1",
            cidr_ipv4=ANYWHERE_V4,
            description="outbound: ACME, image pulls, webhooks, SSM, KMS (TierPlan.egress)",
            tags=tags(self._plan, group),
            opts=pulumi.ResourceOptions(parent=self),
        )
