"""The vocabulary of a Plan: tiers, services, ports, modes and the frozen records a Plan is made of.

This is the one import path for the vocabulary: platforms, renderers and tests import every
name they need from here; `plan.py` only decides (`build_plan`). Every word the Plan uses is
typed: enums for the closed sets, frozen dataclasses for the records. No Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .settings import StackSettings
from .token import Topology
from .traits import PlatformTraits, traits


class Tier(StrEnum):
    LOCAL = "local"
    NODE = "node"
    APP = "app"
    EDGE = "edge"
    INFRA = "infra"
    NATS = "nats"
    VAULT = "vault"
    POOLER = "pooler"
    DATABASE = "database"
    STORAGE = "storage"


class Service(StrEnum):
    REACTOR_SERVER = "reactor-server"
    POSTGRES = "postgres"
    OPENBAO = "openbao"
    NATS = "nats"
    CADDY = "caddy"
    GATEWAY_SERVER = "gateway-server"
    SUPAVISOR = "supavisor"
    PGBOUNCER = "pgbouncer"


class Outside(StrEnum):
    """Link ends that are not tiers of the install."""

    INTERNET = "internet"
    LOAD_BALANCER = "load-balancer"  # the platform's load balancer in front of the ingress tier
    VAULT_ROUTER = "vault-router"  # an internal load balancer passing only to the active OpenBao node
    FILE_SYSTEM = "file-system"  # the platform's network file system (container tiers' files)
    # an internal load balancer in front of an autoscaled pool that has no fixed addresses
    POOL_ROUTER = "pool-router"
    OPERATORS = "operators"  # the platform's access proxy operators' sessions come through (IAP)


INTERNET = Outside.INTERNET
LOAD_BALANCER = Outside.LOAD_BALANCER
VAULT_ROUTER = Outside.VAULT_ROUTER
FILE_SYSTEM = Outside.FILE_SYSTEM
POOL_ROUTER = Outside.POOL_ROUTER
OPERATORS = Outside.OPERATORS
NFS = 2049
LinkEnd = Tier | Outside

# Ports (runtime reference §3).
HTTP, HTTPS, REACTOR, POSTGRES_PORT = 80, 443, 8000, 5432
VAULT_API, VAULT_CLUSTER, NATS_CLIENT, NATS_ROUTES, NATS_MONITOR = 8200, 8201, 4222, 6222, 8222
POOLER_TXN, POOLER_SESSION, GATEWAY_PORT, CADDY_ADMIN = 6543, 5432, 9000, 2019


class TlsTermination(StrEnum):
    """Who terminates public TLS."""

    NONE = "none"  # size 1: nothing is public
    CADDY = "caddy"  # Caddy on the ingress tier (ACME, on-demand certificates)
    LOAD_BALANCER = "load-balancer"  # the platform's load balancer (a managed certificate)


class VaultMode(StrEnum):
    EMBEDDED = "embedded"  # the runtime's own vault, a local path + a 64-hex master key
    ENV = "env"  # several app nodes, no OpenBao yet: secrets injected as REACTOR_* env from the platform store
    OPENBAO = "openbao"


class Seal(StrEnum):
    """How OpenBao unseals: an operator with Shamir key shares, or a cloud KMS."""

    SHAMIR = "shamir"
    AWSKMS = "awskms"
    GCPCKMS = "gcpckms"
    AZUREKEYVAULT = "azurekeyvault"

    @property
    def automatic(self) -> bool:
        return self is not Seal.SHAMIR


class StorageBackend(StrEnum):
    FS = "fs"
    S3 = "s3"


class DatabaseHosting(StrEnum):
    BESIDE = "beside"  # a postgres next to the server (size 1-2)
    MANAGED = "managed"  # the cloud's managed Postgres
    NODE = "node"  # a Postgres node/container we run (local, onprem)


class PoolerKind(StrEnum):
    PGBOUNCER = "pgbouncer"
    SUPAVISOR = "supavisor"

    @property
    def service(self) -> Service:
        return Service(self.value)


class PoolMode(StrEnum):
    SESSION = "session"
    TRANSACTION = "transaction"


class SecretGenerator(StrEnum):
    TOKEN = "token"  # 48 letters and digits
    PASSWORD = "password"  # 32 letters and digits (safe inside a postgres:// URL)
    # 32 letters, no digit: a value nats.conf reads through a variable, which parses a leading
    # digit as a number (`3k0…` fails: "could not be parsed")
    LETTERS = "letters"
    BASE64_32 = "base64-32"  # 32 random bytes, base64 (the runtime's AES-256-GCM keys)
    HEX_64 = "hex-64"  # 32 random bytes, hex (the embedded vault's master key)
    INIT = "init"  # not generated: OpenBao issues it at init
    PLATFORM = "platform"  # not generated: a credential the platform issues (a cloud access key)


@dataclass(frozen=True, slots=True)
class Sizing:
    vcpu: float
    memory_gb: float
    disk_gb: int

    def __str__(self) -> str:
        return f"{self.vcpu:g} vCPU / {self.memory_gb:g} GB / {self.disk_gb} GB"


SIZING_PRESETS: dict[str, Sizing] = {
    "dev": Sizing(1, 1, 10),
    "staging": Sizing(1, 1, 10),
    "small": Sizing(2, 4, 50),
    "active": Sizing(4, 8, 100),
}
# Support tiers (gateway, NATS, OpenBao, pooler) stay small whatever the preset: they are not
# where Reactor spends CPU. Disk is for JetStream and raft.
SUPPORT_SIZING = Sizing(1, 2, 20)


@dataclass(frozen=True, slots=True)
class Replicas:
    min: int
    max: int

    @property
    def count(self) -> int:
        """How many run at first (the minimum)."""
        return self.min

    @property
    def autoscaled(self) -> bool:
        return self.max > self.min

    def __str__(self) -> str:
        return f"{self.min}-{self.max}" if self.autoscaled else str(self.min)


ONE = Replicas(1, 1)


@dataclass(frozen=True, slots=True)
class TierPlan:
    name: Tier
    services: tuple[Service, ...]
    replicas: Replicas
    regions: tuple[str, ...]
    zones: int  # how many zones the replicas spread over (per region)
    sizing: Sizing | None  # None: a managed service sized by the platform from `database`
    public: bool = False  # takes traffic from the internet (directly or via the load balancer)
    stateful: bool = False
    # may open connections to the internet (webhooks, SMTP, ACME, a cloud KMS); inbound
    # flows are the links, outbound ones beyond the links are only this
    egress: bool = False

    def runs(self, service: Service) -> bool:
        return service in self.services


@dataclass(frozen=True, slots=True)
class Link:
    """One allowed flow: exactly one firewall rule. `source`/`target` are tiers or outside ends;
    `source_service`/`target_service` say which service opens it and which one listens
    (platforms that place services one by one, like one Docker host, join only those)."""

    source: LinkEnd
    target: LinkEnd
    port: int
    purpose: str
    source_service: Service | None = None  # None: from outside the install
    target_service: Service | None = None  # None: the load balancer
    protocol: str = "tcp"

    def __str__(self) -> str:
        return f"{self.source} → {self.target} :{self.port}/{self.protocol} ({self.purpose})"


@dataclass(frozen=True, slots=True)
class Ingress:
    tls: TlsTermination
    tier: Tier | None  # the tier whose nodes take public traffic (None at size 1)
    load_balancer: bool  # a platform load balancer in front of `tier`


@dataclass(frozen=True, slots=True)
class Database:
    hosting: DatabaseHosting
    engine_version: str
    standby: bool  # a synchronous standby in another zone (+ha)
    cross_region_replica: str | None  # region of a read replica (+mr)
    sizing: Sizing
    max_connections: int
    pool_max_per_node: int  # Reactor.toml database.pool_max; × app nodes stays under max_connections
    tenant_databases: bool  # C from size 3: one tenant_<ref> database per tenant


@dataclass(frozen=True, slots=True)
class Pooler:
    kind: PoolerKind
    mode: PoolMode
    port: int


@dataclass(frozen=True, slots=True)
class Policy:
    """What the edition changes: defaults, never layout."""

    protect: bool  # Pulumi `protect` + deletion protection on stateful resources
    backup_retention_days: int
    customer_managed_keys: bool  # encrypt with our own KMS key where the platform has one
    multi_tenant: bool
    # one egress gateway (NAT) per zone, so losing a zone never cuts the others' way out;
    # otherwise one shared gateway
    egress_per_zone: bool
    tenant_provider: str | None  # runtime [cloud] provider: single_node | shared_cluster
    free_tier_quotas: dict[str, int] | None


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret the install needs. Generated (never shown) unless `generator` is INIT."""

    name: str
    generator: SecretGenerator
    purpose: str
    env: str | None = None  # the REACTOR_* variable that carries it into reactor-server


# what serves TLS between machines when the platform has a private CA (Plan.internal_tls)
TLS_SERVERS = frozenset({Service.OPENBAO, Service.NATS, Service.PGBOUNCER})

FREE_TIER_QUOTAS = {
    "requests_per_minute": 1000,
    "concurrent_functions": 10,
    "db_connections": 5,
    "storage_gb": 1,
    "bandwidth_gb_per_month": 5,
}


@dataclass(frozen=True, slots=True)
class Plan:
    topology: Topology
    settings: StackSettings
    stack: str  # the install's name (the Pulumi stack): physical names derive from it, never the token
    regions: tuple[str, ...]
    tiers: tuple[TierPlan, ...]
    links: tuple[Link, ...]  # the flows that cross a node: exactly one firewall rule each
    flows: tuple[Link, ...]  # every service-to-service connection, on a node or across nodes
    ingress: Ingress
    database: Database
    pooler: Pooler | None
    storage: StorageBackend
    vault: VaultMode
    vault_seal: Seal | None
    nats: bool  # a NATS server exists (otherwise realtime/pubsub stay in process)
    policy: Policy
    secrets: tuple[Secret, ...]
    sizing_preset: str
    # zones the install's network spans in each region: the most any tier spreads over, and
    # at least the platform's `min_zones` once there is more than one machine
    zones: int = 1
    # TLS between machines from the platform's private CA (traits.internal_tls, size >= 3)
    internal_tls: bool = False
    # the services that may open connections to the internet (a tier's `egress` is any of these);
    # platforms that place services one by one (containers) read this, machine tiers read `egress`
    egress_services: frozenset[Service] = frozenset()
    notes: tuple[str, ...] = field(default=())

    # --- lookups platforms use -----------------------------------------------------------
    @property
    def traits(self) -> PlatformTraits:
        return traits(self.topology.platform)

    @property
    def name_prefix(self) -> str:
        """What physical names start with: the stack's name unless the stack overrides it."""
        return self.settings.name_prefix or self.stack

    @property
    def primary_region(self) -> str:
        return self.regions[0]

    def tier(self, name: Tier | str) -> TierPlan | None:
        return next((t for t in self.tiers if t.name == name), None)

    def has(self, name: Tier | str) -> bool:
        return self.tier(name) is not None

    def tier_of(self, service: Service) -> TierPlan | None:
        """The tier a service runs on (the first one, for services on several)."""
        return next((t for t in self.tiers if service in t.services), None)

    @property
    def services(self) -> tuple[Service, ...]:
        """Every service of the install, in tier order."""
        return tuple(s for t in self.tiers for s in t.services)

    @property
    def shared_blobs(self) -> bool:
        """fs storage that several app nodes share on the network file system (a platform with
        no S3-compatible store: `traits.shared_file_storage`)."""
        return (self.storage is StorageBackend.FS and self.traits.shared_file_storage
                and self.app_tier.replicas.max > 1)

    @property
    def app_tier(self) -> TierPlan:
        tier = self.tier_of(Service.REACTOR_SERVER)
        assert tier is not None
        return tier

    def regions_of(self, end: LinkEnd | str) -> tuple[str, ...]:
        """Where a link end is: a tier's regions; the internet everywhere; an outside end with
        the tiers it passes to (a load balancer, the vault router), else with those that reach
        it (the network file system)."""
        if end == INTERNET:
            return self.regions
        tier = self.tier(end)
        if tier is not None:
            return tier.regions
        near = [str(link.target) for link in self.links if link.source == end] or \
               [str(link.source) for link in self.links if link.target == end]
        found = {r for name in near if (t := self.tier(name)) is not None for r in t.regions}
        return tuple(r for r in self.regions if r in found)

    def ends_in(self, region: str) -> tuple[str, ...]:
        """The link ends (tiers and outside ends but the internet) present in a region, in the
        order links first name them: what a region's firewall makes a group for."""
        ends: list[str] = []
        for link in self.links:
            for end in (link.source, link.target):
                if end != INTERNET and str(end) not in ends and region in self.regions_of(end):
                    ends.append(str(end))
        return tuple(ends)

    def links_into(self, target: LinkEnd | str) -> tuple[Link, ...]:
        return tuple(link for link in self.links if link.target == target)

    @property
    def database_ca_url(self) -> str | None:
        """The managed database's CA bundle, which its clients verify it against."""
        url = self.traits.database_ca_url
        if url is None or self.database.hosting is not DatabaseHosting.MANAGED:
            return None
        return url.format(region=self.primary_region)

    def tls_tiers(self) -> tuple[TierPlan, ...]:
        """The tiers that serve TLS between machines (OpenBao, NATS, PgBouncer) with their own key."""
        if not self.internal_tls:
            return ()
        return tuple(t for t in self.tiers if TLS_SERVERS & set(t.services))

    def secret(self, name: str) -> Secret:
        return next(s for s in self.secrets if s.name == name)

    def has_secret(self, name: str) -> bool:
        return any(s.name == name for s in self.secrets)
