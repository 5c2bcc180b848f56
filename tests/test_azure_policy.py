"""The policy every `@azure` render must hold, whatever the token: one test per rule, each over every valid
`@azure` token, failing once with the tokens that break it (checkov's and Azure Policy's rules the reviewers ask
for, gcp-azure reference §5): the database, security groups, subnets, Key Vault, machines, disks, the file share's
account, Front Door, protection, roles (`test_every_render_keeps_the_rule[...]`), secrets.

Every check computes what it expects from the Plan and, where the Plan says a thing exists (a database, a share,
Front Door), first asserts it does, so no rule holds by checking nothing. The checks take a graph, so the controls
at the end break a scratch copy of a render and show the rule catches it.
"""

from __future__ import annotations

import base64
import copy
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import unquote

import pytest
import yaml
from matrix import every
from reactor_infra_azure.mocks import SUBSCRIPTION
from reactor_infra_azure.settings import PAIRED
from renders import C_DOMAIN, default_settings, rendered, rendered_json

from reactor_infra.conformance import generated_values
from reactor_infra.graph import SECRET, Resource, ResourceGraph
from reactor_infra.layout import FILE_SYSTEM, DatabaseHosting, Plan
from reactor_infra.machine_places import is_pool, machine_tiers
from reactor_infra.mocks import tls_values
from reactor_infra.plan import build_plan
from reactor_infra.resource_kinds import STATEFUL_TYPES
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

AZURE_TOKENS = [t.token for t in valid_topologies() if t.platform is Platform.AZURE]
AZ = "azure-native:"
SERVER, CONFIG = f"{AZ}dbforpostgresql:Server", f"{AZ}dbforpostgresql:Configuration"
LOCK, ROLE, GROUP = f"{AZ}authorization:ManagementLockByScope", f"{AZ}authorization:RoleAssignment", \
    f"{AZ}resources:ResourceGroup"
NSG, ASG, SUBNET = f"{AZ}network:NetworkSecurityGroup", f"{AZ}network:ApplicationSecurityGroup", f"{AZ}network:Subnet"
VNET, NIC, ENDPOINT = f"{AZ}network:VirtualNetwork", f"{AZ}network:NetworkInterface", f"{AZ}network:PrivateEndpoint"
VAULT, KEY, KV_SECRET = f"{AZ}keyvault:Vault", f"{AZ}keyvault:Key", f"{AZ}keyvault:Secret"
VM, VMSS = f"{AZ}compute:VirtualMachine", f"{AZ}compute:VirtualMachineScaleSet"
DISK, DES = f"{AZ}compute:Disk", f"{AZ}compute:DiskEncryptionSet"
IDENTITY, ACCOUNT = f"{AZ}managedidentity:UserAssignedIdentity", f"{AZ}storage:StorageAccount"
PROFILE, ROUTE, RULE = f"{AZ}cdn:Profile", f"{AZ}cdn:Route", f"{AZ}cdn:Rule"
DOMAIN, SECURITY, WAF = f"{AZ}cdn:AFDCustomDomain", f"{AZ}cdn:SecurityPolicy", f"{AZ}frontdoor:Policy"
PRIVATE_ZONE, BACKUP = f"{AZ}privatedns:PrivateZone", "reactor-infra:azure:Backup"
STATEFUL = tuple(t for t in STATEFUL_TYPES if t.startswith(AZ))

BASTION_SUBNET, DELEGATION = "AzureBastionSubnet", "Microsoft.DBforPostgreSQL/flexibleServers"
WORLD = {"*", "internet", "any", "0.0.0.0", "0.0.0.0/0", "::/0"}
WEB, EVERY_PORT, SSH, LAST = {(80, 80), (443, 443)}, (0, 65535), 22, 4096  # LAST: the lowest rule priority
MIN_RSA, MAX_ROTATION_DAYS, MAX_RETENTION = 3072, 90, 35  # a flexible server keeps backups 7-35 days
SNAPSHOT_CONTRIBUTOR = "7efff54f-a5b4-42b5-a1c5-5411624893ce"  # Disk Snapshot Contributor
FORBIDDEN = {"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner", "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
             "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator"}
BROAD = re.compile(r"^(/|/subscriptions/[^/]+/?|/subscriptions/[^/]+/resourceGroups/([^/]+)/?"
                   r"|/providers/Microsoft\.Management/managementGroups/.*)$", re.IGNORECASE)
ADMIN_PATHS = ("/_admin", "/_admin/", "/_admin/tenants", "/_ADMIN", "/%5Fadmin", "//_admin", "/_cloud", "/_ops/x")
OPEN_PATHS = ("/auth/v1", "/_adminx", "/data/_admin", "/")


def plan_of(token: str) -> Plan:
    settings = default_settings(token)
    return build_plan(parse(token), load_settings(settings) if settings else None)


def kind(r: Resource) -> str:
    return f"{r.type.rsplit(':', 1)[-1]} {r.name}"


def refs(graph: ResourceGraph, r: Resource, key: str, type_: str) -> list[Resource]:
    """The resources of a type an input of `r` was made from (its property dependencies)."""
    return [x for x in (graph.get(u) for u in r.property_dependencies.get(key, ())) if x.type == type_]


def last(rid: object) -> str:
    return str(rid).rstrip("/").rsplit("/", 1)[-1]


def expect(what: str, inputs: Mapping | None, **wanted: object) -> None:
    """Each named input holds exactly the value wanted (a bool is not a string)."""
    for key, value in wanted.items():
        got = (inputs or {}).get(key)
        assert got == value and type(got) is type(value), f"{what}: {key} {got}"


def linked(graph: ResourceGraph, group: str) -> set[str]:
    """The names of the resources a private endpoint of the render reaches (sub-resource `group`)."""
    return {last(c.get("privateLinkServiceId")) for e in graph.find(ENDPOINT)
            for c in e.inputs.get("privateLinkServiceConnections") or [] if c.get("groupIds") == [group]}


def check_key(graph: ResourceGraph, what: str, uri: object, location: str, data_key: bool = True) -> None:
    """A customer-managed key (or vault) URI: the install's data key, in a vault of `location`."""
    match = re.match(r"https://([^.]+)\.vault\.azure\.net/", str(uri))
    vaults = {v.inputs["vaultName"]: v.inputs["location"] for v in graph.find(VAULT)}
    assert match and match.group(1) in vaults, f"{what}: key {uri}, not in one of the install's vaults"
    assert vaults[match.group(1)] == location, \
        f"{what} in {location} uses a key in {vaults[match.group(1)]} (a CMEK must be in its resource's region)"
    assert not data_key or "/keys/data/" in str(uri), f"{what}: {uri} is not the data key"


def check_database(graph: ResourceGraph, plan: Plan) -> None:
    """Private (delegated subnet, private DNS zone), TLS only, backed up the Plan's days, zone-redundant exactly
    with +ha; geo-redundant, customer-keyed and locked (CanNotDelete) exactly for E and C."""
    managed = plan.database.hosting is DatabaseHosting.MANAGED
    cmk, protect = plan.policy.customer_managed_keys, plan.policy.protect
    assert cmk == protect == (plan.topology.edition.value in "EC"), "the Plan's policy"
    assert plan.database.standby == plan.topology.ha, "the Plan's standby"
    servers, locks = graph.find(SERVER), graph.find(LOCK)
    primaries = [s for s in servers if s.inputs.get("createMode") != "Replica"]
    replicas = [s for s in servers if s.inputs.get("createMode") == "Replica"]
    assert len(primaries) == managed, f"{len(primaries)} primaries, the database is {plan.database.hosting}"
    second = plan.database.cross_region_replica if managed else None
    assert len(replicas) == bool(second), f"replicas {[s.name for s in replicas]}, the Plan's {second}"
    for s in servers:
        i, what, net = s.inputs, kind(s), s.inputs.get("network") or {}
        expect(what, net, publicNetworkAccess="Disabled")
        subnets = refs(graph, s, "network", SUBNET)
        assert net.get("delegatedSubnetResourceId") and len(subnets) == 1, f"{what}: no delegated subnet"
        delegated = [d.get("serviceName") for d in subnets[0].inputs.get("delegations") or []]
        assert delegated == [DELEGATION], f"{what}'s subnet is delegated to {delegated}"
        assert [n.inputs["location"] for n in refs(graph, subnets[0], "virtualNetworkName", VNET)] == [i["location"]], \
            f"{what}: its subnet is not in its region's network"
        zones = [z.inputs["privateZoneName"] for z in refs(graph, s, "network", PRIVATE_ZONE)]
        assert net.get("privateDnsZoneArmResourceId") and len(zones) == 1 and \
            zones[0].endswith(".postgres.database.azure.com"), f"{what}: no private DNS zone ({zones})"
        encryption = i.get("dataEncryption") or {}
        assert (encryption.get("type") == "AzureKeyVault") is cmk, f"{what}: dataEncryption {encryption.get('type')}"
        if cmk:
            check_key(graph, what, encryption.get("primaryKeyURI"), i["location"])
        held = [lock for lock in locks if s.urn in lock.property_dependencies.get("scope", ())]
        assert len(held) == protect and all(lock.inputs.get("level") == "CanNotDelete" for lock in held), \
            f"{what}: locks {[lock.inputs.get('level') for lock in held]}, protect {protect}"
    assert len(locks) == len(servers) * protect, f"{len(locks)} locks for {len(servers)} servers"
    for replica in replicas:
        assert replica.inputs["location"] == second != primaries[0].inputs["location"], \
            f"{replica.name} in {replica.inputs['location']}, the Plan's replica region {second}"
    if not primaries:
        return
    (primary,) = primaries
    i, what, backup = primary.inputs, kind(primary), primary.inputs.get("backup") or {}
    assert i["location"] == plan.primary_region, f"{what} in {i['location']}"
    expect(what, i, version="16")
    days = backup.get("backupRetentionDays") or 0
    assert min(MAX_RETENTION, plan.policy.backup_retention_days) <= days <= MAX_RETENTION, \
        f"{what} keeps backups {days} days, the Plan {plan.policy.backup_retention_days}"
    assert (backup.get("geoRedundantBackup") == "Enabled") is cmk, f"{what}: geoRedundantBackup {backup}"
    if cmk:
        geo = (i.get("dataEncryption") or {}).get("geoBackupKeyURI")
        check_key(graph, f"{what}'s geo-redundant backups", geo, PAIRED[i["location"]])
    mode = (i.get("highAvailability") or {}).get("mode", "Disabled")
    assert (mode == "ZoneRedundant") is plan.database.standby, f"{what}: high availability {mode}"
    settings = {c.inputs["configurationName"]: c.inputs.get("value") for c in graph.find(CONFIG)
                if primary.urn in c.property_dependencies.get("serverName", ())}
    expect(what, settings, require_secure_transport="ON")


def ports_of(rule: dict) -> list[tuple[int, int]]:
    specs = [rule["destinationPortRange"]] if rule.get("destinationPortRange") else rule.get("destinationPortRanges")
    assert specs, f"{rule.get('name')} names no port"
    ranges = [str(s).partition("-") for s in specs]
    return [EVERY_PORT if low == "*" else (int(low), int(high or low)) for low, _, high in ranges]


def prefixes(rule: dict, end: str) -> list[str]:
    one = rule.get(f"{end}AddressPrefix")
    return [one] if one else list(rule.get(f"{end}AddressPrefixes") or [])


def asgs(rule: dict, end: str) -> list[str]:
    return [last(g["id"]) for g in rule.get(f"{end}ApplicationSecurityGroups") or []]


def worldly(values: list[str]) -> bool:
    return any(v.lower() in WORLD or v.endswith("/0") for v in values)


def overlaps(prefix: str, cidrs: list[str]) -> bool:
    try:
        net = ipaddress.ip_network(prefix, strict=False)
    except ValueError:  # a service tag (VirtualNetwork, *)
        return True
    return any(net.overlaps(ipaddress.ip_network(c)) for c in cidrs)


def check_security_groups(graph: ResourceGraph, plan: Plan) -> None:
    """The world reaches only 80/443 of the ingress tier (nothing at size 3), SSH only Bastion's subnet, every
    group ends denying at 4096 (the machines' outbound too), only the Plan's egress tiers go out on every port."""
    nsgs, subnets = graph.find(NSG), graph.find(SUBNET)
    tier_of = {r.inputs["applicationSecurityGroupName"]: (r.inputs["tags"]["tier"], r.inputs["location"])
               for r in graph.find(ASG)}
    bastion = [s.inputs["addressPrefix"] for s in subnets if s.inputs.get("subnetName") == BASTION_SUBNET]
    machine_nets = [s.inputs["addressPrefix"] for s in subnets if s.inputs.get("subnetName") == "machines"]
    machine_nsgs = {u for s in subnets if s.inputs.get("subnetName") == "machines"
                    for u in s.property_dependencies.get("networkSecurityGroup", ())}
    assert len(bastion) == 1 and len(machine_nsgs) == len(plan.regions) and nsgs, \
        f"{len(bastion)} Bastion subnets, {len(machine_nsgs)} machines groups for {len(plan.regions)} regions"
    ingress, egress = plan.ingress.tier.value, {t.name.value for t in plan.tiers if t.egress and t.services}
    for nsg in nsgs:
        region, rules = nsg.inputs["location"], list(nsg.inputs.get("securityRules") or [])
        for direction in ("Inbound", "Outbound") if nsg.urn in machine_nsgs else ("Inbound",):
            mine = sorted((r for r in rules if r["direction"] == direction), key=lambda r: r["priority"])
            assert len({r["priority"] for r in mine}) == len(mine), f"{nsg.name}: {direction} priorities repeat"
            end = mine[-1] if mine else {}
            assert end.get("access") == "Deny" and end.get("priority") == LAST and end.get("protocol") == "*" \
                and EVERY_PORT in ports_of(end) and prefixes(end, "source") == prefixes(end, "destination") == ["*"], \
                f"{nsg.name} does not end its {direction} rules denying everything at {LAST}: {end.get('name')}"
        for rule in (r for r in rules if r["access"] == "Allow"):
            name, src, dst = f"{nsg.name}/{rule['name']}", prefixes(rule, "source"), prefixes(rule, "destination")
            if rule["direction"] == "Inbound":
                if worldly(src):
                    assert set(ports_of(rule)) <= WEB, f"{name} opens {ports_of(rule)} to the world"
                    targets = [tier_of.get(g) for g in asgs(rule, "destination")]
                    assert not dst and targets and all(t == (ingress, region) for t in targets), \
                        f"{name} opens the world to {dst + asgs(rule, 'destination')}, not the {ingress} tier"
                    assert plan.topology.size != 3, f"{name}: at size 3 only Front Door's back ends come in"
                machines = asgs(rule, "destination") or [p for p in dst if overlaps(p, machine_nets)]
                if machines and any(lo <= SSH <= hi for lo, hi in ports_of(rule)):
                    assert src == bastion and not asgs(rule, "source"), \
                        f"{name} opens SSH to {src + asgs(rule, 'source')}, not only Bastion's subnet {bastion}"
            elif worldly(dst) and EVERY_PORT in ports_of(rule):
                callers = [tier_of.get(g) for g in asgs(rule, "source")]
                assert not src and callers and all(c and c[0] in egress and c[1] == region for c in callers), \
                    f"{name} lets {src + asgs(rule, 'source')} out on every port; the Plan's egress: {sorted(egress)}"
            elif worldly(dst):
                assert set(ports_of(rule)) <= WEB, f"{name} lets machines out on {ports_of(rule)}"


def check_subnets(graph: ResourceGraph, plan: Plan) -> None:
    """Every subnet but AzureBastionSubnet has a group of its region; none has default outbound access."""
    subnets = graph.find(SUBNET)
    names = sorted(s.inputs.get("subnetName") for s in subnets)
    assert names.count("machines") == len(plan.regions) and names.count(BASTION_SUBNET) == 1, f"subnets {names}"
    for s in subnets:
        i, what = s.inputs, f"{kind(s)} ({s.inputs.get('subnetName')})"
        expect(what, i, defaultOutboundAccess=False)
        if i.get("subnetName") != BASTION_SUBNET:
            nsgs = refs(graph, s, "networkSecurityGroup", NSG)
            assert (i.get("networkSecurityGroup") or {}).get("id") and len(nsgs) == 1, f"{what} has no security group"
            assert [n.inputs["location"] for n in refs(graph, s, "virtualNetworkName", VNET)] == \
                [nsgs[0].inputs["location"]], f"{what}: a security group of another region"


def rotation_days(period: object) -> float:
    match = re.fullmatch(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?", str(period))
    assert match and any(match.groups()), f"rotation period {period!r}"
    return sum(int(g or 0) * n for g, n in zip(match.groups(), (365, 30.5, 1)))


def check_key_vaults(graph: ResourceGraph, plan: Plan) -> None:
    """Vaults: RBAC, purge protection, soft delete, private, behind a private endpoint; keys RSA 3072+ rotating
    within 90 days; a data key in every region exactly for E and C."""
    vaults = graph.find(VAULT)
    assert vaults, "no Key Vault"
    for v in vaults:
        p = v.inputs.get("properties") or {}
        expect(kind(v), p, enableRbacAuthorization=True, enablePurgeProtection=True, enableSoftDelete=True,
               publicNetworkAccess="Disabled")
        expect(f"{kind(v)}'s networkAcls", p.get("networkAcls"), defaultAction="Deny")
    private = linked(graph, "vault")
    bare = sorted(f"{kind(v)} ({v.inputs['location']})" for v in vaults if v.inputs["vaultName"] not in private)
    assert not bare, f"Key Vaults without a private endpoint: {bare}"
    keys, located = graph.find(KEY), {v.inputs["vaultName"]: v.inputs["location"] for v in vaults}
    data = {located[k.inputs["vaultName"]] for k in keys if k.inputs.get("keyName") == "data"}
    assert (set(plan.regions) <= data) if plan.policy.customer_managed_keys else not data, \
        f"data keys in {sorted(data)}; the Plan's regions {plan.regions}, CMEK {plan.policy.customer_managed_keys}"
    for k in keys:
        p, what = k.inputs.get("properties") or {}, kind(k)
        assert p.get("kty") in ("RSA", "RSA-HSM") and (p.get("keySize") or 0) >= MIN_RSA, \
            f"{what}: {p.get('kty')} {p.get('keySize')}, not RSA {MIN_RSA}+"
        after = [(a.get("trigger") or {}).get("timeAfterCreate") for a in
                 (p.get("rotationPolicy") or {}).get("lifetimeActions") or []
                 if str((a.get("action") or {}).get("type")).lower() == "rotate"]
        assert after, f"{what} has no rotation policy"
        assert any(t and rotation_days(t) <= MAX_ROTATION_DAYS for t in after), f"{what} rotates after {after}"


def profile_of(m: Resource) -> dict:
    return (m.inputs.get("virtualMachineProfile") or {}) if m.type == VMSS else dict(m.inputs)


def custom_data(m: Resource) -> str:
    data = (profile_of(m).get("osProfile") or {}).get("customData")
    assert isinstance(data, str) and data != SECRET, f"{kind(m)}: custom data hidden or missing"
    text = base64.b64decode(data).decode()
    assert text.startswith("#cloud-config"), f"{kind(m)}: custom data is not cloud-config"
    return text


def check_machines(graph: ResourceGraph, plan: Plan) -> None:
    """No password, encryption at host, Trusted Launch (secure boot, vTPM), the tier's own user-assigned identity
    alone, cloud-config custom data; no public address beyond size 2."""
    tiers = machine_tiers(plan)
    fixed = sum(t.replicas.max * len(t.regions) for t in tiers if not is_pool(t))
    pools = sum(len(t.regions) for t in tiers if is_pool(t))
    vms, sets = graph.find(VM), graph.find(VMSS)
    assert (len(vms), len(sets)) == (fixed, pools), f"{len(vms)} VMs, {len(sets)} scale sets; the Plan {fixed}, {pools}"
    for m in (*vms, *sets):
        p, what = profile_of(m), kind(m)
        os, security = p.get("osProfile") or {}, p.get("securityProfile") or {}
        expect(what, os.get("linuxConfiguration"), disablePasswordAuthentication=True)
        assert "adminPassword" not in os, f"{what} has an admin password"
        expect(what, security, encryptionAtHost=True, securityType="TrustedLaunch")
        expect(what, security.get("uefiSettings"), secureBootEnabled=True, vTpmEnabled=True)
        identity, owners = m.inputs.get("identity") or {}, refs(graph, m, "identity", IDENTITY)
        assert identity.get("type") == "UserAssigned" and len(identity.get("userAssignedIdentities") or []) == 1 \
            and [o.component for o in owners] == [m.component], f"{what} ({m.component}) does not run as its " \
            f"tier's own identity alone: {identity.get('type')}, {[o.component for o in owners]}"
        custom_data(m)
    public = [kind(n) for n in graph.find(NIC) for c in n.inputs.get("ipConfigurations") or []
              if c.get("publicIPAddress")]
    public += [kind(s) for s in sets for n in (profile_of(s).get("networkProfile") or {}).get(
        "networkInterfaceConfigurations") or [] for c in n.get("ipConfigurations") or []
        if c.get("publicIPAddressConfiguration")]
    assert len(public) == (plan.topology.size == 2), f"public addresses on {public} at size {plan.topology.size}"


def check_disks(graph: ResourceGraph, plan: Plan) -> None:
    """Data disks deny network access; for E and C every disk (data, OS, scale sets') is on the disk encryption
    set of its region, itself on that region's data key."""
    cmk = plan.policy.customer_managed_keys
    sets = {d.inputs["diskEncryptionSetName"]: d for d in graph.find(DES)}
    assert bool(sets) is cmk, f"{len(sets)} disk encryption sets, CMEK {cmk}"
    for des in sets.values():
        expect(kind(des), des.inputs, encryptionType="EncryptionAtRestWithCustomerKey")
        check_key(graph, kind(des), (des.inputs.get("activeKey") or {}).get("keyUrl"), des.inputs["location"])

    def on_set(what: str, set_id: object, location: str) -> None:
        if not cmk:
            assert set_id is None, f"{what} names a disk encryption set, and O has none"
            return
        des = sets.get(last(set_id)) if set_id else None
        assert des is not None, f"{what} is not on a disk encryption set"
        assert des.inputs["location"] == location, f"{what} in {location} on {kind(des)} in {des.inputs['location']}"

    disks, vms = graph.find(DISK), graph.find(VM)
    assert len(disks) == len(vms), f"{len(disks)} data disks for {len(vms)} VMs"
    for d in disks:
        i, what, encryption = d.inputs, kind(d), d.inputs.get("encryption") or {}
        expect(what, i, networkAccessPolicy="DenyAll", publicNetworkAccess="Disabled")
        assert not cmk or encryption.get("type") == "EncryptionAtRestWithCustomerKey", f"{what}: {encryption}"
        on_set(what, encryption.get("diskEncryptionSetId"), i["location"])
    for m in (*vms, *graph.find(VMSS)):
        storage = profile_of(m).get("storageProfile") or {}
        assert storage.get("osDisk"), f"{kind(m)} has no OS disk"
        for n, disk in enumerate([storage["osDisk"], *(storage.get("dataDisks") or [])]):
            set_id = ((disk.get("managedDisk") or {}).get("diskEncryptionSet") or {}).get("id")
            on_set(f"{kind(m)}'s {'OS' if n == 0 else 'data'} disk", set_id, m.inputs["location"])


def check_storage(graph: ResourceGraph, plan: Plan) -> None:
    """The file share's account: no public access, no shared key, TLS 1.2, a private endpoint; the data key of
    its region for E and C."""
    accounts, shares = graph.find(ACCOUNT), any(link.target == FILE_SYSTEM for link in plan.links)
    assert len(accounts) == shares, f"{len(accounts)} storage accounts, file-system links {shares}"
    for a in accounts:
        i, what, encryption = a.inputs, kind(a), a.inputs.get("encryption") or {}
        expect(what, i, publicNetworkAccess="Disabled", allowSharedKeyAccess=False, allowBlobPublicAccess=False,
               minimumTlsVersion="TLS1_2")
        expect(f"{what}'s networkRuleSet", i.get("networkRuleSet"), defaultAction="Deny")
        assert i["accountName"] in linked(graph, "file"), f"{what} has no private endpoint"
        if plan.policy.customer_managed_keys:
            expect(what, encryption, keySource="Microsoft.Keyvault")
            expect(what, encryption.get("keyVaultProperties"), keyName="data")
            check_key(graph, what, encryption["keyVaultProperties"].get("keyVaultUri"), i["location"], data_key=False)
        else:
            assert encryption.get("keySource", "Microsoft.Storage") == "Microsoft.Storage", f"{what}: {encryption}"


def closes_admin(pattern: str, transforms: list[str], host: str = "") -> str | None:
    """Why a regex, read as Front Door reads it (after its transforms), misses an admin path or closes an open
    one, or None. A rule's UrlPath may come without its leading slash; a WAF's RequestUri is the whole URL."""
    def seen(path: str) -> str:
        for step in transforms:
            path = path.lower() if step == "Lowercase" else unquote(path) if step == "UrlDecode" else path
        return path
    for path in ADMIN_PATHS:
        if not all(re.search(pattern, seen(p)) for p in ([host + path] if host else [path, path[1:]])):
            return f"misses {path}"
    return next((f"also matches {p}" for p in OPEN_PATHS if re.search(pattern, seen(host + p))), None)


def check_front_door(graph: ResourceGraph, plan: Plan) -> None:
    """Size 3: HTTPS redirect, TLS 1.2 on custom domains, the admin paths redirected for every edition and, for E
    and C, blocked by a Premium WAF in Prevention mode with Microsoft's default rule set on every domain."""
    profiles, size3 = graph.find(PROFILE), plan.topology.size == 3
    assert len(profiles) == size3, f"{len(profiles)} Front Door profiles at size {plan.topology.size}"
    if not size3:
        return
    (route,) = graph.find(ROUTE)
    expect(kind(route), route.inputs, httpsRedirect="Enabled")
    domains = graph.find(DOMAIN)
    assert bool(domains) == bool(plan.settings.domain), f"{len(domains)} custom domains, domain {plan.settings.domain}"
    for d in domains:
        expect(kind(d), d.inputs.get("tlsSettings"), minimumTlsVersion="TLS12")
    rule_sets, why = set(route.property_dependencies.get("ruleSets", ())), ["no rule in the route's rule sets"]
    for r in graph.find(RULE):
        if set(r.property_dependencies.get("ruleSetName", ())) & rule_sets:
            redirects = [a.get("name") for a in r.inputs.get("actions") or []] == ["UrlRedirect"]
            why += [closes_admin(c["parameters"]["matchValues"][0], c["parameters"].get("transforms") or [])
                    if redirects else f"{r.name} does not redirect" for c in r.inputs.get("conditions") or []
                    if c.get("name") == "UrlPath" and c["parameters"].get("operator") == "RegEx"
                    and not c["parameters"].get("negateCondition")]
    assert None in why, f"no rule redirects the admin paths away: {why}"
    if not plan.policy.protect:
        return
    expect(kind(profiles[0]), profiles[0].inputs.get("sku"), name="Premium_AzureFrontDoor")
    securities = graph.find(SECURITY)
    assert securities, "E and C: Front Door has no security policy"
    for sp in securities:
        wafs, covered = refs(graph, sp, "parameters", WAF), set(sp.property_dependencies.get("parameters", ()))
        assert wafs, f"{kind(sp)} has no WAF policy"
        assert all(d.urn in covered for d in domains + graph.find(f"{AZ}cdn:AFDEndpoint")), \
            f"{kind(sp)} leaves the endpoint or a custom domain without the WAF"
        for waf in wafs:
            i = waf.inputs
            expect(kind(waf), i.get("policySettings"), mode="Prevention", enabledState="Enabled")
            managed = [s.get("ruleSetType") for s in (i.get("managedRules") or {}).get("managedRuleSets") or []]
            assert "Microsoft_DefaultRuleSet" in managed, f"{kind(waf)}: managed rule sets {managed}"
            blocks = [closes_admin(c["matchValue"][0], c.get("transforms") or [], host=f"https://{C_DOMAIN}")
                      for r in (i.get("customRules") or {}).get("rules") or []
                      if r.get("action") == "Block" and r.get("enabledState", "Enabled") == "Enabled"
                      for c in r.get("matchConditions") or [] if c.get("matchVariable") == "RequestUri"
                      and c.get("operator") == "RegEx" and not c.get("negateCondition")]
            assert None in blocks, f"{kind(waf)} has no custom rule blocking the admin paths: {blocks}"


def check_protection(graph: ResourceGraph, plan: Plan) -> None:
    """What holds state (resource_kinds' azure types) is protected exactly for E and C."""
    protect, stateful = plan.policy.protect, [r for r in graph.resources if r.type in STATEFUL]
    wanted = {VAULT} | ({KEY} if plan.policy.customer_managed_keys or plan.vault_seal is not None else set())
    wanted |= {DISK} if any(not is_pool(t) for t in machine_tiers(plan)) else set()
    wanted |= {SERVER} if plan.database.hosting is DatabaseHosting.MANAGED else set()
    wanted |= {ACCOUNT, f"{AZ}storage:FileShare"} if any(link.target == FILE_SYSTEM for link in plan.links) else set()
    missing = sorted(t.rsplit(":", 1)[-1] for t in wanted - {r.type for r in stateful})
    assert not missing, f"the Plan has them, the render does not: {missing}"
    wrong = sorted(kind(r) for r in stateful if r.protect is not protect)
    assert not wrong, f"protect should be {protect} on {wrong}"


def check_roles(graph: ResourceGraph, plan: Plan) -> None:
    """No Owner, Contributor or User Access Administrator; no subscription or group scope but Azure Backup's
    Disk Snapshot Contributor on the install's own group."""
    assignments, groups = graph.find(ROLE), {g.inputs["resourceGroupName"] for g in graph.find(GROUP)}
    assert assignments, "no role assignment"
    for a in assignments:
        role, scope, what = last(a.inputs.get("roleDefinitionId")), str(a.inputs.get("scope")), kind(a)
        assert role not in FORBIDDEN, f"{what} grants {FORBIDDEN.get(role)}"
        broad = BROAD.match(scope)
        if broad:
            backup = a.parent is not None and graph.get(a.parent).type == BACKUP
            assert role == SNAPSHOT_CONTRIBUTOR and backup and broad.group(2) in groups, \
                f"{what} grants {role} on {scope} (a subscription or group scope)"


RULES = [check_database, check_security_groups, check_subnets, check_key_vaults, check_machines, check_disks,
         check_storage, check_front_door, check_protection, check_roles]


@pytest.mark.parametrize("check", RULES, ids=[c.__name__[6:] for c in RULES])
def test_every_render_keeps_the_rule(check):
    every(AZURE_TOKENS, lambda token: check(rendered(token), plan_of(token)))


def secret_values(graph: ResourceGraph) -> list[str]:
    """pulumi-random's values, pulumi-tls's private keys (whole, and their first line of key material)."""
    values = list(generated_values(graph))
    for r in graph.find("tls:index/privateKey:PrivateKey"):
        values += [line for pem in tls_values(dict(graph.outputs_of(r.urn))) for line in (pem, pem.splitlines()[1])]
    return values


def check_secrets(graph: ResourceGraph, plan: Plan, text: str) -> None:
    """No generated value in the render JSON or in any machine's decoded custom data (CKV_AZURE_45); Key Vault
    secrets' values are Pulumi secrets."""
    values = secret_values(graph)
    assert values, "the render generated no secret to look for"
    found = sorted({v[:12] + "…" for v in values if v in text})
    assert not found, f"a secret value appears in the render JSON: {found}"
    stored = graph.find(KV_SECRET)
    plain = [s.name for s in stored if s.inputs.get("properties") != SECRET or "properties" not in s.secret_inputs]
    assert stored and not plain, f"Key Vault secrets whose value is not a secret: {plain}"
    machines = graph.find(VM) + graph.find(VMSS)
    assert machines, "no machine"
    for m in machines:
        texts = [custom_data(m)]  # and the decoded content of any base64 file it writes
        texts += [base64.b64decode(f["content"]).decode(errors="replace") for f in
                  (yaml.safe_load(texts[0]) or {}).get("write_files", []) if f.get("encoding") in ("b64", "base64")]
        leaked = sorted({v[:12] + "…" for t in texts for v in values if v in t})
        assert not leaked, f"{kind(m)}'s custom data holds secret values {leaked}"


def test_no_secret_value_in_any_render_or_custom_data():
    every(AZURE_TOKENS, lambda t: check_secrets(rendered(t), plan_of(t), rendered_json(t)))


# --- controls: each rule, broken on purpose in a scratch copy of a render, is caught --------------------------


def doctored(graph: ResourceGraph, type_: str, change: Callable[[Resource], Resource | None]) -> ResourceGraph:
    """A copy of the graph with the first resource of `type_` that `change` changes (on a deep copy)."""
    resources = list(graph.resources)
    for n, r in enumerate(resources):
        if r.type == type_:
            new = change(replace(r, inputs=copy.deepcopy(dict(r.inputs))))
            if new is not None:
                resources[n] = new
                return replace(graph, resources=tuple(resources))
    raise AssertionError(f"no {type_} to doctor")


def edit(path: str, value: object, when: Callable[[Resource], bool] = lambda r: True):
    """A change setting one nested input (`a.b.0.c`) of the first resource `when` accepts."""
    def change(r: Resource) -> Resource | None:
        if not when(r):
            return None
        *parents, leaf = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = r.inputs
        for p in parents:
            node = node[p]
        node[leaf] = value
        return r
    return change


def rule(pattern: str, **changes):
    """A change to the first security rule named like `pattern`, in the first group that has one."""
    def change(r: Resource) -> Resource | None:
        hits = [x for x in r.inputs["securityRules"] if re.fullmatch(pattern, x["name"])]
        return (hits[0].update(changes) or r) if hits else None
    return change


def primary(r: Resource) -> bool:
    return r.inputs.get("createMode") != "Replica"


def unlinked(r: Resource) -> Resource | None:
    return edit("networkSecurityGroup", None, lambda r: r.inputs["subnetName"] == "endpoints")(
        replace(r, property_dependencies={}))


def caught(check: Callable[..., None], *args, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check(*args)


DB, NET, KV, VMS, DISKS, FRONT, ROLES = ("E5+ha+mr@azure", "O5@azure", "O6+ha@azure", "C6+ha+as@azure",
                                        "E4+ha@azure", "C3+ha@azure", "C3@azure")  # KV: E and C fail as rendered
WAF_RULE, SEC, OWNER = "customRules.rules.0.matchConditions.0", check_security_groups, next(iter(FORBIDDEN))
CONTROLS = [  # (token, check, the type doctored, the change, what the check must say)
    (DB, check_database, SERVER, edit("network.publicNetworkAccess", "Enabled"), "publicNetworkAccess Enabled"),
    (DB, check_database, SERVER, edit("highAvailability.mode", "Disabled", primary), "high availability Disabled"),
    (DB, check_database, SERVER, edit("backup.backupRetentionDays", 7, primary), "keeps backups 7 days"),
    (DB, check_database, SERVER, edit("dataEncryption.geoBackupKeyURI", None, primary), "geo-redundant backups: key"),
    (DB, check_database, LOCK, lambda r: replace(r, property_dependencies={}), r"locks \[\], protect True"),
    (DB, check_database, CONFIG, edit("value", "OFF", lambda r: r.inputs["configurationName"] ==
                                      "require_secure_transport"), "require_secure_transport OFF"),
    (NET, SEC, NSG, rule("operators-.*-22", sourceAddressPrefix="10.0.0.0/8"), "opens SSH to ..10.0.0.0/8"),
    (NET, SEC, NSG, rule("operators-.*-22", sourceAddressPrefix="Internet"), r"opens \[\(22, 22\)\] to the world"),
    (NET, SEC, NSG, rule("internet-.*-443", destinationPortRange="8000"), r"opens \[\(8000, 8000\)\] to the"),
    (NET, SEC, NSG, rule("deny-inbound", access="Allow"), "does not end its Inbound rules denying"),
    (NET, SEC, NSG, rule("deny-outbound", priority=4000), "does not end its Outbound rules denying"),
    (NET, SEC, NSG, rule("allow-apis", destinationPortRange="*", destinationPortRanges=None), "out on every port"),
    (NET, check_subnets, SUBNET, unlinked, "has no security group"),
    (NET, check_subnets, SUBNET, edit("defaultOutboundAccess", True), "defaultOutboundAccess True"),
    (KV, check_key_vaults, VAULT, edit("properties.enablePurgeProtection", False), "enablePurgeProtection False"),
    (KV, check_key_vaults, ENDPOINT, edit("privateLinkServiceConnections", [], lambda r: "vault" in r.name),
     "without a private endpoint"),
    (KV, check_key_vaults, KEY, edit("properties.keySize", 2048), "RSA 2048"),
    (KV, check_key_vaults, KEY, edit("properties.rotationPolicy.lifetimeActions.0.trigger.timeAfterCreate", "P1Y"),
     "rotates after"),
    (VMS, check_machines, VM, edit("osProfile.linuxConfiguration.disablePasswordAuthentication", False),
     "disablePasswordAuthentication False"),
    (VMS, check_machines, VM, edit("osProfile.adminPassword", "hunter2hunter2"), "has an admin password"),
    (VMS, check_machines, VMSS, edit("virtualMachineProfile.securityProfile.encryptionAtHost", False),
     "encryptionAtHost False"),
    (VMS, check_machines, VM, edit("securityProfile.uefiSettings.secureBootEnabled", False), "secureBootEnabled"),
    (VMS, check_machines, NIC, edit("ipConfigurations.0.publicIPAddress", {"id": "/x/publicIPAddresses/ip"}),
     "public addresses on"),
    (VMS, check_machines, VM, edit("identity.type", "SystemAssigned, UserAssigned"), "own identity alone"),
    (DISKS, check_disks, DISK, edit("encryption.diskEncryptionSetId", None), "is not on a disk encryption set"),
    (DISKS, check_disks, DISK, edit("networkAccessPolicy", "AllowAll"), "networkAccessPolicy AllowAll"),
    (DISKS, check_disks, VM, edit("storageProfile.osDisk.managedDisk.diskEncryptionSet", None), "OS disk is not"),
    (DISKS, check_storage, ACCOUNT, edit("allowSharedKeyAccess", True), "allowSharedKeyAccess True"),
    (DISKS, check_storage, ACCOUNT, edit("encryption", {"keySource": "Microsoft.Storage"}), "keySource Microsoft"),
    (FRONT, check_front_door, WAF, edit("policySettings.mode", "Detection"), "mode Detection"),
    (FRONT, check_front_door, WAF, edit(f"{WAF_RULE}.transforms", []), r"admin paths: \['misses /_ADMIN"),
    (FRONT, check_front_door, WAF, edit(f"{WAF_RULE}.matchValue", ["^https://[^/]+/_admin"]), "misses //_admin"),
    (FRONT, check_front_door, WAF, edit("managedRules.managedRuleSets", []), "managed rule sets"),
    (FRONT, check_front_door, RULE, edit("conditions.0.parameters.matchValues", ["(_|/auth)"]), "matches /auth/v1"),
    (FRONT, check_front_door, RULE, edit("actions.0.name", "RouteConfigurationOverride"), "does not redirect"),
    (FRONT, check_front_door, ROUTE, edit("httpsRedirect", "Disabled"), "httpsRedirect Disabled"),
    (FRONT, check_front_door, DOMAIN, edit("tlsSettings.minimumTlsVersion", "TLS10"), "minimumTlsVersion TLS10"),
    (ROLES, check_protection, KEY, lambda r: replace(r, protect=False), "protect should be True"),
    (ROLES, check_roles, ROLE, edit("scope", f"/subscriptions/{SUBSCRIPTION}"), r"on /subscriptions/[^/]+ \(a"),
    (ROLES, check_roles, ROLE, edit("scope", f"/subscriptions/{SUBSCRIPTION}/resourceGroups/c3-azure"),
     r"on /subscriptions/[^/]+/resourceGroups/c3-azure \(a"),
    (ROLES, check_roles, ROLE, edit("roleDefinitionId", f"/roleDefinitions/{OWNER}"), "grants Owner"),
]


@pytest.mark.parametrize(("token", "check", "type_", "change", "says"), CONTROLS,
                         ids=[f"{c[1].__name__[6:]}: {c[-1].replace(chr(92), '')}" for c in CONTROLS])
def test_control_a_rule_broken_on_purpose_is_caught(token, check, type_, change, says):
    graph, plan = rendered(token), plan_of(token)
    check(graph, plan)  # holds as rendered
    caught(check, doctored(graph, type_, change), plan, match=says)


def test_control_a_secret_value_in_custom_data_or_the_render_or_a_plain_key_vault_secret_is_caught():
    token = "O6+ha@azure"
    graph, plan = rendered(token), plan_of(token)
    check_secrets(graph, plan, rendered_json(token))
    value = next(v for v in generated_values(graph) if "\n" not in v)
    text = base64.b64decode(graph.find(VM)[0].inputs["osProfile"]["customData"]).decode() + f"\n# {value}\n"
    bad = doctored(graph, VM, edit("osProfile.customData", base64.b64encode(text.encode()).decode()))
    assert value not in bad.to_json()  # base64 hides it from a search of the render: hence the decoding
    caught(check_secrets, bad, plan, rendered_json(token), match="custom data holds secret values")
    caught(check_secrets, graph, plan, rendered_json(token) + value, match="appears in the render JSON")
    plain = doctored(graph, KV_SECRET, lambda r: replace(edit("properties", {"value": "hunter2"})(r), secret_inputs=()))
    caught(check_secrets, plain, plan, rendered_json(token), match="value is not a secret")
