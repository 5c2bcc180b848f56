"""The Plan: a pure, frozen description of one Reactor install (DESIGN §2, §6).

`build_plan(topology, settings, stack)` is the only place that knows the ladder of
decomposition. It decides, once and for every platform: which tiers exist, the services and
replicas on each, zones and regions, the links between tiers (which platforms turn into
firewall rules, one rule per link), sizing, storage, vault and pooler modes, the secrets to
generate, and the edition's policy. Platforms read it and never re-decide any of it. The
vocabulary lives in `layout` (the one import path); this module only decides. No Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .layout import (
    FREE_TIER_QUOTAS,
    ONE,
    POOLER_SESSION,
    SIZING_PRESETS,
    SUPPORT_SIZING,
    TLS_SERVERS,
    Database,
    DatabaseHosting,
    Ingress,
    Plan,
    Policy,
    Pooler,
    PoolerKind,
    PoolMode,
    Replicas,
    Seal,
    Secret,
    SecretGenerator,
    Service,
    Sizing,
    StorageBackend,
    Tier,
    TierPlan,
    TlsTermination,
    VaultMode,
)
from .errors import SettingsError
from .links import flows_and_links
from .settings import StackSettings
from .token import Edition, Platform, Topology
from .traits import traits

# --- the ladder (DESIGN §6), as a table -----------------------------------------------------

S = Service
GATEWAY = (S.CADDY, S.GATEWAY_SERVER)
POOLER_SLOT = None  # the pooler tier's service comes from the stack's `pooler` setting


@dataclass(frozen=True, slots=True)
class Rung:
    tiers: tuple[tuple[Tier, tuple[Service | None, ...]], ...]  # in the order tiers are listed
    ingress: Tier | None
    tls: TlsTermination


LADDER: dict[int, Rung] = {
    1: Rung(((Tier.LOCAL, (S.REACTOR_SERVER, S.POSTGRES)),), None, TlsTermination.NONE),
    2: Rung(((Tier.NODE, (S.REACTOR_SERVER, S.POSTGRES, S.OPENBAO, S.CADDY)),), Tier.NODE, TlsTermination.CADDY),
    3: Rung(((Tier.APP, (S.REACTOR_SERVER,)),), Tier.APP, TlsTermination.LOAD_BALANCER),
    4: Rung(((Tier.APP, (S.REACTOR_SERVER,)), (Tier.INFRA, (S.NATS, S.OPENBAO, *GATEWAY))),
            Tier.INFRA, TlsTermination.CADDY),
    5: Rung(((Tier.APP, (S.REACTOR_SERVER,)), (Tier.EDGE, GATEWAY), (Tier.INFRA, (S.NATS, S.OPENBAO))),
            Tier.EDGE, TlsTermination.CADDY),
    6: Rung(((Tier.APP, (S.REACTOR_SERVER,)), (Tier.EDGE, GATEWAY), (Tier.NATS, (S.NATS,)),
             (Tier.VAULT, (S.OPENBAO,)), (Tier.POOLER, (POOLER_SLOT,))), Tier.EDGE, TlsTermination.CADDY),
}
LADDER[10] = LADDER[6]  # elastic: size 6 with autoscaled pools (replicas below)

REGIONAL = frozenset({Tier.APP, Tier.EDGE, Tier.POOLER})  # repeated in every region with +mr
STATEFUL = frozenset({Tier.LOCAL, Tier.NODE, Tier.INFRA, Tier.NATS, Tier.VAULT, Tier.DATABASE, Tier.STORAGE})
MAIN_SIZED = frozenset({Tier.LOCAL, Tier.NODE, Tier.APP, Tier.DATABASE})  # the others get SUPPORT_SIZING


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
        egress_per_zone=e is not Edition.OPEN,
        tenant_provider=("single_node" if topo.size == 2 else "shared_cluster") if multi else None,
        free_tier_quotas=dict(FREE_TIER_QUOTAS) if multi else None,
    )


# --- replicas per tier --------------------------------------------------------------------------


def _clustered(topo: Topology) -> bool:
    """NATS and OpenBao run three nodes: with +ha, or for C at size >= 6 (shared-cluster runbook)."""
    return topo.ha or (topo.edition is Edition.COMMERCIAL and topo.size >= 6)


def _app_replicas(topo: Topology) -> Replicas:
    if topo.size <= 2:
        return ONE
    base = 1 if topo.size == 3 else 2
    if topo.ha or topo.autoscale:
        base = max(base, 2)
    if topo.edition is Edition.COMMERCIAL and topo.size >= 6:
        base = max(base, 3)  # the runbook runs >= 3 stateless reactor-shared nodes
    if topo.autoscale:
        return Replicas(base, max(4, base * 3) if topo.size < 10 else 10)
    return Replicas(base, base)


def _replicas(topo: Topology, tier: Tier) -> Replicas:
    if traits(topo.platform).one_host:
        return ONE  # every tier on one Docker host: replicas would only share a kernel
    three_if_ha = Replicas(3, 3) if topo.ha else ONE
    match tier:
        case Tier.APP:
            return _app_replicas(topo)
        case Tier.EDGE:
            return Replicas(2, 6) if topo.autoscale else Replicas(2, 2)
        case Tier.INFRA:
            return three_if_ha
        case Tier.NATS | Tier.VAULT:
            return Replicas(3, 3) if _clustered(topo) else ONE
        case Tier.POOLER | Tier.DATABASE:
            return Replicas(2, 2) if topo.ha else ONE
    return ONE


def _zones(topo: Topology, replicas: Replicas) -> int:
    return min(replicas.min, 3) if topo.ha else 1


# --- the builder ----------------------------------------------------------------------------------


def _sizing(name: Tier, main: Sizing) -> Sizing | None:
    if name is Tier.STORAGE:
        return None  # the platform's object store has no size
    return main if name in MAIN_SIZED else SUPPORT_SIZING


def _tier(topo: Topology, name: Tier, services: tuple[Service, ...], regions: tuple[str, ...],
          main: Sizing, public: bool) -> TierPlan:
    replicas = _replicas(topo, name)
    return TierPlan(
        name=name, services=services, replicas=replicas,
        regions=regions if name in REGIONAL else regions[:1], zones=_zones(topo, replicas),
        sizing=_sizing(name, main), public=public, stateful=name in STATEFUL)


def _rung_services(topo: Topology, settings: StackSettings, tier: Tier,
                   services: tuple[Service | None, ...]) -> tuple[Service, ...]:
    """The ladder's services for a tier, with the few edition and platform adjustments."""
    chosen = [PoolerKind(settings.pooler).service if s is POOLER_SLOT else s for s in services]
    if tier is Tier.NODE and topo.edition is Edition.COMMERCIAL:
        # tenants live at {ref}.<domain>: on-demand TLS asks gateway-server, which must sit beside Caddy
        chosen.append(S.GATEWAY_SERVER)
    t = traits(topo.platform)
    if tier is Tier.APP and topo.size == 3 and (t.one_host or t.proxy_only or t.caddy_terminates):
        chosen.append(S.CADDY)  # no load balancer that terminates TLS and refuses the admin paths
    return tuple(chosen)


def _ingress(topo: Topology, rung: Rung, tiers: list[TierPlan]) -> Ingress:
    if rung.ingress is None:
        return Ingress(TlsTermination.NONE, None, False)
    tier = next(t for t in tiers if t.name == rung.ingress)
    if rung.tls is TlsTermination.LOAD_BALANCER and traits(topo.platform).one_host:
        return Ingress(TlsTermination.CADDY, tier.name, False)  # the Caddy beside the app terminates
    if rung.tls is TlsTermination.LOAD_BALANCER and traits(topo.platform).proxy_only:
        return Ingress(TlsTermination.CADDY, tier.name, True)  # TCP through the proxy to Caddy
    if rung.tls is TlsTermination.LOAD_BALANCER and traits(topo.platform).caddy_terminates:
        return Ingress(TlsTermination.CADDY, tier.name, False)  # each app host takes 80/443 itself
    if rung.tls is TlsTermination.LOAD_BALANCER:
        return Ingress(TlsTermination.LOAD_BALANCER, tier.name, True)
    # Caddy terminates; a (TCP passthrough) load balancer spreads over several gateway nodes,
    # or stands in front of one where machines get no public address
    behind = (tier.replicas.max > 1 or (topo.size >= 3 and traits(topo.platform).private_machines)
              or traits(topo.platform).proxy_only)  # Fly: even the size-2 node is behind its proxy
    if traits(topo.platform).caddy_terminates:
        behind = False  # no balancer of ours: each ingress host takes 80/443 (the operator's DNS or TCP balancer in front)
    return Ingress(TlsTermination.CADDY, tier.name, behind)


def _database(topo: Topology, regions: tuple[str, ...], main: Sizing, app: Replicas,
              policy: Policy, settings: StackSettings) -> Database:
    if topo.size <= 2:
        hosting = DatabaseHosting.BESIDE
    elif traits(topo.platform).managed_database or operators_url(topo, settings):
        hosting = DatabaseHosting.MANAGED
    else:
        hosting = DatabaseHosting.NODE
    max_connections = 100 if main.memory_gb < 8 else 200
    app_nodes_max = app.max if topo.size >= 3 else 1
    # leave a quarter for the gateway, migrations and operators
    pool_max = max(5, min(20, (max_connections * 3 // 4) // max(app_nodes_max, 1)))
    return Database(
        hosting=hosting, engine_version="16", standby=topo.ha,
        cross_region_replica=regions[1] if topo.mr else None, sizing=main,
        max_connections=max_connections, pool_max_per_node=pool_max,
        tenant_databases=policy.multi_tenant and topo.size >= 3)


def build_plan(topology: Topology, settings: StackSettings | None = None, stack: str | None = None) -> Plan:
    """Decide the whole layout for a topology, its stack settings and the install's name
    (`stack`, the Pulumi stack; default: the token's slug, as `reactor-infra up TOKEN` names it)."""
    settings = settings or StackSettings()
    topo = topology
    regions = settings.regions_for(topo)
    preset = _preset(topo, settings)
    main = SIZING_PRESETS[preset]
    policy = _policy(topo)
    rung = LADDER[topo.size]
    notes: list[str] = []
    if traits(topo.platform).one_host:
        notes.append("one Docker host: every tier runs as one container, so there is no load balancer")

    tiers = [_tier(topo, name, _rung_services(topo, settings, name, services), regions, main,
                   public=name is rung.ingress)
             for name, services in rung.tiers]
    ingress = _ingress(topo, rung, tiers)
    app = next(t for t in tiers if S.REACTOR_SERVER in t.services)
    database = _database(topo, regions, main, app.replicas, policy, settings)
    if topo.size >= 3:
        tiers.append(_tier(topo, Tier.DATABASE,
                           (S.POSTGRES,) if database.hosting is not DatabaseHosting.MANAGED else (),
                           regions, main, public=False))

    several_app_nodes = app.replicas.max > 1
    # no S3-compatible store (Azure): fs storage on the network file system the app nodes share
    shares_blobs = several_app_nodes and traits(topo.platform).shared_file_storage
    storage = StorageBackend.S3 if several_app_nodes and not shares_blobs else StorageBackend.FS
    if storage is StorageBackend.S3:
        tiers.append(_tier(topo, Tier.STORAGE, (), regions, main, public=False))  # S3-compatible bucket
    has_openbao = any(S.OPENBAO in t.services for t in tiers)
    if has_openbao:
        vault = VaultMode.OPENBAO
    elif several_app_nodes:
        vault = VaultMode.ENV
        notes.append("several app nodes and no OpenBao yet: runtime secrets come from the platform's secret "
                     "store as REACTOR_* variables and no node keeps a private embedded vault; "
                     "project secrets set through /_admin/vault need size 4 or more")
    else:
        vault = VaultMode.EMBEDDED
    seal = Seal(settings.vault_seal or traits(topo.platform).kms_seal or Seal.SHAMIR) if has_openbao else None
    # Session mode for both poolers: reactor-server runs sqlx migrations at every start (and in
    # each new tenant database), and sqlx takes a session-level advisory lock for them; in
    # transaction mode lock and unlock can land on different server connections and the next
    # start waits forever. Supavisor's transaction mode also breaks sqlx's named prepared
    # statements (runtime ref §5). The pooler still caps and queues every app node's connections.
    pooler = (Pooler(PoolerKind(settings.pooler), PoolMode.SESSION, POOLER_SESSION)
              if any(t.name is Tier.POOLER for t in tiers) else None)
    has_nats = any(S.NATS in t.services for t in tiers)

    egress = _egress_services(seal)
    tiers = [replace(t, egress=bool(egress & set(t.services))) for t in tiers]
    flows, links = flows_and_links(tiers, ingress, pooler, policy, traits(topo.platform),
                                   _network_files(topo, tiers, storage, vault))
    internal_tls = traits(topo.platform).internal_tls and topo.size >= 3
    operators_database = database.hosting is DatabaseHosting.MANAGED and (
        traits(topo.platform).external_database or traits(topo.platform).operator_database)
    secrets = (_secrets(vault, seal, pooler, has_nats, tiers, operators_database) + _challenge_secrets(topo, policy, ingress)
               + _storage_secrets(topo, storage)
               + (_tls_secrets(tiers) if internal_tls else ()))
    zones = max(t.zones for t in tiers)
    if topo.size >= 3:
        zones = max(zones, traits(topo.platform).min_zones)
    if ingress.tier is None:
        notes.append("size 1 binds 127.0.0.1:8000 only; nothing is published beyond this machine")
    if ingress.tls is TlsTermination.CADDY and not settings.domain and not traits(topo.platform).one_host:
        notes.append("no domain: Caddy answers on the public address with a certificate from its own "
                     "internal CA, which browsers and clients do not trust; set reactor-infra:domain for a "
                     "public ACME certificate")
    if ingress.tls is TlsTermination.LOAD_BALANCER and not settings.domain:
        notes.append("no domain: the load balancer answers HTTPS with a self-signed certificate the program "
                     "makes, which browsers and clients do not trust; set reactor-infra:domain for a managed "
                     "certificate")
    return Plan(
        topology=topo, settings=settings, stack=stack or topo.slug, regions=regions, tiers=tuple(tiers),
        links=links, flows=flows, ingress=ingress, database=database, pooler=pooler, storage=storage, vault=vault,
        vault_seal=seal, nats=has_nats, policy=policy, secrets=secrets, sizing_preset=preset,
        egress_services=egress, zones=zones, internal_tls=internal_tls, notes=tuple(notes),
    )


def _network_files(topo: Topology, tiers: list[TierPlan], storage: StorageBackend,
                   vault: VaultMode) -> frozenset[Tier]:
    """The tiers whose files live on the network file system: a container tier's that must
    outlive a task (the one app node's fs storage and embedded vault, the edge's certificates),
    and the certificates several Caddy replicas share wherever they run (an ACME challenge or an
    on-demand certificate must be found by whichever replica the load balancer picks), and the
    blobs several app nodes share where the platform has no S3-compatible store."""
    t = traits(topo.platform)
    if not t.network_files:
        return frozenset()
    keeps = {Tier.EDGE} if any(x.name is Tier.EDGE for x in tiers) else set()
    if storage is StorageBackend.FS or vault is VaultMode.EMBEDDED:
        keeps.add(Tier.APP)
    shared_caddy = {x.name for x in tiers if S.CADDY in x.services and x.replicas.max > 1}
    shared_blobs = {x.name for x in tiers if S.REACTOR_SERVER in x.services and x.replicas.max > 1
                    and t.shared_file_storage and storage is StorageBackend.FS}
    return frozenset(x for x in keeps if x.value in t.container_tiers) | shared_caddy | shared_blobs


def _egress_services(seal: Seal | None) -> frozenset[Service]:
    """reactor-server calls out (webhooks, SMTP, functions), Caddy needs ACME, OpenBao reaches
    a cloud KMS to unseal. NATS, the pooler and the database never need the internet."""
    services = {S.REACTOR_SERVER, S.CADDY}
    if seal is not None and seal.automatic:
        services.add(S.OPENBAO)
    return frozenset(services)


# --- secrets --------------------------------------------------------------------------------------

G = SecretGenerator


def _storage_secrets(topo: Topology, storage: StorageBackend) -> tuple[Secret, ...]:
    """The access key pair of an object store that takes one (GCS HMAC keys): issued by the
    platform for a service account that may use only the install's bucket."""
    store = traits(topo.platform).object_store
    if storage is not StorageBackend.S3 or store is None or not store.access_keys:
        return ()
    return (Secret("storage-access-key-id", G.PLATFORM, "object store access key id (HMAC)", "AWS_ACCESS_KEY_ID"),
            Secret("storage-secret-access-key", G.PLATFORM, "object store secret access key (HMAC)",
                   "AWS_SECRET_ACCESS_KEY"))


def _challenge_secrets(topo: Topology, policy: Policy, ingress: Ingress) -> tuple[Secret, ...]:
    """Edition C serves tenants at {ref}.<domain>: a wildcard certificate by DNS-01, with a
    credential the platform issues that may only write the domain's challenge records. Only
    where Caddy terminates TLS: a load balancer's managed certificate covers *.<domain> itself."""
    challenge = traits(topo.platform).dns_challenge
    if not policy.multi_tenant or challenge is None or ingress.tls is not TlsTermination.CADDY:
        return ()
    return tuple(Secret(name, G.PLATFORM, f"DNS-01 credential for tenant certificates ({var}, {challenge.provider})")
                 for var, name in challenge.env)


def _tls_secrets(tiers: list[TierPlan]) -> tuple[Secret, ...]:
    """One private key per tier that serves TLS between machines, which the platform's private
    CA certifies: a machine or task holds only its own tier's key."""
    return tuple(Secret(tls_key_secret(t.name), G.PLATFORM,
                        f"private key of the {t.name} tier's certificate (TLS between machines)")
                 for t in tiers if TLS_SERVERS & set(t.services))


def tls_key_secret(tier: Tier | str) -> str:
    return f"tls-key-{tier}"


def ensure_deployable(plan: Plan) -> Plan:
    """The plan, or SettingsError with every `deployment_problems` line."""
    problems = deployment_problems(plan)
    if problems:
        raise SettingsError("stack settings", problems)
    return plan


def operators_url(topo: Topology, settings: StackSettings) -> str | None:
    """The operator's database URL from the stack (`extras.<platform>.database_url`), where the
    platform takes one instead of running Postgres itself (`traits.operator_database`)."""
    if topo.size < 3 or not traits(topo.platform).operator_database:
        return None
    return (settings.extras.get(topo.platform.value) or {}).get("database_url") or None


def deployment_problems(plan: Plan) -> list[str]:
    """What stops this plan from running at all, though it can be explained: one line each."""
    problems = []
    if plan.policy.multi_tenant and not plan.settings.domain:
        problems.append("domain: edition C serves each tenant at {ref}.<domain> (a wildcard DNS record and "
                        "certificate); set reactor-infra:domain, e.g. api.example.com")
    if (plan.traits.external_database and plan.database.hosting is DatabaseHosting.MANAGED
            and not (plan.settings.extras.get(plan.topology.platform.value) or {}).get("database_url")):
        where = f"extras.{plan.topology.platform}.database_url"
        problems.append(f"{where}: {plan.topology} uses the operator's Postgres from size 3; set it to "
                        "postgres://ADMIN@HOST:PORT/DB?sslmode=verify-full (a role with CREATEROLE and CREATEDB; "
                        "its password is a stack secret, see the platform's README)")
    if (plan.traits.operator_database and plan.topology.ha
            and plan.database.hosting is not DatabaseHosting.MANAGED):
        problems.append(f"extras.{plan.topology.platform}.database_url: {plan.topology} keeps its data in a "
                        "primary/standby Postgres pair with automatic failover, which the operator runs (README: "
                        "the pair); set it to postgres://ADMIN@WRITER:PORT/DB?sslmode=verify-full")
    challenge = plan.traits.dns_challenge
    extras = plan.settings.extras.get(plan.topology.platform.value) or {}
    caddy_proves = plan.ingress.tls is TlsTermination.CADDY  # a load balancer's managed certificate needs no zone
    if (plan.policy.multi_tenant and challenge and challenge.zone_setting and caddy_proves
            and not extras.get(challenge.zone_setting)):
        where = f"extras.{plan.topology.platform}.{challenge.zone_setting}"
        problems.append(f"{where}: edition C proves *.<domain> by DNS-01 ({challenge.provider}) in the domain's "
                        "DNS zone; set it to that zone's name")
    if plan.topology.platform is Platform.ONPREM:
        problems += _inventory_problems(plan)
    if plan.policy.multi_tenant and plan.traits.dns_challenge is None:
        problems.append(f"edition C needs wildcard certificates by DNS-01, which @{plan.topology.platform} "
                        "cannot issue yet")
    return problems


def _inventory_problems(plan: Plan) -> list[str]:
    from . import inventory
    from .errors import SettingsError

    try:
        return inventory.problems(plan, inventory.load(plan))
    except SettingsError as err:
        return list(err.problems)


def _secrets(vault: VaultMode, seal: Seal | None, pooler: Pooler | None, has_nats: bool,
             tiers: list[TierPlan], operators_database: bool = False) -> tuple[Secret, ...]:
    s = [
        Secret("admin-token", G.TOKEN, "admin API bearer token (/_admin)", "REACTOR_ADMIN__TOKEN"),
        Secret("auth-data-key", G.BASE64_32, "auth data encryption key (AES-256-GCM)", "REACTOR_AUTH__DATA_KEY"),
        Secret("functions-data-key", G.BASE64_32, "functions data encryption key", "REACTOR_FUNCTIONS__DATA_KEY"),
        Secret("storage-signing-secret", G.TOKEN, "signed storage URLs", "REACTOR_STORAGE__SIGNING_SECRET"),
        Secret("jobs-webhook-secret", G.TOKEN, "jobs webhook signatures", "REACTOR_JOBS__WEBHOOK_SECRET"),
        Secret("database-password", G.PASSWORD, "password of the reactor database role"),
        Secret("database-admin-password", G.PLATFORM,
               "password of the operator's database admin role (from the stack, never generated): "
               "creates the roles, never used by Reactor") if operators_database else
        Secret("database-admin-password", G.PASSWORD,
               "password of the database's admin user (postgres, the image's superuser): creates the "
               "roles, never used by Reactor"),
    ]
    if any(S.GATEWAY_SERVER in t.services for t in tiers):
        s.append(Secret("gateway-database-password", G.PASSWORD,
                        "password of the gateway database role (gateway-server: reads and updates "
                        "routes and custom domains)"))
    if vault is not VaultMode.OPENBAO:
        s.append(Secret("vault-master-key", G.HEX_64, "embedded vault master key (64 hex)",
                        "REACTOR_VAULT_MASTER_KEY"))
    else:
        s.append(Secret("openbao-token", G.INIT, "reactor-server's OpenBao token, issued after init",
                        "REACTOR_VAULT__TOKEN"))
        s.append(Secret("openbao-recovery", G.INIT,
                        "OpenBao unseal keys" if seal is Seal.SHAMIR else "OpenBao recovery keys"))
    if pooler:
        s.append(Secret("pooler-auth-password", G.PASSWORD, f"{pooler.kind} auth user"))
        if pooler.kind is PoolerKind.SUPAVISOR:
            s.append(Secret("supavisor-secret-key-base", G.TOKEN, "Supavisor SECRET_KEY_BASE"))
            s.append(Secret("supavisor-vault-enc-key", G.TOKEN, "Supavisor VAULT_ENC_KEY"))
    if has_nats:
        # no client password: reactor-server's NATS settings cannot carry one (config.rs:921-943)
        if any(t.replicas.max > 1 and S.NATS in t.services for t in tiers):
            s.append(Secret("nats-cluster-password", G.LETTERS, "NATS cluster route credentials"))
    return tuple(s)
