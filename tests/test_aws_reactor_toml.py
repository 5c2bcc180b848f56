"""The Reactor.toml each `@aws` token renders (issue 9), read from the render's `reactor_toml`
output, parsed, and checked against the render's own resources, never against the core's
defaults: the database or pooler host, the OpenBao address, the NATS servers, the bucket and its
region, the public URL and the backend target each name something the render makes (an RDS
address, a Cloud Map name over the right machines or service, a bucket, a load balancer, an
Elastic IP). And the file is the one reactor-server really reads: the `files` init container of
its task (per region) or the node's user data at size 2.
"""

from __future__ import annotations

import base64
import json
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml
from matrix import every
from reactor_infra_aws import mocks as aws_mocks
from renders import C_DOMAIN, default_settings, rendered, rendered_json

from reactor_infra import runtime_schema as schema
from reactor_infra.graph import Resource, ResourceGraph
from reactor_infra.layout import Plan, Service, VaultMode
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

AWS = [t.token for t in valid_topologies() if t.platform is Platform.AWS]
WORKDIR = "/srv/reactor"
NODE_TOML = "/opt/reactor/Reactor.toml"
TASK, ECS_SERVICE = "aws:ecs/taskDefinition:TaskDefinition", "aws:ecs/service:Service"
CLOUD_MAP, CLOUD_MAP_INSTANCE = "aws:servicediscovery/service:Service", "aws:servicediscovery/instance:Instance"
INSTANCE, LB, RDS, BUCKET = ("aws:ec2/instance:Instance", "aws:lb/loadBalancer:LoadBalancer",
                             "aws:rds/instance:Instance", "aws:s3/bucket:Bucket")
PARAMETER, ACCESS_POINT = "aws:ssm/parameter:Parameter", "aws:efs/accessPoint:AccessPoint"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
CERT_REQUEST, CA_CERT = "tls:index/certRequest:CertRequest", "tls:index/selfSignedCert:SelfSignedCert"


@dataclass(frozen=True)
class View:
    graph: ResourceGraph
    plan: Plan
    text: str  # the render's `reactor_toml` output
    doc: dict[str, Any]  # parsed
    header: dict[str, str]  # the header's REACTOR_* variable -> where its value comes from
    region: str  # the primary region
    multi: bool  # size >= 3: ECS tasks and Cloud Map names, not the one node


@cache
def view(token: str) -> View:
    text = json.loads(rendered_json(token))["outputs"]["reactor_toml"]
    settings = default_settings(token)
    plan = build_plan(parse(token), load_settings(settings) if settings else None)
    header = dict(re.findall(r"^#\s+(REACTOR_\w+)\s+<- (.+)$", text, re.M))
    return View(rendered(token), plan, text, tomllib.loads(text), header, plan.primary_region, plan.topology.size >= 3)


def one(items: list, what: str):
    assert len(items) == 1, f"{len(items)} {what}, not one"
    return items[0]


def region_of(r: Resource) -> str:
    return r.provider.rsplit("::", 1)[-1].removeprefix("aws-")


def containers(task: Resource) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(task.inputs["containerDefinitions"])}


def reactor_tasks(v: View) -> dict[str, Resource]:
    """Region -> the task definition whose main container is reactor-server."""
    found = [t for t in v.graph.find(TASK) if "reactor-server" in containers(t)]
    assert sorted(region_of(t) for t in found) == sorted(v.plan.app_tier.regions), "one task per app region"
    return {region_of(t): t for t in found}


def task_files(task: Resource) -> dict[str, str | None]:
    """Path -> content of what the `files` init container writes (None: fetched from a URL)."""
    init = containers(task)["files"]
    env = {e["name"]: e["value"] for e in init["environment"]}
    script = init["command"][0]
    out: dict[str, str | None] = {path: base64.b64decode(env[var]).decode()
                                  for var, path in re.findall(r'printf %s "\$(FILE_\d+)" \| base64 -d > (\S+)', script)}
    out |= {path: None for path in re.findall(r"curl [^|;]*-o (\S+) https://", script)}
    return out


def node(v: View) -> tuple[dict[str, str], dict[str, Any]]:
    """Size 2: (the files the node's user data writes, its compose project)."""
    instance = one(v.graph.find(INSTANCE), "machines")
    files = {f["path"]: f["content"] for f in yaml.safe_load(instance.inputs["userData"])["write_files"]}
    return files, yaml.safe_load(files["/opt/reactor/compose.yaml"])


def in_region(v: View, type_: str, region: str) -> list[Resource]:
    return [r for r in v.graph.find(type_) if region_of(r) == region]


def names(v: View, region: str) -> dict[str, Resource]:
    """The region's Cloud Map services by name (`<name>.internal`)."""
    return {s.inputs["name"]: s for s in in_region(v, CLOUD_MAP, region)}


def records(v: View, service: Resource) -> list[dict[str, str]]:
    return [i.inputs["attributes"] for i in v.graph.find(CLOUD_MAP_INSTANCE) if service.urn in i.dependencies]


def machines(v: View, service: Service) -> dict[str, Resource]:
    """Private address -> the EC2 machine of the tier that runs `service` (none when no tier does)."""
    tier = v.plan.tier_of(service)
    return {} if tier is None else {m.inputs.get("privateIp"): m for m in v.graph.find(INSTANCE)
                                    if m.component == tier.name.value}


def registration(v: View, container: str, region: str) -> str:
    """The Cloud Map name the ECS service running `container` registers as in `region`."""
    task = one([t for t in in_region(v, TASK, region) if container in containers(t)], f"{container} tasks")
    ecs = one([s for s in in_region(v, ECS_SERVICE, region) if task.urn in s.property_dependencies["taskDefinition"]],
              f"{container} services")
    by_arn = {v.graph.outputs_of(s.urn)["arn"]: s for s in in_region(v, CLOUD_MAP, region)}
    return by_arn[ecs.inputs["serviceRegistries"]["registryArn"]].inputs["name"]


def public_host(v: View, region: str) -> str:
    lb = one([lb for lb in in_region(v, LB, region) if not lb.inputs.get("internal")], "public load balancers")
    return v.graph.outputs_of(lb.urn)["dnsName"]


def primary_rds(v: View) -> Resource:
    return one([r for r in in_region(v, RDS, v.region) if not r.inputs.get("replicateSourceDb")], "primary databases")


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"x://{url}")
    return parts.hostname, parts.port


def cert_names(v: View, service: Service) -> list[str]:
    """The names the internal CA's certificate for the tier running `service` covers."""
    tier = v.plan.tier_of(service).name.value
    return one([r for r in v.graph.find(CERT_REQUEST) if r.inputs["subject"]["commonName"] == f"{tier}.internal"],
               f"{tier} certificates").inputs["dnsNames"]


def test_the_output_parses_and_holds_only_keys_the_runtime_reads():
    assert every(AWS, _parses_and_holds_only_known_keys) == 87


def _parses_and_holds_only_known_keys(token):
    v = view(token)
    assert v.graph.outputs["reactor_toml"] == v.text
    assert schema.check(v.doc) == []
    assert set(schema.MANDATORY_SECTIONS) <= v.doc.keys()
    assert ".late.invalid" not in v.text, "a late value was left unbound"


def test_the_header_lists_exactly_the_secret_variables_reactor_server_gets():
    every(AWS, _header_is_the_container_env)


def _header_is_the_container_env(token):
    v = view(token)
    assert {"REACTOR_ADMIN__TOKEN", "REACTOR_DATABASE__URL"} <= v.header.keys()
    if not v.multi:
        files, compose = node(v)
        script = files["/usr/local/sbin/reactor-fetch-secrets"]
        assert set(re.findall(r"printf '%s=%s\\n' (REACTOR_\w+) .*reactor-server\.env", script)) == v.header.keys()
        _plain_env_agrees_with_the_file(v, compose["services"]["reactor-server"]["environment"])
        return
    parameters = {v.graph.outputs_of(p.urn)["arn"]: p.inputs["name"] for p in v.graph.find(PARAMETER)}
    for region, task in reactor_tasks(v).items():
        main = containers(task)["reactor-server"]
        secrets = {s["name"]: s["valueFrom"] for s in main["secrets"]}
        assert secrets.keys() == v.header.keys(), region
        for var, source in v.header.items():
            expected = source.removeprefix("secret ") if source.startswith("secret ") else f"env/reactor-server/{var}"
            assert parameters.get(secrets[var]) == f"/{v.plan.stack}/{expected}", (region, var)
        _plain_env_agrees_with_the_file(v, {e["name"]: e["value"] for e in main["environment"]})


def _plain_env_agrees_with_the_file(v: View, env: dict[str, str]) -> None:
    """A plain REACTOR_* variable overrides the file: it must say what the file says."""
    leaves = dict(schema.leaves(v.doc))
    for var, value in env.items():
        if var.startswith(schema.ENV_PREFIX) and "__" in var:
            assert leaves.get(schema.dotted_key(var)) == value, var


# --- database ----------------------------------------------------------------------------------


def test_the_database_url_names_the_render_s_database_or_pooler():
    every(AWS, _database_url)


def _database_url(token):
    v = view(token)
    url = v.header["REACTOR_DATABASE__URL"]
    host, port = host_port(url)
    if not v.multi:
        assert (host, port) == ("postgres", 5432)
        assert "postgres" in node(v)[1]["services"]
        return
    rds = primary_rds(v)
    address = v.graph.outputs_of(rds.urn)["address"]
    pooled = v.plan.pooler is not None and not v.plan.policy.multi_tenant
    for region, task in reactor_tasks(v).items():
        if pooled:
            kind = str(v.plan.pooler.kind)
            assert (host, port) == (f"{registration(v, kind, region)}.internal", v.plan.pooler.port), region
            pooler = one([containers(t)[kind] for t in in_region(v, TASK, region) if kind in containers(t)], kind)
            assert {e["name"]: e["value"] for e in pooler["environment"]}["DB_HOST"] == address, region
        else:
            assert (host, port) == (address, 5432), region
            name = f"/{v.plan.stack}/env/reactor-server/REACTOR_DATABASE__URL"
            param = one([p for p in v.graph.find(PARAMETER) if p.inputs["name"] == name], name)
            assert rds.urn in param.property_dependencies["value"]
            query = parse_qs(urlsplit(url).query)  # verified against a CA bundle the task holds
            assert query.get("sslmode") == ["verify-full"] and query["sslrootcert"][0] in task_files(task), query


def test_a_multi_tenant_install_reaches_tenant_databases_through_the_pooler():
    tokens = [t for t in AWS if view(t).plan.policy.multi_tenant and view(t).plan.pooler]
    assert tokens
    every(tokens, _tenant_pooler)


def _tenant_pooler(token):
    v = view(token)
    for region in reactor_tasks(v):
        assert registration(v, str(v.plan.pooler.kind), region) == "pooler", region
    template = v.doc["cloud"]["shared_pool"]["pooler"]["url_template"]
    # verified against the install's CA when PgBouncer speaks TLS (the runtime replaces {ref} only)
    tls = "?sslmode=verify-full&sslrootcert=/srv/reactor/internal-ca.pem" if v.plan.pooler.kind == "pgbouncer" else ""
    assert template == f"postgres://reactor@pooler.internal:{v.plan.pooler.port}/{{ref}}{tls}"
    assert host_port(v.header["REACTOR_CLOUD__SHARED_POOL__POOLER__URL_TEMPLATE"].replace("{ref}", "ref")) == \
        ("pooler.internal", v.plan.pooler.port)
    shared = v.header["REACTOR_CLOUD__SHARED_POOL__SHARED_POSTGRES_URL"]
    assert host_port(shared)[0] == v.graph.outputs_of(primary_rds(v).urn)["address"]


# --- vault ---------------------------------------------------------------------------------------


def test_the_openbao_address_is_a_name_over_the_tier_that_runs_it():
    every(AWS, _openbao_address)


def _openbao_address(token):
    v = view(token)
    vault = v.doc["vault"]
    if v.plan.vault is not VaultMode.OPENBAO:
        assert vault["backend"] == "embedded" and "address" not in vault
        assert not machines(v, Service.OPENBAO)
        return
    address = urlsplit(vault["address"])
    if not v.multi:
        assert vault["address"] == "http://openbao:8200"
        files, compose = node(v)
        assert "openbao" in compose["services"] and "/opt/reactor/openbao.hcl" in files
        return
    tier = v.plan.tier_of(Service.OPENBAO).name.value
    assert (address.hostname, address.port) == (f"{tier}.internal", 8200)
    assert address.scheme == ("https" if v.plan.internal_tls else "http")
    nodes = machines(v, Service.OPENBAO)
    assert nodes, f"no {tier} machine in the render"
    for region, task in reactor_tasks(v).items():
        service = names(v, region).get(tier)
        assert service is not None, f"{tier}.internal is not a Cloud Map name in {region}"
        record = one(service.inputs["dnsConfig"]["dnsRecords"], "records")
        target = one(records(v, service), f"instances of {tier}.internal")
        if len(nodes) > 1:  # clustered: the router's load balancer
            router = one([lb for lb in v.graph.find(LB) if "VaultRouter" in lb.urn and lb.inputs["internal"]], "router")
            assert record["type"] == "CNAME"
            assert target == {"AWS_INSTANCE_CNAME": v.graph.outputs_of(router.urn)["dnsName"]}
        else:
            assert record["type"] == "A" and target == {"AWS_INSTANCE_IPV4": next(iter(nodes))}
        if address.scheme == "https":
            _trusts_the_internal_ca(v, task, address.hostname)


def _trusts_the_internal_ca(v: View, task: Resource, host: str) -> None:
    """reactor-server verifies OpenBao with the install's CA, whose certificate names the host."""
    env = {e["name"]: e["value"] for e in containers(task)["reactor-server"]["environment"]}
    ca_file = env.get("VAULT_CACERT")
    assert ca_file, "https OpenBao without VAULT_CACERT"
    ca = one(v.graph.find(CA_CERT), "CA certificates")
    assert task_files(task).get(ca_file) == v.graph.outputs_of(ca.urn)["certPem"]
    assert host in cert_names(v, Service.OPENBAO)


# --- NATS ----------------------------------------------------------------------------------------


def test_nats_servers_are_one_url_per_nats_machine():
    every(AWS, _nats_servers)


def _nats_servers(token):
    v = view(token)
    cloud = v.doc.get("cloud", {})
    nodes = machines(v, Service.NATS)
    if not v.plan.nats:
        assert "realtime" not in cloud and "pubsub" not in cloud and not nodes
        return
    servers = cloud["realtime"]["nats"]["servers"]
    assert cloud["pubsub"]["nats"]["servers"] == servers
    assert len(servers) == len(nodes) > 0, f"{len(servers)} servers for {len(nodes)} NATS machines"
    scheme = "tls" if v.plan.internal_tls else "nats"
    for region in reactor_tasks(v):
        found = set()
        for url in servers:
            parts = urlsplit(url)
            assert parts.scheme == scheme and parts.port == 4222, url
            service = names(v, region).get(parts.hostname.removesuffix(".internal"))
            assert service is not None, f"{parts.hostname} is not a Cloud Map name in {region}"
            found.add(one(records(v, service), f"instances of {parts.hostname}").get("AWS_INSTANCE_IPV4"))
            if scheme == "tls":
                assert parts.hostname in cert_names(v, Service.NATS)
        assert found == set(nodes), "the names do not cover exactly the NATS machines"


# --- storage -------------------------------------------------------------------------------------


def test_storage_points_at_the_render_s_bucket_or_a_persistent_disk():
    every(AWS, _storage)


def _storage(token):
    v = view(token)
    storage = v.doc["storage"]
    if storage["backend"] == "s3":
        bucket = one([b for b in in_region(v, BUCKET, v.region) if b.component == "storage"], "buckets")
        assert storage["s3_bucket"] == bucket.inputs["bucket"]
        assert storage["s3_region"] == v.region == region_of(bucket)
        for region, task in reactor_tasks(v).items():
            role = task.inputs["taskRoleArn"].rsplit("/", 1)[-1]
            policies = [p.inputs["policy"] for p in v.graph.find(ROLE_POLICY) if p.inputs["role"] == role]
            assert any(f"arn:aws:s3:::{bucket.inputs['bucket']}/*" in p for p in policies), region
        return
    assert storage["backend"] == "fs" and not v.graph.find(BUCKET)
    path = f"{WORKDIR}/{storage['fs_base_path']}"
    if not v.multi:  # a Docker volume on the node's own data disk
        files, compose = node(v)
        volumes = [m.split(":") for m in compose["services"]["reactor-server"]["volumes"]]
        assert any(path.startswith(target + "/") and source in compose["volumes"] for source, target, *_ in volumes)
        assert "/var/lib/docker/volumes" in files["/usr/local/sbin/reactor-prepare-node"]
        assert [vol.inputs["encrypted"] for vol in v.graph.find("aws:ebs/volume:Volume")] == [True]
        return
    point = one([a for a in v.graph.find(ACCESS_POINT) if a.inputs["rootDirectory"]["path"] == "/reactor-server-data"],
                "access points for reactor-server's data")
    task = one(list(reactor_tasks(v).values()), "reactor-server tasks")
    volumes = {vol["name"]: vol for vol in task.inputs["volumes"]}
    mounts = containers(task)["reactor-server"]["mountPoints"]
    mount = one([m for m in mounts if path.startswith(m["containerPath"] + "/")
                 and "efsVolumeConfiguration" in volumes[m["sourceVolume"]]], f"EFS mounts over {path}")
    efs = volumes[mount["sourceVolume"]]["efsVolumeConfiguration"]
    point_id = aws_mocks.resource_state(ACCESS_POINT, point.name, {}, v.region)[0]  # the id the mocks gave it
    assert efs["authorizationConfig"]["accessPointId"] == point_id
    assert efs["transitEncryption"] == "ENABLED"


# --- public URL and backend target ---------------------------------------------------------------


def test_the_public_url_is_the_domain_the_load_balancer_or_the_elastic_ip():
    every(AWS, _public_url)


def _public_url(token):
    v = view(token)
    if v.plan.settings.domain:
        assert v.plan.settings.domain == C_DOMAIN and token.startswith("C")
        host = C_DOMAIN
    elif v.multi:
        host = public_host(v, v.region)
    else:
        host = v.graph.outputs_of(one(v.graph.find("aws:ec2/eip:Eip"), "Elastic IPs").urn)["publicIp"]
    assert v.doc["auth"]["public_url"] == f"https://{host}" == v.graph.outputs["public_url"]
    if "cloud" in v.doc:
        assert v.doc["cloud"]["base_domain"] == host


def test_the_backend_target_is_where_reactor_server_registers():
    tokens = [t for t in AWS if "backend_target" in view(t).doc.get("cloud", {})]
    assert tokens
    every(tokens, _backend_target)


def _backend_target(token):
    v = view(token)
    host, port = host_port(v.doc["cloud"]["backend_target"])
    if not v.multi:
        assert (host, port) == ("reactor-server", 8000) and "reactor-server" in node(v)[1]["services"]
        return
    for region, task in reactor_tasks(v).items():
        assert host == f"{registration(v, 'reactor-server', region)}.internal" == "app.internal", region
        assert port in [p["containerPort"] for p in containers(task)["reactor-server"]["portMappings"]]


# --- the file reactor-server reads ----------------------------------------------------------------


def test_reactor_server_reads_exactly_this_file():
    every(AWS, _reactor_server_reads_this_file)


def _reactor_server_reads_this_file(token):
    v = view(token)
    if not v.multi:
        files, compose = node(v)
        server = compose["services"]["reactor-server"]
        assert files[NODE_TOML] == v.text
        assert server["working_dir"] == WORKDIR and f"./Reactor.toml:{WORKDIR}/Reactor.toml:ro" in server["volumes"]
        return
    for region, task in reactor_tasks(v).items():
        expected = v.text
        if region != v.region and not v.plan.settings.domain:  # each region is reached at its own load balancer
            expected = v.text.replace(public_host(v, v.region), public_host(v, region))
        assert task_files(task)[f"{WORKDIR}/Reactor.toml"] == expected, region
        main = containers(task)["reactor-server"]
        assert main["workingDirectory"] == WORKDIR
        assert any(m["containerPath"] == WORKDIR and m["readOnly"] for m in main["mountPoints"])
