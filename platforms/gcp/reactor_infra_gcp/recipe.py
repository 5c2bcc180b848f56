"""The GCP recipe: walk the Plan's regions and tiers and make each with its component.

One VPC for the install with a subnet per region, the firewall rules from the Plan's links,
Cloud KMS per region (the data key for editions E and C, OpenBao's seal key), the secrets
(Secret Manager), the bucket, Cloud SQL (and its replica with +mr), Filestore where several
Caddy replicas share their certificates, the public addresses, then every tier's machines in
each of its regions, the routers, the load balancer (the global Application Load Balancer at
size 3, pass-through per region where Caddy terminates), the private and public names. Which
tier runs where is the Plan's; this file only maps tiers to GCP services (`places`).
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_gcp as gcp

from reactor_infra import catalogue, late, node_boot
from reactor_infra.addressing import machine_address
from reactor_infra.kit.internal_ca import InternalCaArgs
from reactor_infra.layout import (FILE_SYSTEM, HTTP, HTTPS, REACTOR, VAULT_API, DatabaseHosting, Plan, SecretGenerator,
                                  Service, TierPlan, TlsTermination)
from reactor_infra.platforms import Deployment
from reactor_infra.reactor_toml import render_reactor_toml

from . import places, userdata
from .address import Address, AddressArgs
from .agents import ServiceAgents, ServiceAgentsArgs
from .certificate import Certificate, CertificateArgs
from .database import Database, DatabaseArgs, DatabaseReplicaArgs
from .discovery import Discovery, DiscoveryArgs
from .dns import Dns, DnsArgs
from .file_system import FileSystem, FileSystemArgs
from .firewall import Firewall, FirewallArgs
from .identity import IdentityArgs
from .internal_ca import InternalCa
from .keys import Keys, KeysArgs
from .load_balancer import LoadBalancer, LoadBalancerArgs
from .machines import MachineTier, MachineTierArgs, Site, build_machine_tier
from .naming import install_tag, secret_id, tier_tag
from .network import Network, NetworkArgs
from .node import MachineShape
from .passthrough import Passthrough, PassthroughArgs
from .router import Router, RouterArgs
from .secrets import PLACEHOLDER, Secrets, SecretsArgs
from .settings import GcpSettings
from .sizing import machine_type_for
from .storage import Storage, StorageArgs, dual_region_location

S = Service
ROUTER_OFFSET = {"vault-router": 8, "pool-router": 9}  # fixed addresses below the machines' (16+)
FILES_LATE = "filestore"  # late: the Filestore share's address


class Recipe:
    def __init__(self, plan: Plan, extras: GcpSettings):
        self.plan, self.extras = plan, extras
        self.multi = plan.topology.size >= 3  # private machines, a load balancer, managed services
        self.regions = list(plan.regions)
        self.primary = self.regions[0]
        self.cidrs = {r: extras.cidr_in(i) for i, r in enumerate(self.regions)}
        self.zones = {r: extras.zones_of(r, max(plan.zones, 1)) for r in self.regions}
        self.late: dict[str, pulumi.Input[str]] = {}
        # `extras.gcp.project`: every resource through a provider for that project (its children
        # inherit it); none: the default provider's project (`gcp:project`, gcloud's default)
        self.opts = (pulumi.ResourceOptions(providers={"gcp": gcp.Provider("gcp", project=extras.project)})
                     if extras.project else None)

    # --- the walk -----------------------------------------------------------------------------------

    def run(self) -> Deployment:
        plan, extras = self.plan, self.extras
        self.late[places.PROJECT] = extras.project or gcp.organizations.get_client_config_output().project
        if plan.settings.domain:
            self.late[places.PUBLIC_HOST] = plan.settings.domain
        producers = self.multi and (plan.database.hosting is DatabaseHosting.MANAGED or self._shares_files())
        self.network = Network("network", NetworkArgs(
            plan=plan, subnets=[(r, self.cidrs[r]) for r in self.regions], nat=self.multi,
            services_cidr=extras.services_cidr if producers else None), self.opts)
        Firewall("firewall", FirewallArgs(plan=plan, network=self.network.vpc.id, subnets=list(self.cidrs.values()),
                                          services_cidr=extras.services_cidr if producers else None), self.opts)
        self._keys()
        issued: dict[str, pulumi.Output[str]] = {}
        if plan.internal_tls:
            issued |= self._internal_ca()
        self.storage = self._storage() if plan.has("storage") else None
        if self.storage is not None:
            issued |= {"storage-access-key-id": self.storage.access_key_id,
                       "storage-secret-access-key": self.storage.secret_access_key}
        cmk = {r: k.data.id for r, k in self.keys.items() if k.data is not None}
        grants = tuple(g for k in self.keys.values() for g in k.grants)
        self.secrets = Secrets("secrets", SecretsArgs(plan=plan, keys=cmk, issued=issued, depends_on=grants), self.opts)
        self.database = self._database() if plan.database.hosting is DatabaseHosting.MANAGED else None
        if self.database is not None:
            self.late[places.DATABASE_HOST] = self.database.address
        self.files = self._file_system() if self._shares_files() else None
        self.addresses = self._public_addresses()
        self.machines = {t.name: self._machine_tier(t) for t in places.machine_tiers(plan)}
        self._routers()
        self._discovery()
        self._ingress()
        if plan.settings.domain and extras.dns_zone:
            Dns("dns", DnsArgs(plan=plan, zone=extras.dns_zone, addresses=self.addresses,
                               authorization=self.certificate.authorization if self.certificate else None), self.opts)
        return self._deployment()

    # --- keys, secrets, data --------------------------------------------------------------------------

    def _keys(self) -> None:
        plan = self.plan
        cmk = plan.policy.customer_managed_keys
        seal = plan.vault_seal is not None and plan.vault_seal.value == "gcpckms"
        agents = (ServiceAgents("service-agents", ServiceAgentsArgs(plan=plan, project=self.extras.project), self.opts)
                  if cmk else None)
        # a key ring only where a key is wanted: Google never deletes one
        self.keys = {r: Keys(f"keys{'' if i == 0 else '-' + r}", KeysArgs(
            plan=plan, location=r, data_key=cmk, seal_key=seal and i == 0, agents=agents.emails if agents else ()), self.opts)
            for i, r in enumerate(self.regions) if cmk or (seal and i == 0)}
        self.bucket_key = None
        if agents and len(self.regions) > 1 and plan.has("storage"):  # a dual-region bucket's key
            location = dual_region_location(self.regions).lower()
            self.bucket_key = Keys(f"keys-{location}", KeysArgs(plan=plan, location=location, data_key=True,
                                                                agents=[agents.storage]), self.opts)

    def _internal_ca(self) -> dict[str, pulumi.Output[str]]:
        """The private CA and each TLS tier's certificate (late values), their keys (secrets)."""
        plan = self.plan
        tiers = places.certificate_names(plan, self._fixed, self._router_address("vault-router", self.primary))
        ca = InternalCa("internal-ca", InternalCaArgs(plan=plan, tiers=tiers, domain=places.DOMAIN), self.opts)
        self.late[catalogue.INTERNAL_CA_LATE] = ca.ca_pem
        self.late |= {catalogue.cert_late(t): pem for t, pem in ca.certs.items()}
        return ca.keys

    def _storage(self) -> Storage:
        plan = self.plan
        bucket = places.endpoints(plan).s3_bucket
        assert bucket is not None
        key = self.bucket_key or self.keys.get(self.primary)
        return Storage("storage", StorageArgs(
            plan=plan, bucket_name=bucket, regions=self.regions if len(self.regions) > 1 else [self.primary],
            kms_key=key.data.id if key and key.data else None, depends_on=key.grants if key else ()), self.opts)

    def _database(self) -> Database:
        plan = self.plan
        replica = None
        if plan.database.cross_region_replica:
            second = plan.database.cross_region_replica
            replica = DatabaseReplicaArgs(region=second, kms_key=self._data_key(second))
        grants = [g for k in self.keys.values() for g in k.grants]
        return Database("database", DatabaseArgs(
            plan=plan, region=self.primary, network=self.network.vpc.id,
            password=self.secrets.values["database-admin-password"], kms_key=self._data_key(self.primary),
            replica=replica, depends_on=(self.network.connection, *grants)), self.opts)

    def _data_key(self, region: str) -> pulumi.Output[str] | None:
        key = self.keys[region].data if region in self.keys else None
        return key.id if key is not None else None

    def _shares_files(self) -> bool:
        return any(link.target == FILE_SYSTEM for link in self.plan.links)

    def _file_system(self) -> FileSystem:
        fs = FileSystem("file-system", FileSystemArgs(
            plan=self.plan, zone=self.zones[self.primary][0], network=self.network.vpc.name,
            depends_on=(self.network.connection,)), self.opts)
        self.late[FILES_LATE] = fs.address
        return fs

    # --- the ways in ------------------------------------------------------------------------------------

    def _public_addresses(self) -> dict[str, pulumi.Output[str]]:
        """region -> the ingress's public address (static, made before its machines: Caddy's site
        and Reactor.toml's public URL name it without a domain)."""
        plan = self.plan
        ingress = plan.tier(plan.ingress.tier)
        if plan.ingress.tls is TlsTermination.LOAD_BALANCER:  # size 3: one global address
            self.alb_address = Address("load-balancer-address",
                                       AddressArgs(plan=plan, tier="load-balancer", region=None), self.opts)
            out = {self.primary: self.alb_address.address}
        else:
            out = {r: Address(f"{ingress.name.value}-address{'' if i == 0 else '-' + r}", AddressArgs(
                plan=plan, tier=ingress.name.value, region=r), self.opts).address
                for i, r in enumerate(self.regions) if r in ingress.regions}
        if not plan.settings.domain:
            self.late[places.PUBLIC_HOST] = out[self.primary]
        return out

    def _late(self, region: str) -> dict[str, pulumi.Input[str]]:
        """The late values a region's machines bind: without a domain, Caddy's site and the
        public URL are that region's own address (+mr: each region's balancer)."""
        if self.plan.settings.domain or region not in self.addresses:
            return self.late
        return {**self.late, places.PUBLIC_HOST: self.addresses[region]}

    def _ingress(self) -> None:
        plan = self.plan
        tier = plan.tier(plan.ingress.tier)
        self.certificate = None
        if not self.multi:
            return  # size 2: the node's own address
        groups = self.machines[tier.name].groups
        if plan.ingress.tls is TlsTermination.LOAD_BALANCER:
            self.certificate = Certificate("certificate", CertificateArgs(plan=plan, host=self.addresses[self.primary]),
                                           self.opts)
            LoadBalancer("load-balancer", LoadBalancerArgs(
                plan=plan, address=self.alb_address.self_link, backends=[g for r in groups for g in groups[r]],
                certificate_map=self.certificate.certificate_map, ssl_certificates=self.certificate.ssl_certificates), self.opts)
            return
        for i, region in enumerate(r for r in self.regions if r in groups):
            Passthrough(f"load-balancer{'' if i == 0 else '-' + region}", PassthroughArgs(
                plan=plan, region=region, address=self.addresses[region], backends=groups[region]), self.opts)

    def _router_address(self, role: str, region: str | None = None) -> str:
        net = ipaddress.IPv4Network(self.cidrs[region or self.primary])
        return str(net.network_address + ROUTER_OFFSET[role])

    def _routers(self) -> None:
        """The vault router (the primary region: OpenBao lives there) and a pool router in each
        region of an autoscaled app pool the gateway calls (each region's gateway its own pool)."""
        plan = self.plan
        self.routers: dict[str, dict[str, list[str]]] = {}  # tier -> region -> [router address]
        for role, tier, port, path in (("vault-router", places.routed(plan), VAULT_API, "/v1/sys/health"),
                                       ("pool-router", places.pool_routed(plan), REACTOR, "/health")):
            if tier is None:
                continue
            regions = [self.primary] if role == "vault-router" else [r for r in self.regions if r in tier.regions]
            for i, region in enumerate(regions):
                Router(f"{role}{'' if i == 0 else '-' + region}", RouterArgs(
                    plan=plan, tier=tier.name.value, role=role if i == 0 else f"{role}-{region}", region=region,
                    network=self.network.vpc.id, subnetwork=self.network.subnets[region].id,
                    address=self._router_address(role, region), port=port, check_path=path,
                    check_tls=role == "vault-router" and plan.internal_tls,
                    backends=self.machines[tier.name].groups[region]), self.opts)
                self.routers.setdefault(tier.name.value, {})[region] = [self._router_address(role, region)]

    # --- machines -------------------------------------------------------------------------------------

    def _fixed(self, tier: TierPlan, region: str) -> list[str]:
        """The fixed private addresses of a tier's machines in a region (none for a pool)."""
        if places.is_pool(tier) or not self.multi:
            return []
        private = (self.cidrs[region],) * max(tier.zones, 1)
        return [machine_address(self.plan, tier.name, i, private) for i in range(tier.replicas.max)]

    def _named_ports(self, tier: TierPlan) -> list[tuple[str, int]]:
        """What a load balancer or router sends to on the tier's machines."""
        plan, ports = self.plan, {}
        if tier.name == plan.ingress.tier and self.multi:
            ports |= ({"http": REACTOR} if plan.ingress.tls is TlsTermination.LOAD_BALANCER
                      else {"http": HTTP, "https": HTTPS})
        if places.routed(plan) is tier:
            ports["vault"] = VAULT_API
        if places.pool_routed(plan) is tier:
            ports["http"] = REACTOR
        return sorted(ports.items())

    def _machine_tier(self, tier: TierPlan) -> MachineTier:
        plan, extras = self.plan, self.extras
        primary_keys = self.keys.get(self.primary)
        sealing = primary_keys.seal if primary_keys else None
        seal = userdata.seal_config(plan, primary_keys.ring_name if sealing else None,
                                    primary_keys.seal_name if sealing else None, self.primary)
        initialises = node_boot.bootstraps_openbao(plan, tier.services)
        shared = {v: (late.marker(FILES_LATE), self.files.share) for v in places.shared_volumes(plan, tier)}
        base = node_boot.NodeFiles(
            cloud=userdata.cloud(plan), endpoints=places.endpoints(plan), site_address=places.site_address(plan),
            secret_names=dict(self.secrets.names), placeholder=PLACEHOLDER, seal=seal, services=tier.services,
            shared_volumes=shared)
        used: set[str] = set()
        sites = []
        for region in tier.regions:
            fixed = self._fixed(tier, region)
            replicas, reads = places.replica_files(plan, tier, base, region, seal=seal)
            used |= reads
            datas = [pulumi.Output.all(self._late(region)).apply(
                lambda v, f=files: late.bind(node_boot.cloud_config(plan, f, v[0]), v[0])) for files in replicas]
            subnet = self.network.subnets[region]
            sites.append(Site(region=region, zones=self.zones[region], subnetwork=subnet.id, addresses=fixed,
                              user_data=datas, kms_key=self._data_key(region)))
        init = [s.name for s in plan.secrets if s.generator is SecretGenerator.INIT]
        if initialises:
            used |= set(init)
        holders = self.secrets.secrets
        caddy_dns = catalogue.cloud_identity(plan, S.CADDY) and S.CADDY in tier.services
        assert tier.sizing is not None
        shape = MachineShape(
            plan=plan, tier=tier.name.value, machine_type=extras.machine_type or machine_type_for(tier.sizing),
            image=extras.image, service_account="", tags=[install_tag(plan), tier_tag(plan, tier.name.value)],
            boot_disk_gb=extras.boot_disk_gb, data_disk_gb=tier.sizing.disk_gb)
        ingress = plan.tier(plan.ingress.tier)
        return build_machine_tier(MachineTierArgs(
            plan=plan, tier=tier, shape=shape, sites=sites, named_ports=self._named_ports(tier),
            identity=IdentityArgs(
                plan=plan, tier=tier.name.value, reads={n: holders[n].id for n in sorted(used) if n in holders},
                writes={n: holders[n].id for n in init if n in holders} if initialises else {},
                seal_key=sealing.id if sealing is not None and S.OPENBAO in tier.services else None,
                dns_zone=extras.dns_zone if caddy_dns else None),
            health=(REACTOR, "/health") if S.REACTOR_SERVER in tier.services else (HTTPS, None),
            public_ip=self.addresses[self.primary] if not self.multi and tier is ingress else None,
            depends_on=[self.secrets, *([self.files] if shared else [])]), self.opts or pulumi.ResourceOptions())

    # --- names and outputs ----------------------------------------------------------------------------

    def _discovery(self) -> None:
        if not self.multi:
            return
        plan = self.plan
        discovery = Discovery("discovery", DiscoveryArgs(plan=plan, network=self.network.vpc.id), self.opts)
        for tier in places.machine_tiers(plan):
            name = tier.name.value
            if name in self.routers:
                discovery.record(name, self.routers[name])
            elif not places.is_pool(tier):
                discovery.record(name, {r: self._fixed(tier, r) for r in tier.regions})
            if tier.replicas.max > 1 and not places.is_pool(tier) and len(tier.regions) == 1:
                for i, address in enumerate(self._fixed(tier, self.primary)):
                    discovery.record(places.machine_name(tier, i), {self.primary: [address]})

    def _deployment(self) -> Deployment:
        plan = self.plan
        toml = render_reactor_toml(plan, places.endpoints(plan))
        reactor_toml = pulumi.Output.all(self.late).apply(lambda v: late.bind(toml, v[0]))
        public_url = pulumi.Output.all(self.late).apply(lambda v: late.bind(places.endpoints(plan).public_url, v[0]))
        endpoints: dict[str, pulumi.Input[str]] = {"public_url": public_url, "region": self.primary,
                                                   "secrets": secret_id(plan, "")}
        for i, (region, address) in enumerate(self.addresses.items()):
            endpoints["public_ip" if i == 0 else f"public_ip-{region}"] = address
        if self.database is not None:
            endpoints["database"] = self.database.address
        if self.storage is not None:
            endpoints["bucket"] = self.storage.bucket.name
        return Deployment(public_url=public_url, reactor_toml=reactor_toml, endpoints=endpoints)
