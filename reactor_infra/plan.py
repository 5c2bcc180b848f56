"""The Plan: a pure, frozen description of one Reactor install (DESIGN §2, §6).

`build_plan(topology, settings)` is the only place that knows the ladder of
decomposition. It decides, once and for every platform: which tiers exist, the
services and replicas on each, zones and regions, the links between tiers (which
platforms turn into firewall rules, one rule per link), sizing, storage, vault and
pooler modes, the secrets to generate, and the edition's policy. Platforms read it
and never re-decide any of it. No Pulumi, no cloud SDK.
"""

from __future__ import annotations

from dataclasses import replace

from .layout import (  # noqa: F401 - re-exported: platforms import the vocabulary from here
    CADDY_ADMIN,
    FREE_TIER_QUOTAS,
    GATEWAY_PORT,
    HTTP,
    HTTPS,
    INTERNET,
    LOAD_BALANCER,
    NATS_CLIENT,
    NATS_MONITOR,
    NATS_ROUTES,
    POOLER_SESSION,
    POOLER_TXN,
    POSTGRES_PORT,
    REACTOR,
    SIZING_PRESETS,
    SUPPORT_SIZING,
    VAULT_API,
    VAULT_CLUSTER,
    Database,
    DatabaseHosting,
    Ingress,
    Link,
    Plan,
    Policy,
    Pooler,
    Replicas,
    Secret,
    Service,
    Sizing,
    StorageBackend,
    Tier,
    TierPlan,
    VaultMode,
)
from .settings import StackSettings
from .token import Edition, Topology
from .traits import traits

# --- the ladder -------------------------------------------------------------------------


def _preset(topo: Topology, settings: StackSettings) -> str:
    if settings.sizing:
        return settings.sizing
    if topo.size == 1:
        return "dev"
    if topo.edition is not Edition.OPEN and topo.size >= 5:
        return "active"
    return "small"


def _policy(topo: Topology) -> Policy:
    e = topo.edition
    multi = e is Edition.COMMERCIAL
    return Policy(
        protect=e is not Edition.OPEN,
        backup_retention_days={Edition.OPEN: 7, Edition.ENTERPRISE: 14, Edition.COMMERCIAL: 14}[e],
        customer_managed_keys=e is not Edition.OPEN,
        multi_tenant=multi,
        tenant_provider=("single_node" if topo.size == 2 else "shared_cluster") if multi else None,
        free_tier_quotas=dict(FREE_TIER_QUOTAS) if multi else None,
    )


def _clustered(topo: Topology) -> bool:
    """NATS and OpenBao run three nodes: with +ha, or for C at size >= 6 (shared-cluster runbook)."""
    return topo.ha or (topo.edition is Edition.COMMERCIAL and topo.size >= 6)


def _app_replicas(topo: Topology) -> Replicas:
    if topo.size <= 2:
        return Replicas(1, 1)
    base = 1 if topo.size == 3 else 2
    if topo.ha or topo.autoscale:
        base = max(base, 2)
    if topo.edition is Edition.COMMERCIAL and topo.size >= 6:
        base = max(base, 3)  # the runbook runs >= 3 stateless reactor-shared nodes
    if topo.autoscale:
        return Replicas(base, max(4, base * 3) if topo.size < 10 else 10)
    return Replicas(base, base)


def _edge_replicas(topo: Topology) -> Replicas:
    if topo.autoscale:
        return Replicas(2, 6)
    return Replicas(2, 2)


def _zones(topo: Topology, replicas: Replicas) -> int:
    return min(replicas.min, 3) if topo.ha else 1


def build_plan(topology: Topology, settings: StackSettings | None = None, stack_name: str | None = None) -> Plan:
    """Decide the whole layout for a topology and its stack settings (`stack_name`: the Pulumi
    stack's, when it is not the token's slug)."""
    settings = settings or StackSettings()
    topo = topology
    size = topo.size
    regions = settings.regions_for(topo)
    primary = regions[:1]
    preset = _preset(topo, settings)
    main = SIZING_PRESETS[preset]
    policy = _policy(topo)
    clustered = _clustered(topo)
    tiers: list[TierPlan] = []
    notes: list[str] = []

    def tier(name, services, replicas=Replicas(1, 1), *, regional=False, sizing=SUPPORT_SIZING,
             public=False, stateful=False):
        tiers.append(TierPlan(
            name=name, services=tuple(services), replicas=replicas,
            regions=regions if regional else primary, zones=_zones(topo, replicas),
            sizing=sizing, public=public, stateful=stateful))

    gateway = (Service.CADDY, Service.GATEWAY_SERVER)
    infra_replicas = Replicas(3, 3) if topo.ha else Replicas(1, 1)
    cluster_replicas = Replicas(3, 3) if clustered else Replicas(1, 1)
    app_replicas = _app_replicas(topo)
    edge_replicas = _edge_replicas(topo)
    one_host = traits(topo.platform).one_host
    if one_host:
        # every rung on one Docker host: the tiers are real, the replicas would only share a kernel
        app_replicas = edge_replicas = Replicas(1, 1)
        notes.append("one Docker host: every tier runs as one container, so there is no load balancer")

    # -- tiers, by rung ------------------------------------------------------------------
    if size == 1:
        tier(Tier.LOCAL, [Service.REACTOR_SERVER, Service.POSTGRES], sizing=main, stateful=True)
        ingress = Ingress(tls="none", tier=None, load_balancer=False)
    elif size == 2:
        services = [Service.REACTOR_SERVER, Service.POSTGRES, Service.OPENBAO, Service.CADDY]
        if policy.multi_tenant:
            # tenants live at {ref}.<domain>: on-demand TLS asks gateway-server, which must sit beside Caddy
            services.append(Service.GATEWAY_SERVER)
        tier(Tier.NODE, services, sizing=main, public=True, stateful=True)
        ingress = Ingress(tls="caddy", tier=Tier.NODE, load_balancer=False)
    else:
        # at size 3 the platform load balancer sends public traffic straight to the app tier
        app_services = [Service.REACTOR_SERVER]
        if size == 3 and one_host:
            app_services.append(Service.CADDY)  # no cloud load balancer to terminate TLS
        tier(Tier.APP, app_services, app_replicas, regional=True, sizing=main, public=size == 3)
        if size == 3:
            # the platform's load balancer terminates TLS; on one Docker host a Caddy does
            ingress = (Ingress(tls="caddy", tier=Tier.APP, load_balancer=False) if one_host
                       else Ingress(tls="load-balancer", tier=Tier.APP, load_balancer=True))
        elif size == 4:
            tier(Tier.INFRA, [Service.NATS, Service.OPENBAO, *gateway], infra_replicas,
                 public=True, stateful=True)
            ingress = Ingress(tls="caddy", tier=Tier.INFRA, load_balancer=infra_replicas.min > 1)
        else:
            tier(Tier.EDGE, gateway, edge_replicas, regional=True, public=True)
            ingress = Ingress(tls="caddy", tier=Tier.EDGE, load_balancer=edge_replicas.max > 1)
            if size == 5:
                tier(Tier.INFRA, [Service.NATS, Service.OPENBAO], infra_replicas, stateful=True)
            else:
                tier(Tier.NATS, [Service.NATS], cluster_replicas, stateful=True)
                tier(Tier.VAULT, [Service.OPENBAO], cluster_replicas, stateful=True)
                pooler_service = Service.PGBOUNCER if settings.pooler == "pgbouncer" else Service.SUPAVISOR
                tier(Tier.POOLER, [pooler_service], Replicas(2, 2) if topo.ha else Replicas(1, 1),
                     regional=True)

    # -- database ------------------------------------------------------------------------
    app_nodes_max = app_replicas.max if size >= 3 else 1
    if size <= 2:
        hosting = DatabaseHosting.BESIDE
    elif traits(topo.platform).managed_database:
        hosting = DatabaseHosting.MANAGED
    else:
        hosting = DatabaseHosting.NODE
    db_sizing = main
    max_connections = 100 if main.memory_gb < 8 else 200
    # leave a quarter for the gateway, migrations and operators
    pool_max = max(5, min(20, (max_connections * 3 // 4) // max(app_nodes_max, 1)))
    database = Database(
        hosting=hosting,
        engine_version="16",
        standby=topo.ha,
        cross_region_replica=regions[1] if topo.mr else None,
        sizing=db_sizing,
        max_connections=max_connections,
        pool_max_per_node=pool_max,
        tenant_databases=policy.multi_tenant and size >= 3,
    )
    if size >= 3:
        tier(Tier.DATABASE, [Service.POSTGRES] if hosting is not DatabaseHosting.MANAGED else [],
             Replicas(2, 2) if topo.ha else Replicas(1, 1), sizing=db_sizing, stateful=True)

    # -- modes ---------------------------------------------------------------------------
    several_app_nodes = app_replicas.max > 1 and size >= 3
    storage = StorageBackend.S3 if several_app_nodes else StorageBackend.FS
    if storage is StorageBackend.S3:
        tier(Tier.STORAGE, [], sizing=None, stateful=True)  # the platform's S3-compatible bucket
    has_openbao = any(Service.OPENBAO in t.services for t in tiers)
    if has_openbao:
        vault = VaultMode.OPENBAO
    elif several_app_nodes:
        vault = VaultMode.ENV
        notes.append("several app nodes and no OpenBao yet: runtime secrets come from the platform's secret "
                     "store as REACTOR_* variables and no node keeps a private embedded vault; "
                     "project secrets set through /_admin/vault need size 4 or more")
    else:
        vault = VaultMode.EMBEDDED
    seal = None
    if has_openbao:
        seal = settings.vault_seal or traits(topo.platform).kms_seal or "shamir"
    pooler = None
    if size >= 6:
        # Session mode for both poolers: reactor-server runs sqlx migrations at every start
        # (and in each new tenant database), and sqlx takes a session-level advisory lock for
        # them; in transaction mode lock and unlock can land on different server connections
        # and the next start waits forever. Supavisor's transaction mode also breaks sqlx's
        # named prepared statements (runtime ref §5). The pooler still caps and queues the
        # server connections of every app node.
        pooler = Pooler(settings.pooler, "session", POOLER_SESSION)
    has_nats = any(Service.NATS in t.services for t in tiers)

    egress = _egress_services(seal)
    tiers = [replace(t, egress=bool(egress & set(t.services))) for t in tiers]
    links = _links(topo, tiers, ingress, pooler, policy)
    secrets = _secrets(topo, vault, seal, pooler, has_nats, policy, tiers)
    if ingress.tier is None:
        notes.append("size 1 binds 127.0.0.1:8000 only; nothing is published beyond this machine")
    return Plan(
        topology=topo, settings=settings, regions=regions, tiers=tuple(tiers), links=links,
        ingress=ingress, database=database, pooler=pooler, storage=storage, vault=vault,
        vault_seal=seal, nats=has_nats, policy=policy, secrets=secrets, sizing_preset=preset,
        egress_services=egress, notes=tuple(notes), stack=stack_name,
    )


def _egress_services(seal: str | None) -> frozenset[Service]:
    """reactor-server calls out (webhooks, SMTP, functions), Caddy needs ACME, OpenBao reaches
    a cloud KMS to unseal. NATS, the pooler and the database never need the internet."""
    services = {Service.REACTOR_SERVER, Service.CADDY}
    if seal not in (None, "shamir"):
        services.add(Service.OPENBAO)
    return frozenset(services)


def _links(topo, tiers, ingress, pooler, policy) -> tuple[Link, ...]:
    """Every allowed flow between tiers (DESIGN §6 table). Flows inside one node are not links."""
    by_service = {}
    for t in tiers:
        for s in t.services:
            by_service.setdefault(s, t)
    links: list[Link] = []

    def add(source, target, port, purpose):
        if source == target and not _replicated(tiers, target):
            return  # on one node the flow never leaves it
        link = Link(str(source), str(target), port, purpose)
        if link not in links:
            links.append(link)

    if ingress.tier is None:
        return ()
    public_target = LOAD_BALANCER if ingress.load_balancer else ingress.tier
    add(INTERNET, public_target, HTTPS, "public API and sites (TLS)")
    add(INTERNET, public_target, HTTP, "redirect to HTTPS and ACME HTTP-01")
    if ingress.load_balancer:
        if ingress.tls == "load-balancer":
            add(LOAD_BALANCER, ingress.tier, REACTOR, "reactor-server HTTP behind the load balancer")
        else:
            add(LOAD_BALANCER, ingress.tier, HTTPS, "TLS passthrough to Caddy")
            add(LOAD_BALANCER, ingress.tier, HTTP, "HTTP passthrough to Caddy")
    app = by_service[Service.REACTOR_SERVER].name
    if ingress.tier != app:
        add(ingress.tier, app, REACTOR, "reactor-server HTTP from the gateway")
    db = Tier.DATABASE if any(t.name == Tier.DATABASE for t in tiers) else None
    if db:
        if pooler:
            add(app, Tier.POOLER, pooler.port, f"data through {pooler.kind} ({pooler.mode} mode)")
            add(Tier.POOLER, db, POSTGRES_PORT, f"{pooler.kind} to Postgres")
            if policy.multi_tenant:
                add(app, db, POSTGRES_PORT, "control database, direct (creates tenant databases and roles)")
        else:
            add(app, db, POSTGRES_PORT, "data")
        gw = by_service.get(Service.GATEWAY_SERVER)
        if gw:
            add(gw.name, db, POSTGRES_PORT, "gateway-server LISTENs on reactor_gateway_routes (direct)")
    vault = by_service.get(Service.OPENBAO)
    if vault:
        add(app, vault.name, VAULT_API, "secrets (OpenBao API)")
        if _replicated(tiers, vault.name):
            add(vault.name, vault.name, VAULT_CLUSTER, "OpenBao raft between peers")
    nats = by_service.get(Service.NATS)
    if nats:
        add(app, nats.name, NATS_CLIENT, "realtime and pubsub (NATS clients)")
        if _replicated(tiers, nats.name):
            add(nats.name, nats.name, NATS_ROUTES, "NATS cluster routes")
    return tuple(links)


def _replicated(tiers, name) -> bool:
    return any(t.name == name and t.replicas.max > 1 for t in tiers)


def _secrets(topo, vault, seal, pooler, has_nats, policy, tiers) -> tuple[Secret, ...]:
    s = [
        Secret("admin-token", "token", "admin API bearer token (/_admin)", "REACTOR_ADMIN__TOKEN"),
        Secret("auth-data-key", "base64-32", "auth data encryption key (AES-256-GCM)", "REACTOR_AUTH__DATA_KEY"),
        Secret("functions-data-key", "base64-32", "functions data encryption key", "REACTOR_FUNCTIONS__DATA_KEY"),
        Secret("storage-signing-secret", "token", "signed storage URLs", "REACTOR_STORAGE__SIGNING_SECRET"),
        Secret("jobs-webhook-secret", "token", "jobs webhook signatures", "REACTOR_JOBS__WEBHOOK_SECRET"),
        Secret("database-password", "password", "password of the reactor database role", None),
    ]
    if vault is not VaultMode.OPENBAO:
        s.append(Secret("vault-master-key", "hex-64", "embedded vault master key (64 hex)",
                        "REACTOR_VAULT_MASTER_KEY"))
    else:
        s.append(Secret("openbao-token", "init", "reactor-server's OpenBao token, issued after init",
                        "REACTOR_VAULT__TOKEN"))
        s.append(Secret("openbao-recovery", "init",
                        "OpenBao unseal keys" if seal == "shamir" else "OpenBao recovery keys", None))
    if pooler:
        s.append(Secret("pooler-auth-password", "password", f"{pooler.kind} auth user", None))
        if pooler.kind == "supavisor":
            s.append(Secret("supavisor-secret-key-base", "token", "Supavisor SECRET_KEY_BASE", None))
            s.append(Secret("supavisor-vault-enc-key", "token", "Supavisor VAULT_ENC_KEY", None))
    if has_nats:
        s.append(Secret("nats-app-password", "password", "NATS client credentials for reactor-server", None))
        if any(t.replicas.max > 1 and Service.NATS in t.services for t in tiers):
            s.append(Secret("nats-cluster-password", "password", "NATS cluster route credentials", None))
    return tuple(s)
