"""The policy every `@gcp` render must hold, whatever the token: one test per rule, each over
every valid `@gcp` token, failing once with the tokens that break it (checkov's and the
organisation policies' GCP rules the reviewers ask for, gcp-azure reference §5).

Cloud SQL is private, TLS-only, backed up as long as the edition says, REGIONAL exactly with
+ha and replicated to the second region exactly with +mr, on the customer-managed key and
deletion-protected exactly for E and C; only 80/443 are open to the world and only on the
ingress tier, SSH only from IAP, and every machine's way out ends in a deny-all; machines are
Shielded VMs with OS Login, their tier's own service account and no external address but the
size-2 node's, on the customer-managed key for E and C; buckets are uniform, never public,
versioned and on the key for E and C; keys rotate within 90 days; what holds state is
protected exactly for E and C; no generated secret value is anywhere in a render; subnets log
their flows, and the global load balancer has Cloud Armor (E and C) and a TLS 1.2+ policy.

Every check computes what it expects from the Plan, and where the Plan says a thing exists (a
database, a bucket, a load balancer), first asserts it does, so no rule holds by checking
nothing. The checks take a graph, so the controls at the end break a scratch copy of one and
show the rule catches it.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import unquote

import pytest
import yaml
from matrix import every
from renders import default_settings, rendered, rendered_json

from reactor_infra import naming
from reactor_infra.conformance import generated_values
from reactor_infra.graph import SECRET, Resource, ResourceGraph
from reactor_infra.layout import FILE_SYSTEM, DatabaseHosting, Plan, TlsTermination
from reactor_infra.mocks import tls_values
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

GCP_TOKENS = [t.token for t in valid_topologies() if t.platform is Platform.GCP]
BACKUP_DAYS = {"O": 7, "E": 14, "C": 14}
WORLD = ("0.0.0.0/0", "::/0")
IAP = ["35.235.240.0/20"]  # IAP's TCP forwarding range: the only way to SSH
SSH = 22
WEB = {"80", "443"}
MAX_ROTATION_S = 90 * 24 * 3600  # 7776000s (checkov CKV_GCP_43)
SQL_SSL_MODES = ("ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED")
SQL_EDITIONS = ("ENTERPRISE", "ENTERPRISE_PLUS")
DEFAULT_COMPUTE_SA = "-compute@developer.gserviceaccount.com"
PUBLIC_MEMBER = re.compile(r"\b(allUsers|allAuthenticatedUsers)\b")  # IAM members for everyone

SQL = "gcp:sql/databaseInstance:DatabaseInstance"
NETWORK = "gcp:compute/network:Network"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
FIREWALL = "gcp:compute/firewall:Firewall"
INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
MACHINES = (INSTANCE, TEMPLATE)
DISK = "gcp:compute/disk:Disk"
ACCOUNT = "gcp:serviceaccount/account:Account"
BUCKET = "gcp:storage/bucket:Bucket"
HMAC = "gcp:storage/hmacKey:HmacKey"
FILESTORE = "gcp:filestore/instance:Instance"
KMS_KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_RING = "gcp:kms/keyRing:KeyRing"
SECRET_HOLDER = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_IAM = "gcp:secretmanager/secretIamMember:SecretIamMember"
SECRET_READER = "roles/secretmanager.secretAccessor"
GLOBAL_FORWARDING = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
BACKEND = "gcp:compute/backendService:BackendService"
ARMOR = "gcp:compute/securityPolicy:SecurityPolicy"
HTTPS_PROXY = "gcp:compute/targetHttpsProxy:TargetHttpsProxy"
SSL_POLICY = "gcp:compute/sSLPolicy:SSLPolicy"
TLS_MIN = ("TLS_1_2", "TLS_1_3")
STATEFUL = (SQL, DISK, BUCKET, FILESTORE, KMS_KEY, KEY_RING, SECRET_HOLDER)
ADMIN_PATHS = ("/_admin", "/_admin/", "/_admin/tenants", "/_ADMIN", "/%5Fadmin", "//_admin")


def plan_of(token: str) -> Plan:
    settings = default_settings(token)
    return build_plan(parse(token), load_settings(settings) if settings else None)


def each(check: Callable[[ResourceGraph, Plan], None]) -> None:
    """Run a graph check over every `@gcp` token's render and Plan."""
    every(GCP_TOKENS, lambda token: check(rendered(token), plan_of(token)))


def kind(r: Resource) -> str:
    return f"{r.type.rsplit(':', 1)[-1]} {r.name}"


def referenced(graph: ResourceGraph, r: Resource, key: str) -> list[Resource]:
    """The resources an input of `r` was made from (its property dependencies)."""
    return [graph.get(urn) for urn in r.property_dependencies.get(key, ())]


def region_of_zone(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def install_tag(plan: Plan) -> str:
    return naming.prefix(plan)


def tier_tag(plan: Plan, tier: str) -> str:
    return f"{naming.prefix(plan)}-{tier}"


def data_keys(graph: ResourceGraph) -> dict[str, str]:
    """The customer-managed data keys of the render: key name (as resources name it) -> location."""
    out = {}
    for k in graph.find(KMS_KEY):
        if k.inputs.get("name") == "data":
            ring = k.inputs["keyRing"]
            location = re.search(r"/locations/([^/]+)/", ring)
            assert location, f"{k.name}: key ring {ring}"
            out[f"{ring}/cryptoKeys/data"] = location.group(1)
    return out


def check_key(graph: ResourceGraph, plan: Plan, what: str, key: object, location: str) -> None:
    """E and C encrypt with the data key of the resource's own location; O has no such key."""
    keys = data_keys(graph)
    if plan.policy.customer_managed_keys:
        assert key in keys, f"{what}: key {key}, not one of the install's data keys"
        assert keys[key] == location.lower(), \
            f"{what} in {location} uses the data key in {keys[key]} (a CMEK must be in its resource's location)"
    else:
        assert key is None, f"{what}: key {key}, and O has no customer-managed key"
        assert not keys, "O makes no customer-managed data key"


# --- Cloud SQL ----------------------------------------------------------------------------------


def sql_instances(graph: ResourceGraph, plan: Plan) -> tuple[Resource | None, list[Resource]]:
    """The primary and its replicas, where the Plan has a managed database."""
    found = graph.find(SQL)
    managed = plan.database.hosting is DatabaseHosting.MANAGED
    assert bool(found) == managed, f"{len(found)} Cloud SQL instances, the Plan's database is {plan.database.hosting}"
    primaries = [db for db in found if not db.inputs.get("masterInstanceName")]
    assert len(primaries) == (1 if managed else 0), f"primaries: {[db.name for db in primaries]}"
    return (primaries[0] if primaries else None), [db for db in found if db.inputs.get("masterInstanceName")]


def check_cloud_sql(graph: ResourceGraph, plan: Plan) -> None:
    topology = plan.topology
    days, protect = plan.policy.backup_retention_days, plan.policy.protect
    assert days == BACKUP_DAYS[topology.edition.value], f"the Plan keeps backups {days} days"
    assert protect == plan.policy.customer_managed_keys == (topology.edition.value in "EC"), "the Plan's policy"
    assert plan.database.standby == topology.ha and bool(plan.database.cross_region_replica) == topology.mr
    primary, replicas = sql_instances(graph, plan)
    if primary is None:
        return
    vpcs = {n.inputs.get("name") for n in graph.find(NETWORK)}
    for db in (primary, *replicas):
        i, s = db.inputs, db.inputs.get("settings") or {}
        ip = s.get("ipConfiguration") or {}
        assert ip.get("ipv4Enabled") is False, f"{db.name}: ipv4Enabled {ip.get('ipv4Enabled')} (a public IP)"
        network = ip.get("privateNetwork")
        assert isinstance(network, str) and network.rsplit("/", 1)[-1] in vpcs, \
            f"{db.name}: privateNetwork {network}, not the install's VPC"
        assert not ip.get("authorizedNetworks"), f"{db.name}: authorized networks {ip.get('authorizedNetworks')}"
        assert ip.get("sslMode") in SQL_SSL_MODES, f"{db.name}: sslMode {ip.get('sslMode')}"
        assert s.get("edition") in SQL_EDITIONS, f"{db.name}: edition {s.get('edition')} (not set explicitly)"
        assert i.get("databaseVersion") == "POSTGRES_16", f"{db.name}: {i.get('databaseVersion')}"
        assert i.get("deletionProtection") is protect, f"{db.name}: deletionProtection {i.get('deletionProtection')}"
        assert s.get("deletionProtectionEnabled") is protect, \
            f"{db.name}: settings.deletionProtectionEnabled {s.get('deletionProtectionEnabled')}"
        check_key(graph, plan, db.name, i.get("encryptionKeyName"), i["region"])
        flags = {f["name"]: f["value"] for f in s.get("databaseFlags") or []}
        assert flags.get("log_statement") == "none", f"{db.name}: log_statement {flags.get('log_statement')}"
    # the primary: in the primary region, backed up with point-in-time recovery, REGIONAL with +ha
    settings = primary.inputs["settings"]
    assert primary.inputs["region"] == plan.regions[0], f"primary in {primary.inputs['region']}"
    backups = settings.get("backupConfiguration") or {}
    assert backups.get("enabled") is True, f"{primary.name}: backups {backups.get('enabled')}"
    assert backups.get("pointInTimeRecoveryEnabled") is True, f"{primary.name}: no point-in-time recovery"
    retention = backups.get("backupRetentionSettings") or {}
    assert retention.get("retentionUnit", "COUNT") == "COUNT", retention  # daily backups: a count is days
    assert (retention.get("retainedBackups") or 0) >= days, \
        f"{primary.name} keeps {retention.get('retainedBackups')} backups, the Plan {days} days"
    wanted = "REGIONAL" if plan.database.standby else "ZONAL"
    assert settings.get("availabilityType", "ZONAL") == wanted, \
        f"{primary.name}: availabilityType {settings.get('availabilityType')}, the Plan {wanted}"
    # the cross-region replica: exactly with +mr, of the primary, in the Plan's second region
    second = plan.database.cross_region_replica
    assert len(replicas) == (1 if second else 0), f"replicas {[db.name for db in replicas]}, the Plan {second}"
    for replica in replicas:
        assert replica.inputs["masterInstanceName"] == primary.inputs["name"], replica.inputs["masterInstanceName"]
        assert replica.inputs["region"] == second != primary.inputs["region"], \
            f"{replica.name} in {replica.inputs['region']}, the Plan's replica region {second}"


def test_cloud_sql_is_private_tls_only_backed_up_and_keyed_by_the_edition():
    each(check_cloud_sql)


# --- the firewall ---------------------------------------------------------------------------------


def _range(spec: str) -> tuple[int, int]:
    low, _, high = str(spec).partition("-")
    return int(low), int(high or low)


def opens_every_port(allow: dict) -> bool:
    """Every protocol, or every port of a protocol that has ports."""
    if allow.get("protocol") in ("all", None):
        return True
    if allow["protocol"] not in ("tcp", "udp", "sctp"):
        return False
    return not allow.get("ports") or any(_range(p)[0] <= 1 and _range(p)[1] >= 65535 for p in allow["ports"])


def covers(allow: dict, port: int) -> bool:
    if allow.get("protocol") not in ("tcp", "all", None):
        return False
    return not allow.get("ports") or any(lo <= port <= hi for lo, hi in map(_range, allow["ports"]))


def check_firewall(graph: ResourceGraph, plan: Plan) -> None:
    rules = graph.find(FIREWALL)
    assert rules, "no firewall rule"
    ingress = plan.tier(plan.ingress.tier)
    assert ingress is not None, "the Plan has no ingress tier"
    front = tier_tag(plan, ingress.name.value)
    wearers = [m for m in graph.resources if m.type in MACHINES and front in (m.inputs.get("tags") or [])]
    assert wearers and all(m.component == ingress.name.value for m in wearers), \
        f"{front} is worn by {[kind(m) for m in wearers]}"
    for rule in rules:
        i = rule.inputs
        if i.get("direction", "INGRESS") != "INGRESS" or not i.get("allows"):
            continue
        sources = i.get("sourceRanges") or []
        for allow in i["allows"]:
            assert not opens_every_port(allow), f"{rule.name} opens every port: {allow}"
            if set(sources) & set(WORLD):
                assert allow.get("protocol") == "tcp" and set(allow["ports"]) <= WEB, \
                    f"{rule.name} opens {allow} to the world"
                assert i.get("targetTags") == [front], \
                    f"{rule.name} opens {allow['ports']} to the world on {i.get('targetTags')}, not {front}"
            if covers(allow, SSH):
                assert sources == IAP and not i.get("sourceTags"), \
                    f"{rule.name} opens SSH to {sources + list(i.get('sourceTags') or [])}, not only IAP"
    # every machine's way out ends in a deny-all, below every egress allow
    egress = [r for r in rules if r.inputs.get("direction") == "EGRESS"]
    denies = [r for r in egress if any(d.get("protocol") == "all" for d in r.inputs.get("denies") or [])
              and set(r.inputs.get("destinationRanges") or []) & set(WORLD)
              and r.inputs.get("targetTags") in (None, [], [install_tag(plan)])]
    assert denies, "no EGRESS deny-all to the world for every machine"
    allows = [r.inputs.get("priority", 1000) for r in egress if r.inputs.get("allows")]
    lowest = max(d.inputs.get("priority", 1000) for d in denies)
    assert all(lowest > p for p in allows) and lowest >= 65000, \
        f"the egress deny-all is at priority {lowest}, egress allows at {sorted(set(allows))}"


def test_firewall_opens_only_web_to_the_world_ssh_only_from_iap_and_denies_other_egress():
    each(check_firewall)


# --- machines -------------------------------------------------------------------------------------


def machine_region(m: Resource) -> str:
    return m.inputs["region"] if m.type == TEMPLATE else region_of_zone(m.inputs["zone"])


def check_machines(graph: ResourceGraph, plan: Plan) -> None:
    tiers = [t for t in plan.tiers if t.services]
    fixed = sum(t.replicas.max * len(t.regions) for t in tiers if not t.replicas.autoscaled)
    pools = sum(len(t.regions) for t in tiers if t.replicas.autoscaled)
    instances, templates = graph.find(INSTANCE), graph.find(TEMPLATE)
    assert (len(instances), len(templates)) == (fixed, pools), \
        f"{len(instances)} instances and {len(templates)} templates, the Plan {fixed} and {pools}"
    accounts = {graph.outputs_of(a.urn)["email"]: a for a in graph.find(ACCOUNT)}
    for m in (*instances, *templates):
        i, what = m.inputs, kind(m)
        shielded = i.get("shieldedInstanceConfig") or {}
        assert all(shielded.get(k) is True for k in ("enableSecureBoot", "enableVtpm", "enableIntegrityMonitoring")), \
            f"{what} is not a Shielded VM: {shielded}"
        metadata = i.get("metadata") or {}
        assert metadata.get("enable-oslogin") == "TRUE", f"{what}: enable-oslogin {metadata.get('enable-oslogin')}"
        assert metadata.get("block-project-ssh-keys") == "TRUE", \
            f"{what}: block-project-ssh-keys {metadata.get('block-project-ssh-keys')}"
        email = (i.get("serviceAccount") or {}).get("email")
        assert email, f"{what} has no service account (the default compute one)"
        assert not email.endswith(DEFAULT_COMPUTE_SA), f"{what} runs as the default compute service account"
        account = accounts.get(email)
        assert account is not None and account.component == m.component, \
            f"{what} ({m.component}) runs as {email}, not its tier's own account"
        assert i.get("tags") == [install_tag(plan), tier_tag(plan, m.component)], f"{what} wears {i.get('tags')}"
        external = [a for n in i.get("networkInterfaces") or [] for a in n.get("accessConfigs") or []]
        assert not external or (plan.topology.size == 2 and m.type == INSTANCE), \
            f"{what} has an external address: {external}"
        region = machine_region(m)
        if m.type == INSTANCE:
            check_key(graph, plan, f"{what}'s boot disk", (i.get("bootDisk") or {}).get("kmsKeySelfLink"), region)
            attached = i.get("attachedDisks") or []
            assert attached, f"{what} has no data disk"
            for d in attached:
                check_key(graph, plan, f"{what}'s disk {d.get('deviceName')}", d.get("kmsKeySelfLink"), region)
        else:
            assert len(i.get("disks") or []) == 2, f"{what}: disks {i.get('disks')}"
            for d in i["disks"]:
                key = (d.get("diskEncryptionKey") or {}).get("kmsKeySelfLink")
                check_key(graph, plan, f"{what}'s {'boot' if d.get('boot') else 'data'} disk", key, region)
    disks = graph.find(DISK)
    assert len(disks) == len(instances), f"{len(disks)} data disks for {len(instances)} instances"
    for d in disks:
        key = (d.inputs.get("diskEncryptionKey") or {}).get("kmsKeySelfLink")
        check_key(graph, plan, kind(d), key, region_of_zone(d.inputs["zone"]))


def test_machines_are_shielded_os_login_own_account_private_and_keyed_by_the_edition():
    each(check_machines)


# --- buckets --------------------------------------------------------------------------------------


def check_buckets(graph: ResourceGraph, plan: Plan) -> None:
    buckets = graph.find(BUCKET)
    assert len(buckets) == (1 if plan.has("storage") else 0), f"{len(buckets)} buckets, storage {plan.has('storage')}"
    for b in buckets:
        i, what = b.inputs, kind(b)
        assert i.get("uniformBucketLevelAccess") is True, f"{what}: uniformBucketLevelAccess"
        assert i.get("publicAccessPrevention") == "enforced", f"{what}: publicAccessPrevention"
        if plan.policy.protect:
            assert (i.get("versioning") or {}).get("enabled") is True, f"{what} is not versioned"
        key = (i.get("encryption") or {}).get("defaultKmsKeyName")
        check_key(graph, plan, what, key, i["location"])
    granted = sorted({f"{kind(r)}: {v}" for r in graph.resources for v in strings(r.inputs)
                      if PUBLIC_MEMBER.search(v)})
    assert not granted, f"the render grants {granted}"


def strings(value: object) -> list[str]:
    """Every string inside an input (nested dicts and lists)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    return []


def test_buckets_are_uniform_never_public_versioned_and_keyed_by_the_edition():
    each(check_buckets)


# --- keys, protection -------------------------------------------------------------------------------


def rotation_s(period: object) -> int:
    match = re.fullmatch(r"(\d+)(?:\.\d+)?s", str(period))
    assert match, f"rotation period {period!r}"
    return int(match.group(1))


def check_kms(graph: ResourceGraph, plan: Plan) -> None:
    keys = graph.find(KMS_KEY)
    if plan.policy.customer_managed_keys:
        located = set(data_keys(graph).values())
        assert set(plan.regions) <= located, f"data keys in {sorted(located)}, the Plan's regions {plan.regions}"
    for key in keys:
        period = key.inputs.get("rotationPeriod")
        assert period is not None, f"{key.name} does not rotate"
        assert 0 < rotation_s(period) <= MAX_ROTATION_S, f"{key.name} rotates every {period}"


def test_every_kms_key_rotates_within_90_days():
    each(check_kms)


def check_protection(graph: ResourceGraph, plan: Plan) -> None:
    protect = plan.policy.protect
    stateful = [r for r in graph.resources if r.type in STATEFUL]
    present = {r.type for r in stateful}
    wanted = {SECRET_HOLDER}
    wanted |= {DISK} if any(t.services and not t.replicas.autoscaled for t in plan.tiers) else set()
    wanted |= {SQL} if plan.database.hosting is DatabaseHosting.MANAGED else set()
    wanted |= {BUCKET} if plan.has("storage") else set()
    wanted |= {FILESTORE} if any(link.target == FILE_SYSTEM for link in plan.links) else set()
    wanted |= {KMS_KEY, KEY_RING} if plan.policy.customer_managed_keys else set()
    missing = sorted(t.rsplit(":", 1)[-1] for t in wanted - present)
    assert not missing, f"the Plan has them, the render does not: {missing}"
    wrong = sorted(kind(r) for r in stateful if r.protect is not protect)
    assert not wrong, f"protect should be {protect} on {wrong}"


def test_stateful_resources_are_protected_exactly_for_e_and_c():
    each(check_protection)


# --- secrets ----------------------------------------------------------------------------------------


def secret_values(graph: ResourceGraph) -> list[str]:
    """Every value the render generated or was issued and must never show: pulumi-random's
    outputs, pulumi-tls's private keys (whole, and their first line of key material), the HMAC
    key's secret."""
    values = list(generated_values(graph))
    for r in graph.resources:
        if r.type == "tls:index/privateKey:PrivateKey":
            for pem in tls_values(dict(graph.outputs_of(r.urn))):
                values += [pem, pem.splitlines()[1]]
    return values


def hmac_secrets(graph: ResourceGraph) -> list[str]:
    return [graph.outputs_of(k.urn)["secret"] for k in graph.find(HMAC)]


def user_data_texts(user_data: str) -> list[str]:
    """The user data, and the decoded content of any base64 file it writes."""
    texts = [user_data]
    doc = yaml.safe_load(user_data) if user_data.startswith("#cloud-config") else None
    for f in (doc or {}).get("write_files", []):
        if f.get("encoding") in ("b64", "base64"):
            texts.append(base64.b64decode(f["content"]).decode(errors="replace"))
    return texts


def check_secrets(graph: ResourceGraph, plan: Plan, text: str) -> None:
    values = secret_values(graph)
    assert values, "the render generated no secret to look for"
    hmacs = hmac_secrets(graph)
    assert len(hmacs) == (1 if plan.has("storage") else 0), f"{len(hmacs)} HMAC keys, storage {plan.has('storage')}"
    assert all(hmacs), "an HMAC key without its secret in the mock"
    found = sorted({v[:12] + "…" for v in values + hmacs if v in text})
    assert not found, f"a secret value appears in the render JSON: {found}"
    versions = graph.find(SECRET_VERSION)
    assert versions, "no Secret Manager version"
    plain = [v.name for v in versions if v.inputs.get("secretData") != SECRET or "secretData" not in v.secret_inputs]
    assert not plain, f"secret versions whose secretData is not a secret: {plain}"
    ids = {s.inputs["secretId"] for s in graph.find(SECRET_HOLDER)}
    readers = {(m.inputs["member"], m.inputs["secretId"].rsplit("/", 1)[-1]) for m in graph.find(SECRET_IAM)
               if m.inputs.get("role") == SECRET_READER}
    for m in graph.resources:
        if m.type not in MACHINES:
            continue
        user_data = (m.inputs.get("metadata") or {}).get("user-data")
        assert isinstance(user_data, str) and user_data != SECRET, f"{kind(m)}: user data hidden or missing"
        leaked = sorted({v[:12] + "…" for t in user_data_texts(user_data) for v in values + hmacs if v in t})
        assert not leaked, f"{kind(m)}'s user data holds secret values {leaked}"
        named = set(re.findall(r"\$\(get ([A-Za-z0-9_.-]+)\)", user_data))
        assert named <= ids, f"{kind(m)}'s user data names secrets the install does not hold: {sorted(named - ids)}"
        member = f"serviceAccount:{(m.inputs.get('serviceAccount') or {}).get('email')}"
        unreadable = sorted(n for n in named if (member, n) not in readers)
        assert not unreadable, f"{kind(m)} names secrets its account may not read: {unreadable}"


def test_no_secret_value_in_any_render_or_user_data():
    every(GCP_TOKENS, lambda t: check_secrets(rendered(t), plan_of(t), rendered_json(t)))


# --- reviewer extras: subnets, the global load balancer -----------------------------------------------


def check_subnets(graph: ResourceGraph, plan: Plan) -> None:
    subnets = graph.find(SUBNET)
    regions = sorted(s.inputs.get("region") for s in subnets)
    assert regions == sorted(plan.regions), f"subnets in {regions}, the Plan's regions {plan.regions}"
    for s in subnets:
        log = s.inputs.get("logConfig") or {}
        assert log and log.get("flowSampling", 1) > 0, f"{s.name} logs no flows: {log}"
        assert s.inputs.get("privateIpGoogleAccess") is True, f"{s.name}: privateIpGoogleAccess"


def test_subnets_log_flows_and_reach_google_privately():
    each(check_subnets)


def global_load_balancer(graph: ResourceGraph, plan: Plan) -> list[Resource]:
    rules = graph.find(GLOBAL_FORWARDING)
    wanted = plan.ingress.tls is TlsTermination.LOAD_BALANCER
    assert bool(rules) == wanted, f"{len(rules)} global forwarding rules, the Plan's TLS ends at {plan.ingress.tls}"
    return rules


def admin_denied(rule: dict) -> bool:
    """A Cloud Armor rule that refuses every spelling of /_admin (its CEL path expression, read)."""
    expression = ((rule.get("match") or {}).get("expr") or {}).get("expression", "")
    match = re.search(r"request\.path(.*?)\.matches\('(.+)'\)", expression)
    if not str(rule.get("action", "")).startswith("deny") or not match:
        return False
    transforms, pattern = match.groups()

    def seen(path: str) -> str:
        for step in re.findall(r"\.(\w+)\(\)", transforms):
            path = path.lower() if step == "lower" else unquote(path) if step == "urlDecode" else path
        return path

    return all(re.search(pattern, seen(p)) for p in ADMIN_PATHS)


def check_cloud_armor(graph: ResourceGraph, plan: Plan) -> None:
    if not global_load_balancer(graph, plan) or not plan.policy.protect:
        return
    backends = [b for b in graph.find(BACKEND) if b.inputs.get("loadBalancingScheme") == "EXTERNAL_MANAGED"]
    assert backends, "the global load balancer has no backend service"
    for backend in backends:
        policies = [p for p in referenced(graph, backend, "securityPolicy") if p.type == ARMOR]
        assert backend.inputs.get("securityPolicy") and policies, f"{backend.name} has no Cloud Armor policy"
        for policy in policies:
            rules = policy.inputs.get("rules") or []
            denies = [r for r in rules if admin_denied(r)]
            assert denies, f"{policy.name} has no rule refusing /_admin"
            allows = [r["priority"] for r in rules if str(r.get("action")) == "allow"]
            assert all(min(r["priority"] for r in denies) < p for p in allows), \
                f"{policy.name}: an allow rule comes before the /_admin refusal"


def test_the_global_load_balancer_has_cloud_armor_refusing_admin_for_e_and_c():
    each(check_cloud_armor)


def check_tls_policy(graph: ResourceGraph, plan: Plan) -> None:
    if not global_load_balancer(graph, plan):
        return
    proxies = graph.find(HTTPS_PROXY)
    assert proxies, "the global load balancer has no HTTPS proxy"
    for proxy in proxies:
        policies = [p for p in referenced(graph, proxy, "sslPolicy") if p.type == SSL_POLICY]
        assert proxy.inputs.get("sslPolicy") and policies, f"{proxy.name} has no SSL policy"
        for policy in policies:
            assert policy.inputs.get("minTlsVersion") in TLS_MIN, \
                f"{policy.name}: minTlsVersion {policy.inputs.get('minTlsVersion')}"


def test_the_https_proxy_requires_tls_1_2_or_later():
    each(check_tls_policy)


# --- controls: each rule, broken on purpose in a scratch copy of a render, is caught ----------------


def doctored(graph: ResourceGraph, type_: str, change: Callable[[Resource], Resource | None]) -> ResourceGraph:
    """A copy of the graph with the first resource of `type_` that `change` changes (the
    cached render itself is never touched: `change` gets a deep copy of the inputs)."""
    resources = list(graph.resources)
    for n, r in enumerate(resources):
        if r.type == type_:
            new = change(replace(r, inputs=copy.deepcopy(dict(r.inputs))))
            if new is not None:
                resources[n] = new
                return replace(graph, resources=tuple(resources))
    raise AssertionError(f"no {type_} to doctor")


def with_inputs(r: Resource, **changes) -> Resource:
    return replace(r, inputs={**r.inputs, **changes})


def caught(check: Callable[..., None], *args, match: str) -> None:
    with pytest.raises(AssertionError, match=match):
        check(*args)


def test_control_a_cloud_sql_instance_with_a_public_ip_or_no_backups_is_caught():
    token = "E5+ha+mr@gcp"
    graph, plan = rendered(token), plan_of(token)
    check_cloud_sql(graph, plan)  # holds as rendered

    def public(r):
        r.inputs["settings"]["ipConfiguration"]["ipv4Enabled"] = True
        return r
    caught(check_cloud_sql, doctored(graph, SQL, public), plan, match="a public IP")

    def no_pitr(r):
        if r.inputs.get("masterInstanceName"):
            return None
        r.inputs["settings"]["backupConfiguration"]["pointInTimeRecoveryEnabled"] = False
        return r
    caught(check_cloud_sql, doctored(graph, SQL, no_pitr), plan, match="no point-in-time recovery")
    caught(check_cloud_sql, doctored(graph, SQL, lambda r: with_inputs(r, encryptionKeyName=None)), plan,
           match="not one of the install's data keys")


def test_control_ssh_from_the_world_and_a_missing_egress_deny_are_caught():
    token = "O5@gcp"
    graph, plan = rendered(token), plan_of(token)
    check_firewall(graph, plan)

    def ssh_to_world(r):
        if r.inputs.get("allows") and r.inputs["allows"][0].get("ports") == ["22"]:
            return with_inputs(r, sourceRanges=["0.0.0.0/0"])
        return None
    caught(check_firewall, doctored(graph, FIREWALL, ssh_to_world), plan, match="to the world")

    def no_deny(r):
        return with_inputs(r, denies=[{"protocol": "tcp", "ports": ["25"]}]) if r.name.endswith("deny-egress") else None
    caught(check_firewall, doctored(graph, FIREWALL, no_deny), plan, match="no EGRESS deny-all")


def test_control_a_machine_on_the_default_service_account_or_unshielded_is_caught():
    token = "C6+ha+as@gcp"
    graph, plan = rendered(token), plan_of(token)
    check_machines(graph, plan)
    default = {"email": "123456789012-compute@developer.gserviceaccount.com", "scopes": ["cloud-platform"]}
    caught(check_machines, doctored(graph, TEMPLATE, lambda r: with_inputs(r, serviceAccount=default)), plan,
           match="default compute service account")

    def unshielded(r):
        r.inputs["shieldedInstanceConfig"]["enableSecureBoot"] = False
        return r
    caught(check_machines, doctored(graph, INSTANCE, unshielded), plan, match="not a Shielded VM")

    def plain_disk(r):
        return with_inputs(r, diskEncryptionKey=None)
    caught(check_machines, doctored(graph, DISK, plain_disk), plan, match="not one of the install's data keys")


def test_control_a_public_or_unversioned_bucket_is_caught():
    token = "E4@gcp"
    graph, plan = rendered(token), plan_of(token)
    check_buckets(graph, plan)
    caught(check_buckets, doctored(graph, BUCKET, lambda r: with_inputs(r, publicAccessPrevention="inherited")),
           plan, match="publicAccessPrevention")
    caught(check_buckets, doctored(graph, BUCKET, lambda r: with_inputs(r, versioning={"enabled": False})),
           plan, match="not versioned")

    def everyone(r):
        return with_inputs(r, member="allUsers")
    caught(check_buckets, doctored(graph, "gcp:storage/bucketIAMMember:BucketIAMMember", everyone), plan,
           match="the render grants")


def test_control_a_slow_rotation_and_an_unprotected_key_ring_are_caught():
    token = "C3@gcp"
    graph, plan = rendered(token), plan_of(token)
    check_kms(graph, plan)
    check_protection(graph, plan)
    caught(check_kms, doctored(graph, KMS_KEY, lambda r: with_inputs(r, rotationPeriod="31536000s")), plan,
           match="rotates every 31536000s")
    caught(check_protection, doctored(graph, KEY_RING, lambda r: replace(r, protect=False)), plan,
           match="protect should be True")


def test_control_a_secret_value_in_user_data_or_a_plain_version_is_caught():
    token = "O6+ha@gcp"
    graph, plan = rendered(token), plan_of(token)
    check_secrets(graph, plan, rendered_json(token))
    value = generated_values(graph)[-1]

    def leak(r):
        r.inputs["metadata"]["user-data"] += f"\n# {value}\n"
        return r
    bad = doctored(graph, INSTANCE, leak)
    caught(check_secrets, bad, plan, bad.to_json(), match="appears in the render JSON")
    caught(check_secrets, bad, plan, rendered_json(token), match="user data holds secret values")
    plain = doctored(graph, SECRET_VERSION, lambda r: replace(with_inputs(r, secretData="hunter2"), secret_inputs=()))
    caught(check_secrets, plain, plan, rendered_json(token), match="secretData is not a secret")
    hmac = hmac_secrets(graph)[0]
    caught(check_secrets, graph, plan, rendered_json(token) + hmac, match="appears in the render JSON")


def test_control_a_load_balancer_without_armor_or_with_old_tls_is_caught():
    token = "E3@gcp"
    graph, plan = rendered(token), plan_of(token)
    check_cloud_armor(graph, plan)
    check_tls_policy(graph, plan)

    def detached(r):
        deps = {k: v for k, v in r.property_dependencies.items() if k != "securityPolicy"}
        return replace(with_inputs(r, securityPolicy=None), property_dependencies=deps)
    caught(check_cloud_armor, doctored(graph, BACKEND, detached), plan, match="no Cloud Armor policy")

    def admin_allowed(r):
        r.inputs["rules"] = [x for x in r.inputs["rules"] if "admin" not in x.get("description", "")]
        return r
    caught(check_cloud_armor, doctored(graph, ARMOR, admin_allowed), plan, match="no rule refusing /_admin")
    caught(check_tls_policy, doctored(graph, SSL_POLICY, lambda r: with_inputs(r, minTlsVersion="TLS_1_0")), plan,
           match="minTlsVersion TLS_1_0")
