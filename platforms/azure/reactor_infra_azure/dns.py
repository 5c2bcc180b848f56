"""Dns: the domain's public records in its Azure DNS zone (`extras.azure.dns_zone`), and with +mr
the Traffic Manager profile that sends each client to the nearest healthy region.

- size 2 and from size 4 in one region: `domain` (and `*.domain` for edition C's tenants) A
  records naming the ingress's static address;
- +mr: the records alias a Traffic Manager profile (performance routing, TCP 443 monitored)
  whose endpoints are each region's balancer address (Caddy terminates TLS: no HTTP proxy can
  stand between it and the clients, on-demand certificates included);
- size 3: the records alias Front Door's endpoint, and `_dnsauth.<domain>` holds the custom
  domain's validation token (the managed certificate follows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags

TIER = "dns"
TTL = 300


@dataclass(frozen=True)
class DnsArgs:
    plan: Plan
    zone: str
    zone_resource_group: pulumi.Input[str]
    resource_group: pulumi.Input[str]  # the install's (the Traffic Manager profile)
    addresses: Mapping[str, pulumi.Input[str]] | None = None  # region -> the ingress's static address
    address_ids: Mapping[str, pulumi.Input[str]] | None = None  # region -> that address's resource id
    front_door: pulumi.Input[str] | None = None  # the Front Door endpoint's id
    validations: Sequence[tuple[str, pulumi.Input[str]]] = ()  # (host, validation token)


def relative(name: str, zone: str) -> str:
    """`api.example.com` in `example.com` -> `api`; the zone itself -> `@`."""
    if name == zone:
        return "@"
    if not name.endswith(f".{zone}"):
        raise ValueError(f"{name} is not in the DNS zone {zone}")
    return name[: -len(zone) - 1]


class Dns(AzureComponent):
    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        domain = plan.settings.domain
        assert domain, "public records need a domain"
        self._args, self._name = args, name
        hosts = [domain, *([f"*.{domain}"] if plan.policy.multi_tenant else [])]
        target = None
        if args.front_door is not None:
            target = args.front_door
        elif args.address_ids and len(args.address_ids) > 1:
            target = self._traffic_manager(name, args).id
        for host in hosts:
            if target is not None:
                self._record(host, "A", target_resource={"id": target})
            else:
                self._record(host, "A", a_records=[{"ipv4_address": a} for a in (args.addresses or {}).values()])
        tokens: dict[str, list[pulumi.Input[str]]] = {}  # a wildcard's record is its domain's
        for host, token in args.validations:
            tokens.setdefault(f"_dnsauth.{host.removeprefix('*.')}", []).append(token)
        for name_, values in tokens.items():
            self._record(name_, "TXT", txt_records=[{"value": [v]} for v in values])
        self.register_outputs({})

    def _record(self, host: str, kind: str, **values) -> None:
        args = self._args
        az.dns.RecordSet(
            f"{self._name}-{kind.lower()}-{host.replace('*', 'wildcard')}", zone_name=args.zone,
            resource_group_name=args.zone_resource_group, relative_record_set_name=relative(host, args.zone),
            record_type=kind, ttl=TTL, **values, opts=pulumi.ResourceOptions(parent=self))

    def _traffic_manager(self, name: str, args: DnsArgs) -> az.trafficmanager.Profile:
        plan = args.plan
        profile = physical_name(plan, "traffic", "manager")
        return az.trafficmanager.Profile(
            f"{name}-traffic", profile_name=profile, resource_group_name=args.resource_group, location="global",
            profile_status="Enabled", traffic_routing_method="Performance",
            dns_config={"relative_name": profile, "ttl": 60},
            monitor_config={"protocol": "TCP", "port": 443, "interval_in_seconds": 30, "timeout_in_seconds": 10,
                            "tolerated_number_of_failures": 3},
            endpoints=[{"name": region, "type": "Microsoft.Network/trafficManagerProfiles/azureEndpoints",
                        "target_resource_id": address_id, "endpoint_status": "Enabled"}
                       for region, address_id in (args.address_ids or {}).items()],
            tags=tags(plan, TIER), opts=pulumi.ResourceOptions(parent=self))
