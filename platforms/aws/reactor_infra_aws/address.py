"""Address: the Elastic IP a public node answers on.

Allocated on its own, before the node, so the address is known when the node's config is
rendered (without a domain, Caddy serves the address itself) and survives a replaced node.
`Node` associates it with its instance.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import physical_name, tags


@dataclass(frozen=True)
class AddressArgs:
    plan: Plan  # names, tags and policy.protect
    tier: str  # the public tier whose node takes this address


class Address(AwsComponent):
    """`eip` (aws.ec2.Eip); `public_ip` and `allocation_id` are its outputs."""

    def __init__(self, name: str, args: AddressArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        self._name, self._args = name, args
        self.eip = self._create_elastic_ip()
        self.public_ip: pulumi.Output[str] = self.eip.public_ip
        self.allocation_id: pulumi.Output[str] = self.eip.allocation_id
        self.register_outputs({"public_ip": self.public_ip})

    def _create_elastic_ip(self) -> aws.ec2.Eip:
        plan, tier = self._args.plan, self._args.tier
        return aws.ec2.Eip(
            f"{self._name}-eip",
            domain="vpc",
            tags=tags(plan, tier, physical_name(plan, tier, "address")),
            # the address is what DNS and clients know: keep it where the edition protects
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect),
        )
