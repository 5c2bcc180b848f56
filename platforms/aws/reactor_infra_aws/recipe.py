"""The AWS recipe: walk the Plan's regions and tiers and make each with its component.

In every region of the Plan, through that region's explicit provider: keys, the network
(peered with the primary's for +mr), the security groups from the Plan's links, the private
names. Then, in order: the secrets (primary), the bucket and the database (primary, with their
second-region replicas), the machine tiers (primary; the size-2 node), the vault router, and
per region the load balancer, the file system and the container tiers on ECS, their
autoscaling, and the domain's records. Which tier runs where is the Plan's; this file only
maps tiers to AWS services (`places`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from reactor_infra import catalogue, late, node_boot
from reactor_infra.addressing import machine_address, subnet_plan
from reactor_infra.layout import FILE_SYSTEM, LOAD_BALANCER, DatabaseHosting, Plan, SecretGenerator, TlsTermination
from reactor_infra.platforms import Deployment
from reactor_infra.reactor_toml import render_reactor_toml

from . import places, userdata
from .address import Address, AddressArgs
from .autoscaling import Autoscaling, AutoscalingArgs
from .certificate import Certificate, CertificateArgs
from .cluster import Cluster, ClusterArgs
from .database import Database, DatabaseArgs, DatabaseReplicaArgs
from .discovery import Discovery, DiscoveryArgs
from .dns import Dns, DnsArgs, Target, zone_id_for
from .dns_challenge import DnsChallenge, DnsChallengeArgs
from .file_system import FileSystem, FileSystemArgs
from .firewall import Firewall, FirewallArgs
from .internal_ca import InternalCa, InternalCaArgs
from .keys import Keys, KeysArgs
from .load_balancer import LoadBalancer, LoadBalancerArgs
from .machines import MachineTierArgs, build_machine_tier
from .naming import default_tags, parameter_name
from .network import Network, NetworkArgs
from .peering import Peering, PeeringArgs, Side
from .router import VaultRouter, VaultRouterArgs
from .secrets import PLACEHOLDER, Secrets, SecretsArgs
from .service import ContainerService, ServiceArgs
from .settings import AwsSettings
from .sizing import instance_type_for
from .storage import Storage, StorageArgs, StorageReplicaArgs
from .task_containers import secret_file_var

LOG_RETENTION_DAYS = {True: 90, False: 30}  # by policy.protect


@dataclass
class Region:
    """What one region of the install holds."""

    name: str
    index: int
    provider: aws.Provider
    opts: pulumi.ResourceOptions
    keys: Keys
    network: Network
    firewall: Firewall | None = None
    discovery: Discovery | None = None
    late: dict[str, pulumi.Input[str]] = field(default_factory=dict)

    @property
    def suffix(self) -> str:
        return "" if self.index == 0 else f"-{self.name}"

    def private_subnets(self) -> list[pulumi.Output[str]]:
        return [s.id for s in self.network.private_subnets]


class Recipe:
    def __init__(self, plan: Plan, extras: AwsSettings):
        self.plan, self.extras = plan, extras
        self.multi = plan.topology.size >= 3  # private subnets, a load balancer, managed services

    # --- the walk -----------------------------------------------------------------------------------

    def run(self) -> Deployment:
        plan = self.plan
        self.regions = [self._region(i, name) for i, name in enumerate(plan.regions)]
        primary = self.regions[0]
        if len(self.regions) > 1:
            self._peer(primary, self.regions[1])
        for region in self.regions:
            remote = {r.name: r.network.private_cidrs for r in self.regions if r is not region}
            region.firewall = Firewall(f"firewall{region.suffix}", FirewallArgs(
                plan=plan, vpc_id=region.network.vpc.id, region=region.name, remote=remote, suffix=region.suffix),
                region.opts)
            if self.multi:
                region.discovery = Discovery(f"discovery{region.suffix}", DiscoveryArgs(
                    plan=plan, vpc_id=region.network.vpc.id, suffix=region.suffix), region.opts)
        domain = plan.settings.domain
        self.zone_id = zone_id_for(domain, self.extras.hosted_zone_id, primary.provider) if domain else None
        issued = {}
        challenge = plan.traits.dns_challenge
        if challenge and any(plan.has_secret(name) for _, name in challenge.env):
            issued = dict(DnsChallenge("dns-challenge", DnsChallengeArgs(plan=plan, zone_id=self.zone_id),
                                       primary.opts).values)
        if plan.internal_tls:
            issued |= self._internal_ca()
        self.secrets = Secrets("secrets", SecretsArgs(plan=plan, kms_key=primary.keys.data, issued=issued), primary.opts)
        self.storage = self._storage() if plan.has("storage") else None
        self.database = self._database() if plan.database.hosting is DatabaseHosting.MANAGED else None
        if self.database is not None:
            for region in self.regions:
                region.late[places.DATABASE_HOST] = self.database.address
        address = None
        if not self.multi:  # size 2: the node answers on its own Elastic IP
            tier = plan.tier(plan.ingress.tier)
            address = Address(f"{tier.name}-address", AddressArgs(plan=plan, tier=tier.name.value), primary.opts)
            primary.late[places.PUBLIC_HOST] = domain or address.public_ip
        self.lbs = {r.name: self._load_balancer(r) for r in self.regions} if self.multi else {}
        self.files = {r.name: self._file_system(r) for r in self.regions} if self.multi else {}
        self.machines = {t.name: self._machine_tier(t, address) for t in places.machine_tiers(plan)}
        self._machine_targets()
        self._vault_router()
        for region in self.regions:
            self._container_tiers(region)
        if domain:
            self._dns(address)
        return self._deployment(address)

    # --- regions ----------------------------------------------------------------------------------

    def _region(self, index: int, name: str) -> Region:
        plan, extras = self.plan, self.extras
        provider = aws.Provider(f"aws-{name}", region=name,
                                default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(plan)))
        opts = pulumi.ResourceOptions(providers={"aws": provider})
        suffix = "" if index == 0 else f"-{name}"
        keys = Keys(f"keys{suffix}", KeysArgs(plan=plan, primary=index == 0), opts)
        zones = extras.zones(name, plan.zones) if self.multi else [extras.zone(name)]
        network = Network(f"network{suffix}", NetworkArgs(
            plan=plan, vpc_cidr=extras.vpc_cidr_in(index), zones=zones, private=self.multi,
            subnet_cidr=None if self.multi else extras.subnet_cidr(), region=name, suffix=suffix), opts)
        region = Region(name=name, index=index, provider=provider, opts=opts, keys=keys, network=network)
        if self.plan.settings.domain:
            region.late[places.PUBLIC_HOST] = self.plan.settings.domain
        return region

    def _peer(self, primary: Region, second: Region) -> None:
        def side(r: Region) -> Side:
            return Side(region=r.name, provider=r.provider, vpc_id=r.network.vpc.id,
                        route_table_ids=[t.id for t in r.network.private_route_tables],
                        private_cidrs=r.network.private_cidrs)

        Peering("peering", PeeringArgs(plan=self.plan, primary=side(primary), second=side(second)), primary.opts)

    def _internal_ca(self) -> dict[str, pulumi.Output[str]]:
        """The private CA and each TLS tier's certificate (late values everywhere), their keys
        (Plan secrets the platform issues)."""
        plan = self.plan
        layout = subnet_plan(self.extras.vpc_cidr, plan.zones)
        tiers = {}
        for t in plan.tls_tiers():
            if places.is_container_tier(plan, t):  # tasks come and go: their registered name only
                tiers[t.name.value] = ([places.REGISTERED[s] for s in t.services], [])
                continue
            count = t.replicas.max
            names = [t.name.value] + ([places.machine_name(t, i) for i in range(count)] if count > 1 else [])
            tiers[t.name.value] = (names, [machine_address(plan, t.name, i, layout.private) for i in range(count)])
        ca = InternalCa("internal-ca", InternalCaArgs(plan=plan, tiers=tiers, domain=places.DOMAIN), self.regions[0].opts)
        for region in self.regions:
            region.late[catalogue.INTERNAL_CA_LATE] = ca.ca_pem
            region.late |= {catalogue.cert_late(t): pem for t, pem in ca.certs.items()}
        return ca.keys

    # --- data ---------------------------------------------------------------------------------------

    def _storage(self) -> Storage:
        plan, primary = self.plan, self.regions[0]
        bucket = places.endpoints(plan).s3_bucket
        assert bucket is not None
        second = self.regions[1] if len(self.regions) > 1 else None
        return Storage("storage", StorageArgs(
            plan=plan, bucket_name=bucket, kms_key=primary.keys.data,
            replica=StorageReplicaArgs(region=second.name, provider=second.provider, kms_key=second.keys.data)
            if second else None,
            replica_bucket_name=places.replica_bucket(plan, second.name) if second else None), primary.opts)

    def _database(self) -> Database:
        plan, primary = self.plan, self.regions[0]
        replica = None
        if plan.database.cross_region_replica:
            second = next(r for r in self.regions if r.name == plan.database.cross_region_replica)
            replica = DatabaseReplicaArgs(region=second.name, provider=second.provider,
                                          subnet_ids=second.private_subnets(),
                                          security_group_id=second.firewall.quiet_group().id,
                                          kms_key=second.keys.data)
        return Database("database", DatabaseArgs(
            plan=plan, subnet_ids=primary.private_subnets(),
            security_group_id=primary.firewall.groups["database"].id,
            password=self.secrets.values["database-admin-password"], kms_key=primary.keys.data,
            instance_class=self.extras.db_instance_class, replica=replica), primary.opts)

    # --- machines -----------------------------------------------------------------------------------

    def _machine_tier(self, tier, address: Address | None):
        plan, extras, primary = self.plan, self.extras, self.regions[0]
        network = primary.network
        seal = userdata.seal_config(plan, primary.keys.seal_alias)
        files = node_boot.NodeFiles(
            cloud=userdata.cloud(plan, primary.keys.data_alias),
            endpoints=places.endpoints(plan), site_address=places.site_address(plan),
            secret_names=dict(self.secrets.names), placeholder=PLACEHOLDER, seal=seal, services=tier.services)
        initialises = node_boot.bootstraps_openbao(plan, tier.services)
        fs = self.files.get(primary.name)
        shared = {}  # Caddy's certificates, shared by the tier's machines (late: the ids exist later)
        if fs is not None and any(link.source == tier.name and link.target == FILE_SYSTEM for link in plan.links):
            for volume in fs.access_points:
                primary.late[f"efs-{volume}"] = fs.access_points[volume].id
            primary.late["efs-id"] = fs.id
            shared = {v: (late.marker("efs-id"), late.marker(f"efs-{v}")) for v in fs.access_points}
        files = _replace(files, shared_volumes=shared)
        user_data, used = [], set()
        for i in range(tier.replicas.max):
            node_files = files
            if self.multi:
                node_files = _replace(files, placement=places.machine_placement(plan, tier, i, seal),
                                      initialises_openbao=initialises and i == 0)
            specs = node_boot.node_specs(plan, node_files)
            used |= {name for spec in specs.values() for name in spec.secrets()}
            user_data.append(pulumi.Output.all(primary.late).apply(
                lambda v, f=node_files: late.bind(node_boot.cloud_config(plan, f, v[0]), v[0])))
        init = [s.name for s in plan.secrets if s.generator is SecretGenerator.INIT]
        if initialises:
            used |= set(init)
        subnets = network.private_subnets if self.multi else [network.subnet]
        layout = subnet_plan(extras.vpc_cidr, plan.zones) if self.multi else None
        return build_machine_tier(MachineTierArgs(
            plan=plan, tier=tier, subnets=[(s.id, s.availability_zone) for s in subnets],
            security_group_id=primary.firewall.groups[tier.name.value].id, user_data=user_data,
            instance_type=extras.instance_type or instance_type_for(tier.sizing),
            ami=aws.ssm.get_parameter_output(
                name=extras.ami_ssm_parameter, opts=pulumi.InvokeOutputOptions(provider=primary.provider)).insecure_value,
            parameter_arns=[self.secrets.parameters[n].arn for n in sorted(used) if n in self.secrets.parameters],
            root_volume_gb=extras.root_volume_gb,
            addresses=[machine_address(plan, tier.name, i, layout.private) for i in range(tier.replicas.max)]
            if layout else (),
            written_parameters=[parameter_name(plan, n) for n in init] if initialises else (),
            kms_key=primary.keys.data,
            seal_key_arn=primary.keys.seal.arn if primary.keys.seal and initialises else None,
            key_name=extras.key_name, public_address=address.allocation_id if address else None,
            file_system_arn=fs.file_system.arn if shared else None,
            access_point_arns=[fs.access_points[v].arn for v in shared],
            containers_need_identity=node_boot.needs_cloud_identity(plan, tier.services),
            # the role reads its parameters at boot; the shared volumes' mount targets must answer
            depends_on=[self.secrets, primary.keys, *([fs] if shared else [])]), primary.opts)

    def _machine_targets(self) -> None:
        """Machine names in every region's namespace; the ingress machines behind the load balancer."""
        plan = self.plan
        layout = subnet_plan(self.extras.vpc_cidr, plan.zones) if self.multi else None
        for region in self.regions if self.multi else ():
            for tier in places.machine_tiers(plan):
                for i in range(tier.replicas.max):
                    region.discovery.address(places.machine_name(tier, i), machine_address(plan, tier.name, i, layout.private))
        tier = plan.tier(plan.ingress.tier) if self.multi else None
        if tier is None or tier.name not in self.machines:
            return
        lb = self.lbs[self.regions[0].name]
        for port, group in lb.target_groups.items():
            for i, node in enumerate(self.machines[tier.name].nodes):
                aws.lb.TargetGroupAttachment(f"{tier.name}-{i}-target-{port}", target_group_arn=group.arn,
                                            target_id=node.instance.id, port=port,
                                            opts=pulumi.ResourceOptions(parent=lb))

    def _vault_router(self) -> None:
        tier = places.routed(self.plan)
        if tier is None:
            return
        primary = self.regions[0]
        router = VaultRouter("vault-router", VaultRouterArgs(
            plan=self.plan, tier=tier.name.value, vpc_id=primary.network.vpc.id,
            subnet_ids=primary.private_subnets()[:tier.zones],
            security_group_id=primary.firewall.groups["vault-router"].id, tls=self.plan.internal_tls,
            instance_ids=[n.instance.id for n in self.machines[tier.name].nodes]), primary.opts)
        for region in self.regions:
            region.discovery.alias(tier.name.value, router.dns_name)

    # --- per region: load balancer, file system, containers ------------------------------------------

    def _load_balancer(self, region: Region) -> LoadBalancer:
        plan = self.plan
        certificate = None
        if plan.ingress.tls is TlsTermination.LOAD_BALANCER:
            certificate = Certificate(f"certificate{region.suffix}", CertificateArgs(
                plan=plan, zone_id=self.zone_id), region.opts).arn
        tier = plan.tier(plan.ingress.tier)
        lb = LoadBalancer(f"load-balancer{region.suffix}", LoadBalancerArgs(
            plan=plan, region=region.name, vpc_id=region.network.vpc.id,
            subnet_ids=[s.id for s in region.network.public_subnets],
            security_group_id=region.firewall.groups[str(LOAD_BALANCER)].id,
            target_type="ip" if places.is_container_tier(plan, tier) else "instance",
            certificate_arn=certificate, suffix=region.suffix), region.opts)
        if not plan.settings.domain:
            region.late[places.PUBLIC_HOST] = lb.dns_name
        return lb

    def _file_system(self, region: Region) -> FileSystem | None:
        plan = self.plan
        if str(FILE_SYSTEM) not in region.firewall.groups:
            return None
        wanted = {}
        for tier in plan.tiers:
            if region.name not in tier.regions or not any(
                    link.source == tier.name and link.target == FILE_SYSTEM for link in plan.links):
                continue
            # a container tier keeps its services' data; machines share only Caddy's certificates
            shared = tier.services if places.is_container_tier(plan, tier) else (places.S.CADDY,)
            for service in shared:
                for mount in catalogue.spec(plan, service, places.task_placement(plan)).mounts:
                    if mount.role == "data":  # what must outlive a task; the rest is scratch
                        wanted[f"{service}-{mount.role}"] = (f"/{service}-{mount.role}", mount.owner)
        return FileSystem(f"file-system{region.suffix}", FileSystemArgs(
            plan=plan, tier=str(FILE_SYSTEM), subnet_ids=region.private_subnets(),
            security_group_id=region.firewall.groups[str(FILE_SYSTEM)].id, kms_key=region.keys.data,
            access_points=wanted), region.opts)

    def _container_tiers(self, region: Region) -> None:
        plan = self.plan
        tiers = places.container_tiers(plan, region.name)
        if not tiers:
            return
        cluster = Cluster(f"cluster{region.suffix}", ClusterArgs(plan=plan, suffix=region.suffix), region.opts)
        files = self.files.get(region.name)
        lb = self.lbs.get(region.name)
        for tier in tiers:
            for service in tier.services:
                spec = catalogue.spec(plan, service, places.task_placement(plan))
                targets = [(lb.target_groups[p].arn, p) for p in lb.target_groups
                           if p in spec.listens] if lb and tier.name == plan.ingress.tier else []
                volumes = {m.role: (files.id, files.access_points[f"{service}-{m.role}"].id)
                           for m in spec.mounts if files and f"{service}-{m.role}" in files.access_points}
                ecs = ContainerService(f"{service}{region.suffix}", ServiceArgs(
                    plan=plan, tier=tier, spec=spec, region=region.name, cluster_arn=cluster.arn,
                    subnet_ids=region.private_subnets()[:tier.zones],
                    security_group_id=region.firewall.groups[tier.name.value].id,
                    secret_env=self._secret_env(spec, region), kms_key_arn=self.regions[0].keys.data.arn
                    if self.regions[0].keys.data else None,
                    bucket_arn=self.storage.arn if self.storage and service == "reactor-server" else None,
                    bucket_kms_key_arn=self.regions[0].keys.data.arn
                    if self.storage and service == "reactor-server" and self.regions[0].keys.data else None,
                    target_groups=targets, discovery_namespace_id=region.discovery.id,
                    discovery_name=places.REGISTERED[service], volumes=volumes,
                    log_retention_days=LOG_RETENTION_DAYS[plan.policy.protect], suffix=region.suffix,
                    depends_on=[lb] if targets else (), late=dict(region.late)), region.opts)
                if tier.replicas.autoscaled:
                    Autoscaling(f"{service}-scaling{region.suffix}", AutoscalingArgs(
                        plan=plan, tier=tier, cluster_name=cluster.name, service_name=ecs.name,
                        service=str(service) if len(tier.services) > 1 else "", suffix=region.suffix), region.opts)

    def _secret_env(self, spec, region: Region) -> dict[str, pulumi.Input[str]]:
        out = {var: self.secrets.env_parameter(self.plan, str(spec.service), var, template, region.late)
               for var, template in spec.secret_env.items()}
        for step in spec.prestart:
            out |= {f"{step.name}/{var}": self.secrets.env_parameter(self.plan, step.name, var, template, region.late)
                    for var, template in step.secret_env.items()}
        for f in spec.secret_files:  # a TLS key: the secret's own parameter
            out[secret_file_var(f)] = self.secrets.parameters[f.secret].arn
        return out

    # --- names and outputs ----------------------------------------------------------------------------

    def _dns(self, address: Address | None) -> None:
        primary = self.regions[0]
        if address is not None:
            Dns("dns", DnsArgs(plan=self.plan, zone_id=self.zone_id, address=address.public_ip), primary.opts)
            return
        targets = tuple(Target(region=r.name, dns_name=self.lbs[r.name].dns_name, zone_id=self.lbs[r.name].zone_id)
                        for r in self.regions)
        Dns("dns", DnsArgs(plan=self.plan, zone_id=self.zone_id, targets=targets), primary.opts)

    def _deployment(self, address: Address | None) -> Deployment:
        plan, primary = self.plan, self.regions[0]
        toml = render_reactor_toml(plan, places.endpoints(plan))
        reactor_toml = pulumi.Output.all(primary.late).apply(lambda v: late.bind(toml, v[0]))
        public_url = pulumi.Output.all(primary.late).apply(
            lambda v: late.bind(places.endpoints(plan).public_url, v[0]))
        endpoints: dict[str, pulumi.Input[str]] = {"public_url": public_url, "region": primary.name,
                                                   "secrets": parameter_name(plan, "")}
        if address is not None:
            endpoints["public_ip"] = address.public_ip
        for r in self.regions if self.multi else ():
            endpoints[f"load_balancer{r.suffix}"] = self.lbs[r.name].dns_name
        if self.database is not None:
            endpoints["database"] = self.database.address
        if self.storage is not None:
            endpoints["bucket"] = self.storage.name
        return Deployment(public_url=public_url, reactor_toml=reactor_toml, endpoints=endpoints)


def _replace(files: node_boot.NodeFiles, **changes) -> node_boot.NodeFiles:
    from dataclasses import replace

    return replace(files, **changes)
