"""The Plan's flows and links (DESIGN §6 table): who may open a connection to whom, on which port.

Part of deciding the Plan (`plan.build_plan` calls `flows_and_links`); kept apart so the ladder
and the connections each read on their own. Pure; no Pulumi.
"""

from __future__ import annotations

from .traits import PlatformTraits
from .layout import (
    GATEWAY_PORT,
    HTTP,
    HTTPS,
    INTERNET,
    FILE_SYSTEM,
    OPERATORS,
    POOL_ROUTER,
    LOAD_BALANCER,
    NATS_CLIENT,
    NFS,
    NATS_ROUTES,
    POSTGRES_PORT,
    REACTOR,
    VAULT_API,
    VAULT_CLUSTER,
    VAULT_ROUTER,
    Ingress,
    Link,
    Policy,
    Pooler,
    Service,
    Tier,
    TierPlan,
    TlsTermination,
)

S = Service


def flows_and_links(tiers: list[TierPlan], ingress: Ingress, pooler: Pooler | None, policy: Policy,
                    traits: PlatformTraits, files: frozenset[Tier] = frozenset(),
                    ) -> tuple[tuple[Link, ...], tuple[Link, ...]]:
    """(flows, links). A flow is every connection one service opens to another, on a node or
    across nodes; a link is a flow that crosses a tier boundary (or runs between the replicas of
    one tier), or comes from outside: exactly one firewall rule each. Flows inside one node are
    not links, but platforms that place each service apart (one Docker host) need them. On the
    platform's container tiers each service is a task of its own, so two services of one such
    tier are a link too. `files`: the tiers whose files live on the network file system."""
    tier_of = {}
    for t in tiers:
        for s in t.services:
            tier_of.setdefault(s, t)
    replicated = {t.name for t in tiers if t.replicas.max > 1}
    flows: list[Link] = []
    links: list[Link] = []

    def add(source: Service | None, target: Service | None, port: int, purpose: str, *,
            source_end=None, target_end=None) -> None:
        src = source_end if source_end is not None else tier_of[source].name
        dst = target_end if target_end is not None else tier_of[target].name
        flow = Link(src, dst, port, purpose, source, target)
        peers = source == target  # raft, cluster routes: between the replicas of one tier
        if source is not None and target is not None and (not peers or dst in replicated):
            if flow not in flows:
                flows.append(flow)
        apart = src == dst and not peers and str(dst) in traits.container_tiers
        if src == dst and not (peers and dst in replicated) and not apart:
            return  # on one node the flow never leaves it
        if flow not in links:
            links.append(flow)

    if ingress.tier is None:
        if S.POSTGRES in tier_of:
            add(S.REACTOR_SERVER, S.POSTGRES, POSTGRES_PORT, "data")
        return tuple(flows), ()
    public_end = LOAD_BALANCER if ingress.load_balancer else ingress.tier
    terminator = None if ingress.load_balancer else S.CADDY  # the load balancer, else Caddy on the tier
    add(None, terminator, HTTPS, "public API and sites (TLS)", source_end=INTERNET, target_end=public_end)
    add(None, terminator, HTTP, "redirect to HTTPS and ACME HTTP-01", source_end=INTERNET, target_end=public_end)
    if ingress.load_balancer:
        if ingress.tls is TlsTermination.LOAD_BALANCER:
            add(None, S.REACTOR_SERVER, REACTOR, "reactor-server HTTP behind the load balancer",
                source_end=LOAD_BALANCER)
        else:
            add(None, S.CADDY, HTTPS, "TLS passthrough to Caddy", source_end=LOAD_BALANCER)
            add(None, S.CADDY, HTTP, "HTTP passthrough to Caddy", source_end=LOAD_BALANCER)
    if S.CADDY in tier_of:
        add(S.CADDY, S.REACTOR_SERVER, REACTOR, "reactor-server HTTP from the gateway")
        app = tier_of[S.REACTOR_SERVER]
        if traits.pool_router and app.replicas.autoscaled and app.name != ingress.tier:
            add(None, S.REACTOR_SERVER, REACTOR, "health checks of the internal load balancer in front of the "
                "autoscaled app pool (it passes the gateway's connections through)", source_end=POOL_ROUTER)
    if S.GATEWAY_SERVER in tier_of:
        add(S.CADDY, S.GATEWAY_SERVER, GATEWAY_PORT, "on-demand TLS: Caddy asks gateway-server /ask")
    db_tier = next((t for t in tiers if t.name is Tier.DATABASE), None)
    db = Tier.DATABASE if db_tier is not None else None
    if db is not None or S.POSTGRES in tier_of:
        if pooler:
            add(S.REACTOR_SERVER, pooler.kind.service, pooler.port,
                f"data through {pooler.kind} ({pooler.mode} mode)")
            add(pooler.kind.service, S.POSTGRES, POSTGRES_PORT, f"{pooler.kind} to Postgres", target_end=db)
            if policy.multi_tenant:
                add(S.REACTOR_SERVER, S.POSTGRES, POSTGRES_PORT,
                    "control database, direct (creates tenant databases and roles)", target_end=db)
        else:
            add(S.REACTOR_SERVER, S.POSTGRES, POSTGRES_PORT, "data", target_end=db)
        if S.GATEWAY_SERVER in tier_of:
            add(S.GATEWAY_SERVER, S.POSTGRES, POSTGRES_PORT,
                "gateway-server LISTENs on reactor_gateway_routes (direct)", target_end=db)
    if S.OPENBAO in tier_of:
        if traits.vault_router and tier_of[S.OPENBAO].replicas.max > 1:
            add(S.REACTOR_SERVER, S.OPENBAO, VAULT_API, "secrets (OpenBao API) through the router",
                target_end=VAULT_ROUTER)
            add(None, S.OPENBAO, VAULT_API, "the router to the active OpenBao node (health-checked)",
                source_end=VAULT_ROUTER)
        else:
            add(S.REACTOR_SERVER, S.OPENBAO, VAULT_API, "secrets (OpenBao API)")
        # a joining node calls the leader's API (retry_join); standbys forward over the cluster port
        add(S.OPENBAO, S.OPENBAO, VAULT_API, "OpenBao raft join (a peer's API)")
        add(S.OPENBAO, S.OPENBAO, VAULT_CLUSTER, "OpenBao raft between peers")
    if S.NATS in tier_of:
        add(S.REACTOR_SERVER, S.NATS, NATS_CLIENT, "realtime and pubsub (NATS clients)")
        add(S.NATS, S.NATS, NATS_ROUTES, "NATS cluster routes")
    if traits.operator_port is not None:
        for t in tiers:
            if t.services:
                add(None, None, traits.operator_port, "operators' sessions through the platform's access proxy",
                    source_end=OPERATORS, target_end=t.name)
    for t in tiers:
        if t.name in files:
            add(None, None, NFS, f"{t.name}'s files on the network file system (NFS)", source_end=t.name,
                target_end=FILE_SYSTEM)
    return tuple(flows), tuple(links)
