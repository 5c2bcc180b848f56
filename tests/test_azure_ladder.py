"""The `@azure` ladder rung by rung and modifier by modifier, over all 87 renders: what each holds
and what it does not, read from the render (an Azure Resource Manager id is matched by its last
segment, the resource's name) and compared with the token's Plan: each tier's machines, their
subnets, addresses, zones, disks, backups and identity; the ingress per size (the node's own
address, Front Door, balancers passing 80/443 to Caddy), the vault and pool routers, the pooler,
Azure Files, the flexible server; per modifier HA, the second region, scale sets."""

from __future__ import annotations

import base64
import ipaddress
from collections import Counter

import yaml
from matrix import every
from reactor_infra_azure.network import subnets_of
from renders import AZURE_DNS_ZONE, default_settings, rendered

from reactor_infra.graph import Resource, ResourceGraph
from reactor_infra.layout import FILE_SYSTEM, Plan, SecretGenerator, Service
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

AZ = [t for t in valid_topologies() if t.platform is Platform.AZURE]

A = "azure-native:"
VM, VMSS, DISK = A + "compute:VirtualMachine", A + "compute:VirtualMachineScaleSet", A + "compute:Disk"
NIC, LB, PIP = A + "network:NetworkInterface", A + "network:LoadBalancer", A + "network:PublicIPAddress"
VNET, SUBNET, PEERING = A + "network:VirtualNetwork", A + "network:Subnet", A + "network:VirtualNetworkPeering"
NSG, ASG = A + "network:NetworkSecurityGroup", A + "network:ApplicationSecurityGroup"
ZONE, LINK, RECORD = (A + "privatedns:" + k for k in ("PrivateZone", "VirtualNetworkLink", "PrivateRecordSet"))
SERVER, ENDPOINT = A + "dbforpostgresql:Server", A + "dbforpostgresql:VirtualEndpoint"
PROFILE, ORIGIN, WAF = A + "cdn:Profile", A + "cdn:AFDOrigin", A + "frontdoor:Policy"
ACCOUNT, SHARE = A + "storage:StorageAccount", A + "storage:FileShare"
AUTOSCALE, IDENTITY = A + "monitor:AutoscaleSetting", A + "managedidentity:UserAssignedIdentity"
ROLE, SECRET = A + "authorization:RoleAssignment", A + "keyvault:Secret"
BACKUP_VAULT, POLICY, INSTANCE = (A + "dataprotection:" + k for k in ("BackupVault", "BackupPolicy", "BackupInstance"))
# Azure's built-in role definitions
SECRETS_USER, SECRETS_OFFICER = "4633458b-17de-408a-b874-0445c86b69e6", "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
CRYPTO_USER, DNS_ZONE_CONTRIBUTOR = "e147488a-f6f5-4113-8e2d-b22465e65bf6", "befefa01-2a29-4197-83a8-272ff33ce314"
PRIVATE, SBIN = "reactor.internal", "/usr/local/sbin/reactor-"
FETCH, BOOTSTRAP, PREPARE = SBIN + "fetch-secrets", SBIN + "openbao-bootstrap", SBIN + "prepare-node"


def tokens(size: int | None = None) -> list[str]:
    return [t.token for t in AZ if size is None or t.size == size]


def plan_of(token: str) -> Plan:
    settings = default_settings(token)
    return build_plan(parse(token), load_settings(settings) if settings else None)


def tail(ref: str) -> str:
    """The last segment of an ARM id: the resource's name."""
    return ref.rstrip("/").rsplit("/", 1)[-1]


def named(graph: ResourceGraph, type_: str, key: str, ref: str) -> Resource:
    found = [r for r in graph.find(type_) if r.inputs[key] == tail(ref)]
    assert len(found) == 1, f"{len(found)} {type_.rsplit(':', 1)[-1]} named {tail(ref)}"
    return found[0]


def machines(graph: ResourceGraph, tier: str | None = None) -> list[Resource]:
    return [r for r in graph.find(VM) + graph.find(VMSS) if tier is None or r.inputs["tags"]["tier"] == tier]


def tier_of(m: Resource) -> str:
    return m.inputs["tags"]["tier"]


def boot_files(r: Resource) -> dict[str, str]:
    profile = r.inputs.get("osProfile") or r.inputs["virtualMachineProfile"]["osProfile"]
    text = base64.b64decode(profile["customData"]).decode()
    assert text.startswith("#cloud-config\n"), f"{r.name}: custom data is not cloud-config"
    return {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}


def compose_services(r: Resource) -> set[str]:
    return set(yaml.safe_load(boot_files(r)["/opt/reactor/compose.yaml"])["services"])


def ip_config(graph: ResourceGraph, m: Resource) -> tuple[dict, Resource, str]:
    """A machine's (or scale set's) one IP configuration, and where its dependencies are listed."""
    if m.type == VM:
        (ref,) = m.inputs["networkProfile"]["networkInterfaces"]
        nic = named(graph, NIC, "networkInterfaceName", ref["id"])
        (config,) = nic.inputs["ipConfigurations"]
        return config, nic, "ipConfigurations"
    (nic,) = m.inputs["virtualMachineProfile"]["networkProfile"]["networkInterfaceConfigurations"]
    (config,) = nic["ipConfigurations"]
    return config, m, "virtualMachineProfile"


def pools_of(graph: ResourceGraph, m: Resource) -> set[str]:
    """The balancers (by name) whose back-end pool a machine or scale set joins."""
    pools = ip_config(graph, m)[0].get("loadBalancerBackendAddressPools") or []
    return {p["id"].split("/loadBalancers/")[1].split("/")[0] for p in pools}


def balancers(graph: ResourceGraph, internal: bool, port: int | None = None) -> list[Resource]:
    return [b for b in graph.find(LB) if any("subnet" in f for f in b.inputs["frontendIPConfigurations"]) == internal
            and (port is None or port in [r["frontendPort"] for r in b.inputs["loadBalancingRules"]])]


def members(graph: ResourceGraph, balancer: Resource) -> list[Resource]:
    return [m for m in machines(graph) if balancer.inputs["loadBalancerName"] in pools_of(graph, m)]


def vnet_in(graph: ResourceGraph, region: str) -> Resource:
    (vnet,) = [v for v in graph.find(VNET) if v.inputs["location"] == region]
    return vnet


def machines_range(graph: ResourceGraph, region: str) -> ipaddress.IPv4Network:
    """The machines subnet of a region's network (the first quarter of its range)."""
    (cidr,) = vnet_in(graph, region).inputs["addressSpace"]["addressPrefixes"]
    return ipaddress.IPv4Network(subnets_of(cidr).machines)


def zone_groups(graph: ResourceGraph, region: str) -> list[str]:
    """The resource groups of the `reactor.internal` zones linked to a region's network."""
    vnet = vnet_in(graph, region).inputs["virtualNetworkName"]
    zones = {z.inputs["resourceGroupName"] for z in graph.find(ZONE) if z.inputs["privateZoneName"] == PRIVATE}
    return [x.inputs["resourceGroupName"] for x in graph.find(LINK) if x.inputs["privateZoneName"] == PRIVATE
            and tail(x.inputs["virtualNetwork"]["id"]) == vnet and x.inputs["resourceGroupName"] in zones]


def probe_of(balancer: Resource) -> tuple:
    (probe,) = balancer.inputs["probes"]
    return probe["protocol"], probe["port"], probe.get("requestPath")


# --- every rung -----------------------------------------------------------------------------------


def test_every_tier_runs_its_services_on_machines_of_its_own():
    """Fixed tiers are as many virtual machines per region as the Plan's replicas, autoscaled
    ones a scale set per region, each running exactly its tier's services (and their one-shot
    helpers); no machine of a tier without services; the pooler's own from size 6."""
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        tiers = [t for t in plan.tiers if t.services]
        assert {tier_of(m) for m in machines(graph)} == {t.name.value for t in tiers}
        assert (plan.pooler is not None) == bool(machines(graph, "pooler")) == (parse(token).size >= 6)
        for tier in tiers:
            found = machines(graph, tier.name.value)
            kind = VMSS if tier.replicas.autoscaled else VM
            assert found and {m.type for m in found} == {kind}, (tier.name, {m.type for m in found})
            where = Counter(m.inputs["location"] for m in found)
            assert where == {r: 1 if kind == VMSS else tier.replicas.max for r in tier.regions}, (tier.name, where)
            for m in found:
                services = {s for s in compose_services(m) if s in {x.value for x in Service}}
                assert services == {s.value for s in tier.services}, (tier.name, services)
    every(tokens(), check)


def test_machines_sit_on_their_regions_machines_subnet_and_fixed_ones_on_fixed_addresses():
    """Every machine and scale set is on the machines subnet of its own region's network, in its
    tier's application security group there; from size 3 a fixed machine keeps a fixed private
    address in that subnet's range, and only the size-2 node has a public address."""
    def check(token):
        graph, size = rendered(token), parse(token).size
        seen = []
        for m in machines(graph):
            region = m.inputs["location"]
            config, owner, key = ip_config(graph, m)
            (subnet,) = [r for r in map(graph.get, owner.property_dependencies[key]) if r.type == SUBNET]
            assert subnet.inputs["subnetName"] == "machines", m.name
            assert subnet.inputs["virtualNetworkName"] == vnet_in(graph, region).inputs["virtualNetworkName"], m.name
            (group,) = config["applicationSecurityGroups"]
            group = named(graph, ASG, "applicationSecurityGroupName", group["id"])
            assert (group.inputs["location"], group.inputs["tags"]["tier"]) == (region, tier_of(m)), m.name
            assert bool(config.get("publicIPAddress")) == (size == 2), m.name
            if m.type == VMSS or size == 2:
                assert config.get("privateIPAllocationMethod", "Dynamic") == "Dynamic", m.name
                continue
            address = config.get("privateIPAddress")
            assert config["privateIPAllocationMethod"] == "Static" and address, (m.name, address)
            assert ipaddress.IPv4Address(address) in machines_range(graph, region), (m.name, address)
            seen.append(address)
        assert len(seen) == len(set(seen)), "two machines on one address"
        assert len(graph.find(NIC)) == len(graph.find(VM)), "an interface without its machine"
    every(tokens(), check)


def test_replicas_spread_over_their_tiers_zones():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        for tier in (t for t in plan.tiers if t.services):
            zones = [str(z) for z in range(1, tier.zones + 1)]
            for region in tier.regions:
                here = [m for m in machines(graph, tier.name.value) if m.inputs["location"] == region]
                if tier.replicas.autoscaled:
                    assert [m.inputs.get("zones") for m in here] == [zones], (tier.name, region)
                    continue
                spread = Counter(z for m in here for z in m.inputs["zones"])
                assert set(spread) == set(zones[:tier.replicas.max]), (tier.name, region, dict(spread))
                assert max(spread.values()) - min(spread.values()) <= 1, (tier.name, region, dict(spread))
    every(tokens(), check)


def test_each_machine_has_its_own_data_disk_at_lun_0():
    def check(token):
        graph = rendered(token)
        vms = graph.find(VM)
        assert len(graph.find(DISK)) == len(vms), "a data disk without its machine, or a machine without one"
        attached = []
        for vm in vms:
            (data,) = vm.inputs["storageProfile"]["dataDisks"]
            assert (data["lun"], data["createOption"]) == (0, "Attach"), vm.name
            disk = named(graph, DISK, "diskName", data["managedDisk"]["id"])
            assert disk.inputs["location"] == vm.inputs["location"] and disk.inputs["zones"] == vm.inputs["zones"]
            attached.append(disk.name)
        assert len(attached) == len(set(attached)), "a disk attached to two machines"
        for pool in graph.find(VMSS):
            (data,) = pool.inputs["virtualMachineProfile"]["storageProfile"]["dataDisks"]
            assert (data["lun"], data["createOption"], data["deleteOption"]) == (0, "Empty", "Delete"), pool.name
        for m in machines(graph):  # the boot formats and mounts the disk it finds at LUN 0
            assert "disk=/dev/disk/azure/scsi1/lun0" in boot_files(m)[PREPARE], m.name
    every(tokens(), check)


# --- per size -------------------------------------------------------------------------------------


def test_size_2_is_one_node_behind_its_static_address_and_no_balancer():
    def check(token):
        graph = rendered(token)
        (node,) = graph.find(VM)
        (address,) = [p for p in graph.find(PIP) if p.inputs["tags"]["tier"] == "node"]
        assert tail(ip_config(graph, node)[0]["publicIPAddress"]["id"]) == address.inputs["publicIpAddressName"]
        assert not [k for k in (LB, SERVER, PROFILE, VMSS, ACCOUNT) if graph.find(k)]
        assert compose_services(node) >= {"reactor-server", "postgres", "openbao", "caddy"}
    every(tokens(2), check)


def test_size_3_is_front_door_with_an_origin_per_region_on_a_public_balancer_to_the_app_tier():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        (profile,) = graph.find(PROFILE)
        waf = not token.startswith("O")
        assert profile.inputs["sku"]["name"] == ("Premium_AzureFrontDoor" if waf else "Standard_AzureFrontDoor")
        assert len(graph.find(WAF)) == (1 if waf else 0)
        public = balancers(graph, internal=False)
        assert sorted(b.inputs["location"] for b in public) == sorted(plan.app_tier.regions)
        origins = {o.inputs["originName"]: o.inputs for o in graph.find(ORIGIN)}
        assert set(origins) == set(plan.app_tier.regions)
        for lb in public:
            assert [r["frontendPort"] for r in lb.inputs["loadBalancingRules"]] == [8000]
            assert probe_of(lb) == ("Http", 8000, "/health")
            (front,) = lb.inputs["frontendIPConfigurations"]
            address = named(graph, PIP, "publicIpAddressName", front["publicIPAddress"]["id"])
            origin = origins[lb.inputs["location"]]
            assert (origin["hostName"], origin["httpPort"]) == (graph.outputs_of(address.urn)["ipAddress"], 8000)
            joined = members(graph, lb)
            assert joined and {tier_of(m) for m in joined} == {plan.app_tier.name.value}
            assert {m.inputs["location"] for m in joined} == {lb.inputs["location"]}
        assert "caddy" not in {s for m in machines(graph) for s in compose_services(m)}
    every(tokens(3), check)


def test_from_size_4_a_public_balancer_per_ingress_region_passes_80_and_443_to_caddy():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        ingress = plan.tier(plan.ingress.tier)
        public = balancers(graph, internal=False)
        assert sorted(b.inputs["location"] for b in public) == sorted(ingress.regions)
        for lb in public:
            rules = lb.inputs["loadBalancingRules"]
            assert sorted((r["frontendPort"], r["backendPort"]) for r in rules) == [(80, 80), (443, 443)]
            joined = members(graph, lb)
            assert joined and {tier_of(m) for m in joined} == {ingress.name.value}
            assert {m.inputs["location"] for m in joined} == {lb.inputs["location"]}
            assert all("caddy" in compose_services(m) for m in joined)
        assert not graph.find(PROFILE), "no Front Door in front of Caddy"
    every([t for t in tokens() if parse(t).size >= 4], check)


def test_the_vault_router_fronts_openbao_exactly_where_it_is_clustered():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        vault = plan.tier_of(Service.OPENBAO)
        routers = balancers(graph, internal=True, port=8200)
        if vault is None or vault.replicas.max == 1 or parse(token).size < 3:
            assert not routers
            return
        (router,) = routers
        assert router.inputs["location"] == plan.primary_region
        assert [r["frontendPort"] for r in router.inputs["loadBalancingRules"]] == [8200]
        assert probe_of(router) == ("Https", 8200, "/v1/sys/health")
        (front,) = router.inputs["frontendIPConfigurations"]
        assert ipaddress.IPv4Address(front["privateIPAddress"]) in machines_range(graph, plan.primary_region)
        assert sorted(m.name for m in members(graph, router)) == sorted(m.name for m in machines(graph, vault.name))
    every(tokens(), check)


def test_azure_files_exactly_where_a_tiers_links_reach_the_file_system():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        sharing = {str(link.source) for link in plan.links if link.target == FILE_SYSTEM}
        accounts, shares = graph.find(ACCOUNT), graph.find(SHARE)
        assert len(accounts) == len(shares) == (1 if sharing else 0)
        mount = None
        if sharing:
            (account,), (share,) = accounts, shares
            name = account.inputs["accountName"]
            assert account.inputs["kind"] == "FileStorage" and account.inputs["sku"]["name"].startswith("Premium_")
            assert account.inputs["publicNetworkAccess"] == "Disabled"
            assert (share.inputs["enabledProtocols"], share.inputs["accountName"]) == ("NFS", name)
            mount = f"{name}.file.core.windows.net:/{name}/{share.inputs['shareName']} /mnt/reactor nfs vers=4"
        for m in machines(graph):
            tier = next(t for t in plan.tiers if t.name.value == tier_of(m))
            prepare = boot_files(m)[PREPARE]
            assert (mount is not None and mount in prepare) == (tier.name.value in sharing), (m.name, mount)
            volumes = {v for v in ("caddy-data", "reactor-server-storage") if f"mkdir -p /mnt/reactor/{v}" in prepare}
            wanted = ({"caddy-data"} if Service.CADDY in tier.services and tier.replicas.max > 1 else set()) | (
                {"reactor-server-storage"} if Service.REACTOR_SERVER in tier.services and plan.shared_blobs else set())
            assert volumes == wanted, (m.name, volumes)
    every(tokens(), check)


def test_the_database_is_a_private_flexible_server_from_size_3_with_ha_and_a_replica_as_asked():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        servers = graph.find(SERVER)
        if parse(token).size < 3:
            assert not servers and "postgres" in compose_services(graph.find(VM)[0])
            return
        (primary,) = [s for s in servers if s.inputs.get("createMode") != "Replica"]
        assert primary.inputs["version"] == "16" and primary.inputs["location"] == plan.primary_region
        assert primary.inputs["network"]["publicNetworkAccess"] == "Disabled"
        assert plan.database.standby == ("+ha" in token)
        assert primary.inputs["highAvailability"]["mode"] == ("ZoneRedundant" if "+ha" in token else "Disabled")
        replicas = [s for s in servers if s.inputs.get("createMode") == "Replica"]
        endpoints = graph.find(ENDPOINT)
        assert len(replicas) == len(endpoints) == (1 if "+mr" in token else 0)
        if "+mr" in token:
            (replica,), (endpoint,) = replicas, endpoints
            assert replica.inputs["location"] == plan.regions[1]
            assert tail(replica.inputs["sourceServerResourceId"]) == primary.inputs["serverName"]
            assert (endpoint.inputs["endpointType"], endpoint.inputs["serverName"], endpoint.inputs["members"]) == (
                "ReadWrite", primary.inputs["serverName"], [replica.inputs["serverName"]])
    every(tokens(), check)


# --- per modifier ---------------------------------------------------------------------------------


def test_a_network_per_region_peered_with_mr_each_with_its_security_groups_and_private_zone():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        vnets = {v.inputs["virtualNetworkName"]: v for v in graph.find(VNET)}
        assert sorted(v.inputs["location"] for v in vnets.values()) == sorted(plan.regions)
        ranges = [ipaddress.IPv4Network(v.inputs["addressSpace"]["addressPrefixes"][0]) for v in vnets.values()]
        assert not any(a.overlaps(b) for i, a in enumerate(ranges) for b in ranges[i + 1:])
        peerings = {(p.inputs["virtualNetworkName"], tail(p.inputs["remoteVirtualNetwork"]["id"]))
                    for p in graph.find(PEERING)}
        assert peerings == ({tuple(vnets), tuple(reversed(vnets))} if "+mr" in token else set())
        groups = {g.inputs["networkSecurityGroupName"]: g.inputs["location"] for g in graph.find(NSG)}
        assert sorted(Counter(groups.values()).items()) == sorted((r, 3) for r in plan.regions)
        for subnet in graph.find(SUBNET):
            region = vnets[subnet.inputs["virtualNetworkName"]].inputs["location"]
            if subnet.inputs["subnetName"] != "AzureBastionSubnet":
                assert groups[tail(subnet.inputs["networkSecurityGroup"]["id"])] == region, subnet.name
        zones = [z for z in graph.find(ZONE) if z.inputs["privateZoneName"] == PRIVATE]
        assert len(zones) == (len(plan.regions) if parse(token).size >= 3 else 0)
        linked = {r: zone_groups(graph, r) for r in plan.regions}
        assert all(len(g) == (1 if zones else 0) for g in linked.values()), linked
        assert len({g for gs in linked.values() for g in gs}) == len(zones), "two regions share one zone"
    every(tokens(), check)


def test_autoscaled_tiers_are_scale_sets_scaling_between_the_plans_min_and_max():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        scaled = [t for t in plan.tiers if t.replicas.autoscaled]
        assert bool(scaled) == ("+as" in token or parse(token).size == 10)
        settings = graph.find(AUTOSCALE)
        assert len(settings) == len(graph.find(VMSS)) == sum(len(t.regions) for t in scaled)
        for tier in scaled:
            for region in tier.regions:
                (pool,) = [m for m in machines(graph, tier.name.value) if m.inputs["location"] == region]
                assert pool.inputs["orchestrationMode"] == "Flexible"
                assert pool.inputs["sku"]["capacity"] == tier.replicas.min
                (setting,) = [s for s in settings
                              if tail(s.inputs["targetResourceUri"]) == pool.inputs["vmScaleSetName"]]
                assert setting.inputs["enabled"] is True and setting.inputs["location"] == region
                (profile,) = setting.inputs["profiles"]
                capacity = profile["capacity"]
                assert (capacity["minimum"], capacity["maximum"]) == (str(tier.replicas.min), str(tier.replicas.max))
                assert {r["scaleAction"]["direction"] for r in profile["rules"]} == {"Increase", "Decrease"}
    every(tokens(), check)


def test_an_autoscaled_app_pool_behind_the_gateway_is_reached_through_its_regions_pool_router():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        app = plan.app_tier
        routed = app.replicas.autoscaled and plan.ingress.tier != app.name
        routers = balancers(graph, internal=True, port=8000)
        assert sorted(r.inputs["location"] for r in routers) == (sorted(app.regions) if routed else [])
        for router in routers:
            region = router.inputs["location"]
            assert probe_of(router) == ("Http", 8000, "/health")
            (pool,) = members(graph, router)
            assert (pool.type, tier_of(pool), pool.inputs["location"]) == (VMSS, app.name.value, region)
            (front,) = router.inputs["frontendIPConfigurations"]
            assert ipaddress.IPv4Address(front["privateIPAddress"]) in machines_range(graph, region)
            (group,) = zone_groups(graph, region)  # the region's own zone names the app tier by this router
            (record,) = [r for r in graph.find(RECORD) if r.inputs["relativeRecordSetName"] == app.name.value
                         and r.inputs["resourceGroupName"] == group and r.inputs["privateZoneName"] == PRIVATE]
            assert [a["ipv4Address"] for a in record.inputs["aRecords"]] == [front["privateIPAddress"]]
    every(tokens(), check)


# --- identities and backups -----------------------------------------------------------------------


def identities(graph: ResourceGraph) -> dict[str, Resource]:
    """tier -> the user-assigned identity its machines run as."""
    out: dict[str, Resource] = {}
    for m in machines(graph):
        (ref,) = m.inputs["identity"]["userAssignedIdentities"]
        assert m.inputs["identity"]["type"] == "UserAssigned", m.name
        found = named(graph, IDENTITY, "resourceName", ref)
        assert out.setdefault(tier_of(m), found) == found, f"{m.name}: another identity than its tier's"
    return out


def grants(graph: ResourceGraph, identity: Resource) -> list[tuple[str, str]]:
    """(role definition, scope) of every role assignment to an identity."""
    principal = graph.outputs_of(identity.urn)["principalId"]
    return [(tail(r.inputs["roleDefinitionId"]), r.inputs["scope"]) for r in graph.find(ROLE)
            if r.inputs.get("principalId") == principal]


def test_each_tier_runs_as_its_own_identity_which_reads_exactly_the_secrets_its_machines_fetch():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        found = identities(graph)
        assert set(found) == {t.name.value for t in plan.tiers if t.services}
        assert len({r.urn for r in found.values()}) == len(found), "two tiers share an identity"
        for other in (r for r in graph.find(IDENTITY) if r not in found.values()):  # the data keys' user only
            assert other.component == "vault" and {role for role, _ in grants(graph, other)} <= {CRYPTO_USER}
        prefix = graph.outputs["endpoints"]["secrets"]
        vault_secrets = {s.inputs["secretName"] for s in graph.find(SECRET)}
        init = {s.name for s in plan.secrets if s.generator is SecretGenerator.INIT}
        caddy = plan.tier_of(Service.CADDY)
        for tier, identity in found.items():
            fetched, stored = set(), set()
            for m in machines(graph, tier):
                files = boot_files(m)
                fetched |= {line.split("$(get ", 1)[1].split(")")[0] for line in files[FETCH].splitlines()
                            if "=$(get " in line}
                if BOOTSTRAP in files:  # the machine that initialises OpenBao stores its init secrets
                    stored |= {prefix + s for s in init if f"put {s} " in files[BOOTSTRAP]}
            assert fetched | stored <= vault_secrets, f"{tier} fetches secrets the vault lacks"
            roles = grants(graph, identity)
            reads = {tail(scope) for role, scope in roles if role == SECRETS_USER}
            writes = {tail(scope) for role, scope in roles if role == SECRETS_OFFICER}
            assert reads == fetched | stored, (tier, sorted(reads ^ (fetched | stored)))
            assert writes == stored, (tier, sorted(writes ^ stored))
            assert all("/secrets/" in scope for role, scope in roles if role in (SECRETS_USER, SECRETS_OFFICER))
            assert {role for role, _ in roles} <= {SECRETS_USER, SECRETS_OFFICER, CRYPTO_USER, DNS_ZONE_CONTRIBUTOR}
            # edition C's Caddy proves *.<domain> by DNS-01 in the domain's zone, signed in as its machine
            challenge = token.startswith("C") and caddy is not None and tier == caddy.name.value
            dns = [scope.split("/providers/")[1] for role, scope in roles if role == DNS_ZONE_CONTRIBUTOR]
            assert dns == ([f"Microsoft.Network/dnszones/{AZURE_DNS_ZONE}"] if challenge else []), (tier, dns)
    every(tokens(), check)


def test_only_the_openbao_tier_holds_the_crypto_role_on_the_seal_key():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        sealed = plan.vault_seal is not None and plan.vault_seal.value == "azurekeyvault"
        vault = plan.tier_of(Service.OPENBAO)
        holders = {tier: [s[s.rindex("/keys/"):] for role, s in grants(graph, identity) if role == CRYPTO_USER]
                   for tier, identity in identities(graph).items()}
        assert holders == {t: (["/keys/openbao-seal"] if sealed and t == vault.name.value else []) for t in holders}
        if sealed:
            hcl = boot_files(machines(graph, vault.name.value)[0])["/opt/reactor/openbao.hcl"]
            assert 'seal "azurekeyvault"' in hcl and '"openbao-seal"' in hcl, "OpenBao does not unseal with that key"
    every(tokens(), check)


def test_every_fixed_machines_data_disk_is_backed_up_daily_for_at_least_the_plans_days():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        instances = graph.find(INSTANCE)
        assert len(instances) == len(graph.find(VM)), "not one backup per fixed machine"
        vaults = {v.inputs["vaultName"]: v.inputs["location"] for v in graph.find(BACKUP_VAULT)}
        assert sorted(vaults.values()) == sorted({vm.inputs["location"] for vm in graph.find(VM)})
        for vm in graph.find(VM):
            (data,) = vm.inputs["storageProfile"]["dataDisks"]
            disk = tail(data["managedDisk"]["id"])
            (backup,) = [b for b in instances if tail(b.inputs["properties"]["dataSourceInfo"]["resourceID"]) == disk]
            assert vaults[backup.inputs["vaultName"]] == vm.inputs["location"], vm.name
            (policy,) = [p for p in graph.find(POLICY) if p.inputs["vaultName"] == backup.inputs["vaultName"]]
            assert tail(backup.inputs["properties"]["policyInfo"]["policyId"]) == policy.inputs["backupPolicyName"]
            rules = policy.inputs["properties"]["policyRules"]
            schedule = [i for r in rules if "trigger" in r for i in r["trigger"]["schedule"]["repeatingTimeIntervals"]]
            assert schedule and all(i.endswith("/P1D") for i in schedule), schedule
            kept = [int(c["deleteAfter"]["duration"].removeprefix("P").removesuffix("D"))
                    for r in rules for c in r.get("lifecycles") or []]
            assert kept and min(kept) >= plan.policy.backup_retention_days, (kept, plan.policy.backup_retention_days)
    every(tokens(), check)
