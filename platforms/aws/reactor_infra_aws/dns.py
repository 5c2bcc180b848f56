"""Dns: the A record that points the stack's domain at the node's Elastic IP (Route53)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent



TIER = "dns"
TTL = 300


def parent_zone(domain: str) -> str:
    """`api.example.com` -> `example.com`: where the record usually lives."""
    head, _, rest = domain.partition(".")
    return rest if "." in rest else domain


@dataclass(frozen=True)
class DnsArgs:
    plan: Plan  # the domain comes from its settings
    address: pulumi.Input[str]  # the IPv4 address the name points at
    # Route53 hosted zone id; none: the public zone of the domain's parent, looked up
    hosted_zone_id: str | None = None


class Dns(AwsComponent):
    """`record`: `<domain> A <address>`."""

    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._args = name, args
        domain = args.plan.settings.domain
        if not domain:
            raise ValueError("Dns needs settings.domain")
        self._domain = domain
        self.zone_id = self._resolve_zone()
        self.record = self._create_record()
        self.register_outputs({"fqdn": self.record.fqdn})

    def _resolve_zone(self) -> pulumi.Input[str]:
        if self._args.hosted_zone_id:
            return self._args.hosted_zone_id
        zone = aws.route53.get_zone_output(
            name=parent_zone(self._domain), private_zone=False,
            opts=pulumi.InvokeOutputOptions(parent=self))
        return zone.zone_id

    def _create_record(self) -> aws.route53.Record:
        return aws.route53.Record(
            f"{self._name}-a",
            zone_id=self.zone_id,
            name=self._domain,
            type="A",
            ttl=TTL,
            records=[self._args.address],
            opts=pulumi.ResourceOptions(parent=self),
        )
