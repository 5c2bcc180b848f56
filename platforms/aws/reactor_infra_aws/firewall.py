"""Firewall: one security group per tier that runs machines, with rules from the Plan's links.

Each link into a tier becomes exactly one ingress rule (a separate
`aws.vpc.SecurityGroupIngressRule`, never an inline rule): `internet` is 0.0.0.0/0, another
tier is that tier's security group. Nothing else is open: no SSH, no admin port. A tier the
Plan lets call out (`TierPlan.egress`) gets one egress rule to anywhere; the others get
egress only along their own links.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.plan import INTERNET, Link, Plan, TierPlan

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
        machine_tiers = [t for t in args.plan.tiers if t.services]
        for tier in machine_tiers:
            self.groups[tier.name.value] = self._create_security_group(tier)
        for tier in machine_tiers:
            for link in args.plan.links_into(tier.name):
                self._create_ingress_rule(tier, link)
            if tier.egress:
                self._create_egress_to_anywhere(tier)
            else:
                for link in args.plan.links:
                    if link.source == tier.name and link.target in self.groups:
                        self._create_egress_rule(tier, link)
        self.register_outputs({f"{t}": g.id for t, g in self.groups.items()})

    def _create_security_group(self, tier: TierPlan) -> aws.ec2.SecurityGroup:
        name = physical_name(self._plan, tier.name.value, "sg", SECURITY_GROUP_MAX)
        return aws.ec2.SecurityGroup(
            f"{self._name}-{tier.name.value}",
            name=name,
            description=f"Reactor {tier.name.value} tier of {self._plan.topology}: only the plan's links",
            vpc_id=self._vpc_id,
            tags=tags(self._plan, tier.name.value, name),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _source(self, link: Link) -> dict[str, pulumi.Input[str]]:
        if link.source == INTERNET:
            return {"cidr_ipv4": ANYWHERE_V4}
        if link.source in self.groups:
            return {"referenced_security_group_id": self.groups[link.source].id}
        raise ValueError(f"aws: no security group for the source of link {link}")

    def _create_ingress_rule(self, tier: TierPlan, link: Link) -> None:
        group = tier.name.value
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

    def _create_egress_rule(self, tier: TierPlan, link: Link) -> None:
        group = tier.name.value
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{group}-to-{link.target}-{link.port}",
            security_group_id=self.groups[group].id,
            ip_protocol=link.protocol,
            from_port=link.port,
            to_port=link.port,
            referenced_security_group_id=self.groups[link.target].id,
            description=link.purpose,
            tags=tags(self._plan, group),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_egress_to_anywhere(self, tier: TierPlan) -> None:
        group = tier.name.value
        aws.vpc.SecurityGroupEgressRule(
            f"{self._name}-{group}-to-anywhere",
            security_group_id=self.groups[group].id,
            ip_protocol="-1",
            cidr_ipv4=ANYWHERE_V4,
            description="outbound: ACME, image pulls, webhooks, SSM, KMS (TierPlan.egress)",
            tags=tags(self._plan, group),
            opts=pulumi.ResourceOptions(parent=self),
        )
