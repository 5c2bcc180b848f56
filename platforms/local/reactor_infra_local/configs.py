"""Where each service of a local install finds its neighbours: container names on shared
networks, and the endpoints Reactor.toml names. The rest (files, env, health) is the core's
service catalogue."""

from __future__ import annotations

from dataclasses import replace

from reactor_infra import catalogue
from reactor_infra import reactor_toml as toml
from reactor_infra.layout import NATS_CLIENT, POSTGRES_PORT, REACTOR, VAULT_API, Plan, Service

from .naming import physical_name


def host(plan: Plan, service: Service) -> str:
    """The container name of a service (Docker's DNS resolves it on a shared network)."""
    tier = plan.tier_of(service)
    assert tier is not None, f"{service} is not in the plan"
    return physical_name(plan, tier.name.value, service.value)


def public_url(plan: Plan) -> str:
    if plan.ingress.tier is None:
        return f"http://127.0.0.1:{REACTOR}"
    return f"https://{plan.settings.domain or 'localhost'}"


def endpoints(plan: Plan) -> toml.Endpoints:
    """What Reactor.toml names: the neighbours' container names."""
    ep = toml.default_endpoints(plan)
    return replace(
        ep,
        public_url=public_url(plan),
        backend_target=f"{host(plan, Service.REACTOR_SERVER)}:{REACTOR}",
        database_host=host(plan, Service.POSTGRES),
        pooler_host=host(plan, Service(plan.pooler.kind)) if plan.pooler else None,
        openbao_address=f"http://{host(plan, Service.OPENBAO)}:{VAULT_API}" if ep.openbao_address else None,
        nats_servers=(f"nats://{host(plan, Service.NATS)}:{NATS_CLIENT}",) if ep.nats_servers else (),
    )


def placement(plan: Plan) -> catalogue.Placement:
    return catalogue.Placement(
        endpoints=endpoints(plan), hosts={s: host(plan, s) for s in plan.services},
        site_address=plan.settings.domain or "localhost")


def endpoint_map(plan: Plan) -> dict[str, str]:
    """Addresses worth showing after `up` (container names resolve on the service networks)."""
    m = {"public_url": public_url(plan),
         "reactor": f"http://{host(plan, Service.REACTOR_SERVER)}:{REACTOR}",
         "database": f"{host(plan, Service.POSTGRES)}:{POSTGRES_PORT}"}
    if plan.pooler:
        m["pooler"] = f"{host(plan, Service(plan.pooler.kind))}:{plan.pooler.port}"
    if Service.OPENBAO in plan.services:
        m["vault"] = f"http://{host(plan, Service.OPENBAO)}:{VAULT_API}"
    if Service.NATS in plan.services:
        m["nats"] = f"nats://{host(plan, Service.NATS)}:{NATS_CLIENT}"
    return m
