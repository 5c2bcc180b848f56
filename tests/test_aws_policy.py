"""The policy every `@aws` render must hold, whatever the token (issue 9): one test per rule,
each over every valid `@aws` token, failing once with the tokens that break it.

Data at rest is encrypted (with the customer-managed key where the edition has one), the
database is private and keeps the edition's backups, nothing but the load balancers, the NAT
gateways and the size-2 node has a public address, only 80/443 are open to the world and only
on the public end, what holds state is protected exactly for E and C, every machine asks for
IMDSv2, and no generated secret value is anywhere in a render: containers get secrets by
reference. Where the Plan says a thing exists (a database, a bucket, a load balancer with TLS),
the check first asserts it does, so no rule holds by checking nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from matrix import every
from renders import default_settings, rendered, rendered_json

from reactor_infra.conformance import generated_values
from reactor_infra.graph import Resource, ResourceGraph
from reactor_infra.layout import DatabaseHosting, Plan, TlsTermination
from reactor_infra.mocks import tls_values
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

AWS_TOKENS = [t.token for t in valid_topologies() if t.platform is Platform.AWS]
BACKUP_DAYS = {"O": 7, "E": 14, "C": 14}  # issue 9: 7 days for O, 14+ for E and C
WORLD = ("0.0.0.0/0", "::/0")
SECRET = "[secret]"
# an environment variable whose name says it carries a secret; it must be a `secrets` entry
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|KEY|CREDENTIAL")
# plain variables whose names match SECRET_NAME but carry no secret: none today
# names that look secret but hold a path (the key itself is a secret file the init container writes)
NOT_SECRET_ENV: frozenset[str] = frozenset({"CLIENT_TLS_KEY_FILE"})

RDS = "aws:rds/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
INSTANCE = "aws:ec2/instance:Instance"
EFS = "aws:efs/fileSystem:FileSystem"
LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
SUBNET = "aws:ec2/subnet:Subnet"
EIP = "aws:ec2/eip:Eip"
NAT = "aws:ec2/natGateway:NatGateway"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
ECS_SERVICE = "aws:ecs/service:Service"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
PREFIX_LIST = "aws:ec2/managedPrefixList:ManagedPrefixList"
BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
KMS_KEY = "aws:kms/key:Key"
PARAMETER = "aws:ssm/parameter:Parameter"
STATEFUL = (RDS, BUCKET, EFS, VOLUME, KMS_KEY)


def plan_of(token: str) -> Plan:
    settings = default_settings(token)
    return build_plan(parse(token), load_settings(settings) if settings else None)


def region_of(r: Resource) -> str:
    """The region of the explicit provider a resource was made through (`aws-<region>`)."""
    assert r.provider, f"{r.name} has no explicit provider"
    return r.provider.rsplit("::", 1)[-1].removeprefix("aws-")


def customer_keys(graph: ResourceGraph, region: str) -> set[str]:
    """ARNs of the customer-managed data keys in a region (none when the edition has none)."""
    return {graph.outputs_of(k.urn)["arn"] for k in graph.find(KMS_KEY)
            if k.name.endswith("-data") and region_of(k) == region}


def referenced(graph: ResourceGraph, r: Resource, key: str) -> list[Resource]:
    """The resources an input of `r` was made from (its property dependencies)."""
    return [graph.get(urn) for urn in r.property_dependencies.get(key, ())]


def name_tag(r: Resource) -> str:
    return r.inputs.get("tags", {}).get("Name", "")


def check_key(graph: ResourceGraph, plan: Plan, r: Resource, key_arn: object) -> None:
    """E and C encrypt with the region's customer-managed key; O has none to use."""
    cmks = customer_keys(graph, region_of(r))
    if plan.policy.customer_managed_keys:
        assert key_arn in cmks and len(cmks) == 1, f"{r.type} {r.name}: key {key_arn}, not the region's CMK"
    else:
        assert not cmks, "O makes no customer-managed key"


# --- the database ------------------------------------------------------------------------------


def databases(graph: ResourceGraph, plan: Plan) -> list[Resource]:
    found = graph.find(RDS)
    wanted = plan.database.hosting is DatabaseHosting.MANAGED
    assert bool(found) == wanted, f"RDS instances {len(found)}, the Plan's database is {plan.database.hosting}"
    return found


def test_rds_is_encrypted_with_the_editions_key():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        for db in databases(graph, plan):
            assert db.inputs.get("storageEncrypted") is True, f"{db.name} is not encrypted"
            if plan.policy.customer_managed_keys:
                check_key(graph, plan, db, db.inputs.get("kmsKeyId"))
            else:  # the primary on aws/rds by default; a cross-region replica names aws/rds there
                assert db.inputs.get("kmsKeyId") is None or "replicateSourceDb" in db.inputs
    every(AWS_TOKENS, check)


def test_rds_is_private():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        for db in databases(graph, plan):
            assert db.inputs.get("publiclyAccessible") is False, f"{db.name} is publicly accessible"
            (group,) = referenced(graph, db, "dbSubnetGroupName")
            subnets = referenced(graph, group, "subnetIds")
            assert len(subnets) >= 2 and all("-private" in name_tag(s) for s in subnets), \
                f"{db.name} lives in subnets {[name_tag(s) for s in subnets]}"
    every(AWS_TOKENS, check)


def test_rds_keeps_backups_as_long_as_the_edition_says():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        days = plan.policy.backup_retention_days
        assert days == BACKUP_DAYS[plan.topology.edition.value], f"the Plan keeps backups {days} days"
        for db in databases(graph, plan):
            assert db.inputs.get("backupRetentionPeriod") == days, \
                f"{db.name} keeps backups {db.inputs.get('backupRetentionPeriod')} days, the Plan {days}"
    every(AWS_TOKENS, check)


def test_rds_has_deletion_protection_and_pulumi_protect_for_e_and_c():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        protect = plan.policy.protect
        assert protect == (plan.topology.edition.value in "EC")
        for db in databases(graph, plan):
            assert db.inputs.get("deletionProtection") is protect, f"{db.name}: deletionProtection"
            assert db.protect is protect, f"{db.name}: protect={db.protect}"
            if "replicateSourceDb" not in db.inputs:  # RDS takes no final snapshot of a replica
                assert db.inputs.get("skipFinalSnapshot") is (not protect), f"{db.name}: final snapshot"
    every(AWS_TOKENS, check)


# --- disks and file systems -----------------------------------------------------------------------


def test_every_ebs_volume_and_root_disk_is_encrypted():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        volumes, instances = graph.find(VOLUME), graph.find(INSTANCE)
        assert len(volumes) == len(instances), "one data volume per machine"
        for v in volumes:
            assert v.inputs.get("encrypted") is True, f"volume {v.name} is not encrypted"
            check_key(graph, plan, v, v.inputs.get("kmsKeyId"))
        for i in instances:
            root = i.inputs.get("rootBlockDevice") or {}
            assert root.get("encrypted") is True, f"{i.name}'s root disk is not encrypted"
            check_key(graph, plan, i, root.get("kmsKeyId"))
            assert not i.inputs.get("ebsBlockDevices"), f"{i.name} has inline disks"
    every(AWS_TOKENS, check)


def test_every_file_system_is_encrypted_at_rest_and_in_transit():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        for fs in graph.find(EFS):
            assert fs.inputs.get("encrypted") is True, f"{fs.name} is not encrypted"
            check_key(graph, plan, fs, fs.inputs.get("kmsKeyId"))
        mounts = [v["efsVolumeConfiguration"] for t in graph.find(TASK) for v in t.inputs.get("volumes", [])
                  if v.get("efsVolumeConfiguration")]
        # machines sharing Caddy's certificates (size 4 with +ha) mount with the EFS helper
        fstab = [line for i in graph.find("aws:ec2/instance:Instance")
                 for line in re.findall(r"echo '(\S+:/ \S+ efs [^']*)'", i.inputs.get("userData", ""))]
        assert len(mounts) + len(fstab) >= len(graph.find(EFS)), "every file system is mounted"
        for m in mounts:
            assert m.get("transitEncryption") == "ENABLED", f"an EFS mount without TLS: {m}"
            assert m.get("authorizationConfig", {}).get("iam") == "ENABLED", f"an EFS mount without IAM: {m}"
        for line in fstab:
            options = line.split()[3].split(",")
            assert "tls" in options and "iam" in options and any(o.startswith("accesspoint=") for o in options), line
    every(AWS_TOKENS, check)


# --- what the internet reaches --------------------------------------------------------------------


def test_every_http_listener_only_redirects_to_https():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        by_arn = {graph.outputs_of(lb.urn)["arn"]: lb for lb in graph.find(LB)}
        albs = [lb for lb in by_arn.values() if lb.inputs.get("loadBalancerType") == "application"]
        assert bool(albs) == (plan.ingress.tls is TlsTermination.LOAD_BALANCER), "an ALB exactly where it ends TLS"
        for listener in graph.find(LISTENER):
            if listener.inputs.get("protocol") != "HTTP":
                continue
            assert listener.inputs.get("port") == 80, f"{listener.name}: plain HTTP on {listener.inputs.get('port')}"
            actions = listener.inputs.get("defaultActions", [])
            assert [a.get("type") for a in actions] == ["redirect"], f"{listener.name} does {actions}"
            redirect = actions[0]["redirect"]
            assert (redirect.get("protocol"), redirect.get("port")) == ("HTTPS", "443"), f"{listener.name}: {redirect}"
        for alb in albs:
            mine = {(x.inputs.get("port"), x.inputs.get("protocol")): x for x in graph.find(LISTENER)
                    if by_arn.get(x.inputs.get("loadBalancerArn")) is alb}
            assert sorted(mine) == [(80, "HTTP"), (443, "HTTPS")], f"{alb.name} listens on {sorted(mine)}"
            https = mine[(443, "HTTPS")].inputs
            assert https.get("certificateArn"), f"{alb.name}'s HTTPS listener has no certificate"
            assert https.get("sslPolicy", "").startswith("ELBSecurityPolicy-TLS13"), https.get("sslPolicy")
    every(AWS_TOKENS, check)


def test_no_public_address_but_the_load_balancers_the_nat_gateways_and_the_size_2_node():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        size = plan.topology.size
        for i in graph.find(INSTANCE):
            assert i.inputs.get("associatePublicIpAddress") is False, f"{i.name} asks for a public IP"
            if size >= 3:
                (subnet,) = referenced(graph, i, "subnetId")
                assert "-private" in name_tag(subnet), f"{i.name} is in {name_tag(subnet)}"
        for s in graph.find(SUBNET):
            assert s.inputs.get("mapPublicIpOnLaunch") is False, f"{s.name} maps public IPs"
        for svc in graph.find(ECS_SERVICE):
            assert svc.inputs["networkConfiguration"].get("assignPublicIp") is False, f"{svc.name} gets a public IP"
        for db in graph.find(RDS):
            assert db.inputs.get("publiclyAccessible") is False, f"{db.name} is publicly accessible"
        # Elastic IPs: one per NAT gateway, and the size-2 node's
        eips = {graph.outputs_of(e.urn)["allocationId"]: e for e in graph.find(EIP)}
        users = [n.inputs.get("allocationId") for n in graph.find(NAT)]
        users += [a.inputs.get("allocationId") for a in graph.find(EIP_ASSOCIATION) if size == 2]
        assert sorted(users) == sorted(eips), f"Elastic IPs {sorted(e.name for e in eips.values())} " \
                                              f"are not exactly the NAT gateways' and the size-2 node's"
        if size == 2:
            assert len(graph.find(EIP_ASSOCIATION)) == 1 and not graph.find(NAT)
        # load balancers: the public one per region faces the internet, the vault router never does
        public = [lb for lb in graph.find(LB) if lb.inputs.get("internal") is False]
        internal = [lb for lb in graph.find(LB) if lb.inputs.get("internal") is True]
        assert len(public) + len(internal) == len(graph.find(LB)), "every load balancer says internal or not"
        assert sorted(region_of(lb) for lb in public) == (sorted(plan.regions) if size >= 3 else []), \
            f"internet-facing: {[lb.name for lb in public]}"
        for lb in public:
            assert lb.component == "network" and lb.name.startswith("load-balancer"), f"{lb.name} faces the internet"
            assert all("-public" in name_tag(s) for s in referenced(graph, lb, "subnets"))
        for lb in internal:
            assert lb.name == "vault-router-lb", f"unexpected internal load balancer {lb.name}"
            assert all("-private" in name_tag(s) for s in referenced(graph, lb, "subnets"))
    every(AWS_TOKENS, check)


def test_only_80_and_443_are_open_to_the_world_and_only_on_the_public_end():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        public_end = "node" if plan.topology.size == 2 else "load-balancer"
        opened = []
        for rule in graph.find(INGRESS):
            cidr = rule.inputs.get("cidrIpv4") or rule.inputs.get("cidrIpv6")
            if cidr is None:
                assert rule.inputs.get("referencedSecurityGroupId") or rule.inputs.get("prefixListId"), rule.name
                continue
            assert cidr in WORLD, f"{rule.name} admits {cidr}: inside the VPC rules name groups or prefix lists"
            (group,) = referenced(graph, rule, "securityGroupId")
            port, to, protocol = (rule.inputs.get(k) for k in ("fromPort", "toPort", "ipProtocol"))
            assert protocol == "tcp" and port == to and port in (80, 443), \
                f"{rule.name} opens {protocol} {port}-{to} to the world"
            tier = group.inputs["tags"]["reactor:tier"]
            assert tier == public_end, f"{rule.name} opens {tier} to the world"
            opened.append((region_of(rule), port))
        assert sorted(opened) == sorted((r, p) for r in plan.regions for p in (80, 443)), f"world-open: {opened}"
        for group in graph.find(SG):
            assert "ingress" not in group.inputs and "egress" not in group.inputs, f"{group.name} has inline rules"
        for prefix_list in graph.find(PREFIX_LIST):
            cidrs = [e["cidr"] for e in prefix_list.inputs.get("entries", [])]
            assert cidrs and not set(cidrs) & set(WORLD), f"{prefix_list.name} lists {cidrs}"
    every(AWS_TOKENS, check)


# --- protection, metadata, keys ---------------------------------------------------------------------


def test_stateful_resources_are_protected_exactly_for_e_and_c():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        stateful = [r for r in graph.resources if r.type in STATEFUL]
        assert stateful, "no stateful resource found"
        wrong = sorted(f"{r.type.rsplit(':', 1)[-1]} {r.name}" for r in stateful
                       if r.protect is not plan.policy.protect)
        assert not wrong, f"protect should be {plan.policy.protect} on {wrong}"
    every(AWS_TOKENS, check)


def test_every_machine_asks_for_imdsv2():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        instances = graph.find(INSTANCE)
        machines = sum(t.replicas.max for t in plan.tiers if t.name.value in ("node", "infra", "nats", "vault"))
        assert len(instances) == machines, f"{len(instances)} instances, the Plan's machine tiers {machines}"
        for i in instances:
            meta = i.inputs.get("metadataOptions") or {}
            assert meta.get("httpTokens") == "required", f"{i.name}: httpTokens {meta.get('httpTokens')}"
            assert meta.get("httpEndpoint") == "enabled" and meta.get("httpPutResponseHopLimit") in (1, 2), meta
    every(AWS_TOKENS, check)


def test_every_kms_key_rotates():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        keys = graph.find(KMS_KEY)
        assert keys or not (plan.policy.customer_managed_keys or plan.vault_seal == "awskms"), "no key made"
        for key in keys:
            assert key.inputs.get("enableKeyRotation") is True, f"{key.name} does not rotate"
    every(AWS_TOKENS, check)


# --- secrets -------------------------------------------------------------------------------------------


def secret_values(graph: ResourceGraph) -> list[str]:
    """Every value the render generated and must never show: pulumi-random's outputs and
    pulumi-tls's private keys (whole, and their first line of key material)."""
    values = list(generated_values(graph))
    for r in graph.resources:
        if r.type == "tls:index/privateKey:PrivateKey":
            for pem in tls_values(dict(graph.outputs_of(r.urn))):
                values += [pem, pem.splitlines()[1]]
    return values


def container_definitions(task: Resource) -> list[dict]:
    text = task.inputs.get("containerDefinitions")
    assert isinstance(text, str) and text != SECRET, f"{task.name}: container definitions are hidden or missing"
    return json.loads(text)


def decoded(value: str) -> str:
    """A base64 value's text (config files travel so in the init container), else ''."""
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""


def test_no_generated_secret_value_in_any_render_or_task_definition():
    def check(token):
        graph = rendered(token)
        values = secret_values(graph)
        assert values, "the render generated no secret to look for"
        texts = {"the render JSON": rendered_json(token)}
        for task in graph.find(TASK):
            for c in container_definitions(task):
                env = c.get("environment", [])
                texts[f"{task.name}/{c['name']}"] = json.dumps(c) + "".join(decoded(e["value"]) for e in env)
        found = sorted({where for where, text in texts.items() for v in values if v in text})
        assert not found, f"a generated secret value appears in {found}"
        for param in graph.find(PARAMETER):
            assert param.inputs.get("value") == SECRET and "value" in param.secret_inputs, f"{param.name} is plain"
    every(AWS_TOKENS, check)


def test_containers_get_secrets_only_by_reference_to_the_stacks_parameters():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        tasks = graph.find(TASK)
        assert bool(tasks) == (plan.topology.size >= 3), f"{len(tasks)} task definitions"
        arns = {graph.outputs_of(p.urn)["arn"] for p in graph.find(PARAMETER)}
        prefix = f"arn:aws:ssm:{plan.primary_region}:"
        for task in tasks:
            for c in container_definitions(task):
                for s in c.get("secrets", []):
                    assert s["valueFrom"] in arns and s["valueFrom"].startswith(prefix), \
                        f"{c['name']} {s['name']} from {s['valueFrom']}"
                plain = [e["name"] for e in c.get("environment", [])
                         if SECRET_NAME.search(e["name"]) and e["name"] not in NOT_SECRET_ENV]
                assert not plain, f"{c['name']} has secret-looking plain variables {plain}"
                if c["name"] == "reactor-server":
                    assert c.get("secrets"), "reactor-server gets no secret at all"
    every(AWS_TOKENS, check)


# --- buckets --------------------------------------------------------------------------------------------


def test_buckets_block_public_access_require_tls_and_are_encrypted():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        buckets = graph.find(BUCKET)
        assert len(buckets) == (len(plan.regions) if plan.has("storage") else 0), f"{len(buckets)} buckets"
        for bucket in buckets:
            name = bucket.inputs["bucket"]
            arn = graph.outputs_of(bucket.urn)["arn"]
            (block,) = [b for b in graph.find(PUBLIC_ACCESS) if b.inputs.get("bucket") == name]
            flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
            assert all(block.inputs.get(f) is True for f in flags), f"{name}: {dict(block.inputs)}"
            (policy,) = [p for p in graph.find(BUCKET_POLICY) if p.inputs.get("bucket") == name]
            statements = json.loads(policy.inputs["policy"])["Statement"]
            assert any(s["Effect"] == "Deny" and s["Principal"] == "*" and s["Action"] == "s3:*"
                       and sorted(s["Resource"]) == [arn, f"{arn}/*"]
                       and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
                       for s in statements), f"{name} does not refuse plain HTTP"
            (sse,) = [e for e in graph.find(ENCRYPTION) if e.inputs.get("bucket") == name]
            default = sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]
            if plan.policy.customer_managed_keys:
                assert default["sseAlgorithm"] == "aws:kms"
                check_key(graph, plan, bucket, default.get("kmsMasterKeyId"))
            else:
                assert default["sseAlgorithm"] == "AES256", default
    every(AWS_TOKENS, check)
