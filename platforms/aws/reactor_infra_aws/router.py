"""VaultRouter: one private address for a clustered OpenBao, answering on its active node.

OpenBao runs as three raft peers; only the active one serves (standbys forward or refuse), and
which one is active changes on a failover. An internal Network Load Balancer over the private
subnets passes TCP :8200 through (TLS stays end to end between reactor-server and OpenBao) to
the one node whose `GET /v1/sys/health` answers 200: OpenBao answers 200 only on the active,
unsealed node (429 standby, 503 sealed, 501 uninitialised), so the health check is the
election. Checks every 10 s, two in a row either way: a failover moves traffic in about 20 s.
The check speaks HTTPS when OpenBao's listener has TLS (a load balancer's check does not verify
the certificate), else HTTP.

Cross-zone balancing is on: the peers sit in different zones, and without it the load
balancer's node in a zone whose peer is a standby would find no healthy target and spread
traffic over all of them. The instances are registered as themselves (`instance` targets, the
client's address preserved, so OpenBao's audit log names the caller). The security group is the
caller's: the vault group must admit it on 8200 (health checks and traffic come from it) and it
must be allowed out to the vault group on 8200 (health checks obey its outbound rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import VAULT_API, Plan

from .component import AwsComponent
from .load_balancer import DEREGISTRATION_DELAY, ELB_NAME_MAX
from .naming import physical_name, tags

HEALTH_PATH = "/v1/sys/health"  # 200 only on the active, unsealed node
HEALTH_INTERVAL = 10


@dataclass(frozen=True)
class VaultRouterArgs:
    plan: Plan  # names, tags and policy.protect
    tier: str  # the tier running OpenBao ("vault", or "infra" where it shares the machines)
    vpc_id: pulumi.Input[str]  # the VPC of the target group
    subnet_ids: Sequence[pulumi.Input[str]]  # private subnets, one per zone the peers use
    security_group_id: pulumi.Input[str]  # the router's own group
    tls: bool  # OpenBao's listener speaks TLS: the health check uses HTTPS, else HTTP
    instance_ids: Sequence[pulumi.Input[str]]  # the OpenBao peers, each registered as a target


class VaultRouter(AwsComponent):
    """`lb`, its `dns_name` (what Reactor.toml's OpenBao address names) and `target_group`."""

    def __init__(self, name: str, args: VaultRouterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        self._name, self._args, self._plan = name, args, args.plan
        self.lb = self._create_load_balancer()
        self.target_group = self._create_target_group()
        self._create_listener()
        for index, instance_id in enumerate(args.instance_ids):
            self._register(index, instance_id)
        self.dns_name: pulumi.Output[str] = self.lb.dns_name
        self.register_outputs({"dns_name": self.dns_name})

    def _physical(self, role: str) -> str:
        return physical_name(self._plan, self._args.tier, role, ELB_NAME_MAX)

    def _tags(self, physical: str) -> dict[str, str]:
        return tags(self._plan, self._args.tier, physical)

    def _create_load_balancer(self) -> aws.lb.LoadBalancer:
        args, physical = self._args, self._physical("router")
        return aws.lb.LoadBalancer(
            f"{self._name}-lb",
            name=physical,
            load_balancer_type="network",
            internal=True,
            ip_address_type="ipv4",
            subnets=list(args.subnet_ids),
            security_groups=[args.security_group_id],
            enable_cross_zone_load_balancing=True,
            enable_deletion_protection=self._plan.policy.protect,
            tags=self._tags(physical),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_target_group(self) -> aws.lb.TargetGroup:
        args, physical = self._args, self._physical(f"router-{VAULT_API}")
        return aws.lb.TargetGroup(
            f"{self._name}-tg-{VAULT_API}",
            name=physical,
            port=VAULT_API,
            protocol="TCP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTPS" if args.tls else "HTTP",
                port="traffic-port",
                path=HEALTH_PATH,
                matcher="200",
                interval=HEALTH_INTERVAL,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=2,
            ),
            tags=self._tags(physical),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_listener(self) -> None:
        aws.lb.Listener(
            f"{self._name}-listener-{VAULT_API}",
            load_balancer_arn=self.lb.arn,
            port=VAULT_API,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            tags=self._tags(self._physical(f"router-listener-{VAULT_API}")),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _register(self, index: int, instance_id: pulumi.Input[str]) -> None:
        aws.lb.TargetGroupAttachment(
            f"{self._name}-target-{index}",
            target_group_arn=self.target_group.arn,
            target_id=instance_id,
            port=VAULT_API,
            opts=pulumi.ResourceOptions(parent=self),
        )
