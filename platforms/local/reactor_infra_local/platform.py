"""LocalPlatform: sizes 1-6 of `@local` on one Docker host (pulumi-docker, pulumi-random).

The recipe: networks from the Plan's links, secrets from the Plan's list, then one
container per service per tier in start order (each waits for the healthy containers it
talks to), config files rendered by the shared templates and uploaded before start.
"""

from __future__ import annotations

from typing import ClassVar


import pulumi_docker as docker

from reactor_infra.plan import Plan, Service, VaultMode
from reactor_infra.platforms import Deployment, Platform

from . import configs, recipes
from .naming import physical_name
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


class _LocalDeployment:
    """One run of `deploy`: keeps the containers made so far for the next ones' dependencies."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.containers: dict[Service, docker.Container] = {}

    def run(self) -> Deployment:
        plan = self.plan
        self.network = Network("network", NetworkArgs(plan=plan))
        self.secrets = Secrets("secrets", SecretsArgs(plan=plan)).values
        self.endpoints = configs.endpoints(plan)
        self.reactor_toml = configs.reactor_toml(plan, self.endpoints)
        for tier_name, service in self._in_start_order():
            self._create_service(tier_name, service)
        return Deployment(
            public_url=configs.public_url(plan),
            reactor_toml=self.reactor_toml,
            endpoints=configs.endpoint_map(plan, self.endpoints),
        )

    def _in_start_order(self) -> list[tuple[str, Service]]:
        pairs = [(t.name.value, s) for t in self.plan.tiers for s in t.services]
        return sorted(pairs, key=lambda p: recipes.START_ORDER.index(p[1]))

    def _recipe(self, service: Service) -> recipes.Recipe:
        plan, secrets = self.plan, self.secrets
        match service:
            case Service.REACTOR_SERVER:
                return recipes.reactor_server(plan, secrets, self.reactor_toml,
                                              configs.reactor_env(plan, self.endpoints))
            case Service.POSTGRES:
                return recipes.postgres(plan, secrets)
            case Service.OPENBAO:
                return recipes.openbao(plan, configs.openbao_hcl(plan))
            case Service.NATS:
                return recipes.nats(plan, secrets, configs.nats_conf(plan))
            case Service.CADDY:
                return recipes.caddy(plan, configs.caddyfile(plan))
            case Service.GATEWAY_SERVER:
                return recipes.gateway_server(plan, secrets)
            case Service.PGBOUNCER:
                return recipes.pgbouncer(plan, secrets)
            case Service.SUPAVISOR:
                return recipes.supavisor(plan, secrets)
        raise ValueError(f"local: no recipe for {service}")

    def _create_service(self, tier: str, service: Service) -> None:
        plan = self.plan
        recipe = self._recipe(service)
        share = self.containers[Service.CADDY] if service is Service.GATEWAY_SERVER else None
        networks = [] if share else self.network.networks_for(tier)
        # the ordinary bridge: to publish ports, or to call out (webhooks, ACME) as the Plan allows;
        # every other container sits on internal networks only
        if (recipe.ports or service in plan.egress_services) and not share:
            networks.append(self.network.public)
        component = ServiceComponent(f"{tier}-{service.value}", ServiceArgs(
            tier=tier,
            container_name=physical_name(plan, tier, service.value),
            image=recipes.image(plan, service),
            healthcheck=recipe.healthcheck,
            env=recipe.env,
            command=recipe.command,
            working_dir=recipe.working_dir,
            uploads=recipe.uploads,
            volumes=recipe.volumes or {},
            networks=networks,
            share_network_of=share,
            ports=recipe.ports,
            depends_on=[self.containers[s] for s in recipes.needs(plan, service)],
            wait=self._waits(service),
            protect=plan.policy.protect and recipe.stateful,
        ))
        self.containers[service] = component.container

    def _waits(self, service: Service) -> bool:
        """Wait for healthy, except reactor-server while OpenBao awaits its manual init: it
        cannot boot without the token that init issues (README: "OpenBao on local")."""
        if service is Service.REACTOR_SERVER and self.plan.vault is VaultMode.OPENBAO:
            return self.secrets.get("openbao-token") is not None
        return True


