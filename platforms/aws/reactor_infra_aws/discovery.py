"""Discovery: one region's private names, `<name>.internal`, in a Cloud Map private DNS namespace.

Every name Reactor's configs use across machines lives here: ECS services register their tasks
themselves (`app.internal`, `edge.internal`, `gateway-server.internal`, `pooler.internal`);
machines are A records on their fixed private addresses (`vault-0.internal`, `infra.internal`
for a single machine); a router is a CNAME to its load balancer (`vault.internal`). With +mr
the second region's namespace also names the primary's machines and router, so every region's
configs read the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import physical_name, tags

TIER = "network"
DOMAIN = "internal"
TTL = 10  # seconds: a replaced machine or task is found again quickly


@dataclass(frozen=True)
class DiscoveryArgs:
    plan: Plan  # names and tags
    vpc_id: pulumi.Input[str]  # the VPC whose resolver answers the names
    suffix: str = ""  # physical-name suffix in a second region; default none


class Discovery(AwsComponent):
    """`namespace`; `address(name, ip)` and `alias(name, target)` add records."""

    def __init__(self, name: str, args: DiscoveryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._plan = name, args.plan
        self.namespace = aws.servicediscovery.PrivateDnsNamespace(
            f"{name}-namespace",
            name=DOMAIN,
            vpc=args.vpc_id,
            description=f"Reactor {args.plan.stack}: private names",
            tags=tags(args.plan, TIER, physical_name(args.plan, TIER, "internal" + args.suffix)),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.id = self.namespace.id
        self.register_outputs({"namespace": self.namespace.id})

    def _service(self, host: str, record: str) -> aws.servicediscovery.Service:
        return aws.servicediscovery.Service(
            f"{self._name}-{host}",
            name=host,
            dns_config=aws.servicediscovery.ServiceDnsConfigArgs(
                namespace_id=self.namespace.id,
                routing_policy="WEIGHTED" if record == "CNAME" else "MULTIVALUE",  # CNAME takes only WEIGHTED
                dns_records=[aws.servicediscovery.ServiceDnsConfigDnsRecordArgs(ttl=TTL, type=record)],
            ),
            tags=tags(self._plan, TIER),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def address(self, host: str, ip: pulumi.Input[str]) -> None:
        """`<host>.internal` -> a fixed private address (a machine)."""
        self._record(host, "A", "address", {"AWS_INSTANCE_IPV4": ip})

    def alias(self, host: str, target: pulumi.Input[str]) -> None:
        """`<host>.internal` -> another DNS name (a router's load balancer)."""
        self._record(host, "CNAME", "alias", {"AWS_INSTANCE_CNAME": target})

    def _record(self, host: str, record: str, role: str, attributes: dict[str, pulumi.Input[str]]) -> None:
        aws.servicediscovery.Instance(
            f"{self._name}-{host}-{role}",
            instance_id=host,
            service_id=self._service(host, record).id,
            attributes=attributes,
            opts=pulumi.ResourceOptions(parent=self),
        )
