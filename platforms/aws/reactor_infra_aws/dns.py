"""Dns: the A records that point the stack's domain (and, for edition C, every tenant's
`{ref}.<domain>` through a wildcard record) at the public address (Route53)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent



TIER = "dns"
TTL = 300


def zone_id_for(domain: str, hosted_zone_id: str | None, provider: pulumi.ProviderResource) -> pulumi.Input[str]:
    """The given hosted zone, else the public zone of the domain's parent, looked up."""
    if hosted_zone_id:
        return hosted_zone_id
    zone = aws.route53.get_zone_output(name=parent_zone(domain), private_zone=False,
                                       opts=pulumi.InvokeOutputOptions(provider=provider))
    return zone.zone_id


def parent_zone(domain: str) -> str:
    """`api.example.com` -> `example.com`: where the record usually lives."""
    head, _, rest = domain.partition(".")
    return rest if "." in rest else domain


@dataclass(frozen=True)
class DnsArgs:
    plan: Plan  # the domain comes from its settings; multi-tenancy asks for the wildcard
    address: pulumi.Input[str]  # the IPv4 address the name points at
    zone_id: pulumi.Input[str]  # the Route53 hosted zone of the domain (`zone_id_for`)


class Dns(AwsComponent):
    """`record`: `<domain> A <address>`; `wildcard`: `*.<domain> A <address>` (edition C)."""

    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._args = name, args
        domain = args.plan.settings.domain
        if not domain:
            raise ValueError("Dns needs settings.domain")
        self._domain = domain
        self.zone_id = args.zone_id
        self.record = self._create_record("a", domain)
        self.wildcard = self._create_record("wildcard", f"*.{domain}") if args.plan.policy.multi_tenant else None
        self.register_outputs({"fqdn": self.record.fqdn})

    def _create_record(self, role: str, name: str) -> aws.route53.Record:
        return aws.route53.Record(
            f"{self._name}-{role}",
            zone_id=self.zone_id,
            name=name,
            type="A",
            ttl=TTL,
            records=[self._args.address],
            opts=pulumi.ResourceOptions(parent=self),
        )
