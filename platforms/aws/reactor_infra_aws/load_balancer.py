"""LoadBalancer: the Plan's `load-balancer` link end, internet-facing over the public subnets.

Its kind follows the Plan's `ingress.tls`, never a choice made here:

- TLS at the load balancer (size 3: reactor-server right behind it): an **Application** Load
  Balancer. HTTPS :443 with the certificate (`Certificate`: ACM, DNS-validated with a domain,
  else a self-signed one the program imports) forwards to reactor-server on HTTP :8000, health
  checked on the runtime's `/health`; a listener rule answers a fixed 404 for `/_admin*`,
  `/_cloud*` and `/_ops*`, so the admin surfaces never reach the runtime from the internet. HTTP
  :80 only redirects to HTTPS (301); invalid header fields are dropped.
- TLS at Caddy (edge or infra tier): a **Network** Load Balancer passing TCP :443 and :80
  through to Caddy, which holds the certificates (ACME, on-demand TLS) and blocks the admin
  paths itself. Client IP preservation is on, so Caddy (and its logs and rate limits) sees the
  client; the load balancer's own security group still screens the world, and the targets'
  groups admit that group (the Plan's `load-balancer → edge` links). Cross-zone balancing is on:
  a zone whose Caddy is down still serves its clients.

Both check the target on the port traffic goes to. The NLB checks are TCP: an HTTPS check sends
no SNI, so Caddy (whose certificates are per host name) refuses the handshake; an HTTP check on
:80 would only test Caddy's redirect for whatever Host the check sends, no more than TCP tells,
and would tie the load balancer to the Caddyfile's site rules. The runtime's `/health` behind
Caddy is Caddy's upstream check. Deregistration waits 30 s, reactor-server's SIGTERM drain.
Editions that protect (E, C) turn on the load balancer's deletion protection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import HTTP, HTTPS, REACTOR, Plan, TlsTermination
from reactor_infra.naming import dns_safe

from .component import AwsComponent
from .naming import physical_name, tags

TIER = "network"
ELB_NAME_MAX = 32  # load balancers and target groups: letters, digits and hyphens
SSL_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 only
HEALTH_PATH = "/health"  # reactor-server: always 200 while it serves
ADMIN_PATHS = ("/_admin*", "/_cloud*", "/_ops*")  # never reachable from the internet
DEREGISTRATION_DELAY = 30  # seconds: reactor-server drains for 30 s after SIGTERM
# The ALB closes a connection idle this long. Not the 60 s default: the runtime's functions may
# run up to 300 s (functions timeouts 30000/300000 ms) before the response's first byte, which
# Caddy (sizes 4+) waits for; the ALB must too.
IDLE_TIMEOUT = 310
TARGET_TYPES = ("ip", "instance")


@dataclass(frozen=True)
class LoadBalancerArgs:
    plan: Plan  # ingress.tls picks the kind; policy.protect the deletion protection
    region: str  # the region it is made in (one of the Plan's regions; the provider in opts is that region's)
    vpc_id: pulumi.Input[str]  # the VPC of the target groups
    subnet_ids: Sequence[pulumi.Input[str]]  # public subnets, one per zone
    security_group_id: pulumi.Input[str]  # the "load-balancer" group from the Firewall
    target_type: str  # "ip" (ECS Fargate tasks) or "instance" (EC2 machines)
    # the ACM certificate of the HTTPS listener: required when the Plan's TLS ends at the load
    # balancer, refused otherwise (Caddy holds the certificates); default none
    certificate_arn: pulumi.Input[str] | None = None
    suffix: str = ""  # physical-name suffix for a second region; default "" (the primary)


class LoadBalancer(AwsComponent):
    """`lb`, its `dns_name` and `zone_id` (alias records), `kind` ("application"|"network") and
    `target_groups[port]` (8000 for the ALB; 443 and 80 for the NLB), where the ingress tier
    registers its tasks or machines."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._args, self._plan = name, args, args.plan
        self._check(args)
        self.kind = "application" if args.plan.ingress.tls is TlsTermination.LOAD_BALANCER else "network"
        self._short = "alb" if self.kind == "application" else "nlb"
        self.lb = self._create_load_balancer()
        self.target_groups: dict[int, aws.lb.TargetGroup] = {}
        if self.kind == "application":
            self.target_groups[REACTOR] = self._create_target_group(REACTOR)
            https = self._create_https_listener(self.target_groups[REACTOR])
            self._create_admin_block(https)
            self._create_redirect_listener()
        else:
            for port in (HTTPS, HTTP):
                self.target_groups[port] = self._create_target_group(port)
                self._create_tcp_listener(port, self.target_groups[port])
        self.dns_name: pulumi.Output[str] = self.lb.dns_name
        self.zone_id: pulumi.Output[str] = self.lb.zone_id
        self.register_outputs({"kind": self.kind, "region": args.region, "dns_name": self.dns_name,
                               "zone_id": self.zone_id})

    @staticmethod
    def _check(args: LoadBalancerArgs) -> None:
        plan = args.plan
        if args.region not in plan.regions:
            raise ValueError(f"LoadBalancer: {args.region} is not one of the Plan's regions {plan.regions}")
        if args.target_type not in TARGET_TYPES:
            raise ValueError(f"LoadBalancer: target_type must be one of {TARGET_TYPES}, not {args.target_type!r}")
        ends_here = plan.ingress.tls is TlsTermination.LOAD_BALANCER
        if ends_here and args.certificate_arn is None:
            raise ValueError("LoadBalancer: the Plan ends TLS at the load balancer; give certificate_arn")
        if not ends_here and args.certificate_arn is not None:
            raise ValueError("LoadBalancer: Caddy terminates TLS in this Plan; the load balancer takes no certificate")

    def _physical(self, role: str) -> str:
        # ELB names: letters, digits, hyphens; no leading or trailing hyphen; at most 32
        return physical_name(self._plan, TIER, dns_safe(f"{role}{self._args.suffix}"), ELB_NAME_MAX)

    def _tags(self, physical: str) -> dict[str, str]:
        return tags(self._plan, TIER, physical)

    def _create_load_balancer(self) -> aws.lb.LoadBalancer:
        args, physical = self._args, self._physical(self._short)
        application = self.kind == "application"
        return aws.lb.LoadBalancer(
            f"{self._name}-lb",
            name=physical,
            load_balancer_type=self.kind,
            internal=False,
            ip_address_type="ipv4",
            subnets=list(args.subnet_ids),
            security_groups=[args.security_group_id],
            enable_deletion_protection=self._plan.policy.protect,
            # ALB only: a request with a malformed header never reaches reactor-server
            drop_invalid_header_fields=True if application else None,
            idle_timeout=IDLE_TIMEOUT if application else None,
            # an ALB always balances across zones; an NLB only when asked
            enable_cross_zone_load_balancing=None if application else True,
            tags=self._tags(physical),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_target_group(self, port: int) -> aws.lb.TargetGroup:
        """HTTP to reactor-server behind an ALB (health: /health); TCP to Caddy behind an NLB."""
        physical = self._physical(f"{self._short}-{port}")
        http = self.kind == "application"
        health = (aws.lb.TargetGroupHealthCheckArgs(
            enabled=True, protocol="HTTP", port="traffic-port", path=HEALTH_PATH, matcher="200",
            interval=15, timeout=5, healthy_threshold=2, unhealthy_threshold=3) if http else
            aws.lb.TargetGroupHealthCheckArgs(
                enabled=True, protocol="TCP", port="traffic-port",
                interval=10, timeout=5, healthy_threshold=2, unhealthy_threshold=2))
        return aws.lb.TargetGroup(
            f"{self._name}-tg-{port}",
            name=physical,
            port=port,
            protocol="HTTP" if http else "TCP",
            target_type=self._args.target_type,
            vpc_id=self._args.vpc_id,
            deregistration_delay=DEREGISTRATION_DELAY,
            # Caddy sees the client (off by default for ip targets)
            preserve_client_ip=None if http else "true",
            health_check=health,
            tags=self._tags(physical),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_https_listener(self, target_group: aws.lb.TargetGroup) -> aws.lb.Listener:
        return aws.lb.Listener(
            f"{self._name}-listener-{HTTPS}",
            load_balancer_arn=self.lb.arn,
            port=HTTPS,
            protocol="HTTPS",
            ssl_policy=SSL_POLICY,
            certificate_arn=self._args.certificate_arn,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
            tags=self._tags(self._physical(f"{self._short}-https")),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_admin_block(self, listener: aws.lb.Listener) -> None:
        """First rule of the HTTPS listener: the admin surfaces answer 404 and never reach the runtime."""
        aws.lb.ListenerRule(
            f"{self._name}-admin-block",
            listener_arn=listener.arn,
            priority=1,
            conditions=[aws.lb.ListenerRuleConditionArgs(
                path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=list(ADMIN_PATHS)))],
            actions=[aws.lb.ListenerRuleActionArgs(
                type="fixed-response",
                fixed_response=aws.lb.ListenerRuleActionFixedResponseArgs(
                    content_type="text/plain", message_body="Not Found", status_code="404"))],
            tags=self._tags(self._physical(f"{self._short}-admin-block")),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_redirect_listener(self) -> None:
        """HTTP :80 has one action: a permanent redirect to HTTPS (nothing is served in clear)."""
        aws.lb.Listener(
            f"{self._name}-listener-{HTTP}",
            load_balancer_arn=self.lb.arn,
            port=HTTP,
            protocol="HTTP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                    port=str(HTTPS), protocol="HTTPS", status_code="HTTP_301"))],
            tags=self._tags(self._physical(f"{self._short}-http")),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_tcp_listener(self, port: int, target_group: aws.lb.TargetGroup) -> None:
        """TCP passthrough: TLS (and HTTP-01, redirects) are Caddy's."""
        aws.lb.Listener(
            f"{self._name}-listener-{port}",
            load_balancer_arn=self.lb.arn,
            port=port,
            protocol="TCP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=target_group.arn)],
            tags=self._tags(self._physical(f"{self._short}-listener-{port}")),
            opts=pulumi.ResourceOptions(parent=self),
        )
