"""The Reactor.toml each `@gcp` token renders, read from the render's `reactor_toml` output,
parsed (tomllib), its keys checked against the runtime's (`runtime_schema`), and its addresses
checked against the render's own resources, never against the core's defaults: the database
host is the Cloud SQL instance's private address or the pooler's private name, OpenBao and NATS
are private names in the install's zone `reactor.internal.` whose records hold the addresses of
the machines (or the router) that run them, the bucket is the render's bucket reached through
Cloud Storage's XML API, the public URL is the domain or the ingress's static address. And the
file is the one reactor-server reads: the app machines' cloud-config writes it to
`/opt/reactor/Reactor.toml`, which their compose project mounts into reactor-server.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from ipaddress import ip_address
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

GCP = [t.token for t in valid_topologies() if t.platform is Platform.GCP]
PRIVATE = "reactor.internal"  # the install's private zone
WORKDIR = "/srv/reactor"  # reactor-server's working directory (it reads Reactor.toml there)
PROJECT_DIR = "/opt/reactor"  # the machine's compose project
NODE_TOML, NODE_COMPOSE = f"{PROJECT_DIR}/Reactor.toml", f"{PROJECT_DIR}/compose.yaml"
FETCH = "/usr/local/sbin/reactor-fetch-secrets"
SERVER_ENV = "/run/reactor/reactor-server.env"
XML_API, XML_REGION = "https://storage.googleapis.com", "auto"
CHECKSUMS = {"AWS_REQUEST_CHECKSUM_CALCULATION": "when_required", "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required"}
STORAGE_KEYS = {"AWS_ACCESS_KEY_ID": "storage-access-key-id", "AWS_SECRET_ACCESS_KEY": "storage-secret-access-key"}
INSTANCE, TEMPLATE = "gcp:compute/instance:Instance", "gcp:compute/instanceTemplate:InstanceTemplate"
SQL, BUCKET, HMAC = ("gcp:sql/databaseInstance:DatabaseInstance", "gcp:storage/bucket:Bucket",
                     "gcp:storage/hmacKey:HmacKey")
ZONE, RECORD = "gcp:dns/managedZone:ManagedZone", "gcp:dns/recordSet:RecordSet"
RULE, SECRET = "gcp:compute/forwardingRule:ForwardingRule", "gcp:secretmanager/secret:Secret"
ADDRESSES = ("gcp:compute/address:Address", "gcp:compute/globalAddress:GlobalAddress")
CERT_REQUEST, CA_CERT = "tls:index/certRequest:CertRequest", "tls:index/selfSignedCert:SelfSignedCert"


@dataclass(frozen=True)
class Machine:
    """A Compute Engine machine (an Instance) or an autoscaled pool's template, with what its
    cloud-config writes."""

    resource: Resource
    region: str
    files: dict[str, str]  # path -> content
    compose: dict[str, Any]  # /opt/reactor/compose.yaml, parsed

    @property
    def services(self) -> dict[str, Any]:
        return self.compose["services"]


@dataclass(frozen=True)
class View:
    graph: ResourceGraph
    plan: Plan
    text: str  # the render's `reactor_toml` output
    doc: dict[str, Any]  # parsed
    header: dict[str, str]  # the header's variable -> where its value comes from
    machines: tuple[Machine, ...]
    multi: bool  # size >= 3: private machines named in the private zone, Cloud SQL


def _machine(r: Resource) -> Machine:
    region = r.inputs.get("region") or r.inputs["zone"].rsplit("-", 1)[0]
    config = r.inputs["metadata"]["user-data"]
    assert isinstance(config, str) and config.startswith("#cloud-config"), f"{r.name}: user-data is not cloud-config"
    files = {f["path"]: f["content"] for f in yaml.safe_load(config)["write_files"]}
    return Machine(r, region, files, yaml.safe_load(files[NODE_COMPOSE]))


@cache
def view(token: str) -> View:
    graph = rendered(token)
    text = graph.outputs["reactor_toml"]
    settings = default_settings(token)
    plan = build_plan(parse(token), load_settings(settings) if settings else None)
    header = dict(re.findall(r"^#\s+([A-Z][A-Z0-9_]*)\s+<- (.+)$", text, re.M))
    machines = tuple(_machine(r) for r in graph.find(INSTANCE) + graph.find(TEMPLATE))
    return View(graph, plan, text, tomllib.loads(text), header, machines, plan.topology.size >= 3)


def one(items: list, what: str):
    assert len(items) == 1, f"{len(items)} {what}, not one"
    return items[0]


def app_machines(v: View) -> list[Machine]:
    """Every machine (or pool template) that runs reactor-server: exactly the app tier's."""
    found = [m for m in v.machines if "reactor-server" in m.services]
    tier = v.plan.app_tier
    assert {m.resource.component for m in found} == {tier.name.value}, "reactor-server outside the app tier"
    per_region = 1 if tier.replicas.autoscaled else tier.replicas.max
    assert sorted(m.region for m in found) == sorted(r for r in tier.regions for _ in range(per_region)), \
        "not one reactor-server machine (or pool template) per app replica and region"
    return found


def tier_machines(v: View, tier: str) -> list[Machine]:
    return [m for m in v.machines if m.resource.component == tier]


def host_port(url: str) -> tuple[str, int | None]:
    parts = urlsplit(url if "://" in url else f"x://{url}")
    return parts.hostname, parts.port


def is_ip(host: str) -> bool:
    try:
        ip_address(host)
    except ValueError:
        return False
    return True


def sql_address(v: View) -> str:
    primary = one([r for r in v.graph.find(SQL) if not r.inputs.get("masterInstanceName")],
                  "primary Cloud SQL instances")
    return v.graph.outputs_of(primary.urn)["privateIpAddress"]


def prefix(v: View) -> str:
    """What every Secret Manager id of the install starts with (`<stack>-`)."""
    return v.graph.outputs["endpoints"]["secrets"]


def env_file(v: View, m: Machine) -> dict[str, str]:
    """What the boot script writes into reactor-server's env file: variable -> value, with each
    Secret Manager read written back as `${<plan secret>}` (names only; the values never appear)."""
    script = m.files[FETCH]
    reads = dict(re.findall(r"^(s_\w+)=\$\(get (\S+)\)$", script, re.M))  # shell variable -> secret id
    secret_ids = {s.inputs["secretId"] for s in v.graph.find(SECRET)}
    unknown = set(reads.values()) - secret_ids
    assert not unknown, f"reads secrets the render does not make: {sorted(unknown)}"

    def named(value: str) -> str:
        return re.sub(r"\$\{(s_\w+)\}", lambda x: "${" + reads[x.group(1)].removeprefix(prefix(v)) + "}", value)

    lines = re.findall(r"printf '%s=%s\\n' (\w+) \"([^\"]*)\" >> \"\$tmp/reactor-server\.env\"", script)
    assert lines, "the boot script writes no reactor-server.env"
    return {var: named(value) for var, value in lines}


def records(v: View) -> dict[str, dict[str, list[str]]]:
    """The private zone's names (`app.reactor.internal`) -> location -> addresses ("*": everywhere)."""
    zone = one([z for z in v.graph.find(ZONE) if z.inputs["dnsName"] == f"{PRIVATE}."], f"{PRIVATE}. zones")
    assert zone.inputs["visibility"] == "private"
    out = {}
    for r in v.graph.find(RECORD):
        if r.inputs["managedZone"] != zone.inputs["name"]:
            continue
        assert r.inputs["name"].endswith(f".{PRIVATE}.") and r.inputs["type"] == "A", r.inputs["name"]
        if r.inputs.get("rrdatas"):
            out[r.inputs["name"].removesuffix(".")] = {"*": sorted(r.inputs["rrdatas"])}
        else:
            out[r.inputs["name"].removesuffix(".")] = {g["location"]: sorted(g["rrdatas"])
                                                       for g in r.inputs["routingPolicy"]["geos"]}
    return out


def expected_addresses(v: View, host: str, service: Service) -> dict[str, list[str]]:
    """What `host`, used to reach `service`, must resolve to: the internal router in front of
    the tier that runs it, or that tier's machines (per region); `<tier>-<i>` its machine i."""
    tier = v.plan.tier_of(service)
    assert tier is not None, f"{service} is not in the plan"
    name = tier.name.value
    label = host.removesuffix(f".{PRIVATE}")
    machines = {m.resource.name: m for m in tier_machines(v, name) if m.resource.type == INSTANCE}

    def ip(m: Machine) -> str:
        return m.resource.inputs["networkInterfaces"][0]["networkIp"]

    if label == name:
        routers = [r for r in v.graph.find(RULE)
                   if r.component == name and r.inputs.get("loadBalancingScheme") == "INTERNAL"]
        if routers:  # one per region of the tier behind it (the vault router: the primary only)
            by_region = {r.inputs["region"]: [r.inputs["ipAddress"]] for r in routers}
            assert len(by_region) == len(routers), f"two routers of {name} in one region"
        else:
            assert machines, f"{host} names {name}, which has neither a router nor fixed machines"
            by_region = {}
            for m in machines.values():
                by_region.setdefault(m.region, []).append(ip(m))
    else:
        match = re.fullmatch(rf"{re.escape(name)}-(\d+)", label)
        assert match, f"{host} names neither the {name} tier nor one of its machines"
        machine = machines.get(f"{label}-instance")
        assert machine is not None, f"{host}: no machine {label} in the render"
        by_region = {machine.region: [ip(machine)]}
    if len(by_region) == 1:
        return {"*": sorted(next(iter(by_region.values())))}
    return {r: sorted(a) for r, a in by_region.items()}


def cert_names(v: View, service: Service) -> list[str]:
    """The names the internal CA's certificate for the tier running `service` covers."""
    tier = v.plan.tier_of(service).name.value
    return one([r for r in v.graph.find(CERT_REQUEST) if r.inputs["subject"]["commonName"] == f"{tier}.{PRIVATE}"],
               f"{tier} certificates").inputs["dnsNames"]


def internal_ca(v: View) -> str:
    ca = one([c for c in v.graph.find(CA_CERT) if c.inputs.get("isCaCertificate")], "internal CAs")
    return v.graph.outputs_of(ca.urn)["certPem"]


def trusts_the_internal_ca(v: View, m: Machine, ca_file: str) -> None:
    """reactor-server finds the install's CA at `ca_file`: the machine's copy, mounted read-only."""
    assert ca_file.startswith(f"{WORKDIR}/"), ca_file
    source = f"{PROJECT_DIR}/{ca_file.removeprefix(WORKDIR + '/')}"
    mount = f"./{source.removeprefix(PROJECT_DIR + '/')}:{ca_file}:ro"
    assert mount in m.services["reactor-server"]["volumes"], ca_file
    assert m.files.get(source) == internal_ca(v), f"{source} is not the install's CA"


# --- the document -------------------------------------------------------------------------------


def test_the_output_parses_and_holds_only_keys_the_runtime_reads():
    assert every(GCP, _parses_and_holds_only_known_keys) == 87


def _parses_and_holds_only_known_keys(token):
    v = view(token)
    assert schema.check(v.doc) == []
    assert set(schema.MANDATORY_SECTIONS) <= v.doc.keys()
    assert ".late.invalid" not in v.text, "a late value was left unbound"
    assert ".invalid" not in re.sub(r"^#.*$", "", v.text, flags=re.M), "a placeholder host in a value"
    for dotted, _ in schema.leaves(v.doc):
        assert schema.is_known_key(dotted), dotted


def test_every_machine_that_runs_reactor_server_reads_exactly_this_file():
    assert every(GCP, _reactor_server_reads_this_file) == 87


def public_ip(v, region: str) -> str:
    """The ingress's static external address in a region (the global one at size 3)."""
    for r in v.graph.find("gcp:compute/address:Address") + v.graph.find("gcp:compute/globalAddress:GlobalAddress"):
        if r.inputs.get("addressType") == "EXTERNAL" and r.inputs.get("region", region) == region:
            return v.graph.outputs_of(r.urn)["address"]
    raise AssertionError(f"no public address in {region}")


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
    assert every(GCP, _header_is_the_env_file) == 87


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


def test_the_database_url_names_cloud_sql_or_the_pooler():
    assert every(GCP, _database_url) == 87


def _database_url(token):
    v = view(token)
    url = v.header["REACTOR_DATABASE__URL"]
    host, port = host_port(url)
    if not v.multi:
        assert (host, port) == ("postgres", 5432)
        assert not v.graph.find(SQL)
        assert all("postgres" in m.services for m in app_machines(v)), "no postgres beside reactor-server"
        return
    address = sql_address(v)
    assert v.graph.outputs["endpoints"]["database"] == address
    if v.plan.pooler is not None and not v.plan.policy.multi_tenant:
        pooler = v.plan.tier_of(Service(v.plan.pooler.kind))
        assert (host, port) == (f"{pooler.name.value}.{PRIVATE}", v.plan.pooler.port) == \
            (f"pooler.{PRIVATE}", v.plan.pooler.port)
        _pooler_reaches_cloud_sql(v, address)
        # PgBouncer speaks TLS with the install's certificate, verified against its CA
        ca_file = f"{WORKDIR}/internal-ca.pem"
        assert parse_qs(urlsplit(url).query) == {"sslmode": ["verify-full"], "sslrootcert": [ca_file]}
        assert host in cert_names(v, Service(v.plan.pooler.kind))
        for m in app_machines(v):
            trusts_the_internal_ca(v, m, ca_file)
        return
    assert (host, port) == (address, 5432), "not the Cloud SQL instance's private address"
    # Cloud SQL's certificate names the instance, not this address: encrypted, not verified
    assert parse_qs(urlsplit(url).query) == {"sslmode": ["require"]}


def _pooler_reaches_cloud_sql(v: View, address: str) -> None:
    kind = str(v.plan.pooler.kind)
    poolers = [m for m in v.machines if kind in m.services]
    assert poolers, f"no {kind} machine"
    for m in poolers:
        env = m.services[kind]["environment"]
        assert (env["DB_HOST"], env["DB_PORT"]) == (address, "5432"), m.resource.name
        assert env.get("SERVER_TLS_SSLMODE") == "require", m.resource.name


def test_a_multi_tenant_install_keeps_its_control_database_direct_and_tenants_behind_the_pooler():
    tokens = [t for t in GCP if view(t).plan.policy.multi_tenant and view(t).multi]
    assert every(tokens, _tenant_databases) == len(tokens) == 28


def _tenant_databases(token):
    v = view(token)
    address = sql_address(v)
    assert host_port(v.header["REACTOR_DATABASE__URL"]) == (address, 5432), "C's control database is not direct"
    shared = v.header["REACTOR_CLOUD__SHARED_POOL__SHARED_POSTGRES_URL"]
    assert host_port(shared) == (address, 5432) and parse_qs(urlsplit(shared).query) == {"sslmode": ["require"]}
    pool = v.doc["cloud"].get("shared_pool")
    if v.plan.pooler is None:
        assert pool is None and "REACTOR_CLOUD__SHARED_POOL__POOLER__URL_TEMPLATE" not in v.header
        return
    port = v.plan.pooler.port
    template = pool["pooler"]["url_template"]
    assert host_port(template.replace("{ref}", "ref")) == (f"pooler.{PRIVATE}", port)
    assert host_port(v.header["REACTOR_CLOUD__SHARED_POOL__POOLER__URL_TEMPLATE"].replace("{ref}", "ref")) == \
        (f"pooler.{PRIVATE}", port)
    assert urlsplit(template).path == "/{ref}", "the runtime replaces {ref} with tenant_<ref>"
    _pooler_reaches_cloud_sql(v, address)


# --- vault ---------------------------------------------------------------------------------------


def test_the_vault_is_openbao_by_its_private_name_or_the_embedded_one():
    assert every(GCP, _vault) == 87


def _vault(token):
    v = view(token)
    vault, size = v.doc["vault"], v.plan.topology.size
    openbao = [m for m in v.machines if "openbao" in m.services]
    if size == 3:
        assert v.plan.vault is (VaultMode.EMBEDDED if v.plan.app_tier.replicas.max == 1 else VaultMode.ENV)
    else:
        assert v.plan.vault is VaultMode.OPENBAO
    if v.plan.vault is not VaultMode.OPENBAO:  # embedded; ENV: secrets come from Secret Manager as REACTOR_*
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
    assert {m.resource.component for m in openbao} == {tier.name.value}
    if tier.replicas.max > 1:  # clustered: the name is the vault router's, which finds the active node
        router = one([r for r in v.graph.find(RULE) if r.component == tier.name.value
                      and r.inputs.get("loadBalancingScheme") == "INTERNAL"], "vault routers")
        assert records(v)[f"{tier.name.value}.{PRIVATE}"] == {"*": [router.inputs["ipAddress"]]}
    host = urlsplit(vault["address"]).hostname
    assert host in cert_names(v, Service.OPENBAO)
    for m in app_machines(v):
        ca_file = m.services["reactor-server"]["environment"].get("VAULT_CACERT")
        assert ca_file, "https OpenBao without VAULT_CACERT"
        trusts_the_internal_ca(v, m, ca_file)


# --- NATS ----------------------------------------------------------------------------------------


def test_nats_servers_are_one_private_name_per_nats_machine():
    assert every(GCP, _nats_servers) == 87


def _nats_servers(token):
    v = view(token)
    cloud = v.doc.get("cloud", {})
    nodes = [m for m in v.machines if "nats" in m.services]
    if not v.plan.nats:
        assert "realtime" not in cloud and "pubsub" not in cloud and not nodes
        return
    tier = v.plan.tier_of(Service.NATS)
    servers = cloud["realtime"]["nats"]["servers"]
    assert cloud["pubsub"]["nats"]["servers"] == servers
    count = tier.replicas.max
    name = tier.name.value
    hosts = [f"{name}.{PRIVATE}"] if count == 1 else [f"{name}-{i}.{PRIVATE}" for i in range(count)]
    assert servers == [f"tls://{h}:4222" for h in hosts]
    assert {m.resource.component for m in nodes} == {name}
    assert len([m for m in nodes if m.region == v.plan.primary_region]) == count, "not one server per NATS machine"
    names = cert_names(v, Service.NATS)
    assert set(hosts) <= set(names), "the NATS certificate does not name every server"


# --- storage -------------------------------------------------------------------------------------


def test_storage_is_the_render_s_bucket_through_the_xml_api_or_the_app_node_s_disk():
    assert every(GCP, _storage) == 87


def _storage(token):
    v = view(token)
    storage = v.doc["storage"]
    if v.plan.app_tier.replicas.max == 1:
        assert v.plan.storage is StorageBackend.FS
        assert storage["backend"] == "fs" and not v.graph.find(BUCKET)
        path = f"{WORKDIR}/{storage['fs_base_path']}"
        m = one(app_machines(v), "app machines")
        volumes = [vol.split(":") for vol in m.services["reactor-server"]["volumes"]]
        assert any(path.startswith(target + "/") and source in m.compose.get("volumes", {})
                   for source, target, *_ in volumes), f"{path} is not on a volume of the machine's data disk"
        assert not STORAGE_KEYS.keys() & v.header.keys()
        return
    assert v.plan.storage is StorageBackend.S3
    bucket = one(v.graph.find(BUCKET), "buckets")
    assert storage["backend"] == "s3"
    assert storage["s3_bucket"] == bucket.inputs["name"] == v.graph.outputs["endpoints"]["bucket"]
    assert (storage["s3_endpoint"], storage["s3_region"]) == (XML_API, XML_REGION)


def test_reactor_server_signs_for_the_bucket_with_its_hmac_key_by_name_only():
    tokens = [t for t in GCP if view(t).doc["storage"]["backend"] == "s3"]
    assert every(tokens, _storage_credentials) == len(tokens) == 81


def _storage_credentials(token):
    v = view(token)
    hmac = one(v.graph.find(HMAC), "HMAC keys")
    key = v.graph.outputs_of(hmac.urn)
    for var, secret in STORAGE_KEYS.items():
        assert v.header.get(var) == f"secret {secret}", var
        version = one([s for s in v.graph.find("gcp:secretmanager/secretVersion:SecretVersion")
                       if s.inputs["secret"].endswith(f"/secrets/{prefix(v)}{secret}")], f"{secret} versions")
        assert version.inputs["secretData"] == "[secret]"
        assert hmac.urn in version.property_dependencies["secretData"], f"{secret} is not the bucket's HMAC key"
    for m in app_machines(v):
        server = m.services["reactor-server"]
        assert CHECKSUMS.items() <= server.get("environment", {}).items(), \
            f"{m.resource.name}: Cloud Storage rejects the SDK's default checksums"
        env = env_file(v, m)
        assert {var: env.get(var) for var in STORAGE_KEYS} == {var: "${" + s + "}" for var, s in STORAGE_KEYS.items()}
        listed = re.search(r"^#\s+reactor-server\.env: (.+)$", m.files[NODE_COMPOSE], re.M)
        assert listed and set(STORAGE_KEYS) <= set(listed.group(1).split(", ")), "the env file's names are not listed"
    for m in v.machines:
        config = m.resource.inputs["metadata"]["user-data"]
        assert key["accessId"] not in config and key["secret"] not in config, f"{m.resource.name}: an HMAC value"
    assert key["accessId"] not in v.text and key["secret"] not in v.text


# --- public URL, edition C -------------------------------------------------------------------------


def test_the_public_url_is_the_domain_or_the_ingress_s_address():
    assert every(GCP, _public_url) == 87


def _public_url(token):
    v = view(token)
    endpoints = v.graph.outputs["endpoints"]
    if v.plan.settings.domain:
        assert v.plan.settings.domain == C_DOMAIN and token.startswith("C")
        host = C_DOMAIN
    else:
        host = endpoints["public_ip"]
        statics = [r for t in ADDRESSES for r in v.graph.find(t) if r.inputs.get("addressType") == "EXTERNAL"]
        owner = one([r for r in statics if v.graph.outputs_of(r.urn).get("address") == host], "public addresses")
        assert owner.component in (v.plan.ingress.tier.value, "load-balancer"), owner.component
    assert v.doc["auth"]["public_url"] == f"https://{host}" == v.graph.outputs["public_url"] == endpoints["public_url"]
    if "cloud" in v.doc:
        assert v.doc["cloud"]["base_domain"] == host


def test_edition_c_is_multi_tenant_on_its_domain():
    tokens = [t for t in GCP if t.startswith("C")]
    assert every(tokens, _edition_c) == len(tokens) == 29


def _edition_c(token):
    v = view(token)
    cloud = v.doc["cloud"]
    assert cloud["multi_tenant"] is True
    assert cloud["provider"] == ("shared_cluster" if v.multi else "single_node")
    assert cloud["base_domain"] == v.plan.settings.domain == C_DOMAIN


def test_other_editions_are_single_tenant():
    tokens = [t for t in GCP if not t.startswith("C")]
    assert every(tokens, _single_tenant) == len(tokens) == 58


def _single_tenant(token):
    cloud = view(token).doc.get("cloud", {})
    assert cloud.get("multi_tenant", False) is False and "provider" not in cloud and "shared_pool" not in cloud


# --- private names -------------------------------------------------------------------------------


def used_names(v: View) -> list[tuple[str, Service, str]]:
    """Every (host, the service it reaches, where Reactor.toml uses it) that is not an address."""
    found: list[tuple[str, Service, str]] = []
    urls = {var: v.header[var] for var in ("REACTOR_DATABASE__URL", "REACTOR_CLOUD__SHARED_POOL__SHARED_POSTGRES_URL",
                                           "REACTOR_CLOUD__SHARED_POOL__POOLER__URL_TEMPLATE") if var in v.header}
    if "shared_pool" in v.doc.get("cloud", {}):
        urls["cloud.shared_pool.pooler.url_template"] = v.doc["cloud"]["shared_pool"]["pooler"]["url_template"]
    pooler = Service(v.plan.pooler.kind) if v.plan.pooler is not None else None
    for where, url in urls.items():
        host = host_port(url.replace("{ref}", "ref"))[0]
        if not is_ip(host):
            pooled = pooler is not None and host.split(".")[0] == v.plan.tier_of(pooler).name.value
            found.append((host, pooler if pooled else Service.POSTGRES, where))
    if "address" in v.doc["vault"]:
        found.append((urlsplit(v.doc["vault"]["address"]).hostname, Service.OPENBAO, "vault.address"))
    cloud = v.doc.get("cloud", {})
    for url in cloud.get("realtime", {}).get("nats", {}).get("servers", []):
        found.append((urlsplit(url).hostname, Service.NATS, "cloud.realtime.nats.servers"))
    # the gateway's default backend: resolved only where gateway-server runs (without one, e.g. an
    # autoscaled app pool behind the global load balancer at size 3, nothing dials it)
    if "backend_target" in cloud and Service.GATEWAY_SERVER in v.plan.services:
        found.append((host_port(cloud["backend_target"])[0], Service.REACTOR_SERVER, "cloud.backend_target"))
    return found


def test_every_private_name_reactor_toml_uses_resolves_in_the_private_zone():
    tokens = [t for t in GCP if view(t).multi]
    assert every(tokens, _private_names_resolve) == len(tokens) == 84


def _private_names_resolve(token):
    v = view(token)
    zone = records(v)
    for host, service, where in used_names(v):
        assert host.endswith(f".{PRIVATE}"), f"{where}: {host} is not a name in {PRIVATE}"
        assert host in zone, f"{where}: no record {host}. in the private zone"
        assert zone[host] == expected_addresses(v, host, service), f"{where}: {host} does not resolve to its {service}"


def test_a_single_node_names_its_neighbours_by_compose_service():
    tokens = [t for t in GCP if not view(t).multi]
    assert every(tokens, _compose_names) == len(tokens) == 3


def _compose_names(token):
    v = view(token)
    m = one(app_machines(v), "nodes")
    for host, _service, where in used_names(v):
        assert host in m.services, f"{where}: {host} is not a service of the node's compose project"
    if "backend_target" in v.doc.get("cloud", {}):
        assert host_port(v.doc["cloud"]["backend_target"]) == ("reactor-server", 8000)
    assert not v.graph.find(ZONE, dnsName=f"{PRIVATE}.")
