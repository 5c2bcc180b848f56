"""The config files the local containers read, rendered by the shared pure functions
(`reactor_infra.templating`, `reactor_infra.reactor_toml`) with this host's addresses.
The only module of this package that calls them; it imports them when first used."""

from __future__ import annotations

from typing import Any

from reactor_infra.plan import (
    NATS_CLIENT,
    POSTGRES_PORT,
    REACTOR,
    VAULT_API,
    VAULT_CLUSTER,
    Plan,
    Service,
)

from .recipes import host


def public_url(plan: Plan) -> str:
    if plan.ingress.tier is None:
        return f"http://127.0.0.1:{REACTOR}"
    return f"https://{plan.settings.domain or 'localhost'}"


def endpoints(plan: Plan) -> Any:
    """Where reactor-server finds its neighbours on this host: container names on the networks."""
    from dataclasses import replace

    from reactor_infra import reactor_toml as _toml

    ep = _toml.default_endpoints(plan)
    return replace(
        ep,
        public_url=public_url(plan),
        backend_target=f"{host(plan, Service.REACTOR_SERVER)}:{REACTOR}",
        database_host=host(plan, Service.POSTGRES),
        pooler_host=host(plan, Service(plan.pooler.kind)) if plan.pooler else None,
        openbao_address=f"http://{host(plan, Service.OPENBAO)}:{VAULT_API}" if ep.openbao_address else None,
        nats_servers=(f"nats://{host(plan, Service.NATS)}:{NATS_CLIENT}",) if ep.nats_servers else (),
    )


def endpoint_map(plan: Plan, ep: Any) -> dict[str, str]:
    """Addresses worth showing after `up` (container names resolve on the tier networks)."""
    m = {"public_url": public_url(plan),
         "reactor": f"http://{host(plan, Service.REACTOR_SERVER)}:{REACTOR}",
         "database": f"{host(plan, Service.POSTGRES)}:{POSTGRES_PORT}"}
    if plan.pooler:
        m["pooler"] = f"{host(plan, Service(plan.pooler.kind))}:{plan.pooler.port}"
    if plan.tier_of(Service.OPENBAO):
        m["vault"] = f"http://{host(plan, Service.OPENBAO)}:{VAULT_API}"
    if plan.tier_of(Service.NATS):
        m["nats"] = f"nats://{host(plan, Service.NATS)}:{NATS_CLIENT}"
    return m


def reactor_toml(plan: Plan, ep: Any) -> str:
    from reactor_infra import reactor_toml as _toml

    return _toml.render_reactor_toml(plan, ep)


def reactor_env(plan: Plan, ep: Any) -> dict[str, str]:
    """REACTOR_* variable -> plan secret name."""
    from reactor_infra import reactor_toml as _toml

    return dict(_toml.runtime_env(plan, ep))


def caddyfile(plan: Plan) -> str:
    from reactor_infra import templating

    return templating.caddyfile(
        plan,
        site_address=plan.settings.domain or "localhost",
        upstreams=[f"{host(plan, Service.REACTOR_SERVER)}:{REACTOR}"],
        gateway=plan.tier_of(Service.GATEWAY_SERVER) is not None,
        acme_email=plan.settings.acme_email,
    )


def nats_conf(plan: Plan) -> str:
    from reactor_infra import templating

    return templating.nats_conf(plan, server_name=host(plan, Service.NATS), routes=[], cluster=False)


def openbao_hcl(plan: Plan) -> str:
    from reactor_infra import templating

    name = host(plan, Service.OPENBAO)
    return templating.openbao_hcl(
        plan, node_id=name, peers=[], seal=plan.vault_seal or "shamir",
        api_addr=f"http://{name}:{VAULT_API}", cluster_addr=f"http://{name}:{VAULT_CLUSTER}")

