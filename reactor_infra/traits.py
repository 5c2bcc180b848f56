"""What each platform is, as data: the facts the Plan and the core's renderers need.

One row per platform, so adding a platform means adding a row here (and its plugin), never
editing the Plan's logic, Reactor.toml's endpoints or the settings checks. No Pulumi, no SDK.

- `one_host`: every tier runs on one Docker host (no load balancer, replicas of one).
- `managed_database`: the platform offers a managed Postgres for sizes >= 3.
- `kms_seal`: OpenBao's auto-unseal seal there (the cloud's KMS); None means Shamir with an
  operator step.
- `object_store`: the S3-compatible endpoint and region rule Reactor.toml's storage uses when
  the Plan says s3; None: a MinIO-style `storage.internal` service the platform runs.
- `bind_host`: the address reactor-server binds (Fly's private network is IPv6-only).
- `private_machines`: from size 3 no machine has a public address: the ingress tier sits
  behind the platform's load balancer even when it is one node (AWS, GCP, Azure).
- `container_tiers`: tiers the platform runs as container services, one task per service: two
  services of such a tier talk across the network (a link between them), and what they keep
  lives on the platform's network file system (`network_files`).
- `network_files`: container tiers keep their files (fs storage, Caddy's certificates) on a
  network file system (EFS, Filestore, Azure Files): NFS links to it.
- `vault_router`: a clustered OpenBao is reached through an internal load balancer that passes
  only to the active node (its health check is /v1/sys/health): reactor-server's boot fails on a
  standby (runtime reference §7).
- `platform_api_port`: every machine and task reaches the platform's own APIs (secret store,
  image registry, logs, the operators' session agent) on this port, whether or not its services
  call out; None: nothing beyond the Plan's egress.
- `internal_tls`: from size 3 the platform makes a private CA, and what crosses machines
  carrying secrets or data speaks TLS with its certificates: OpenBao's listener, NATS clients
  and routes.
- `database_ca_url`: where the managed Postgres's CA bundle is published (`{region}` filled
  in): clients fetch it at start and connect with sslmode=verify-full; None: no managed CA.
- `proxy_only`: the platform's load balancer passes TCP through and can neither terminate TLS
  with a managed certificate nor refuse a path (Fly's proxy in front of an app's machines):
  Caddy terminates TLS and blocks the admin paths at every size, size 3 included.
- `external_probes`: the platform's health checks reach a service from outside its machine
  (Fly's machine checks): NATS's monitoring port (/healthz) listens on the private network.
- `link_rules`: each link becomes one firewall rule; False (Fly): the platform has no firewall
  between machines of one private network and no egress control, so only the ways in through
  its proxy are rules (`explain` says so).
- `external_database`: the managed database is the operator's (a URL in the stack settings):
  its admin password is theirs to give (a PLATFORM secret), never generated.
- `operator_port`: operators reach every machine on this port through the platform's access
  proxy (GCP: SSH through IAP TCP forwarding, signed in with OS Login): a link from `operators`
  to every tier; None: no inbound port (AWS's Session Manager needs none).
- `pool_router`: an autoscaled app pool (no fixed addresses) that the gateway calls sits behind
  an internal pass-through load balancer; its health checks are a link from `pool-router`.
- `package_mirror_port`: every machine also reaches the image's package mirror on this port
  (Ubuntu's archive is plain HTTP on 80; apt verifies its signatures); None: the mirror is
  behind the platform's API port (AL2023's repositories on S3 over 443).
- `shared_file_storage`: the platform has no S3-compatible store: with several app nodes the
  runtime's fs storage backend keeps its blobs on the network file system every app node mounts
  (Azure Files NFS), instead of the s3 backend (only `.reactor/storage` is shared; each node's
  other state stays its own).
- `caddy_terminates`: no load balancer of the platform's terminates TLS or refuses a path (on-prem:
  the operator's machines, with at most their own TCP balancer or DNS in front): Caddy
  terminates at every size, on the app nodes at size 3, and several ingress nodes sit behind
  the operator's balancer.
- `operator_database`: from size 3 the database is the operator's when the stack names it
  (`extras.<platform>.database_url`), else Postgres on a database host the platform runs; with
  +ha it must be the operator's (a primary/standby pair with automatic failover is theirs to run).
- `nat_egress`: machines reach the internet through the platform's NAT gateways (`explain` says
  how many); False: the operator's network decides the way out.
- `private_domain`: the domain of the install's private names (`nats-0.internal`); GCP's
  `reactor.internal` (a private zone named `internal.` would hide `metadata.google.internal`).
- `min_zones`: the fewest zones a multi-machine network must span (an AWS load balancer and an
  RDS subnet group each need subnets in two zones).
- `regions`: every region name the platform has (a static list: validation never calls out);
  None means free-form site names (on-prem). `default_regions`: primary first, then the
  second region +mr uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from .token import Platform


@dataclass(frozen=True, slots=True)
class ObjectStore:
    endpoint: str | None  # None: the provider's default (AWS S3)
    region: str | None  # None: the install's primary region
    # the store takes an access key pair the platform issues (GCS HMAC keys), not the machine's
    # identity: two PLATFORM secrets reach reactor-server as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY
    access_keys: bool = False
    # plain variables reactor-server's S3 client needs with this store
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DnsChallenge:
    """How Caddy proves a wildcard name (DNS-01) on this platform: its caddy-dns module and the
    credential variables the module reads -> the Plan secret the platform issues for each."""

    provider: str
    env: tuple[tuple[str, str], ...]
    # the variable the Caddyfile passes to the module as its token (cloudflare takes it as an
    # argument); None: the module reads its variables itself (route53)
    token_env: str | None = None
    # subdirectives of the module's block -> the variable of Caddy's environment that holds each
    # (googleclouddns: gcp_project)
    options: tuple[tuple[str, str], ...] = ()
    # plain variables of Caddy's environment -> the late value the platform binds (the project id)
    late_env: tuple[tuple[str, str], ...] = ()
    # the module signs in with the machine's own identity (its metadata server): Caddy may reach it
    machine_identity: bool = False
    # the platform's stack setting (`extras.<platform>.<key>`) naming the DNS zone the challenge
    # writes to, required for edition C; None: nothing to name
    zone_setting: str | None = None


@dataclass(frozen=True, slots=True)
class PlatformTraits:
    one_host: bool
    managed_database: bool
    kms_seal: str | None
    object_store: ObjectStore | None
    bind_host: str
    default_regions: tuple[str, ...]
    regions: frozenset[str] | None
    # wildcard certificates for tenant hosts (edition C); None: the platform has no way yet
    dns_challenge: DnsChallenge | None = None
    private_machines: bool = False
    min_zones: int = 1
    container_tiers: frozenset[str] = frozenset()
    network_files: bool = False
    vault_router: bool = False
    platform_api_port: int | None = None
    internal_tls: bool = False
    database_ca_url: str | None = None
    proxy_only: bool = False
    external_database: bool = False
    link_rules: bool = True
    external_probes: bool = False
    operator_port: int | None = None
    pool_router: bool = False
    private_domain: str = "internal"
    package_mirror_port: int | None = None
    shared_file_storage: bool = False
    caddy_terminates: bool = False
    operator_database: bool = False
    nat_egress: bool = True


# AWS commercial, GovCloud and China partitions (2026).
AWS_REGIONS = frozenset({
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-east-2",
    "ap-south-1", "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ap-northeast-1",
    "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1", "eu-central-1",
    "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2",
    "eu-north-1", "il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1",
    "us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1",
})

GCP_REGIONS = frozenset({
    "africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2",
    "asia-northeast3", "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2",
    "australia-southeast1", "australia-southeast2", "europe-central2", "europe-north1",
    "europe-north2", "europe-southwest1", "europe-west1", "europe-west2", "europe-west3",
    "europe-west4", "europe-west6", "europe-west8", "europe-west9", "europe-west10",
    "europe-west12", "me-central1", "me-central2", "me-west1", "northamerica-northeast1",
    "northamerica-northeast2", "northamerica-south1", "southamerica-east1", "southamerica-west1",
    "us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2",
    "us-west3", "us-west4",
})

AZURE_REGIONS = frozenset({
    "eastus", "eastus2", "southcentralus", "westus2", "westus3", "australiaeast", "southeastasia",
    "northeurope", "swedencentral", "uksouth", "westeurope", "centralus", "southafricanorth",
    "centralindia", "eastasia", "japaneast", "koreacentral", "canadacentral", "francecentral",
    "germanywestcentral", "italynorth", "norwayeast", "polandcentral", "spaincentral",
    "switzerlandnorth", "mexicocentral", "uaenorth", "brazilsouth", "israelcentral",
    "qatarcentral", "northcentralus", "westus", "westcentralus", "japanwest", "koreasouth",
    "southindia", "westindia", "canadaeast", "francesouth", "germanynorth", "norwaywest",
    "switzerlandwest", "ukwest", "uaecentral", "brazilsoutheast", "australiacentral",
    "australiacentral2", "australiasoutheast", "southafricawest", "newzealandnorth",
    "indonesiacentral", "malaysiawest", "chilecentral", "austriaeast", "belgiumcentral",
    "denmarkeast",
})

# Fly.io's regions after the 2025 consolidation.
FLY_REGIONS = frozenset({
    "ams", "arn", "bom", "cdg", "dfw", "ewr", "fra", "gru", "iad", "jnb", "lax", "lhr", "nrt",
    "ord", "sin", "sjc", "syd", "yyz",
})

TRAITS: dict[Platform, PlatformTraits] = {
    Platform.LOCAL: PlatformTraits(
        one_host=True, managed_database=False, kms_seal=None, object_store=None,
        bind_host="0.0.0.0", default_regions=("local",), regions=frozenset({"local"})),
    Platform.ONPREM: PlatformTraits(
        one_host=False, managed_database=False, kms_seal=None, object_store=None,
        bind_host="0.0.0.0", default_regions=("site-1",), regions=None,
        # the customer's machines: Caddy terminates TLS; what several nodes share (Caddy's
        # certificates, blobs) is on the operator's NFS export; names from the inventory
        caddy_terminates=True, operator_database=True, nat_egress=False, network_files=True,
        shared_file_storage=True, private_domain="reactor.internal"),
    Platform.AWS: PlatformTraits(
        one_host=False, managed_database=True, kms_seal="awskms",
        object_store=ObjectStore(endpoint=None, region=None),
        bind_host="0.0.0.0", default_regions=("us-east-1", "us-west-2"), regions=AWS_REGIONS,
        private_machines=True, min_zones=2, container_tiers=frozenset({"app", "edge", "pooler"}),
        network_files=True, vault_router=True, platform_api_port=443, internal_tls=True,
        database_ca_url="https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem",
        # Route53, with an IAM user's key that may only write the zone's _acme-challenge records
        dns_challenge=DnsChallenge("route53", (("AWS_ACCESS_KEY_ID", "dns-challenge-key-id"),
                                               ("AWS_SECRET_ACCESS_KEY", "dns-challenge-secret")))),
    Platform.GCP: PlatformTraits(
        one_host=False, managed_database=True, kms_seal="gcpckms",
        # Cloud Storage's XML API with HMAC keys; AWS SDKs since 2025 send CRC32 checksums GCS
        # rejects (SignatureDoesNotMatch) unless only computed when an operation requires one
        object_store=ObjectStore(endpoint="https://storage.googleapis.com", region="auto", access_keys=True,
                                 env=(("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required"),
                                      ("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required"))),
        bind_host="0.0.0.0", default_regions=("us-central1", "us-east1"), regions=GCP_REGIONS,
        # every tier is Compute Engine machines running its compose project (README: why not Cloud Run)
        private_machines=True, network_files=True, vault_router=True, platform_api_port=443,
        internal_tls=True, operator_port=22, pool_router=True, private_domain="reactor.internal",
        package_mirror_port=80,
        # Cloud DNS, with the edge machines' own service account (no key to leak)
        dns_challenge=DnsChallenge("googleclouddns", (), options=(("gcp_project", "GCP_PROJECT"),),
                                   late_env=(("GCP_PROJECT", "project"),), machine_identity=True,
                                   zone_setting="dns_zone")),
    Platform.AZURE: PlatformTraits(
        one_host=False, managed_database=True, kms_seal="azurekeyvault",
        # Blob Storage has no S3 API (MinIO's gateway is gone): blobs on Azure Files NFS
        object_store=None, shared_file_storage=True,
        bind_host="0.0.0.0", default_regions=("eastus", "westus2"), regions=AZURE_REGIONS,
        # every tier is virtual machines running its compose project (README: why not Container Apps)
        private_machines=True, network_files=True, vault_router=True, platform_api_port=443,
        internal_tls=True, operator_port=22, pool_router=True, private_domain="reactor.internal",
        package_mirror_port=80,
        # Azure DNS, with the edge machines' own managed identity (no secret to leak)
        dns_challenge=DnsChallenge("azure", (), options=(("subscription_id", "AZURE_SUBSCRIPTION_ID"),
                                                         ("resource_group_name", "AZURE_RESOURCE_GROUP_NAME")),
                                   late_env=(("AZURE_SUBSCRIPTION_ID", "subscription"),
                                             ("AZURE_RESOURCE_GROUP_NAME", "dns-resource-group")),
                                   machine_identity=True, zone_setting="dns_zone")),
    Platform.FLY: PlatformTraits(
        one_host=False, managed_database=True, kms_seal=None,
        object_store=ObjectStore(endpoint="https://fly.storage.tigris.dev", region="auto"),  # Tigris
        bind_host="[::]", default_regions=("iad", "ord"), regions=FLY_REGIONS,
        # machines have only 6PN addresses; the public ones are the app's, on Fly's proxy
        private_machines=True, proxy_only=True, external_probes=True, external_database=True,
        link_rules=False,
        # every service is a machine of its own (one image per machine), found over 6PN DNS
        container_tiers=frozenset({"node", "app", "edge", "infra", "nats", "vault", "pooler"}),
        # Flycast: Fly's proxy passes :8200 only to the machine whose /v1/sys/health answers 200
        vault_router=True,
        # the domain's DNS is the operator's (Fly hosts none): Cloudflare, as the runtime's runbook
        dns_challenge=DnsChallenge("cloudflare", (("CF_API_TOKEN", "dns-challenge-token"),), token_env="CF_API_TOKEN")),
}


def traits(platform: Platform) -> PlatformTraits:
    return TRAITS[platform]
