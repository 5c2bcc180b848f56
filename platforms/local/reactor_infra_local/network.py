"""Network: the Docker networks of one install, one per pair of services the Plan's flows join.

Each flow (`Plan.flows`: a service that opens connections to another) gets its own *internal*
bridge (no route off the host), `<stack>-network-<source>-<target>`, joined by exactly those two
containers; two services that talk in both directions share one. Nothing the Plan does not list
has a path: Caddy never shares a network with OpenBao, two clients of Postgres never share one
with each other. A Docker bridge cannot restrict ports: on a shared network each side reaches
every port the other listens on (`explain` says so). The containers that publish ports or call
out (the Plan's egress services) also join one ordinary bridge, `<stack>-network-public`, with
inter-container traffic off (`enable_icc=false`): a way out and in, never a way across.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from reactor_infra.layout import Plan, Service

from .component import LocalComponent
from .naming import labels, physical_name

PUBLIC = "public"


@dataclass(frozen=True)
class NetworkArgs:
    plan: Plan  # the flows come from it


def pairs(plan: Plan) -> list[tuple[Service, Service]]:
    """The pairs of services the Plan's flows join, each once, in flow order."""
    out: list[tuple[Service, Service]] = []
    for flow in plan.flows:
        pair = (flow.source_service, flow.target_service)
        if pair[0] is None or pair[1] is None or pair[0] == pair[1]:
            continue  # a service's own replicas: one container on one host
        if pair not in out and pair[::-1] not in out:
            out.append(pair)  # type: ignore[arg-type]
    return out


class Network(LocalComponent):
    """`pair_networks[(a, b)]` is the docker.Network the pair shares; `public` the ordinary bridge."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, "network", opts)
        self._name, self._plan = name, args.plan
        self.pair_networks = {pair: self._create_network(f"{pair[0]}-{pair[1]}", internal=True)
                              for pair in pairs(args.plan)}
        self.public = self._create_network(PUBLIC, internal=False)
        self.register_outputs({"public": self.public.name,
                               **{f"{a}-{b}": n.name for (a, b), n in self.pair_networks.items()}})

    def _create_network(self, role: str, *, internal: bool) -> docker.Network:
        return docker.Network(
            f"{self._name}-{role}",
            name=physical_name(self._plan, "network", role),
            driver="bridge",
            internal=internal,
            # on the ordinary bridge containers reach the world and their published ports, not each other
            options=None if internal else {"com.docker.network.bridge.enable_icc": "false"},
            labels=[docker.NetworkLabelArgs(label=k, value=v) for k, v in labels(self._plan, "network").items()],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def networks_for(self, service: Service) -> list[docker.Network]:
        """The networks of every pair the service is in, in flow order."""
        return [net for pair, net in self.pair_networks.items() if service in pair]
