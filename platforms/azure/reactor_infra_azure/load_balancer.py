"""LoadBalancer: an Azure Standard load balancer, public or internal, passing TCP to the machines
in its one back-end pool (NICs and scale sets join the pool by its id, so the balancer is made
before them).

- public, size 3: Front Door's origin in the region, :8000 to the app tier (`FrontDoor`);
- public, from size 4: TLS passthrough to Caddy (:80 and :443 as they are; clients' addresses
  kept), a static zone-redundant address per region;
- internal (routers): the vault router (:8200, only to the active OpenBao node: its health
  probe is /v1/sys/health over HTTPS, which answers 200 only there) and the pool router in
  front of an autoscaled app pool (:8000, /health), on a fixed address of the machines subnet.

Machines go out through the NAT gateway, never through a balancer (no outbound SNAT rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags

POOL = "machines"
FRONT = "front"
PROBE = "health"


@dataclass(frozen=True)
class LoadBalancerArgs:
    plan: Plan
    tier: str  # the tier behind it
    role: str  # load-balancer, vault-router, pool-router (-<region> beyond the primary)
    region: str
    resource_group: pulumi.Input[str]
    subscription: pulumi.Input[str]
    ports: Sequence[int]  # each passed as it is
    probe: tuple[str, int, str | None]  # (Tcp | Http | Https, port, path)
    public_ip: pulumi.Input[str] | None = None  # a public balancer's address (its resource id)
    subnet: pulumi.Input[str] | None = None  # an internal one's subnet
    private_ip: str | None = None  # and its fixed address there
    zones: tuple[str, ...] = ()  # an internal frontend's zones (none where the region has none)


class LoadBalancer(AzureComponent):
    """`balancer`; `pool` (the back-end pool's id)."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        plan = args.plan
        lb_name = physical_name(plan, args.role, "lb")
        base = pulumi.Output.concat("/subscriptions/", args.subscription, "/resourceGroups/", args.resource_group,
                                    "/providers/Microsoft.Network/loadBalancers/", lb_name)
        front = pulumi.Output.concat(base, f"/frontendIPConfigurations/{FRONT}")
        self.pool = pulumi.Output.concat(base, f"/backendAddressPools/{POOL}")
        probe = pulumi.Output.concat(base, f"/probes/{PROBE}")
        if args.public_ip is not None:
            frontend = {"name": FRONT, "public_ip_address": {"id": args.public_ip}}
        else:
            frontend = {"name": FRONT, "subnet": {"id": args.subnet}, "private_ip_address": args.private_ip,
                        "private_ip_allocation_method": "Static", "zones": list(args.zones) or None}
        protocol, port, path = args.probe
        self.balancer = az.network.LoadBalancer(
            f"{name}-lb", load_balancer_name=lb_name, resource_group_name=args.resource_group, location=args.region,
            sku={"name": "Standard", "tier": "Regional"}, frontend_ip_configurations=[frontend],
            backend_address_pools=[{"name": POOL}],
            probes=[{"name": PROBE, "protocol": protocol, "port": port, "request_path": path,
                     "interval_in_seconds": 5, "number_of_probes": 2, "probe_threshold": 2}],
            load_balancing_rules=[{"name": f"tcp-{p}", "protocol": "Tcp", "frontend_port": p, "backend_port": p,
                                   "frontend_ip_configuration": {"id": front},
                                   "backend_address_pool": {"id": self.pool}, "probe": {"id": probe},
                                   "disable_outbound_snat": True, "enable_tcp_reset": True,
                                   "idle_timeout_in_minutes": 30, "load_distribution": "Default"}
                                  for p in args.ports],
            tags=tags(plan, args.tier), opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({"balancer": self.balancer.id})
