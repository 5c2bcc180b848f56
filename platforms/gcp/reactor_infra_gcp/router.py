"""Router: an internal pass-through load balancer in the primary region, on a fixed private
address, in front of the machines of one tier: the vault router (a clustered OpenBao: only the
active node answers /v1/sys/health with 200, so only it gets connections; reactor-server's
boot fails on a standby, runtime reference §7) or the pool router (an autoscaled app pool,
which has no fixed addresses, healthy on /health). Global access lets +mr's second region
reach it. Clients keep their own address: the firewall's rules name the callers' tiers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import physical_name


@dataclass(frozen=True)
class RouterArgs:
    plan: Plan
    tier: str  # the tier behind it (data)
    role: str  # vault-router, pool-router
    region: str
    network: pulumi.Input[str]
    subnetwork: pulumi.Input[str]
    address: str  # fixed, in the subnet
    port: int
    check_path: str
    check_tls: bool  # HTTPS health check (OpenBao's listener speaks TLS between machines)
    backends: Sequence[pulumi.Input[str]]


class Router(GcpComponent):
    """`address`: the router's fixed private address."""

    def __init__(self, name: str, args: RouterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        self.address = args.address
        kind = "https" if args.check_tls else "http"
        check_args = {f"{kind}_health_check": getattr(gcp.compute, f"RegionHealthCheck{kind.capitalize()}HealthCheckArgs")(
            port=args.port, request_path=args.check_path)}
        check = gcp.compute.RegionHealthCheck(
            f"{name}-health", name=physical_name(plan, args.role, "health"), region=args.region,
            check_interval_sec=5, timeout_sec=3, healthy_threshold=2, unhealthy_threshold=2, opts=child, **check_args)
        backend = gcp.compute.RegionBackendService(
            f"{name}-backend", name=physical_name(plan, args.role, "backend"), region=args.region,
            load_balancing_scheme="INTERNAL", protocol="TCP", network=args.network, health_checks=check.id,
            backends=[gcp.compute.RegionBackendServiceBackendArgs(group=g, balancing_mode="CONNECTION")
                      for g in args.backends], opts=child)
        gcp.compute.ForwardingRule(
            f"{name}-rule", name=physical_name(plan, args.role, "rule"), region=args.region,
            load_balancing_scheme="INTERNAL", ip_protocol="TCP", ports=[str(args.port)], network=args.network,
            subnetwork=args.subnetwork, ip_address=args.address, backend_service=backend.id,
            allow_global_access=True, opts=child)
        self.register_outputs({"address": self.address})
