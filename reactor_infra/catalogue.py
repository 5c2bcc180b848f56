"""The service catalogue: how each Reactor service runs, from the Plan and where it is placed.

`specs(plan, placement, services)` gives one `ServiceSpec` per service: image, the user the image
runs it as, command, ports, env (plain values and secret references), mounts and their owner,
config files with their content, health checks per state, start order. Every platform reads
these (compose on a VM, containers on one Docker host, and the cloud runtimes), so a fix here
reaches all of them. Pure; no Pulumi.

`Placement` is what only the platform knows: the name each neighbour answers to from here
(compose service names on one node, container names on one Docker host, private DNS names
across nodes), Caddy's site address, and this instance's name and peers for clustered services.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from . import images, late, postgres_init, templating
from .layout import (
    CADDY_ADMIN,
    GATEWAY_PORT,
    HTTP,
    HTTPS,
    INTERNET,
    NATS_CLIENT,
    NATS_MONITOR,
    NATS_ROUTES,
    POSTGRES_PORT,
    REACTOR,
    VAULT_API,
    VAULT_CLUSTER,
    DatabaseHosting,
    Plan,
    Service,
    StorageBackend,
    VaultMode,
)
from .plan import tls_key_secret
from .reactor_toml import (
    DATABASE_CA,
    DB_NAME,
    DB_USER,
    INTERNAL_CA,
    STATE_DIR,
    PASSWORD_REF,
    WORKDIR,
    Endpoints,
    database_ca_file,
    direct_tls,
    pooler_ca_file,
    render_reactor_toml,
    runtime_env,
)
from .service_spec import (
    Condition,
    ConfigFile,
    Expect,
    Health,
    Mount,
    Need,
    Probe,
    SecretFile,
    ServiceSpec,
    Sidecar,
    State,
)

S = Service
ANY = "0.0.0.0"
LOOPBACK = "127.0.0.1"

# Where reactor-server runs: it reads Reactor.toml from its working directory (then parents);
# its state (fs storage, functions and sites workdirs, the embedded vault) lives in .reactor/.
REACTOR_WORKDIR = WORKDIR
# TLS between machines (plan.internal_tls): certificates are public, bound late (they exist once
# the platform's private CA made them); each tier's private key is a secret file.
INTERNAL_CA_LATE = "internal-ca"
LOCAL_VAULT = 8210  # OpenBao's plain listener on its own loopback: probes and the bao CLI


def cert_late(tier: str) -> str:
    """The late value holding a machine tier's certificate (PEM)."""
    return f"tls-cert-{tier}"


def _tls_files(plan: Plan, service: Service, directory: str, key_dir: str) -> tuple[tuple[ConfigFile, ...], tuple[SecretFile, ...]]:
    """A TLS server's CA, certificate (config files) and key (a secret file, owned by its user)."""
    tier = plan.tier_of(service)
    assert tier is not None
    return ((ConfigFile(f"{directory}/{INTERNAL_CA}", late.marker(INTERNAL_CA_LATE)),
             ConfigFile(f"{directory}/cert.pem", late.marker(cert_late(tier.name.value)))),
            (SecretFile(f"{key_dir}/key.pem", tls_key_secret(tier.name), IMAGE_USERS[service]),))


def _database_ca(plan: Plan, directory: str) -> tuple[ConfigFile, ...]:
    """The managed database's CA bundle, fetched where the service starts."""
    url = plan.database_ca_url
    return (ConfigFile(f"{directory}/{DATABASE_CA}", "", source_url=url),) if url else ()
# The user each image runs its process as (after its entrypoint drops root, where it does).
# reactor-server and gateway-server are our images (images/); the others are the upstream ones.
IMAGE_USERS: dict[Service, str] = {
    S.REACTOR_SERVER: "10001:10001",
    S.GATEWAY_SERVER: "10001:10001",
    S.POSTGRES: "999:999",  # postgres (Debian image); the entrypoint chowns PGDATA to it
    S.OPENBAO: "100:1000",  # openbao; the image creates and owns /openbao/{config,file,logs}
    S.NATS: "0:0",
    S.CADDY: "0:0",
    S.PGBOUNCER: "70:70",  # postgres (Alpine)
    S.SUPAVISOR: "0:0",
}
# OpenBao's raft data: a directory the image creates and owns, so a fresh volume mounted there
# starts owned by openbao (Docker copies the image's directory, owner included).
OPENBAO_DATA = "/openbao/file"
# The admin path: reactor-server answers /_admin only to loopback peers (admin.allow_remote is
# false) and the edge blocks it. A forwarder in reactor-server's network namespace turns a
# connection to ADMIN_PORT, published on the host's loopback only, into a loopback connection;
# operators reach it through the host (an SSM port forward, or the Docker host itself). The
# admin token is still required.
ADMIN_PORT = 9901
# the runtime's admin surface: never reachable from the internet (every edge closes these)
ADMIN_PREFIXES = ("/_admin", "/_cloud", "/_ops")
# where gateway-server and the pooler find the managed database's CA (directories their images
# leave empty: PgBouncer's entrypoint writes /etc/pgbouncer itself)
GATEWAY_DIR = "/etc/reactor-gateway"
POOLER_DIR = "/etc/reactor-pooler"


@dataclass(frozen=True)
class Placement:
    endpoints: Endpoints  # the addresses Reactor.toml names (as reactor-server sees them)
    hosts: Mapping[Service, str]  # name each neighbour answers to from here
    site_address: str  # Caddy's site: the domain, an IP, or localhost
    instance: str = ""  # this instance's name (OpenBao node_id, NATS server_name); default the service's host
    peers: Mapping[Service, tuple[str, ...]] = field(default_factory=dict)  # other replicas' hosts
    # the seal stanza's keys (the KMS key, its region) for an auto-unseal seal; default none
    seal_config: Mapping[str, str] = field(default_factory=dict)
    # the address the host's connections to a published loopback port come from (the bridge's
    # gateway); the admin forwarder accepts only it. None: any peer that reaches the port
    admin_peer: str | None = None

    def host(self, service: Service) -> str:
        return self.hosts[service]

    def name_of(self, service: Service) -> str:
        return self.instance or self.hosts[service]


def image(plan: Plan, service: Service) -> str:
    return images.resolve(plan, service)


def dns_challenge(plan: Plan):
    """The platform's DNS-01 way to the tenants' wildcard certificate (edition C with a domain)."""
    return plan.traits.dns_challenge if plan.policy.multi_tenant and plan.settings.domain else None


def cloud_identity(plan: Plan, service: Service) -> bool:
    """Whether a service needs the machine's cloud identity: OpenBao with a KMS seal, Caddy where
    its DNS-01 module signs in as the machine (googleclouddns)."""
    if service is S.CADDY:
        challenge = dns_challenge(plan)
        return challenge is not None and challenge.machine_identity
    return service is S.OPENBAO and plan.vault_seal is not None and plan.vault_seal.automatic


def any_host(plan: Plan) -> str:
    """The address a service binds to listen on every interface of its machine or container:
    `0.0.0.0`, or `[::]` where the private network is IPv6 (Fly's 6PN)."""
    return plan.traits.bind_host


def _sh(url: str) -> tuple[str, ...]:
    return ("wget", "-q", "-O", "/dev/null", url)


def _curl(url: str) -> tuple[str, ...]:
    return ("curl", "-fsS", "-o", "/dev/null", url)


def _direct_url(at: Placement) -> str:
    """The reactor role's URL straight to Postgres (never the pooler)."""
    ep = at.endpoints
    return (f"postgres://{ep.database_user}:{PASSWORD_REF}@{ep.database_host}:{ep.database_port}/{ep.database_name}"
            f"{direct_tls(ep)}")


def published(plan: Plan, service: Service) -> tuple[tuple[str, int], ...]:
    """(host address, port) pairs a service publishes on its host: size 1 publishes reactor-server
    on 127.0.0.1:8000 only; from size 2 the Caddy of the ingress tier takes exactly the ports the
    Plan's internet links name (80, 443); a service on a machine of its own tier (not a container
    task, not one Docker host) also takes the ports other machines' links reach it on (the
    gateway's :8000 on an app machine, NATS routes between machines). Nothing else is published;
    which sources reach a published port is the firewall's part (one rule per link)."""
    if plan.ingress.tier is None:
        return ((LOOPBACK, REACTOR),) if service is S.REACTOR_SERVER else ()
    tier = plan.tier_of(service)
    if tier is None:
        return ()
    ports = set()
    if service is S.CADDY and tier.name == plan.ingress.tier:
        ports |= {link.port for link in plan.links if link.source == INTERNET}
    on_machine = not plan.traits.one_host and tier.name.value not in plan.traits.container_tiers
    if on_machine and plan.topology.size >= 3:
        ports |= {link.port for link in plan.links if link.target_service is service and link.source != INTERNET}
    return tuple((ANY, p) for p in sorted(ports))


# --- one builder per service ---------------------------------------------------------------------


def _admin_forwarder(at: Placement) -> Sidecar:
    listen = f"TCP-LISTEN:{ADMIN_PORT},fork,reuseaddr" + (f",range={at.admin_peer}/32" if at.admin_peer else "")
    return Sidecar("admin", ("socat", listen, f"TCP:{LOOPBACK}:{REACTOR}"), listens=ADMIN_PORT, publish=ADMIN_PORT)


def _object_store_env(plan: Plan) -> dict[str, str]:
    """What reactor-server's S3 client needs with the platform's store (GCS: checksums only when
    required), when the plan stores blobs there."""
    store = plan.traits.object_store
    return dict(store.env) if store is not None and plan.storage is StorageBackend.S3 else {}


def reactor_server(plan: Plan, at: Placement) -> ServiceSpec:
    env = dict(runtime_env(plan, at.endpoints))
    secret_env = {var: src if "${" in src else f"${{{src}}}" for var, src in env.items()}
    keeps_files = plan.storage is StorageBackend.FS or plan.vault is VaultMode.EMBEDDED
    needs = [Need(S(plan.pooler.kind) if plan.pooler else S.POSTGRES), Need(S.OPENBAO, Condition.READY),
             Need(S.NATS)]
    # vaultrs reads VAULT_CACERT (the runtime's vault.ca_cert is broken in v1, runtime reference);
    # sqlx verifies the pooler against the same CA (sslrootcert in the pooled URLs)
    tls_vault = plan.internal_tls and plan.vault is VaultMode.OPENBAO
    trusts_ca = tls_vault or pooler_ca_file(plan) is not None
    ca_files = (ConfigFile(f"{REACTOR_WORKDIR}/{INTERNAL_CA}", late.marker(INTERNAL_CA_LATE)),) if trusts_ca else ()
    vault_ca = {"VAULT_CACERT": f"{REACTOR_WORKDIR}/{INTERNAL_CA}"} if tls_vault else {}
    return ServiceSpec(
        service=S.REACTOR_SERVER, image=image(plan, S.REACTOR_SERVER), user=IMAGE_USERS[S.REACTOR_SERVER],
        working_dir=REACTOR_WORKDIR, listens=(REACTOR,),
        # in a container it listens on its own interfaces; what reaches it is decided by the
        # networks it joins and the ports the platform publishes (127.0.0.1 only at size 1)
        env={"REACTOR_SERVER__BIND": f"{any_host(plan)}:{REACTOR}", **vault_ca, **_object_store_env(plan)},
        secret_env=secret_env,
        mounts=((Mount("data", f"{REACTOR_WORKDIR}/.reactor", IMAGE_USERS[S.REACTOR_SERVER]),) if keeps_files else ())
        # blobs shared with the other app nodes: only fs storage's directory, on the network file system
        + ((Mount("storage", f"{REACTOR_WORKDIR}/{STATE_DIR}/storage", IMAGE_USERS[S.REACTOR_SERVER]),)
           if plan.shared_blobs else ()),
        files=(ConfigFile(f"{REACTOR_WORKDIR}/Reactor.toml", render_reactor_toml(plan, at.endpoints)),
               *ca_files, *_database_ca(plan, REACTOR_WORKDIR)),
        # the listener binds only after migrations (lib.rs:460): a 200 from /health means booted
        health=Health(
            check=Probe(_curl(f"http://{LOOPBACK}:{REACTOR}/health"), http=(REACTOR, "/health"), start_period_s=120),
            expect=(Expect(State.BOOTING, False, False), Expect(State.READY, True, True))),
        needs=tuple(n for n in needs if n.service in plan.services),
        stop_grace_s=40,  # it drains for 30 s on SIGTERM
        sidecars=(_admin_forwarder(at),),
        # a managed database has no initdb.d: its roles are made (and their passwords set) before each start
        prestart=((postgres_init.roles_prestart(plan, at.endpoints.database_host, image(plan, S.POSTGRES),
                                                 database_ca_file(plan)),)
                  if plan.database.hosting is DatabaseHosting.MANAGED else ()),
    )


def postgres(plan: Plan, at: Placement) -> ServiceSpec:
    # the image's superuser only initialises: its initdb.d script creates the roles Reactor
    # connects as (postgres_init), reading their passwords from this environment
    return ServiceSpec(
        service=S.POSTGRES, image=image(plan, S.POSTGRES), user=IMAGE_USERS[S.POSTGRES], listens=(POSTGRES_PORT,),
        env={"POSTGRES_USER": postgres_init.ADMIN_USER, "POSTGRES_DB": postgres_init.MAINTENANCE_DB},
        secret_env={"POSTGRES_PASSWORD": f"${{{postgres_init.ADMIN_SECRET}}}", **postgres_init.script_env(plan)},
        mounts=(Mount("data", "/var/lib/postgresql/data", IMAGE_USERS[S.POSTGRES]),),
        # mode 0644: the entrypoint sources it (the script is written for both)
        files=(ConfigFile(f"{postgres_init.INIT_DIR}/{postgres_init.SCRIPT_NAME}", postgres_init.init_script(plan)),),
        health=Health(check=Probe(("pg_isready", "-h", LOOPBACK, "-U", DB_USER, "-d", DB_NAME))),
        stop_grace_s=60,
    )


def openbao(plan: Plan, at: Placement) -> ServiceSpec:
    seal = plan.vault_seal
    assert seal is not None
    name = at.name_of(S.OPENBAO)
    tls = plan.internal_tls
    scheme = "https" if tls else "http"
    peers = [f"{scheme}://{p}:{VAULT_API}" for p in at.peers.get(S.OPENBAO, ())]
    files, keys = _tls_files(plan, S.OPENBAO, "/openbao/config", "/openbao/tls") if tls else ((), ())
    hcl = templating.openbao_hcl(
        plan, node_id=name, peers=peers, seal=seal, api_addr=f"{scheme}://{name}:{VAULT_API}",
        cluster_addr=f"https://{name}:{VAULT_CLUSTER}", data_dir=OPENBAO_DATA,
        seal_config=dict(at.seal_config) or None,
        tls_cert_file=files[1].path if tls else None, tls_key_file=keys[0].path if tls else None,
        tls_ca_file=files[0].path if tls else None, local_port=LOCAL_VAULT if tls else None,
        listen_host=any_host(plan))
    # probes and the bao CLI speak to the listener on the container's own loopback: plain with
    # TLS between machines (it never leaves the container), the API listener otherwise
    local = f"http://{LOOPBACK}:{LOCAL_VAULT if tls else VAULT_API}"
    health = f"{local}/v1/sys/health"
    port = LOCAL_VAULT if tls else VAULT_API
    return ServiceSpec(
        service=S.OPENBAO, image=image(plan, S.OPENBAO), user=IMAGE_USERS[S.OPENBAO],
        # the image's entrypoint runs `bao server -config=/openbao/config`: our file is in that directory
        command=("server",), listens=(VAULT_API, VAULT_CLUSTER),
        env={"BAO_ADDR": local},
        mounts=(Mount("data", OPENBAO_DATA, IMAGE_USERS[S.OPENBAO]),),
        files=(ConfigFile("/openbao/config/openbao.hcl", hcl), *files),
        secret_files=keys,
        health=Health(
            # alive while uninitialised, sealed or standby: init and unseal are steps, not failures
            check=Probe(_sh(f"{health}?uninitcode=200&sealedcode=200&standbyok=true"),
                        http=(port, "/v1/sys/health?uninitcode=200&sealedcode=200&standbyok=true")),
            # reactor-server's boot calls sys/health and fails on anything but the active node
            ready=Probe(_sh(health), http=(port, "/v1/sys/health")),
            expect=(Expect(State.UNINITIALISED, True, False), Expect(State.SEALED, True, False),
                    Expect(State.STANDBY, True, False), Expect(State.READY, True, True))),
        cloud_identity=cloud_identity(plan, S.OPENBAO),
    )


def nats(plan: Plan, at: Placement) -> ServiceSpec:
    routes = list(at.peers.get(S.NATS, ()))
    files, keys = _tls_files(plan, S.NATS, "/etc/nats", "/etc/nats/tls") if plan.internal_tls else ((), ())
    tls = {"ca_file": files[0].path, "cert_file": files[1].path, "key_file": keys[0].path} if files else None
    # the platform's checks come from outside the machine (Fly): /healthz on the private network
    monitor = any_host(plan) if plan.traits.external_probes else LOOPBACK
    conf = templating.nats_conf(plan, server_name=at.name_of(S.NATS), routes=routes, cluster=bool(routes), tls=tls,
                                listen_host=any_host(plan), monitor_host=monitor, advertise=at.instance)
    secret_env: dict[str, str] = {}
    if routes:
        secret_env[templating.NATS_CLUSTER_PASSWORD_ENV] = "${nats-cluster-password}"
        secret_env |= {var: url.replace("${" + templating.NATS_CLUSTER_PASSWORD_ENV + "}", "${nats-cluster-password}")
                       for var, url in templating.nats_route_env(routes).items()}
    return ServiceSpec(
        service=S.NATS, image=image(plan, S.NATS), user=IMAGE_USERS[S.NATS],
        command=("-c", "/etc/nats/nats.conf"), listens=(NATS_CLIENT, NATS_ROUTES) if routes else (NATS_CLIENT,),
        secret_env=secret_env,
        mounts=(Mount("data", "/data", IMAGE_USERS[S.NATS]),),  # JetStream store
        files=(ConfigFile("/etc/nats/nats.conf", conf), *files),
        secret_files=keys,
        health=Health(check=Probe(_sh(f"http://{LOOPBACK}:{NATS_MONITOR}/healthz?js-server-only=true"),
                                  http=(NATS_MONITOR, "/healthz?js-server-only=true"))),
    )


def caddy(plan: Plan, at: Placement) -> ServiceSpec:
    gateway = S.GATEWAY_SERVER in plan.services
    challenge = dns_challenge(plan)
    caddyfile = templating.caddyfile(
        plan, site_address=at.site_address, upstreams=[f"{at.host(S.REACTOR_SERVER)}:{REACTOR}"],
        gateway=gateway, acme_email=plan.settings.acme_email,
        ask_url=f"http://{at.host(S.GATEWAY_SERVER)}:{GATEWAY_PORT}/ask" if gateway else "http://localhost:9000/ask",
        wildcard_dns=challenge.provider if challenge else None, internal_ca=not plan.settings.domain,
        wildcard_dns_token_env=challenge.token_env if challenge else None,
        wildcard_dns_options=challenge.options if challenge else ())
    return ServiceSpec(
        service=S.CADDY, image=image(plan, S.CADDY), user=IMAGE_USERS[S.CADDY], listens=(HTTP, HTTPS),
        mounts=(Mount("data", "/data", IMAGE_USERS[S.CADDY]),  # certificates and the ACME account
                Mount("config", "/config", IMAGE_USERS[S.CADDY])),
        files=(ConfigFile("/etc/caddy/Caddyfile", caddyfile),),
        # the DNS-01 credential the platform issued (it may only write the challenge records)
        secret_env={var: f"${{{name}}}" for var, name in (challenge.env if challenge else ())},
        env={var: late.marker(value) for var, value in (challenge.late_env if challenge else ())},
        cloud_identity=cloud_identity(plan, S.CADDY),
        health=Health(check=Probe(_sh(f"http://localhost:{CADDY_ADMIN}/config/"))),
        needs=(Need(S.REACTOR_SERVER),),
    )


def gateway_server(plan: Plan, at: Placement) -> ServiceSpec:
    env = {
        # Caddy asks /ask from its own container; only Caddy's network reaches this one
        "GATEWAY_LISTEN_ADDR": f"{any_host(plan)}:{GATEWAY_PORT}",
        # gateway-server's config sync posts to this address from gateway-server's own network
        # namespace, where no Caddy listens: it never replaces the Caddyfile (platform READMEs)
        "CADDY_ADMIN_ADDR": f"http://localhost:{CADDY_ADMIN}",
        "DEFAULT_BACKEND": f"{at.host(S.REACTOR_SERVER)}:{REACTOR}",
    }
    if plan.settings.domain:
        env["WILDCARD_DOMAIN"] = f"*.{plan.settings.domain}"  # main.rs:58: the form *.example.com
    if plan.settings.acme_email:
        env["ACME_EMAIL"] = plan.settings.acme_email
    gw, ep = postgres_init.GATEWAY_ROLE, at.endpoints
    ca = database_ca_file(plan, GATEWAY_DIR)
    verify = f"?sslmode=verify-full&sslrootcert={ca}" if ca else direct_tls(ep)
    return ServiceSpec(
        service=S.GATEWAY_SERVER, image=image(plan, S.GATEWAY_SERVER), user=IMAGE_USERS[S.GATEWAY_SERVER],
        listens=(GATEWAY_PORT,), env=env,
        # it LISTENs on a Postgres channel: always a direct connection, never the pooler; as the
        # gateway role, which may only read and update routes and custom domains
        secret_env={"DATABASE_URL": f"postgres://{gw.name}:${{{gw.secret}}}@{ep.database_host}:{ep.database_port}"
                                    f"/{ep.database_name}{verify}"},
        files=_database_ca(plan, GATEWAY_DIR),
        health=Health(check=Probe(_curl(f"http://{LOOPBACK}:{GATEWAY_PORT}/health")),
                      ready=Probe(_curl(f"http://{LOOPBACK}:{GATEWAY_PORT}/ready"))),
        needs=(Need(S.CADDY, Condition.STARTED), Need(S.POSTGRES)),
    )


def pgbouncer(plan: Plan, at: Placement) -> ServiceSpec:
    assert plan.pooler is not None
    port = plan.pooler.port
    ca = database_ca_file(plan, POOLER_DIR)
    # clients (reactor-server) over TLS between machines: the install's certificate for the pooler
    files, keys = _tls_files(plan, S.PGBOUNCER, POOLER_DIR, f"{POOLER_DIR}/tls") if plan.internal_tls else ((), ())
    client_tls = {"CLIENT_TLS_SSLMODE": "require", "CLIENT_TLS_CA_FILE": files[0].path,
                  "CLIENT_TLS_CERT_FILE": files[1].path, "CLIENT_TLS_KEY_FILE": keys[0].path} if files else {}
    return ServiceSpec(
        service=S.PGBOUNCER, image=image(plan, S.PGBOUNCER), user=IMAGE_USERS[S.PGBOUNCER], listens=(port,),
        env={
            "DB_HOST": at.endpoints.database_host, "DB_PORT": str(at.endpoints.database_port), "DB_USER": DB_USER, "DB_NAME": DB_NAME,
            "LISTEN_PORT": str(port), "POOL_MODE": plan.pooler.mode, "AUTH_TYPE": "scram-sha-256",
            # named prepared statements (sqlx) need PgBouncer >= 1.21 with this above 0
            "MAX_PREPARED_STATEMENTS": "100",
            "DEFAULT_POOL_SIZE": str(plan.database.pool_max_per_node),
            **({"SERVER_TLS_SSLMODE": "verify-full", "SERVER_TLS_CA_FILE": ca} if ca else
               {"SERVER_TLS_SSLMODE": at.endpoints.database_sslmode} if at.endpoints.database_sslmode else {}),
            **client_tls,
        },
        secret_env={"DB_PASSWORD": "${database-password}"},
        files=(*_database_ca(plan, POOLER_DIR), *files),
        secret_files=keys,
        health=Health(check=Probe(("pg_isready", "-h", LOOPBACK, "-p", str(port)))),
        needs=(Need(S.POSTGRES),),
    )


def supavisor(plan: Plan, at: Placement) -> ServiceSpec:
    assert plan.pooler is not None
    return ServiceSpec(
        service=S.SUPAVISOR, image=image(plan, S.SUPAVISOR), user=IMAGE_USERS[S.SUPAVISOR],
        listens=(4000, 5432, 6543),
        env={"PORT": "4000", "PROXY_PORT_SESSION": "5432", "PROXY_PORT_TRANSACTION": "6543",
             "REGION": plan.primary_region, "ERL_AFLAGS": "-proto_dist inet_tcp", "CLUSTER_POSTGRES": "true"},
        secret_env={
            "DATABASE_URL": _direct_url(at),
            "SECRET_KEY_BASE": "${supavisor-secret-key-base}",
            "VAULT_ENC_KEY": "${supavisor-vault-enc-key}",
            "API_JWT_SECRET": "${pooler-auth-password}",
            "METRICS_JWT_SECRET": "${pooler-auth-password}",
        },
        health=Health(check=Probe(_curl("http://127.0.0.1:4000/api/health"), http=(4000, "/api/health"))),
        needs=(Need(S.POSTGRES),),
    )


BUILDERS: dict[Service, Callable[[Plan, Placement], ServiceSpec]] = {
    S.REACTOR_SERVER: reactor_server, S.POSTGRES: postgres, S.OPENBAO: openbao, S.NATS: nats,
    S.CADDY: caddy, S.GATEWAY_SERVER: gateway_server, S.PGBOUNCER: pgbouncer, S.SUPAVISOR: supavisor,
}
# The order services start in (each after what it needs).
START_ORDER = (S.POSTGRES, S.PGBOUNCER, S.SUPAVISOR, S.OPENBAO, S.NATS, S.REACTOR_SERVER, S.CADDY,
               S.GATEWAY_SERVER)


def spec(plan: Plan, service: Service, placement: Placement) -> ServiceSpec:
    if service not in plan.services:
        raise ValueError(f"{service} does not run in {plan.topology}")
    return BUILDERS[service](plan, placement)


def specs(plan: Plan, placement: Placement, services: Iterable[Service] | None = None) -> dict[Service, ServiceSpec]:
    """Specs for `services` (default: every service of the plan), in start order."""
    wanted = set(plan.services if services is None else services)
    return {s: spec(plan, s, placement) for s in START_ORDER if s in wanted}


__all__ = ["BUILDERS", "IMAGE_USERS", "Placement", "START_ORDER", "image", "spec", "specs"]
