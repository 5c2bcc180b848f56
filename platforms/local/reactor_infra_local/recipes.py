"""How each Reactor service runs as a container on one Docker host: image, env, command,
config uploads, volumes and health check. Pure functions from the Plan (and secret Outputs)
to `ServiceArgs`; the layout itself (which service, which tier, which links) is the Plan's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from reactor_infra.plan import (
    CADDY_ADMIN,
    GATEWAY_PORT,
    INTERNET,
    NATS_MONITOR,
    POSTGRES_PORT,
    REACTOR,
    VAULT_API,
    Plan,
    Service,
    StorageBackend,
    VaultMode,
)

from .naming import physical_name
from .service import Healthcheck, Port, Upload

# Where reactor-server runs: it reads Reactor.toml from its working directory (then parents).
REACTOR_WORKDIR = "/srv/reactor"
REACTOR_TOML_PATH = f"{REACTOR_WORKDIR}/Reactor.toml"
DB_USER = DB_NAME = "reactor"
LOOPBACK = "127.0.0.1"
ANY = "0.0.0.0"

SecretValues = Mapping[str, pulumi.Output[str] | None]


@dataclass(frozen=True)
class Recipe:
    """What a service needs besides its name, networks and dependencies."""

    healthcheck: Healthcheck
    env: pulumi.Input[list[str]] | None = None
    command: tuple[str, ...] | None = None
    working_dir: str | None = None
    uploads: tuple[Upload, ...] = ()
    volumes: dict[str, str] | None = None
    ports: tuple[Port, ...] = ()
    stateful: bool = False


def host(plan: Plan, service: Service) -> str:
    """The container name of a service (Docker's DNS resolves it on a shared network)."""
    tier = plan.tier_of(service)
    assert tier is not None, f"{service} is not in the plan"
    return physical_name(plan, tier.name.value, service.value)


def image(plan: Plan, service: Service) -> str:
    return getattr(plan.settings.images, service.value.replace("-", "_"))


def env_list(plain: Mapping[str, str], secret: Mapping[str, pulumi.Input[str]]) -> pulumi.Input[list[str]]:
    """`KEY=value` lines, sorted by key; a secret Output as soon as any value is secret."""
    lines = {k: v for k, v in plain.items()}
    if not secret:
        return [f"{k}={v}" for k, v in sorted(lines.items())]
    keys = sorted(secret)
    return pulumi.Output.secret(pulumi.Output.all(*[secret[k] for k in keys]).apply(
        lambda values: [f"{k}={v}" for k, v in sorted({**lines, **dict(zip(keys, values))}.items())]))


def database_url(plan: Plan, secrets: SecretValues, *, direct: bool) -> pulumi.Output[str]:
    """postgres:// URL of the reactor role: through the pooler unless `direct` (or there is none)."""
    if plan.pooler and not direct:
        target, port = host(plan, Service(plan.pooler.kind)), plan.pooler.port
    else:
        target, port = host(plan, Service.POSTGRES), POSTGRES_PORT
    return pulumi.Output.secret(pulumi.Output.concat(
        f"postgres://{DB_USER}:", secrets["database-password"], f"@{target}:{port}/{DB_NAME}"))


def published_ports(plan: Plan, service: Service) -> tuple[Port, ...]:
    """Size 1: reactor-server on 127.0.0.1:8000 only. Otherwise Caddy on the ingress tier takes
    exactly the ports the Plan's internet links name (80, 443); nothing else is published."""
    tier = plan.tier_of(service)
    if plan.ingress.tier is None:
        return (Port(REACTOR, REACTOR, LOOPBACK),) if service is Service.REACTOR_SERVER else ()
    if service is not Service.CADDY or tier is None or tier.name != plan.ingress.tier:
        return ()
    ports = sorted({link.port for link in plan.links if link.source == INTERNET})
    return tuple(Port(p, p, ANY) for p in ports)


def _wget(url: str) -> Healthcheck:
    return Healthcheck(("CMD", "wget", "-q", "-O", "/dev/null", url))


# --- one recipe per service ------------------------------------------------------------


def reactor_server(plan: Plan, secrets: SecretValues, reactor_toml: str,
                   reactor_env: Mapping[str, str]) -> Recipe:
    """`reactor_env` maps REACTOR_* variables to plan secret names (reactor_toml.runtime_env)."""
    secret_env: dict[str, pulumi.Input[str]] = {
        var: secrets[name] for var, name in reactor_env.items() if secrets.get(name) is not None}
    secret_env["REACTOR_DATABASE__URL"] = database_url(plan, secrets, direct=False)
    # fs storage, functions/sites workdirs and the embedded vault live under .reactor/
    keeps_files = plan.storage is StorageBackend.FS or plan.vault is VaultMode.EMBEDDED
    # inside its container it listens on every interface; what reaches it from outside is
    # decided by the published ports (127.0.0.1 only at size 1) and the networks it joins
    plain_env = {"REACTOR_SERVER__BIND": f"{ANY}:{REACTOR}"}
    return Recipe(
        env=env_list(plain_env, secret_env),
        working_dir=REACTOR_WORKDIR,
        uploads=(Upload(REACTOR_TOML_PATH, reactor_toml),),
        volumes={"data": f"{REACTOR_WORKDIR}/.reactor"} if keeps_files else {},
        # /health only proves liveness; `doctor` pings the database (runtime ref §1)
        healthcheck=Healthcheck(("CMD", "reactor-server", "doctor"), start_period="60s"),
        ports=published_ports(plan, Service.REACTOR_SERVER),
        stateful=keeps_files,
    )


def postgres(plan: Plan, secrets: SecretValues) -> Recipe:
    return Recipe(
        env=env_list({"POSTGRES_USER": DB_USER, "POSTGRES_DB": DB_NAME},
                     {"POSTGRES_PASSWORD": secrets["database-password"]}),
        volumes={"data": "/var/lib/postgresql/data"},
        healthcheck=Healthcheck(("CMD", "pg_isready", "-U", DB_USER, "-d", DB_NAME)),
        stateful=True,
    )


def openbao(plan: Plan, hcl: str) -> Recipe:
    # healthy while uninitialised or sealed: init and unseal are a manual step on local (README)
    url = (f"http://{LOOPBACK}:{VAULT_API}/v1/sys/health"
           "?uninitcode=200&sealedcode=200&standbyok=true")
    return Recipe(
        command=("server", "-config=/openbao/config/openbao.hcl"),
        uploads=(Upload("/openbao/config/openbao.hcl", hcl),),
        volumes={"data": "/openbao/data"},
        healthcheck=_wget(url),
        stateful=True,
    )


def nats(plan: Plan, secrets: SecretValues, conf: str) -> Recipe:
    secret_env = {"NATS_APP_PASSWORD": secrets["nats-app-password"]}
    if secrets.get("nats-cluster-password") is not None:
        secret_env["NATS_CLUSTER_PASSWORD"] = secrets["nats-cluster-password"]
    return Recipe(
        env=env_list({}, secret_env),  # nats.conf reads them as $NATS_APP_PASSWORD, ...
        command=("-c", "/etc/nats/nats.conf"),
        uploads=(Upload("/etc/nats/nats.conf", conf),),
        volumes={"data": "/data"},  # JetStream store
        healthcheck=_wget(f"http://{LOOPBACK}:{NATS_MONITOR}/healthz"),
        stateful=True,
    )


def caddy(plan: Plan, caddyfile: str) -> Recipe:
    return Recipe(
        uploads=(Upload("/etc/caddy/Caddyfile", caddyfile),),
        volumes={"data": "/data", "config": "/config"},  # certificates and ACME account
        healthcheck=_wget(f"http://localhost:{CADDY_ADMIN}/config/"),
        ports=published_ports(plan, Service.CADDY),
        stateful=True,
    )


def gateway_server(plan: Plan, secrets: SecretValues) -> Recipe:
    """Runs in Caddy's network namespace: Caddy asks localhost:9000, it posts to localhost:2019."""
    plain = {
        "GATEWAY_LISTEN_ADDR": f"{LOOPBACK}:{GATEWAY_PORT}",
        "CADDY_ADMIN_ADDR": f"http://localhost:{CADDY_ADMIN}",
        "DEFAULT_BACKEND": f"{host(plan, Service.REACTOR_SERVER)}:{REACTOR}",
    }
    if plan.settings.domain:
        plain["WILDCARD_DOMAIN"] = plan.settings.domain
    if plan.settings.acme_email:
        plain["ACME_EMAIL"] = plan.settings.acme_email
    return Recipe(
        # it LISTENs on a Postgres channel: always a direct connection, never the pooler
        env=env_list(plain, {"DATABASE_URL": database_url(plan, secrets, direct=True)}),
        healthcheck=_wget(f"http://{LOOPBACK}:{GATEWAY_PORT}/health"),
    )


def pgbouncer(plan: Plan, secrets: SecretValues) -> Recipe:
    assert plan.pooler is not None
    port = plan.pooler.port
    return Recipe(
        env=env_list({
            "DB_HOST": host(plan, Service.POSTGRES), "DB_PORT": str(POSTGRES_PORT),
            "DB_USER": DB_USER, "DB_NAME": DB_NAME, "LISTEN_PORT": str(port),
            "POOL_MODE": plan.pooler.mode, "AUTH_TYPE": "scram-sha-256",
            # named prepared statements (sqlx) need PgBouncer >= 1.21 with this above 0
            "MAX_PREPARED_STATEMENTS": "100",
            "DEFAULT_POOL_SIZE": str(plan.database.pool_max_per_node),
        }, {"DB_PASSWORD": secrets["database-password"]}),
        healthcheck=Healthcheck(("CMD-SHELL", f"nc -z {LOOPBACK} {port}")),
    )


def supavisor(plan: Plan, secrets: SecretValues) -> Recipe:
    assert plan.pooler is not None
    return Recipe(
        env=env_list({
            "PORT": "4000", "PROXY_PORT_SESSION": "5432", "PROXY_PORT_TRANSACTION": "6543",
            "REGION": "local", "ERL_AFLAGS": "-proto_dist inet_tcp", "CLUSTER_POSTGRES": "true",
        }, {
            "DATABASE_URL": database_url(plan, secrets, direct=True),
            "SECRET_KEY_BASE": secrets["supavisor-secret-key-base"],
            "VAULT_ENC_KEY": secrets["supavisor-vault-enc-key"],
            "API_JWT_SECRET": secrets["pooler-auth-password"],
            "METRICS_JWT_SECRET": secrets["pooler-auth-password"],
        }),
        healthcheck=Healthcheck(("CMD-SHELL", "curl -fsS http://127.0.0.1:4000/api/health || exit 1")),
    )


# --- start order -----------------------------------------------------------------------

START_ORDER = (
    Service.POSTGRES, Service.PGBOUNCER, Service.SUPAVISOR, Service.OPENBAO, Service.NATS,
    Service.REACTOR_SERVER, Service.CADDY, Service.GATEWAY_SERVER,
)


def needs(plan: Plan, service: Service) -> tuple[Service, ...]:
    """The services a service talks to at start, so its container starts after theirs."""
    present = {s for t in plan.tiers for s in t.services}
    pooler = Service(plan.pooler.kind) if plan.pooler else None
    wanted = {
        Service.REACTOR_SERVER: (pooler or Service.POSTGRES, Service.OPENBAO, Service.NATS),
        Service.PGBOUNCER: (Service.POSTGRES,),
        Service.SUPAVISOR: (Service.POSTGRES,),
        Service.CADDY: (Service.REACTOR_SERVER,),
        Service.GATEWAY_SERVER: (Service.CADDY, Service.POSTGRES),
    }.get(service, ())
    return tuple(s for s in wanted if s in present)

