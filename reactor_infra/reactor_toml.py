"""Reactor.toml: reactor-server's own config, rendered from the Plan (runtime reference §2).

Only keys the runtime reads (`runtime_schema`), each value chosen by the Plan, with a short
comment where the reason is not obvious. Secrets are never written: each one reaches the
process as a `REACTOR_*` env override (env wins over the file), and `runtime_env()` names the
plan secret behind each variable, never its value. The one reference we do write is
`vault.master_key = "env:REACTOR_VAULT_MASTER_KEY"`. `vault:<name>` references are not used:
nothing seeds the runtime's vault with our generated secrets, so such a reference would resolve
to nothing.

Addresses come from `Endpoints`: a platform fills them in after creating its resources;
`default_endpoints()` gives deterministic internal names for offline renders.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import tomlkit
from tomlkit.items import Table

from . import late, naming
from .layout import (
    NATS_CLIENT,
    POSTGRES_PORT,
    REACTOR,
    VAULT_API,
    DatabaseHosting,
    Plan,
    Service,
    StorageBackend,
    VaultMode,
)
from .runtime_schema import DEFAULT_MASTER_KEY_REF, env_var
from .token import Platform
from .traits import traits

DB_NAME = DB_USER = "reactor"
# RFC 2606: `.invalid` never resolves, so a forgotten domain cannot point at someone else's host.
PLACEHOLDER_DOMAIN = "reactor.invalid"
# Relative to reactor-server's working directory; platforms put a volume on `.reactor/`.
STATE_DIR = ".reactor"
# reactor-server's working directory (it reads Reactor.toml there) and the CA files beside it
WORKDIR = "/srv/reactor"
INTERNAL_CA = "internal-ca.pem"  # the install's private CA (TLS between machines)
DATABASE_CA = "database-ca.pem"  # the managed database's CA bundle (sslmode=verify-full)
# How a secret's value is marked inside an env template (`runtime_env`).
PASSWORD_REF = "${database-password}"
URL_TEMPLATE = "cloud.shared_pool.pooler.url_template"
SHARED_URL = "cloud.shared_pool.shared_postgres_url"


@dataclass(frozen=True)
class Endpoints:
    """Addresses reactor-server needs, known once the platform has created its resources.
    Platforms start from `default_endpoints(plan)` and `dataclasses.replace` what differs."""

    public_url: str  # auth.public_url: what browsers and e-mail links use
    base_domain: str  # tenants answer at {project_ref}.<base_domain>
    backend_target: str  # host:port the gateway routes to (a reactor-server)
    database_host: str
    database_port: int = POSTGRES_PORT
    database_name: str = DB_NAME
    database_user: str = DB_USER
    pooler_host: str | None = None
    pooler_port: int | None = None
    openbao_address: str | None = None
    nats_servers: tuple[str, ...] = ()
    s3_bucket: str | None = None
    s3_region: str | None = None
    s3_endpoint: str | None = None  # None: the AWS default endpoint
    # the TLS mode of direct connections to a database with no CA file to verify against (the
    # operator's database: its URL's sslmode); None: the CA file's verify-full, or the driver's default
    database_sslmode: str | None = None


# --- offline endpoints ----------------------------------------------------------------------


def _host(plan: Plan, service: Service, index: int | None = None) -> str:
    """Sizes 1-2 run on one box (compose service names: `postgres`); from size 3 each tier
    has a private DNS name (`database.internal`, `nats-1.internal` for a replica)."""
    if plan.topology.size <= 2:
        return str(service)
    tier = plan.tier_of(service)
    assert tier is not None, f"{service} is not in the plan"
    name = tier.name.value if index is None else f"{tier.name.value}-{index}"
    return f"{name}.{plan.traits.private_domain}"


def _public_host(plan: Plan) -> str:
    if plan.settings.domain:
        return plan.settings.domain
    if plan.topology.platform is Platform.LOCAL:
        return "localhost"  # Caddy's internal CA issues a certificate for it
    return f"{naming.prefix(plan)}.{PLACEHOLDER_DOMAIN}"


def _nats_servers(plan: Plan) -> tuple[str, ...]:
    tier = plan.tier_of(Service.NATS)
    if tier is None:
        return ()
    scheme = "tls" if plan.internal_tls else "nats"
    if tier.replicas.min == 1:
        return (f"{scheme}://{_host(plan, Service.NATS)}:{NATS_CLIENT}",)
    return tuple(f"{scheme}://{_host(plan, Service.NATS, i)}:{NATS_CLIENT}" for i in range(tier.replicas.min))


def _s3(plan: Plan) -> tuple[str | None, str | None, str | None]:
    """Bucket, region, endpoint of the platform's S3-compatible store."""
    if plan.storage is not StorageBackend.S3:
        return None, None, None
    bucket = naming.global_name(plan, "storage", scope=plan.primary_region)
    store = traits(plan.topology.platform).object_store
    if store is None:  # a MinIO-style service the platform runs
        return bucket, plan.primary_region, "http://storage.internal:9000"
    return bucket, store.region or plan.primary_region, store.endpoint


def default_endpoints(plan: Plan) -> Endpoints:
    """Deterministic internal names for an offline render (no resource exists yet)."""
    size = plan.topology.size
    public = f"http://127.0.0.1:{REACTOR}" if size == 1 else f"https://{_public_host(plan)}"
    pooler = plan.pooler
    bucket, region, endpoint = _s3(plan)
    return Endpoints(
        public_url=public,
        base_domain=_public_host(plan),
        backend_target=f"{_host(plan, Service.REACTOR_SERVER)}:{REACTOR}",
        database_host=_host(plan, Service.POSTGRES) if size <= 2 else f"database.{plan.traits.private_domain}",
        pooler_host=_host(plan, Service(pooler.kind)) if pooler else None,
        pooler_port=pooler.port if pooler else None,
        openbao_address=(f"{'https' if plan.internal_tls else 'http'}://{_host(plan, Service.OPENBAO)}:{VAULT_API}"
                         if plan.vault is VaultMode.OPENBAO else None),
        nats_servers=_nats_servers(plan),
        s3_bucket=bucket, s3_region=region, s3_endpoint=endpoint,
    )


def late_endpoints(plan: Plan, public_host: str, database_host: str, **changes: str) -> Endpoints:
    """A cloud's endpoints before its resources exist: the private names, and late markers
    (`late.marker`) for the public host when there is no domain (the load balancer's or the
    node's address) and for the database's address when it is managed; `changes` on top."""
    ep = default_endpoints(plan)
    if not plan.settings.domain:
        host = late.marker(public_host)
        changes = {"public_url": f"https://{host}", "base_domain": host, **changes}
    if plan.database.hosting is DatabaseHosting.MANAGED:
        changes = {"database_host": late.marker(database_host), **changes}
    return replace(ep, **changes)


# --- the environment the process needs --------------------------------------------------------


def _multi_tenant_pooler(plan: Plan) -> bool:
    return plan.policy.multi_tenant and plan.pooler is not None


def _database_via_pooler(plan: Plan) -> bool:
    """Through the pooler when there is one, except for C: its control database creates tenant
    databases and roles, which needs a direct session (the Plan links app -> database then)."""
    return plan.pooler is not None and not plan.policy.multi_tenant


def _postgres_url(ep: Endpoints, *, pooled: bool, database: str, password: str | None,
                  ca_file: str | None = None) -> str:
    """`ca_file`: verify the server's certificate against it (sslmode=verify-full): a managed
    Postgres's CA bundle, or the install's private CA for the pooler (`pooler_ca_file`)."""
    if pooled:
        host, port = _need(ep.pooler_host, "pooler_host"), ep.pooler_port
    else:
        host, port = ep.database_host, ep.database_port
    user = f"{ep.database_user}:{password}" if password else ep.database_user
    verify = f"?sslmode=verify-full&sslrootcert={ca_file}" if ca_file else direct_tls(ep, pooled)
    return f"postgres://{user}@{host}:{port}/{database}{verify}"


def direct_tls(ep: Endpoints, pooled: bool = False) -> str:
    """`?sslmode=<mode>` for a direct connection to the operator's database (its URL's mode)."""
    return f"?sslmode={ep.database_sslmode}" if ep.database_sslmode and not pooled else ""


def pooler_ca_file(plan: Plan) -> str | None:
    """The pooler speaks TLS between machines (PgBouncer with the install's certificate)."""
    tls = plan.internal_tls and plan.pooler is not None and plan.pooler.kind == "pgbouncer"
    return f"{WORKDIR}/{INTERNAL_CA}" if tls else None


def database_ca_file(plan: Plan, directory: str = WORKDIR) -> str | None:
    """Where a client of the managed database finds its CA bundle, if the plan verifies it."""
    return f"{directory}/{DATABASE_CA}" if plan.database_ca_url else None


def _tenant_url_template(plan: Plan, ep: Endpoints, password: str | None) -> str:
    # the runtime replaces {ref} with tenant_<ref>: writing tenant_{ref} would give tenant_tenant_<ref>
    return _postgres_url(ep, pooled=True, database="{ref}", password=password, ca_file=pooler_ca_file(plan))


def runtime_env(plan: Plan, endpoints: Endpoints | None = None) -> dict[str, str]:
    """Every REACTOR_* variable reactor-server needs -> the plan secret that fills it, or a
    template naming it (`postgres://reactor:${database-password}@host:5432/reactor`). No values."""
    ep = endpoints or default_endpoints(plan)
    env = {s.env: s.name for s in plan.secrets if s.env}
    ca = database_ca_file(plan)
    pooled = _database_via_pooler(plan)
    env[env_var("database.url")] = _postgres_url(
        ep, pooled=pooled, database=ep.database_name, password=PASSWORD_REF,
        ca_file=pooler_ca_file(plan) if pooled else ca)
    if _multi_tenant_pooler(plan):
        env[env_var(URL_TEMPLATE)] = _tenant_url_template(plan, ep, PASSWORD_REF)
    if plan.policy.tenant_provider == "shared_cluster":
        # the provider migrates each new tenant database as this user (the database name is swapped
        # in); unset, it falls back to postgres://postgres@localhost (shared_cluster.rs:241-251)
        env[env_var(SHARED_URL)] = _postgres_url(ep, pooled=False, database=ep.database_name,
                                                 password=PASSWORD_REF, ca_file=ca)
    return dict(sorted(env.items()))


# --- rendering ------------------------------------------------------------------------------------


def _table(*comments: str) -> Table:
    t = tomlkit.table()
    for line in comments:
        t.add(tomlkit.comment(line))
    return t


def _put(table: Table, key: str, value: object, why: str | None = None) -> None:
    item = tomlkit.item(value)
    if why:
        item.comment(why)
    table.add(key, item)


def _need(value: str | None, field: str) -> str:
    """An Endpoints field this plan needs; a platform that left it empty gets a clear error."""
    if not value:
        raise ValueError(f"Endpoints.{field} is required by this plan")
    return value


def _header(plan: Plan, ep: Endpoints) -> list[str]:
    env = runtime_env(plan, ep)
    width = max(len(k) for k in env)
    lines = [f"Reactor.toml for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
             "Change the stack, not this file. No secret is written here: set these variables",
             "in reactor-server's environment (REACTOR_* overrides this file):"]
    for var, source in env.items():
        origin = f"secret {source}" if source in {s.name for s in plan.secrets} else source
        lines.append(f"  {var.ljust(width)}  <- {origin}")
    return lines


def _bind(plan: Plan) -> tuple[str, str]:
    if plan.topology.size == 1:
        return f"127.0.0.1:{REACTOR}", "size 1: loopback only, nothing is published beyond this machine"
    host = traits(plan.topology.platform).bind_host
    if host.startswith("["):
        return f"{host}:{REACTOR}", "the platform's private network is IPv6"
    return f"0.0.0.0:{REACTOR}", f"behind {plan.ingress.tls} TLS; firewall rules admit only the plan's links"


def _core(plan: Plan, ep: Endpoints, doc: tomlkit.TOMLDocument) -> None:
    project = _table()
    _put(project, "name", plan.settings.project_name)
    _put(project, "env", "dev" if plan.topology.size == 1 else "production")
    doc.add("project", project)

    server = _table()
    bind, why = _bind(plan)
    _put(server, "bind", bind, why)
    doc.add("server", server)

    via = f"through {plan.pooler.kind} ({plan.pooler.mode} mode)" if _database_via_pooler(plan) else "direct"
    database = _table(f"url: REACTOR_DATABASE__URL (it holds the password); {via}")
    _put(database, "pool_max", plan.database.pool_max_per_node,
         f"x {plan.app_tier.replicas.max} app node(s) stays under max_connections "
         f"{plan.database.max_connections}")
    doc.add("database", database)

    admin = _table("token: REACTOR_ADMIN__TOKEN")
    _put(admin, "allow_remote", False, "loopback peers only; a proxy must also block /_admin, /_cloud, /_ops")
    doc.add("admin", admin)

    auth = _table("data_key: REACTOR_AUTH__DATA_KEY (rotating it orphans encrypted data)")
    _put(auth, "public_url", ep.public_url)
    doc.add("auth", auth)


def _capabilities(plan: Plan, ep: Endpoints, doc: tomlkit.TOMLDocument) -> None:
    doc.add("data", _table("present = the data capability is on (an omitted section disables it)"))
    doc.add("storage", _storage(plan, ep))
    functions = _table("data_key: REACTOR_FUNCTIONS__DATA_KEY")
    _put(functions, "workdir", f"{STATE_DIR}/functions")
    doc.add("functions", functions)
    doc.add("jobs", _table("webhook_secret: REACTOR_JOBS__WEBHOOK_SECRET"))
    sites = _table()
    _put(sites, "workdir", f"{STATE_DIR}/sites")
    doc.add("sites", sites)


def _storage(plan: Plan, ep: Endpoints) -> Table:
    storage = _table("signing_secret: REACTOR_STORAGE__SIGNING_SECRET")
    if plan.storage is StorageBackend.FS:
        _put(storage, "backend", "fs", "several app nodes: blobs on the network file system they share"
             if plan.shared_blobs else "one app node: blobs on its persistent disk")
        _put(storage, "fs_base_path", f"{STATE_DIR}/storage")
        return storage
    _put(storage, "backend", "s3", "several app nodes share one bucket; credentials: AWS default chain")
    _put(storage, "s3_bucket", _need(ep.s3_bucket, "s3_bucket"))
    if ep.s3_region:
        _put(storage, "s3_region", ep.s3_region)
    if ep.s3_endpoint:
        _put(storage, "s3_endpoint", ep.s3_endpoint, "S3-compatible store, path-style")
    return storage


def _vault(plan: Plan, ep: Endpoints) -> Table:
    if plan.vault is VaultMode.OPENBAO:
        vault = _table("needs a reactor-server built with --features openbao; the kv and transit",
                       "mounts must exist before start. token: REACTOR_VAULT__TOKEN",
                       *(["TLS: the install's private CA through VAULT_CACERT (vault.ca_cert is broken in v1)"]
                         if plan.internal_tls else []))
        _put(vault, "backend", "openbao")
        _put(vault, "address", _need(ep.openbao_address, "openbao_address"))
        _put(vault, "kv_mount", "secret", "KV v2")
        _put(vault, "transit_mount", "transit")
        _put(vault, "auth_method", "token")
        return vault
    comments = ["master_key is read from the environment (64 hex chars)"]
    if plan.vault is VaultMode.ENV:
        comments = ["VaultMode.ENV: several app nodes and no OpenBao yet. Runtime secrets come from",
                    "the platform's secret store as REACTOR_* variables; each node's embedded vault",
                    "is private, so do not store project secrets through /_admin/vault (nodes would",
                    "disagree) - that needs size 4 or more.", *comments]
    vault = _table(*comments)
    _put(vault, "backend", "embedded")
    _put(vault, "path", f"{STATE_DIR}/vault")
    _put(vault, "master_key", DEFAULT_MASTER_KEY_REF)
    return vault


def _has_cloud(plan: Plan) -> bool:
    return plan.tier_of(Service.GATEWAY_SERVER) is not None or plan.policy.multi_tenant or plan.nats


def _tls_mode(plan: Plan) -> tuple[str, str]:
    if plan.tier_of(Service.GATEWAY_SERVER) is not None:
        return "on_demand", "Caddy asks gateway-server /ask before issuing a certificate"
    return "manual", f"TLS ends at the {plan.ingress.tls}, which holds the certificate"


def _cloud(plan: Plan, ep: Endpoints) -> Table:
    cloud = _table()
    _put(cloud, "multi_tenant", plan.policy.multi_tenant,
         "C: tenants routed by host" if plan.policy.multi_tenant else "one project; [cloud] for the gateway")
    if plan.policy.tenant_provider:
        why = ("a tenant_<ref> schema per tenant" if plan.policy.tenant_provider == "single_node"
               else "a tenant_<ref> database per tenant")
        _put(cloud, "provider", plan.policy.tenant_provider, why)
    _put(cloud, "base_domain", ep.base_domain, "hosts are {project_ref}.<base_domain>")
    _put(cloud, "backend_target", ep.backend_target)
    mode, why = _tls_mode(plan)
    _put(cloud, "tls_mode", mode, why)
    if _multi_tenant_pooler(plan):
        cloud.add("shared_pool", _shared_pool(plan, ep))
    if plan.nats:
        for name in ("realtime", "pubsub"):
            cloud.add(name, _nats(ep))
    if plan.policy.free_tier_quotas:
        quotas = tomlkit.table(is_super_table=True)
        free = _table("not enforced by the v1 runtime yet")
        for key, value in sorted(plan.policy.free_tier_quotas.items()):
            _put(free, key, value)
        quotas.add("free", free)
        cloud.add("quotas", quotas)
    return cloud


def _shared_pool(plan: Plan, ep: Endpoints) -> Table:
    assert plan.pooler is not None
    shared = tomlkit.table(is_super_table=True)
    pooler = _table(f"url_template with its password: {env_var(URL_TEMPLATE)} (overrides this one)")
    _put(pooler, "mode", plan.pooler.mode,
         f"{plan.pooler.kind}: session keeps sqlx's named prepared statements working"
         if plan.pooler.mode == "session" else f"{plan.pooler.kind} >= 1.21 with max_prepared_statements > 0 (sqlx prepares)")
    _put(pooler, "url_template", _tenant_url_template(plan, ep, None), "{ref} becomes tenant_<ref>")
    shared.add("pooler", pooler)
    return shared


def _nats(ep: Endpoints) -> Table:
    section = _table("parsed but not wired in the v1 runtime: realtime/pubsub still run in process")
    _put(section, "backend", "nats")
    nats = _table()
    _put(nats, "servers", list(ep.nats_servers))
    section.add("nats", nats)
    return section


def render_reactor_toml(plan: Plan, endpoints: Endpoints | None = None) -> str:
    """The Reactor.toml for this plan: deterministic, no secret values."""
    ep = endpoints or default_endpoints(plan)
    doc = tomlkit.document()
    for line in _header(plan, ep):
        doc.add(tomlkit.comment(line))
    _core(plan, ep, doc)
    _capabilities(plan, ep, doc)
    doc.add("vault", _vault(plan, ep))
    if _has_cloud(plan):
        doc.add("cloud", _cloud(plan, ep))
    return tomlkit.dumps(doc)
