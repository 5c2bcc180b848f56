"""The Reactor.toml of each `@azure` token (the render's `reactor_toml` output) parsed back against
the runtime's keys and the render's own resources: the flexible server (+mr its writer endpoint)
with sslmode=require or the pooler, OpenBao and NATS by names in `reactor.internal` the install's
CA covers, fs blobs (on Azure Files when several app nodes share them), the public URL, edition C's
tenancy. Every reactor-server machine carries exactly this file, and every private name any
machine's configs use resolves in its own region's zone to the machines or router serving it."""

from __future__ import annotations

import base64
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from matrix import every
from renders import C_DOMAIN, default_settings, rendered

from reactor_infra import runtime_schema as schema
from reactor_infra.graph import Resource, ResourceGraph
from reactor_infra.layout import Plan, Service, StorageBackend, VaultMode
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

AZ = [t.token for t in valid_topologies() if t.platform is Platform.AZURE]
PRIVATE = "reactor.internal"  # the install's private zone (one per region)
WORKDIR = "/srv/reactor"  # reactor-server's working directory (it reads Reactor.toml there)
PROJECT_DIR = "/opt/reactor"  # the machine's compose project
NODE_TOML, NODE_COMPOSE = f"{PROJECT_DIR}/Reactor.toml", f"{PROJECT_DIR}/compose.yaml"
FETCH, PREPARE, SERVER_ENV = ("/usr/local/sbin/reactor-fetch-secrets", "/usr/local/sbin/reactor-prepare-node",
                              "/run/reactor/reactor-server.env")
A = "azure-native:"
VM, VMSS, NIC = A + "compute:VirtualMachine", A + "compute:VirtualMachineScaleSet", A + "network:NetworkInterface"
LB, PIP, VNET = A + "network:LoadBalancer", A + "network:PublicIPAddress", A + "network:VirtualNetwork"
SERVER, ENDPOINT = A + "dbforpostgresql:Server", A + "dbforpostgresql:VirtualEndpoint"
ZONE, LINK, RECORD = (A + "privatedns:" + k for k in ("PrivateZone", "VirtualNetworkLink", "PrivateRecordSet"))
SECRET, ACCOUNT, SHARE = A + "keyvault:Secret", A + "storage:StorageAccount", A + "storage:FileShare"
FD_ENDPOINT, SIGNED = A + "cdn:AFDEndpoint", "tls:index/locallySignedCert:LocallySignedCert"
CERT_REQUEST, CA_CERT = "tls:index/certRequest:CertRequest", "tls:index/selfSignedCert:SelfSignedCert"


@dataclass(frozen=True)
class Machine:
    """A virtual machine or an autoscaled tier's scale set, with what its custom data writes."""

    resource: Resource
    tier: str
    region: str
    files: dict[str, str]  # path -> content
    compose: dict[str, Any]  # /opt/reactor/compose.yaml, parsed
    services: dict[str, Any]  # its services


@dataclass(frozen=True)
class View:
    graph: ResourceGraph
    plan: Plan
    text: str  # the render's `reactor_toml` output
    doc: dict[str, Any]  # parsed
    header: dict[str, str]  # the header's variable -> where its value comes from
    machines: tuple[Machine, ...]
    multi: bool  # size >= 3: private machines named in the private zones, the flexible server


def tail(ref: str) -> str:
    return ref.rstrip("/").rsplit("/", 1)[-1]


def _machine(r: Resource) -> Machine:
    profile = r.inputs.get("osProfile") or r.inputs["virtualMachineProfile"]["osProfile"]
    config = base64.b64decode(profile["customData"]).decode()
    assert config.startswith("#cloud-config\n"), f"{r.name}: custom data is not cloud-config"
    files = {f["path"]: f["content"] for f in yaml.safe_load(config)["write_files"]}
    compose = yaml.safe_load(files[NODE_COMPOSE])
    return Machine(r, r.inputs["tags"]["tier"], r.inputs["location"], files, compose, compose["services"])


@cache
def view(token: str) -> View:
    graph = rendered(token)
    text = graph.outputs["reactor_toml"]
    settings = default_settings(token)
    plan = build_plan(parse(token), load_settings(settings) if settings else None)
    header = dict(re.findall(r"^#\s+([A-Z][A-Z0-9_]*)\s+<- (.+)$", text, re.M))
    machines = tuple(_machine(r) for r in graph.find(VM) + graph.find(VMSS))
    return View(graph, plan, text, tomllib.loads(text), header, machines, plan.topology.size >= 3)


def one(items: list, what: str):
    assert len(items) == 1, f"{len(items)} {what}, not one"
    return items[0]


def app_machines(v: View) -> list[Machine]:
    """Every machine (or scale set) that runs reactor-server: exactly the app tier's."""
    found = [m for m in v.machines if "reactor-server" in m.services]
    tier = v.plan.app_tier
    assert {m.tier for m in found} == {tier.name.value}, "reactor-server outside the app tier"
    per_region = 1 if tier.replicas.autoscaled else tier.replicas.max
    assert sorted(m.region for m in found) == sorted(r for r in tier.regions for _ in range(per_region)), \
        "not one reactor-server machine (or scale set) per app replica and region"
    return found


def host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url if "://" in url else f"x://{url}")
    return parts.hostname, parts.port


def database_host(v: View) -> str:
    """The flexible server's name, or +mr its writer endpoint's (it follows a promotion)."""
    primary = one([s for s in v.graph.find(SERVER) if s.inputs.get("createMode") != "Replica"], "primary servers")
    endpoints = v.graph.find(ENDPOINT)
    if not endpoints:
        return v.graph.outputs_of(primary.urn)["fullyQualifiedDomainName"]
    writer = one(endpoints, "virtual endpoints")
    assert writer.inputs["endpointType"] == "ReadWrite" and writer.inputs["serverName"] == primary.inputs["serverName"]
    return f"{writer.inputs['virtualEndpointName']}.writer.postgres.database.azure.com"


def env_file(v: View, m: Machine) -> dict[str, str]:
    """What the boot script writes into reactor-server's env file: variable -> value, with each
    Key Vault read written back as `${<plan secret>}` (names only; the values never appear)."""
    prefix = v.graph.outputs["endpoints"]["secrets"]
    script = m.files[FETCH]
    reads = dict(re.findall(r"^(s_\w+)=\$\(get (\S+)\)$", script, re.M))  # shell variable -> secret name
    unknown = set(reads.values()) - {s.inputs["secretName"] for s in v.graph.find(SECRET)}
    assert not unknown, f"reads secrets the render does not make: {sorted(unknown)}"

    def named(value: str) -> str:
        return re.sub(r"\$\{(s_\w+)\}", lambda x: "${" + reads[x.group(1)].removeprefix(prefix) + "}", value)

    lines = re.findall(r"printf '%s=%s\\n' (\w+) \"([^\"]*)\" >> \"\$tmp/reactor-server\.env\"", script)
    assert lines, "the boot script writes no reactor-server.env"
    return {var: named(value) for var, value in lines}


def zone_records(v: View, region: str) -> dict[str, list[str]]:
    """The names (`app.reactor.internal`) of the private zone linked to a region's network."""
    vnet = one([n for n in v.graph.find(VNET) if n.inputs["location"] == region], f"networks in {region}")
    links = [x for x in v.graph.find(LINK) if x.inputs["privateZoneName"] == PRIVATE
             and tail(x.inputs["virtualNetwork"]["id"]) == vnet.inputs["virtualNetworkName"]]
    group = one(links, f"{PRIVATE} zones linked to {region}").inputs["resourceGroupName"]
    one([z for z in v.graph.find(ZONE) if z.inputs["privateZoneName"] == PRIVATE
         and z.inputs["resourceGroupName"] == group], f"{PRIVATE} zones in {group}")
    out = {}
    for r in v.graph.find(RECORD):
        if r.inputs["privateZoneName"] == PRIVATE and r.inputs["resourceGroupName"] == group:
            assert r.inputs["recordType"] == "A", r.name
            name = f"{r.inputs['relativeRecordSetName']}.{PRIVATE}"
            out[name] = sorted(a["ipv4Address"] for a in r.inputs["aRecords"])
    return out


def address(v: View, m: Machine) -> str:
    (ref,) = m.resource.inputs["networkProfile"]["networkInterfaces"]
    nic = one([n for n in v.graph.find(NIC) if n.inputs["networkInterfaceName"] == tail(ref["id"])], "interfaces")
    return nic.inputs["ipConfigurations"][0]["privateIPAddress"]


def routers(v: View, tier: str) -> dict[str, str]:
    """region -> the address of the internal balancer in front of a tier (the ladder checks its pool)."""
    found = [(lb.inputs["location"], f["privateIPAddress"]) for lb in v.graph.find(LB)
             if lb.inputs["tags"]["tier"] == tier for f in lb.inputs["frontendIPConfigurations"] if "subnet" in f]
    assert len(dict(found)) == len(found), f"two routers of {tier} in one region"
    return dict(found)


def expected_addresses(v: View, host: str, region: str) -> list[str]:
    """What `host` must resolve to from a machine in `region`: the router in front of the tier it
    names there (else the primary's), or that tier's machines there (else the primary's);
    `<tier>-<i>` its machine i."""
    label = host.removesuffix(f".{PRIVATE}")
    tiers = {t.name.value: t for t in v.plan.tiers if t.services}
    name = label if label in tiers else label.rsplit("-", 1)[0]
    assert name in tiers and re.fullmatch(rf"{name}(-\d+)?", label), f"{host} names no tier nor machine"
    fixed = [m for m in v.machines if m.tier == name and m.resource.type == VM]
    if label != name:
        return [address(v, one([m for m in fixed if m.resource.name == f"{label}-vm"], f"machines {label}"))]
    if router := routers(v, name):
        return [router.get(region) or router[v.plan.primary_region]]
    where = region if region in tiers[name].regions else v.plan.primary_region
    found = sorted(address(v, m) for m in fixed if m.region == where)
    assert found, f"{host} names {name}, which has neither a router nor fixed machines"
    return found


def internal_ca(v: View) -> Resource:
    return one([c for c in v.graph.find(CA_CERT) if c.inputs.get("isCaCertificate")], "internal CAs")


def cert_names(v: View, service: Service) -> list[str]:
    """The names the certificate the internal CA signs for the tier running `service` covers."""
    tier = v.plan.tier_of(service).name.value
    request = one([r for r in v.graph.find(CERT_REQUEST) if r.inputs["subject"]["commonName"] == f"{tier}.{PRIVATE}"],
                  f"{tier} certificates")
    signed = one([c for c in v.graph.find(SIGNED) if request.urn in c.property_dependencies.get("certRequestPem", ())],
                 f"{tier} signed certificates")
    assert internal_ca(v).urn in signed.property_dependencies["caCertPem"], f"{tier}'s certificate is not the CA's"
    return request.inputs["dnsNames"]


def trusts_the_internal_ca(v: View, m: Machine, ca_file: str) -> None:
    """reactor-server finds the install's CA at `ca_file`: the machine's copy, mounted read-only."""
    assert ca_file.startswith(f"{WORKDIR}/"), ca_file
    source = f"{PROJECT_DIR}/{ca_file.removeprefix(WORKDIR + '/')}"
    mount = f"./{source.removeprefix(PROJECT_DIR + '/')}:{ca_file}:ro"
    assert mount in m.services["reactor-server"]["volumes"], ca_file
    assert m.files.get(source) == v.graph.outputs_of(internal_ca(v).urn)["certPem"], f"{source} is not the install's CA"


# --- the document -------------------------------------------------------------------------------


def test_the_output_parses_and_holds_only_keys_the_runtime_reads():
    assert every(AZ, _parses_and_holds_only_known_keys) == 87


def _parses_and_holds_only_known_keys(token):
    v = view(token)
    assert schema.check(v.doc) == []
    assert set(schema.MANDATORY_SECTIONS) <= v.doc.keys()
    assert ".late.invalid" not in v.text, "a late value was left unbound"
    assert ".invalid" not in re.sub(r"^#.*$", "", v.text, flags=re.M), "a placeholder host in a value"
    for dotted, _ in schema.leaves(v.doc):
        assert schema.is_known_key(dotted), dotted


def public_ip(v: View, region: str) -> str:
    """The ingress's static public address in a region (a public balancer's, or the node's)."""
    ids = {tail(f["publicIPAddress"]["id"]) for lb in v.graph.find(LB) if lb.inputs["location"] == region
           for f in lb.inputs["frontendIPConfigurations"] if "publicIPAddress" in f}
    if v.plan.topology.size == 2:
        ids = {tail(c["publicIPAddress"]["id"]) for n in v.graph.find(NIC) for c in n.inputs["ipConfigurations"]
               if c.get("publicIPAddress")}
    owner = one([p for p in v.graph.find(PIP) if p.inputs["publicIpAddressName"] in ids], f"addresses in {region}")
    return v.graph.outputs_of(owner.urn)["ipAddress"]


def test_every_machine_that_runs_reactor_server_reads_exactly_the_stacks_reactor_toml():
    assert every(AZ, _reactor_server_reads_this_file) == 87


def _reactor_server_reads_this_file(token):
    v = view(token)
    for m in app_machines(v):
        expected = v.text
        if not v.plan.settings.domain and m.region != v.plan.primary_region:
            # without a domain each region's machines name their own region's address (+mr)
            expected = v.text.replace(public_ip(v, v.plan.primary_region), public_ip(v, m.region))
        assert m.files[NODE_TOML] == expected, f"{m.resource.name}: its Reactor.toml is not the stack output"
        server = m.services["reactor-server"]
        assert server["working_dir"] == WORKDIR
        assert f"./Reactor.toml:{WORKDIR}/Reactor.toml:ro" in server["volumes"]
        unit = m.files["/etc/systemd/system/reactor.service"]
        assert f"WorkingDirectory={PROJECT_DIR}" in unit and f"-f {NODE_COMPOSE} up" in unit
        assert SERVER_ENV in server["env_file"]
    assert not any(NODE_TOML in m.files for m in v.machines if "reactor-server" not in m.services)


def test_the_header_lists_exactly_what_reactor_server_s_env_file_gets():
    assert every(AZ, _header_is_the_env_file) == 87


def _header_is_the_env_file(token):
    v = view(token)
    assert {"REACTOR_ADMIN__TOKEN", "REACTOR_DATABASE__URL"} <= v.header.keys()
    secrets = {s.name for s in v.plan.secrets}
    for m in app_machines(v):
        env = env_file(v, m)
        assert env.keys() == v.header.keys(), m.resource.name
        for var, source in v.header.items():
            expected = "${" + source.removeprefix("secret ") + "}" if source.startswith("secret ") else source
            assert env[var] == expected, (m.resource.name, var)
            if source.startswith("secret "):
                assert source.removeprefix("secret ") in secrets, var
        plain = m.services["reactor-server"].get("environment", {})
        assert not plain.keys() & env.keys(), "a secret variable in compose's plain environment"
        leaves = dict(schema.leaves(v.doc))  # a plain REACTOR_* variable overrides the file: it must agree
        for var, value in plain.items():
            if var.startswith(schema.ENV_PREFIX) and "__" in var:
                assert leaves.get(schema.dotted_key(var)) == value, var


# --- database ----------------------------------------------------------------------------------


def test_the_database_url_names_the_flexible_server_or_its_writer_endpoint_or_the_pooler():
    assert every(AZ, _database_url) == 87


def _database_url(token):
    v = view(token)
    url = v.header["REACTOR_DATABASE__URL"]
    host, port = host_port(url)
    if not v.multi:
        assert (host, port) == ("postgres", 5432) and not v.graph.find(SERVER)
        assert all("postgres" in m.services for m in app_machines(v)), "no postgres beside reactor-server"
        return
    server = database_host(v)
    assert v.graph.outputs["endpoints"]["database"] == server
    # the server's private name is in its own private zone, linked to every region's network
    primary = one([s for s in v.graph.find(SERVER) if s.inputs.get("createMode") != "Replica"], "primary servers")
    zone = tail(primary.inputs["network"]["privateDnsZoneArmResourceId"])
    assert zone == f"{primary.inputs['serverName']}.private.postgres.database.azure.com"
    linked = {tail(x.inputs["virtualNetwork"]["id"]) for x in v.graph.find(LINK) if x.inputs["privateZoneName"] == zone}
    assert linked == {n.inputs["virtualNetworkName"] for n in v.graph.find(VNET)}, f"{zone} is not linked everywhere"
    if v.plan.pooler is not None:  # PgBouncer reaches the server with TLS required
        kind = str(v.plan.pooler.kind)
        poolers = [m for m in v.machines if kind in m.services]
        assert poolers, f"no {kind} machine"
        for m in poolers:
            env = m.services[kind]["environment"]
            assert (env["DB_HOST"], env["DB_PORT"], env.get("SERVER_TLS_SSLMODE")) == (server, "5432", "require")
    if v.plan.pooler is not None and not v.plan.policy.multi_tenant:
        pooler = v.plan.tier_of(Service(v.plan.pooler.kind))
        assert (host, port) == (f"{pooler.name.value}.{PRIVATE}", v.plan.pooler.port) == (f"pooler.{PRIVATE}", 5432)
        # PgBouncer speaks TLS with the install's certificate, verified against its CA
        ca_file = f"{WORKDIR}/internal-ca.pem"
        assert parse_qs(urlsplit(url).query) == {"sslmode": ["verify-full"], "sslrootcert": [ca_file]}
        assert host in cert_names(v, Service(v.plan.pooler.kind))
        for m in app_machines(v):
            trusts_the_internal_ca(v, m, ca_file)
        return
    assert (host, port) == (server, 5432), "not the flexible server (or +mr its writer endpoint)"
    # the server's CA changes with Azure's rotations: encrypted, not verified
    assert parse_qs(urlsplit(url).query) == {"sslmode": ["require"]}
    if not v.plan.policy.multi_tenant:
        return
    # C: the control database direct, each tenant's database (tenant_<ref>) behind the pooler
    shared = v.header["REACTOR_CLOUD__SHARED_POOL__SHARED_POSTGRES_URL"]
    assert host_port(shared) == (server, 5432) and parse_qs(urlsplit(shared).query) == {"sslmode": ["require"]}
    pool = v.doc["cloud"].get("shared_pool")
    if v.plan.pooler is None:
        assert pool is None and "REACTOR_CLOUD__SHARED_POOL__POOLER__URL_TEMPLATE" not in v.header
        return
    template = pool["pooler"]["url_template"]
    for url in (template, v.header["REACTOR_CLOUD__SHARED_POOL__POOLER__URL_TEMPLATE"]):
        assert host_port(url.replace("{ref}", "ref")) == (f"pooler.{PRIVATE}", v.plan.pooler.port)
    assert urlsplit(template).path == "/{ref}", "the runtime replaces {ref} with tenant_<ref>"


# --- vault and NATS ------------------------------------------------------------------------------


def test_the_vault_and_nats_are_private_names_the_internal_ca_covers_or_the_node_s_own():
    assert every(AZ, _vault_and_nats) == 87


def _vault_and_nats(token):
    v = view(token)
    _nats_servers(v)
    vault, size = v.doc["vault"], v.plan.topology.size
    openbao = [m for m in v.machines if "openbao" in m.services]
    assert v.plan.vault is (VaultMode.OPENBAO if size != 3 else
                            VaultMode.EMBEDDED if v.plan.app_tier.replicas.max == 1 else VaultMode.ENV)
    if v.plan.vault is not VaultMode.OPENBAO:  # embedded; ENV: secrets come from Key Vault as REACTOR_*
        assert vault["backend"] == "embedded" and "address" not in vault
        assert vault["master_key"] == schema.DEFAULT_MASTER_KEY_REF
        assert "REACTOR_VAULT__TOKEN" not in v.header and not openbao
        return
    assert vault["backend"] == "openbao" and "REACTOR_VAULT__TOKEN" in v.header
    if not v.multi:
        assert vault["address"] == "http://openbao:8200"
        m = one(app_machines(v), "nodes")
        assert "openbao" in m.services and f"{PROJECT_DIR}/openbao.hcl" in m.files
        return
    tier = v.plan.tier_of(Service.OPENBAO)
    assert vault["address"] == f"https://{tier.name.value}.{PRIVATE}:8200"
    assert {m.tier for m in openbao} == {tier.name.value}
    # clustered, its name is the vault router's (which finds the active node): the private names test
    assert list(routers(v, tier.name.value)) == ([v.plan.primary_region] if tier.replicas.max > 1 else [])
    host = urlsplit(vault["address"]).hostname
    assert host in cert_names(v, Service.OPENBAO)
    for m in app_machines(v):
        ca_file = m.services["reactor-server"]["environment"].get("VAULT_CACERT")
        assert ca_file, "https OpenBao without VAULT_CACERT"
        trusts_the_internal_ca(v, m, ca_file)


def _nats_servers(v: View) -> None:
    cloud = v.doc.get("cloud", {})
    nodes = [m for m in v.machines if "nats" in m.services]
    if not v.plan.nats:
        assert "realtime" not in cloud and "pubsub" not in cloud and not nodes
        return
    tier = v.plan.tier_of(Service.NATS)
    servers = cloud["realtime"]["nats"]["servers"]
    assert cloud["pubsub"]["nats"]["servers"] == servers
    count, name = tier.replicas.max, tier.name.value
    hosts = [f"{name}.{PRIVATE}"] if count == 1 else [f"{name}-{i}.{PRIVATE}" for i in range(count)]
    assert servers == [f"tls://{h}:4222" for h in hosts]
    assert {m.tier for m in nodes} == {name}
    assert len([m for m in nodes if m.region == v.plan.primary_region]) == count, "not one server per NATS machine"
    assert set(hosts) <= set(cert_names(v, Service.NATS)), "the NATS certificate does not name every server"


# --- storage -------------------------------------------------------------------------------------


def test_storage_is_fs_on_the_app_node_s_disk_or_on_the_azure_files_share_every_app_node_mounts():
    assert every(AZ, _storage) == 87


def _storage(token):
    v = view(token)
    storage = v.doc["storage"]
    assert v.plan.storage is StorageBackend.FS and storage["backend"] == "fs"
    assert not {k for k in storage if k.startswith("s3_")} and "AWS_ACCESS_KEY_ID" not in v.header
    path = f"{WORKDIR}/{storage['fs_base_path']}"
    several = v.plan.app_tier.replicas.max > 1
    assert v.plan.shared_blobs == several
    share = None
    if several:
        account = one(v.graph.find(ACCOUNT), "storage accounts").inputs["accountName"]
        name = one(v.graph.find(SHARE), "file shares").inputs["shareName"]
        share = f"{account}.file.core.windows.net:/{account}/{name} /mnt/reactor nfs "
    for m in app_machines(v):
        volumes = [vol.split(":") for vol in m.services["reactor-server"]["volumes"]]
        # the mount that serves the path: the longest target it lies under
        source, target = max(((s, t) for s, t, *_ in volumes if path == t or path.startswith(t + "/")),
                             key=lambda st: len(st[1]), default=(None, None))
        assert source is not None, f"{m.resource.name}: {path} is on no volume"
        if several:
            assert (source, target) == ("/mnt/reactor/reactor-server-storage", path), (m.resource.name, source)
            assert share in m.files[PREPARE], f"{m.resource.name} does not mount the Azure Files share at /mnt/reactor"
        else:
            assert source in m.compose.get("volumes", {}), f"{path} is not on a volume of the machine's data disk"


# --- public URL, edition C -------------------------------------------------------------------------


def test_the_public_url_is_the_domain_front_door_s_host_or_the_ingress_s_address():
    assert every(AZ, _public_url) == 87


def _public_url(token):
    v = view(token)
    if v.plan.settings.domain:
        assert v.plan.settings.domain == C_DOMAIN and token.startswith("C")
        host = C_DOMAIN
    elif v.plan.topology.size == 3:
        endpoint = one(v.graph.find(FD_ENDPOINT), "Front Door endpoints")
        host = v.graph.outputs_of(endpoint.urn)["hostName"]
    else:
        host = public_ip(v, v.plan.primary_region)
    assert v.doc["auth"]["public_url"] == f"https://{host}" == v.graph.outputs["public_url"]
    assert v.graph.outputs["endpoints"]["public_url"] == f"https://{host}"
    if "cloud" in v.doc:
        assert v.doc["cloud"]["base_domain"] == host


def test_edition_c_is_multi_tenant_on_its_domain_and_the_others_single_tenant():
    assert every(AZ, _tenancy) == 87


def _tenancy(token):
    v = view(token)
    cloud = v.doc.get("cloud", {})
    if not token.startswith("C"):
        assert cloud.get("multi_tenant", False) is False and "provider" not in cloud and "shared_pool" not in cloud
        return
    assert cloud["multi_tenant"] is True
    assert cloud["provider"] == ("shared_cluster" if v.multi else "single_node")
    assert cloud["base_domain"] == v.plan.settings.domain == C_DOMAIN


# --- private names -------------------------------------------------------------------------------


def used_names(v: View) -> list[tuple[str, Service, str]]:
    """Every (host, the service it reaches, where Reactor.toml uses it) that is the install's own."""
    found: list[tuple[str, Service, str]] = []
    urls = {var: v.header[var] for var in ("REACTOR_DATABASE__URL", "REACTOR_CLOUD__SHARED_POOL__SHARED_POSTGRES_URL",
                                           "REACTOR_CLOUD__SHARED_POOL__POOLER__URL_TEMPLATE") if var in v.header}
    if "shared_pool" in v.doc.get("cloud", {}):
        urls["cloud.shared_pool.pooler.url_template"] = v.doc["cloud"]["shared_pool"]["pooler"]["url_template"]
    pooler = Service(v.plan.pooler.kind) if v.plan.pooler is not None else None
    for where, url in urls.items():
        host = host_port(url.replace("{ref}", "ref"))[0]
        if not host.endswith(".postgres.database.azure.com"):  # Azure's names, not ours
            pooled = pooler is not None and host.split(".")[0] == v.plan.tier_of(pooler).name.value
            found.append((host, pooler if pooled else Service.POSTGRES, where))
    if "address" in v.doc["vault"]:
        found.append((urlsplit(v.doc["vault"]["address"]).hostname, Service.OPENBAO, "vault.address"))
    cloud = v.doc.get("cloud", {})
    for url in cloud.get("realtime", {}).get("nats", {}).get("servers", []):
        found.append((urlsplit(url).hostname, Service.NATS, "cloud.realtime.nats.servers"))
    # the gateway's default backend: resolved only where gateway-server runs
    if "backend_target" in cloud and Service.GATEWAY_SERVER in v.plan.services:
        found.append((host_port(cloud["backend_target"])[0], Service.REACTOR_SERVER, "cloud.backend_target"))
    return found


NAME = re.compile(rf"\b[a-z][a-z0-9-]*\.{re.escape(PRIVATE)}\b")


def test_every_private_name_the_configs_use_resolves_in_the_machine_s_own_region_s_zone():
    assert every(AZ, _private_names_resolve) == 87


def _private_names_resolve(token):
    v = view(token)
    if not v.multi:  # one node: its neighbours by compose service name, and no private zone
        m = one(app_machines(v), "nodes")
        for host, _service, where in used_names(v):
            assert host in m.services, f"{where}: {host} is not a service of the node's compose project"
        assert not [z for z in v.graph.find(ZONE) if z.inputs["privateZoneName"] == PRIVATE]
        return
    for host, service, where in used_names(v):  # the tier that runs each service, from each app region
        tier = v.plan.tier_of(service).name.value
        assert re.fullmatch(rf"{tier}(-\d+)?\.{re.escape(PRIVATE)}", host), f"{where}: {host} is not {tier}'s"
        for region in v.plan.app_tier.regions:
            assert zone_records(v, region).get(host) == sorted(expected_addresses(v, host, region)), \
                f"{where}: {host} does not resolve to its {service} in {region}"
    for m in v.machines:  # every name the other configs use, from where the machine is
        zone = zone_records(v, m.region)
        for path, text in m.files.items():
            for host in sorted(set(NAME.findall(text))) if path != NODE_TOML else ():
                assert host in zone, f"{m.tier}: no record {host} in {m.region}'s private zone"
                assert zone[host] == sorted(expected_addresses(v, host, m.region)), \
                    f"{m.tier}: {host} does not resolve to what serves it in {m.region}"
