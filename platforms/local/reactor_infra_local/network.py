"""Network: the Docker networks of one install, derived from the Plan's links.

Every tier gets its own *internal* bridge (no route off the host). A container joins its
own tier's network and the network of every tier its tier has a link to, so a flow the
Plan does not list has no path: least privilege by construction, as firewall rules are on
the clouds. The containers that publish ports (Caddy on the ingress tier, or reactor-server
on 127.0.0.1 at size 1) also join one ordinary bridge, `<stack>-network-public`, because
Docker cannot publish a port from an internal network.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from reactor_infra.plan import INTERNET, LOAD_BALANCER, Plan

from .component import LocalComponent
from .naming import physical_name

PUBLIC = "public"


@dataclass(frozen=True)
class NetworkArgs:
    plan: Plan  # tiers and links come from it


class Network(LocalComponent):
    """`tier_networks[tier]` is the docker.Network of that tier; `public` the published bridge."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, "network", opts)
        self._name = name
        self._plan = args.plan
        self.tier_networks: dict[str, docker.Network] = {}
        for tier in args.plan.tiers:
            if tier.services:  # a tier without containers (e.g. storage) needs no network
                self.tier_networks[tier.name.value] = self._create_network(tier.name.value, internal=True)
        self.public = self._create_network(PUBLIC, internal=False)
        self.register_outputs({
            "public": self.public.name,
            **{f"{tier}": net.name for tier, net in self.tier_networks.items()},
        })

    def _create_network(self, role: str, *, internal: bool) -> docker.Network:
        return docker.Network(
            f"{self._name}-{role}",
            name=physical_name(self._plan, "network", role),
            driver="bridge",
            internal=internal,
            labels=[docker.NetworkLabelArgs(label="reactor-infra.stack", value=self._plan.stack_name)],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def networks_for(self, tier: str) -> list[docker.Network]:
        """The networks a container of `tier` joins: its own, then each link target's, in link order."""
        names = [tier]
        for link in self._plan.links:
            if link.source == tier and link.target not in (INTERNET, LOAD_BALANCER, tier):
                if link.target in self.tier_networks and link.target not in names:
                    names.append(link.target)
        return [self.tier_networks[n] for n in names if n in self.tier_networks]
