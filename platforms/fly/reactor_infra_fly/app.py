"""FlyApp: one Fly app (a tier's machines, secrets and addresses) in the install's own network.

The app joins the install's 6PN network (`network`: apps of other installs in the same
organization cannot reach it). Addresses: the ingress app gets a dedicated IPv6 and a dedicated
IPv4 (Fly's proxy; the machines themselves have only private 6PN addresses). Dedicated, billed
monthly: Caddy takes raw TCP and terminates TLS itself, and Fly routes a shared IPv4 by the name
its own TLS or HTTP handler reads, which raw TCP never passes through. An app reached
through Fly's proxy from inside (the vault router; an autoscaled tier whose stopped machines the
proxy starts) gets a private Flycast address, `<app>.flycast`, which only the network reaches.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_fly_machines as fly

from reactor_infra.layout import Plan

from .component import FlyComponent


@dataclass(frozen=True)
class FlyAppArgs:
    plan: Plan  # protect from plan.policy
    app_name: str  # the app's global name (places.app_name)
    org: str  # the Fly organization
    network: str  # the install's 6PN network
    public: bool = False  # a dedicated public IPv6 and IPv4 (the ingress); default none
    flycast: bool = False  # a private Flycast address for the proxy inside the network; default none


class FlyApp(FlyComponent):
    """`name` is the app's name once it exists; `app` the resource."""

    def __init__(self, name: str, tier: str, args: FlyAppArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, tier, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.app = fly.apps.v1.App(
            f"{name}-app", name=args.app_name, org_slug=args.org, network=args.network,
            opts=pulumi.ResourceOptions(parent=self, protect=args.plan.policy.protect))
        self.name: pulumi.Output[str] = self.app.name.apply(lambda n: n or args.app_name)
        after = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[self.app]))
        self.public_ips: list[fly.apps.v1.AppIPAssignment] = []
        if args.public:
            self.public_ips = [
                fly.apps.v1.AppIPAssignment(f"{name}-ipv6", app_name=self.name, type="v6", opts=after),
                fly.apps.v1.AppIPAssignment(f"{name}-ipv4", app_name=self.name, type="v4", opts=after),
            ]
        if args.flycast:
            fly.apps.v1.AppIPAssignment(f"{name}-flycast", app_name=self.name, type="private_v6",
                                        network=args.network, opts=after)
        self.register_outputs({"name": self.name})
