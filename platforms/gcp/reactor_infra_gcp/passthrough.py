"""Passthrough: the regional external pass-through Network Load Balancer in front of the tier
where Caddy terminates TLS (sizes 4 and up: the infra node or the edge tier), one per region.

TCP 80 and 443 go to the tier's machines unchanged (the client's own address, Caddy's ACME
HTTP-01 and TLS-ALPN-01 challenges, on-demand TLS for custom domains); Caddy refuses the admin
paths. Machines are health-checked on TCP 443. A pass-through balancer takes no Cloud Armor
WAF policy (it never sees HTTP): the README says what that leaves to Caddy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import HTTP, HTTPS, LOAD_BALANCER, Plan

from .component import GcpComponent
from .naming import labels, physical_name

TIER = str(LOAD_BALANCER)


@dataclass(frozen=True)
class PassthroughArgs:
    plan: Plan
    region: str
    address: pulumi.Input[str]  # the region's static address (Address, made before the machines)
    backends: Sequence[pulumi.Input[str]]  # the ingress tier's instance groups in the region


class Passthrough(GcpComponent):
    def __init__(self, name: str, args: PassthroughArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child, region = args.plan, pulumi.ResourceOptions(parent=self), args.region
        check = gcp.compute.RegionHealthCheck(
            f"{name}-health", name=physical_name(plan, "lb", f"health-{region}"), region=region,
            check_interval_sec=10, timeout_sec=5,
            tcp_health_check=gcp.compute.RegionHealthCheckTcpHealthCheckArgs(port=HTTPS), opts=child)
        backend = gcp.compute.RegionBackendService(
            f"{name}-backend", name=physical_name(plan, "lb", f"edge-{region}"), region=region,
            load_balancing_scheme="EXTERNAL", protocol="TCP", health_checks=check.id,
            backends=[gcp.compute.RegionBackendServiceBackendArgs(group=g, balancing_mode="CONNECTION")
                      for g in args.backends],
            log_config=gcp.compute.RegionBackendServiceLogConfigArgs(enable=True, sample_rate=1.0), opts=child)
        gcp.compute.ForwardingRule(
            f"{name}-rule", name=physical_name(plan, "lb", f"rule-{region}"), region=region,
            load_balancing_scheme="EXTERNAL", ip_protocol="TCP", ports=[str(HTTP), str(HTTPS)],
            ip_address=args.address, backend_service=backend.id, labels=labels(plan, TIER), opts=child)
        self.register_outputs({})
