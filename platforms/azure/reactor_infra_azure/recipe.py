"""The Azure recipe: walk the Plan's regions and tiers and make each with its component.

A resource group for the install; per region the network security groups from the Plan's links
(`Firewall`), the network with its subnets and NAT gateway (`Network`), peered with +mr; the Key
Vault (secrets, OpenBao's seal key, and for editions E and C a data key per region with its disk
encryption set, and one in the primary's paired region for geo-redundant backups) behind its
private endpoint; the secrets; the flexible server (its replica with +mr); the Azure Files
share where machines share volumes; the public addresses and balancers (Front Door's origins at
size 3, TLS passthrough to Caddy from size 4) and the internal routers; then every tier's
machines in each of its regions, Front Door, Bastion, the private and public names. Which tier
runs where is the Plan's; this file only maps tiers to Azure services (`places`).
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_azure_native as az
import pulumi_tls as tls

from reactor_infra import catalogue, late, node_boot
from reactor_infra.addressing import machine_address
from reactor_infra.kit.internal_ca import InternalCaArgs
from reactor_infra.layout import (FILE_SYSTEM, HTTP, HTTPS, REACTOR, VAULT_API, DatabaseHosting, Plan, SecretGenerator,
                                  Service, TierPlan, TlsTermination)
from reactor_infra.platforms import Deployment
from reactor_infra.reactor_toml import render_reactor_toml

from . import places, userdata
from .backup import Backup, BackupArgs
from .bastion import Bastion, BastionArgs
from .database import Database, DatabaseArgs, Encryption
from .discovery import Discovery, DiscoveryArgs
from .disk_encryption import DiskEncryption, DiskEncryptionArgs
from .dns import Dns, DnsArgs
from .file_system import FileSystem, FileSystemArgs
from .firewall import Firewall, FirewallArgs
from .front_door import FrontDoor, FrontDoorArgs
from .identity import IdentityArgs
from .internal_ca import InternalCa
from .key_user import KeyUser, KeyUserArgs
from .keys import Keys, KeysArgs, key_id
from .load_balancer import LoadBalancer, LoadBalancerArgs
from .machines import MachineTierArgs, Site, build_machine_tier
from .naming import physical_name, resource_group, secret_name, tags
from .network import Network, NetworkArgs, subnets_of
from .node import MachineShape
from .peering import Peering, PeeringArgs
from .private_link import PrivateLink, PrivateLinkArgs
from .secrets import PLACEHOLDER, Secrets, SecretsArgs
from .settings import PAIRED, ZONELESS, AzureSettings
from .sizing import vm_size_for

S = Service
ROUTER_OFFSET = {"vault-router": 8, "pool-router": 9}  # fixed addresses below the machines' (16+)


class Recipe:
    def __init__(self, plan: Plan, extras: AzureSettings):
        self.plan, self.extras = plan, extras
        self.multi = plan.topology.size >= 3  # private machines, balancers, managed services
        self.regions = list(plan.regions)
        self.primary = self.regions[0]
        self.cidrs = {r: extras.cidr_in(i) for i, r in enumerate(self.regions)}
        self.subnets = {r: subnets_of(c) for r, c in self.cidrs.items()}
        self.zones = {r: extras.zones_of(r, plan.zones) for r in self.regions}
        self.late: dict[str, pulumi.Input[str]] = {}
        self.cmk = plan.policy.customer_managed_keys
        self.fronted = self.multi and plan.ingress.tls is TlsTermination.LOAD_BALANCER  # size 3: Front Door

    # --- the walk -----------------------------------------------------------------------------------

    def run(self) -> Deployment:
        plan, extras = self.plan, self.extras
        client = az.authorization.get_client_config_output()
        self.subscription, self.tenant = client.subscription_id, client.tenant_id
        self.late[places.TENANT] = self.tenant
        if plan.settings.domain:
            self.late[places.PUBLIC_HOST] = plan.settings.domain
        group = az.resources.ResourceGroup(
            "resource-group", resource_group_name=extras.resource_group or resource_group(plan), location=self.primary,
            tags=tags(plan))
        self.rg = group.name
        self.late["subscription"] = self.subscription  # Caddy's azure DNS module (edition C)
        self.late["dns-resource-group"] = extras.dns_zone_resource_group or self.rg
        self._network()
        self._keys()
        issued: dict[str, pulumi.Output[str]] = {}
        if plan.internal_tls:
            issued |= self._internal_ca()
        self.secrets = Secrets("secrets", SecretsArgs(plan=plan, resource_group=self.rg, vault=self.keys[self.primary].vault,
                                                      issued=issued))
        self.database = self._database() if plan.database.hosting is DatabaseHosting.MANAGED else None
        if self.database is not None:
            self.late[places.DATABASE_HOST] = self.database.host
        self.files = self._file_system() if self._shares_files() else None
        self._balancers()
        self.front_door = None
        if self.fronted:
            self.front_door = FrontDoor("front-door", FrontDoorArgs(
                plan=plan, resource_group=self.rg, origins=[(r, self.address_values[r]) for r in self.address_values],
                waf=plan.policy.customer_managed_keys or plan.policy.multi_tenant, subscription=self.subscription,
                wildcard_certificate=extras.wildcard_certificate))
            if not plan.settings.domain:
                self.late[places.PUBLIC_HOST] = self.front_door.host
        # the machines' SSH key (Azure wants one; operators sign in with Entra ID): its private
        # half stays in the stack's encrypted state
        self.ssh_key = tls.PrivateKey("operators-ssh-key", algorithm="RSA", rsa_bits=4096)
        self.machines = {t.name: self._machine_tier(t) for t in places.machine_tiers(plan)}
        self._backups(group)
        self.bastion = Bastion("bastion", BastionArgs(plan=plan, region=self.primary, resource_group=self.rg,
                                                      subnet=self.networks[self.primary].subnets["bastion"].id))
        self._discovery()
        self._public_dns()
        return self._deployment()

    # --- network ------------------------------------------------------------------------------------

    def _fixed(self, tier: TierPlan, region: str) -> list[str]:
        """The fixed private addresses of a tier's machines in a region (none for a pool)."""
        if places.is_pool(tier) or not self.multi:
            return []
        private = (self.subnets[region].machines,) * max(tier.zones, 1)
        return [machine_address(self.plan, tier.name, i, private) for i in range(tier.replicas.max)]

    def _router_address(self, role: str, region: str | None = None) -> str:
        net = ipaddress.IPv4Network(self.subnets[region or self.primary].machines)
        return str(net.network_address + ROUTER_OFFSET[role])

    def _shares_files(self) -> bool:
        return any(link.target == FILE_SYSTEM for link in self.plan.links)

    def _network(self) -> None:
        plan = self.plan
        fixed = {(t.name.value, r): self._fixed(t, r) for t in plan.tiers if t.services for r in t.regions}
        database_regions = ([self.primary] + ([plan.database.cross_region_replica]
                                              if plan.database.cross_region_replica else [])
                            if plan.database.hosting is DatabaseHosting.MANAGED else [])
        self.firewalls, self.networks = {}, {}
        for i, region in enumerate(self.regions):
            suffix = "" if i == 0 else f"-{region}"
            fw = Firewall(f"firewall{suffix}", FirewallArgs(
                plan=plan, region=region, resource_group=self.rg, subnets=self.subnets, fixed=fixed,
                database_regions=database_regions, files_region=self.primary if self._shares_files() else None))
            self.firewalls[region] = fw
            self.networks[region] = Network(f"network{suffix}", NetworkArgs(
                plan=plan, region=region, cidr=self.cidrs[region], resource_group=self.rg,
                security_groups={"machines": fw.security_groups["machines"], "database": fw.security_groups["database"],
                                 "endpoints": fw.security_groups["endpoints"]},
                bastion=i == 0, database=region in database_regions))
        if len(self.regions) > 1:
            first, second = self.regions[:2]
            Peering("peering", PeeringArgs(plan=plan, resource_group=self.rg, first=(first, self.networks[first]),
                                           second=(second, self.networks[second])))

    # --- keys, secrets, data ------------------------------------------------------------------------

    def _keys(self) -> None:
        plan = self.plan
        seal = plan.vault_seal is not None and plan.vault_seal.value == "azurekeyvault"
        locations = list(self.regions) if self.cmk else [self.primary]
        paired = PAIRED.get(self.primary)
        self.geo_location = None
        if self.cmk and plan.database.hosting is DatabaseHosting.MANAGED and paired:
            self.geo_location = paired
            if paired not in locations:
                locations.append(paired)
        self.keys = {loc: Keys(f"keys{'' if i == 0 else '-' + loc}", KeysArgs(
            plan=plan, location=loc, resource_group=self.rg, tenant=self.tenant, data_key=self.cmk,
            seal_key=seal and i == 0)) for i, loc in enumerate(locations)}
        zone = None  # every vault behind a private endpoint: in its region's network, or the primary's
        for i, (location, keys) in enumerate(self.keys.items()):
            where = location if location in self.networks else self.primary
            link = PrivateLink(f"key-vault-link{'' if i == 0 else '-' + location}", PrivateLinkArgs(
                plan=plan, tier="vault", region=where, resource_group=self.rg, target=keys.vault.id, group="vault",
                zone="privatelink.vaultcore.azure.net", subnet=self.networks[where].subnets["endpoints"].id,
                networks={r: n.vnet.id for r, n in self.networks.items()}, zone_id=zone))
            zone = link.zone_id
        self.key_user = None
        self.encryption_sets: dict[str, pulumi.Output[str]] = {}
        if self.cmk:
            self.key_user = KeyUser("key-user", KeyUserArgs(
                plan=plan, region=self.primary, resource_group=self.rg, subscription=self.subscription,
                keys={loc: key_id(k.vault, "data") for loc, k in self.keys.items()}))
            for i, region in enumerate(self.regions):
                self.encryption_sets[region] = DiskEncryption(f"disk-encryption{'' if i == 0 else '-' + region}",
                                                              DiskEncryptionArgs(
                    plan=plan, region=region, resource_group=self.rg, key_url=self.keys[region].data.key_uri_with_version,
                    identity=self.key_user.id, depends_on=tuple(self.key_user.grants))).id

    def _internal_ca(self) -> dict[str, pulumi.Output[str]]:
        """The private CA and each TLS tier's certificate (late values), their keys (secrets)."""
        plan = self.plan
        tiers = places.certificate_names(plan, self._fixed, self._router_address("vault-router", self.primary))
        ca = InternalCa("internal-ca", InternalCaArgs(plan=plan, tiers=tiers, domain=places.DOMAIN))
        self.late[catalogue.INTERNAL_CA_LATE] = ca.ca_pem
        self.late |= {catalogue.cert_late(t): pem for t, pem in ca.certs.items()}
        return ca.keys

    def _database(self) -> Database:
        plan = self.plan
        replica = plan.database.cross_region_replica
        encryption = None
        if self.cmk:
            geo = self.keys[self.geo_location].data.key_uri_with_version if self.geo_location else None
            encryption = Encryption(identity=self.key_user.id, key=self.keys[self.primary].data.key_uri_with_version,
                                    geo_key=geo, replica_key=self.keys[replica].data.key_uri_with_version if replica else None)
        regions = [self.primary] + ([replica] if replica else [])
        return Database("database", DatabaseArgs(
            plan=plan, region=self.primary, resource_group=self.rg, zoned=self.primary not in ZONELESS,
            subnets={r: self.networks[r].subnets["database"].id for r in regions},
            networks={r: n.vnet.id for r, n in self.networks.items()},
            password=self.secrets.values["database-admin-password"], encryption=encryption, replica_region=replica,
            depends_on=tuple(self.key_user.grants) if self.key_user else ()))

    def _file_system(self) -> FileSystem:
        plan = self.plan
        primary = self.keys[self.primary]
        fs = FileSystem("file-system", FileSystemArgs(
            plan=plan, region=self.primary, resource_group=self.rg, zoned=self.primary not in ZONELESS,
            key_vault_uri=primary.vault.properties.vault_uri if self.cmk else None,
            key_identity=self.key_user.id if self.key_user else None,
            depends_on=tuple(self.key_user.grants) if self.key_user else ()))
        PrivateLink("file-system-link", PrivateLinkArgs(
            plan=plan, tier=str(FILE_SYSTEM), region=self.primary, resource_group=self.rg, target=fs.account.id,
            group="file", zone="privatelink.file.core.windows.net",
            subnet=self.networks[self.primary].subnets["endpoints"].id,
            networks={r: n.vnet.id for r, n in self.networks.items()}))
        return fs

    # --- the ways in --------------------------------------------------------------------------------

    def _public_ip(self, name: str, tier: str, region: str) -> az.network.PublicIPAddress:
        zones = self.zones[region]
        return az.network.PublicIPAddress(
            name, public_ip_address_name=physical_name(self.plan, tier, f"ip-{region}"), resource_group_name=self.rg,
            location=region, sku={"name": "Standard", "tier": "Regional"}, public_ip_allocation_method="Static",
            public_ip_address_version="IPv4", zones=["1", "2", "3"] if len(zones) == 3 else None,
            dns_settings={"domain_name_label": physical_name(self.plan, tier, region, 60)}, tags=tags(self.plan, tier),
            opts=pulumi.ResourceOptions(protect=self.plan.policy.protect))

    def _balancers(self) -> None:
        """The ingress's public addresses and balancers (made before the machines that join them),
        the vault router and the pool routers."""
        plan = self.plan
        ingress = plan.tier(plan.ingress.tier)
        self.pools: dict[tuple[str, str], list[pulumi.Output[str]]] = {}  # (tier, region) -> balancer pools
        self.address_ids: dict[str, pulumi.Output[str]] = {}
        self.address_values: dict[str, pulumi.Output[str]] = {}
        fronted = self.fronted
        for i, region in enumerate(r for r in self.regions if r in ingress.regions):
            suffix = "" if i == 0 else f"-{region}"
            role = "origin" if fronted else ("node" if not self.multi else "load-balancer")
            ip = self._public_ip(f"{role}-address{suffix}", role, region)
            self.address_ids[region], self.address_values[region] = ip.id, ip.ip_address
            if not self.multi:
                continue  # size 2: the node's own address
            ports = [REACTOR] if fronted else [HTTP, HTTPS]
            probe = ("Http", REACTOR, "/health") if fronted else ("Tcp", HTTPS, None)
            lb = LoadBalancer(f"load-balancer{suffix}", LoadBalancerArgs(
                plan=plan, tier=ingress.name.value, role=f"{role}{suffix}", region=region, resource_group=self.rg,
                subscription=self.subscription, ports=ports, probe=probe, public_ip=ip.id))
            self.pools.setdefault((ingress.name.value, region), []).append(lb.pool)
        if not plan.settings.domain and not fronted:
            self.late[places.PUBLIC_HOST] = self.address_values[self.primary]
        self.routers: dict[str, dict[str, list[str]]] = {}  # tier -> region -> [router address]
        for role, tier, port, probe in (("vault-router", places.routed(plan), VAULT_API, ("Https", VAULT_API, "/v1/sys/health")),
                                        ("pool-router", places.pool_routed(plan), REACTOR, ("Http", REACTOR, "/health"))):
            if tier is None:
                continue
            regions = [self.primary] if role == "vault-router" else [r for r in self.regions if r in tier.regions]
            for i, region in enumerate(regions):
                lb = LoadBalancer(f"{role}{'' if i == 0 else '-' + region}", LoadBalancerArgs(
                    plan=plan, tier=tier.name.value, role=role if i == 0 else f"{role}-{region}", region=region,
                    resource_group=self.rg, subscription=self.subscription, ports=[port], probe=probe,
                    subnet=self.networks[region].subnets["machines"].id, private_ip=self._router_address(role, region),
                    zones=("1", "2", "3") if region not in ZONELESS else ()))
                self.pools.setdefault((tier.name.value, region), []).append(lb.pool)
                self.routers.setdefault(tier.name.value, {})[region] = [self._router_address(role, region)]

    def _late(self, region: str) -> dict[str, pulumi.Input[str]]:
        """The late values a region's machines bind: without a domain, Caddy's site and the
        public URL are that region's own address (+mr: each region's balancer)."""
        if self.plan.settings.domain or self.fronted or region not in self.address_values:
            return self.late
        return {**self.late, places.PUBLIC_HOST: self.address_values[region]}

    # --- machines -----------------------------------------------------------------------------------

    def _machine_tier(self, tier: TierPlan):
        plan, extras = self.plan, self.extras
        primary_keys = self.keys[self.primary]
        sealing = primary_keys.seal
        seal = userdata.seal_config(plan, primary_keys.vault_name if sealing else None, primary_keys.seal_name)
        initialises = node_boot.bootstraps_openbao(plan, tier.services)
        shared = ({v: (self.files.host, self.files.share) for v in places.shared_volumes(plan, tier)}
                  if self.files is not None else {})
        base = node_boot.NodeFiles(
            cloud=userdata.cloud(plan), endpoints=places.endpoints(plan), site_address=places.site_address(plan),
            secret_names=dict(self.secrets.names), placeholder=PLACEHOLDER, seal=seal, services=tier.services,
            shared_volumes=shared)
        used: set[str] = set()
        sites = []
        name = tier.name.value
        for region in tier.regions:
            replicas, reads = places.replica_files(plan, tier, base, region, seal=seal)
            used |= reads
            datas = [pulumi.Output.all(self._late(region)).apply(
                lambda v, f=files: late.bind(node_boot.cloud_config(plan, f, v[0]), v[0])) for files in replicas]
            sites.append(Site(region=region, zones=self.zones[region], subnet=self.networks[region].subnets["machines"].id,
                              security_group=self.firewalls[region].groups[name], addresses=self._fixed(tier, region),
                              custom_data=datas, pools=self.pools.get((name, region), []),
                              encryption_set=self.encryption_sets.get(region)))
        init = [s.name for s in plan.secrets if s.generator is SecretGenerator.INIT]
        if initialises:
            used |= set(init)
        ids = self.secrets.ids
        assert tier.sizing is not None
        shape = MachineShape(
            plan=plan, tier=name, vm_size=extras.vm_size or vm_size_for(tier.sizing), image=extras.image_reference(),
            admin_username=extras.admin_username, ssh_public_key=self.ssh_key.public_key_openssh,
            os_disk_gb=extras.os_disk_gb, data_disk_gb=tier.sizing.disk_gb)
        health = ("http", REACTOR, "/health") if S.REACTOR_SERVER in tier.services else ("tcp", HTTPS, None)
        return build_machine_tier(MachineTierArgs(
            tier=tier, shape=shape, sites=sites, resource_group=self.rg, health=health,
            identity=IdentityArgs(
                plan=plan, tier=name, region=self.primary, resource_group=self.rg, subscription=self.subscription,
                reads={n: ids[n] for n in sorted(used) if n in ids},
                writes={n: ids[n] for n in init if n in ids} if initialises else {},
                seal_key=key_id(primary_keys.vault, primary_keys.seal_name) if sealing is not None and S.OPENBAO in tier.services else None,
                dns_zone=self._dns_zone_id() if catalogue.cloud_identity(plan, S.CADDY) and S.CADDY in tier.services else None),
            public_ip=self.address_ids[self.primary] if not self.multi else None,
            depends_on=[self.secrets, *([self.files] if shared else [])]), pulumi.ResourceOptions())

    def _dns_zone_id(self) -> pulumi.Output[str]:
        """The Azure DNS zone Caddy's DNS-01 writes its challenge records to (edition C)."""
        extras = self.extras
        return pulumi.Output.concat("/subscriptions/", self.subscription, "/resourceGroups/",
                                    extras.dns_zone_resource_group or self.rg, "/providers/Microsoft.Network/dnszones/",
                                    extras.dns_zone)

    def _backups(self, group: az.resources.ResourceGroup) -> None:
        """Each region's daily backups of its machines' data disks (pools keep nothing)."""
        for i, region in enumerate(self.regions):
            disks = {node.machine: node.disk.id for tier in self.machines.values()
                     for node in tier.nodes.get(region, [])}
            if disks:
                Backup(f"backup{'' if i == 0 else '-' + region}", BackupArgs(
                    plan=self.plan, region=region, zoned=region not in ZONELESS, resource_group=self.rg,
                    resource_group_id=group.id, subscription=self.subscription, disks=disks))

    # --- names and outputs --------------------------------------------------------------------------

    def _discovery(self) -> None:
        if not self.multi:
            return
        plan = self.plan
        for i, region in enumerate(self.regions):
            if i == 0:
                group = self.rg
            else:  # a network links one zone of a name: the second region's zone lives in a group of its own
                group = az.resources.ResourceGroup(
                    f"resource-group-{region}", resource_group_name=f"{self.extras.resource_group or resource_group(plan)}-{region}",
                    location=region, tags=tags(plan)).name
            discovery = Discovery(f"discovery{'' if i == 0 else '-' + region}", DiscoveryArgs(
                plan=plan, region=region, resource_group=group, network=self.networks[region].vnet.id))
            for tier in places.machine_tiers(plan):
                name = tier.name.value
                where = region if region in tier.regions else self.primary
                if name in self.routers:
                    routers = self.routers[name]
                    discovery.record(name, routers.get(where) or routers[self.primary])
                elif not places.is_pool(tier):
                    discovery.record(name, self._fixed(tier, where))
                if tier.replicas.max > 1 and not places.is_pool(tier) and len(tier.regions) == 1:
                    for j, address in enumerate(self._fixed(tier, self.primary)):
                        discovery.record(places.machine_name(tier, j), [address])

    def _public_dns(self) -> None:
        plan, extras = self.plan, self.extras
        if not (plan.settings.domain and extras.dns_zone):
            return
        zone_group = extras.dns_zone_resource_group or self.rg
        if self.front_door is not None:
            Dns("dns", DnsArgs(plan=plan, zone=extras.dns_zone, zone_resource_group=zone_group, resource_group=self.rg,
                               front_door=self.front_door.endpoint.id,
                               validations=[(host, d.validation_properties.validation_token)
                                         for host, d in zip(self.front_door.hosts, self.front_door.domains)]))
            return
        Dns("dns", DnsArgs(plan=plan, zone=extras.dns_zone, zone_resource_group=zone_group, resource_group=self.rg,
                           addresses=self.address_values, address_ids=self.address_ids))

    def _deployment(self) -> Deployment:
        plan = self.plan
        toml = render_reactor_toml(plan, places.endpoints(plan))
        reactor_toml = pulumi.Output.all(self.late).apply(lambda v: late.bind(toml, v[0]))
        public_url = pulumi.Output.all(self.late).apply(lambda v: late.bind(places.endpoints(plan).public_url, v[0]))
        endpoints: dict[str, pulumi.Input[str]] = {
            "public_url": public_url, "region": self.primary, "resource_group": self.rg,
            "key_vault": self.keys[self.primary].vault_name, "secrets": secret_name(plan, ""),
            "bastion": self.bastion.name}
        for i, (region, address) in enumerate(self.address_values.items()):
            endpoints["public_ip" if i == 0 else f"public_ip-{region}"] = address
        if self.front_door is not None:
            endpoints["front_door"] = self.front_door.host
        if self.database is not None:
            endpoints["database"] = self.database.host
        if self.files is not None:
            endpoints["file_share"] = f"{self.files.host}:/{self.files.share}"
        return Deployment(public_url=public_url, reactor_toml=reactor_toml, endpoints=endpoints)
