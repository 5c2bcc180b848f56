"""Dns: the records that point the stack's domain (and, for edition C, every tenant's
`{ref}.<domain>` through a wildcard record) at the install's public end (Route53).

Size 2: `A` records on the node's Elastic IP. From size 3: alias records to the load balancer;
with +mr one alias per region, latency-routed with the load balancer's own health as the
failover signal (`evaluate_target_health`): clients reach the nearest healthy region, and a
region whose load balancer has no healthy target drops out. Route53 rather than Global
Accelerator: the ingress already keeps TLS at Caddy (TCP passthrough), so a second anycast
layer would add cost and not a guarantee the records lack.
"""

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
class Target:
    """A load balancer the names alias to, in one region."""

    region: str
    dns_name: pulumi.Input[str]
    zone_id: pulumi.Input[str]  # the load balancer's canonical hosted zone


@dataclass(frozen=True)
class DnsArgs:
    plan: Plan  # the domain comes from its settings; multi-tenancy asks for the wildcard
    zone_id: pulumi.Input[str]  # the Route53 hosted zone of the domain (`zone_id_for`)
    address: pulumi.Input[str] | None = None  # size 2: the IPv4 address the name points at
    targets: tuple[Target, ...] = ()  # from size 3: the load balancer of each region


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
        names = [("a", domain)] + ([("wildcard", f"*.{domain}")] if args.plan.policy.multi_tenant else [])
        records: dict[str, list[aws.route53.Record]] = {}
        for role, name in names:
            records[role] = ([self._create_record(role, name)] if args.address is not None
                             else [self._create_alias(role, name, t) for t in args.targets])
        self.record = records["a"][0]
        self.wildcard = records["wildcard"][0] if "wildcard" in records else None
        self.register_outputs({"fqdn": self.record.fqdn})

    def _create_alias(self, role: str, name: str, target: Target) -> aws.route53.Record:
        latency = len(self._args.targets) > 1
        return aws.route53.Record(
            f"{self._name}-{role}" + (f"-{target.region}" if latency else ""),
            zone_id=self.zone_id,
            name=name,
            type="A",
            aliases=[aws.route53.RecordAliasArgs(name=target.dns_name, zone_id=target.zone_id,
                                                 evaluate_target_health=True)],
            set_identifier=target.region if latency else None,
            latency_routing_policies=[aws.route53.RecordLatencyRoutingPolicyArgs(region=target.region)]
            if latency else None,
            opts=pulumi.ResourceOptions(parent=self),
        )

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
