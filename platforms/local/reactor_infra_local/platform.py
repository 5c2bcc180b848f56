"""LocalPlatform: sizes 1-6 of `@local` on one Docker host (pulumi-docker, pulumi-random).

The recipe: networks from the Plan's flows, secrets from the Plan's list, then one container
per service per tier in start order (each waits for the healthy containers it talks to), run
exactly as the core's service catalogue says.
"""

from __future__ import annotations

import shutil
from typing import ClassVar

import pulumi_docker as docker

from reactor_infra import catalogue
from reactor_infra.engine import run_first_line
from reactor_infra.layout import Plan, Service, VaultMode
from reactor_infra.errors import UserError
from reactor_infra.platforms import AdminAccess, Check, Deployment, Platform

from . import configs, mocks
from .naming import labels, physical_name
from .network import Network, NetworkArgs
from .secrets import Secrets, SecretsArgs
from .service import Service as ServiceComponent
from .service import ServiceArgs


class LocalPlatform(Platform):
    name: ClassVar[str] = "local"
    package: ClassVar[str] = "reactor-infra-local"
    sizes: ClassVar[frozenset[int]] = frozenset({1, 2, 3, 4, 5, 6})
    modifiers: ClassVar[frozenset] = frozenset()

    def deploy(self, plan: Plan) -> Deployment:
        return _LocalDeployment(plan).run()

    def mock_resource(self, typ, name, inputs, region):
        return mocks.resource_state(typ, name, inputs)

    def doctor(self) -> list[Check]:
        return [_docker()]

    def admin_access(self, plan: Plan, local_port: int) -> AdminAccess:
        """The forwarder already publishes the admin port on this host's loopback."""
        if local_port != catalogue.ADMIN_PORT:
            raise UserError(f"on one Docker host the admin port is {catalogue.ADMIN_PORT} (published by the "
                            "admin forwarder); --port cannot move it")
        server = configs.host(plan, Service.REACTOR_SERVER)
        return AdminAccess(command=None, token_hint=f"docker exec {server} printenv REACTOR_ADMIN__TOKEN")

    def conformance(self):
        from .conformance import LocalReadings

        return LocalReadings()


def _docker() -> Check:
    docker_cli = shutil.which("docker")
    if not docker_cli:
        return Check("docker", False, "no docker client on PATH (needed by @local)")
    info = run_first_line([docker_cli, "info", "--format", "{{.ServerVersion}}"])
    if not info:
        return Check("docker", False, f"{docker_cli} is there but no Docker engine answers")
    return Check("docker", True, f"engine {info}")


class _LocalDeployment:
    """One run of `deploy`: keeps the containers made so far for the next ones' dependencies."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.containers: dict[Service, docker.Container] = {}

    def run(self) -> Deployment:
        plan = self.plan
        self.network = Network("network", NetworkArgs(plan=plan))
        self.secrets = Secrets("secrets", SecretsArgs(plan=plan)).values
        placement = configs.placement(plan)
        specs = catalogue.specs(plan, placement)
        for service, spec in specs.items():
            self._create_service(service, spec)
        return Deployment(
            public_url=configs.public_url(plan),
            reactor_toml=specs[Service.REACTOR_SERVER].files[0].content,
            endpoints=configs.endpoint_map(plan),
        )

    def _create_service(self, service: Service, spec) -> None:
        plan = self.plan
        tier = plan.tier_of(service)
        assert tier is not None
        ports = catalogue.published(plan, service)
        networks = self.network.networks_for(service)
        # the ordinary bridge: to publish ports, or to call out (webhooks, ACME) as the Plan allows;
        # every other container sits on internal networks only
        if ports or service in plan.egress_services:
            networks.append(self.network.public)
        component = ServiceComponent(f"{tier.name.value}-{service.value}", ServiceArgs(
            tier=tier.name.value,
            container_name=physical_name(plan, tier.name.value, service.value),
            spec=spec,
            labels=labels(plan, tier.name.value),
            secrets={k: v for k, v in self.secrets.items() if v is not None},
            networks=networks,
            ports=ports,
            depends_on=[self.containers[n.service] for n in spec.needs if n.service in self.containers],
            wait=self._waits(service),
            protect=plan.policy.protect,
        ))
        self.containers[service] = component.container

    def _waits(self, service: Service) -> bool:
        """Wait for healthy, except reactor-server while OpenBao awaits its manual init: it
        cannot boot without the token that init issues (README: "OpenBao on local")."""
        if service is Service.REACTOR_SERVER and self.plan.vault is VaultMode.OPENBAO:
            return self.secrets.get("openbao-token") is not None
        return True
