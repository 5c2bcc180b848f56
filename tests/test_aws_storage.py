"""The aws Storage component (S3) on its own, under the render's mocks.

What must hold: the bucket Reactor.toml names, never public, owner-enforced, encrypted (SSE-KMS
with the edition's key for E and C, else SSE-S3), versioned for E and C and whenever replicated,
old versions expired after the Plan's retention, TLS 1.2+ only, protected for E and C; with +mr a
replica bucket with the same guards in the second region and a least-privilege replication.
"""

from __future__ import annotations

import functools
import json

import pulumi
import pulumi_aws as aws
import pytest
from componentkit import render_components, resources_of

from reactor_infra import naming
from reactor_infra.graph import ResourceGraph
from reactor_infra.plan import build_plan
from reactor_infra.reactor_toml import default_endpoints
from reactor_infra.token import parse
from reactor_infra_aws.storage import Storage, StorageArgs, StorageReplicaArgs

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
OWNERSHIP = "aws:s3/bucketOwnershipControls:BucketOwnershipControls"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
LIFECYCLE = "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
KMS_KEY = "aws:kms/key:Key"
PRIMARY, SECOND = "us-east-1", "us-west-2"
GUARDS = (PUBLIC_ACCESS, OWNERSHIP, ENCRYPTION, LIFECYCLE, POLICY)


def _body(token: str, **overrides):
    plan = build_plan(parse(token))

    def body() -> None:
        primary = aws.Provider(f"aws-{PRIMARY}", region=PRIMARY)
        opts = pulumi.ResourceOptions(providers={"aws": primary})
        cmk = plan.policy.customer_managed_keys
        second_region = plan.database.cross_region_replica
        args = dict(plan=plan, bucket_name=default_endpoints(plan).s3_bucket,
                    kms_key=aws.kms.Key("key-east", opts=opts) if cmk else None)
        if second_region:
            second = aws.Provider(f"aws-{SECOND}", region=SECOND)
            args.update(
                replica=StorageReplicaArgs(
                    region=second_region, provider=second,
                    kms_key=aws.kms.Key("key-west", opts=pulumi.ResourceOptions(provider=second)) if cmk else None),
                replica_bucket_name=naming.global_name(plan, "storage", scope=second_region))
        Storage("storage", StorageArgs(**{**args, **overrides}), opts)

    return body


@functools.cache
def rendered(token: str) -> ResourceGraph:
    return render_components(_body(token), token=token)


def _one(graph: ResourceGraph, type_: str, name: str) -> dict:
    [found] = [r for r in resources_of(graph, type_) if r["name"] == name]
    return found


def _key_arn(graph: ResourceGraph, name: str) -> str:
    [key] = [r for r in graph.resources if r.type == KMS_KEY and r.name == name]
    return graph.outputs_of(key.urn)["arn"]


def _region_of(resource: dict) -> str:
    return resource["provider"].rsplit("::aws-", 1)[-1]


def _bucket_name(token: str, prefix: str = "storage") -> str:
    return _one(rendered(token), BUCKET, f"{prefix}-bucket")["inputs"]["bucket"]


# --- one bucket ----------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["O4@aws", "E5+ha@aws"])
def test_the_bucket_is_the_one_reactor_toml_names_and_never_force_destroyed(token):
    bucket = _one(rendered(token), BUCKET, "storage-bucket")["inputs"]
    assert bucket["bucket"] == default_endpoints(build_plan(parse(token))).s3_bucket
    assert bucket["forceDestroy"] is False


@pytest.mark.parametrize("token", ["O4@aws", "E5+ha@aws"])
def test_the_bucket_is_never_public_and_ignores_acls(token):
    graph, name = rendered(token), _bucket_name(token)
    block = _one(graph, PUBLIC_ACCESS, "storage-public-access")["inputs"]
    assert block == {"bucket": name, "blockPublicAcls": True, "blockPublicPolicy": True,
                     "ignorePublicAcls": True, "restrictPublicBuckets": True}
    assert _one(graph, OWNERSHIP, "storage-ownership")["inputs"]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


def test_edition_o_encrypts_with_s3_managed_keys_unversioned_unprotected():
    graph = rendered("O4@aws")
    [rule] = _one(graph, ENCRYPTION, "storage-encryption")["inputs"]["rules"]
    assert rule == {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}
    assert resources_of(graph, VERSIONING) == []
    assert _one(graph, BUCKET, "storage-bucket")["protect"] is False


def test_edition_e_encrypts_with_its_key_versions_and_protects():
    graph = rendered("E5+ha@aws")
    [rule] = _one(graph, ENCRYPTION, "storage-encryption")["inputs"]["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms", "kmsMasterKeyId": _key_arn(graph, "key-east")}
    assert rule["bucketKeyEnabled"] is True
    versioning = _one(graph, VERSIONING, "storage-versioning")["inputs"]
    assert versioning["versioningConfiguration"] == {"status": "Enabled"}
    assert _one(graph, BUCKET, "storage-bucket")["protect"] is True


@pytest.mark.parametrize("token, days", [("O4@aws", 7), ("E5+ha@aws", 14)])
def test_lifecycle_aborts_stale_uploads_and_expires_old_versions_after_the_retention(token, days):
    [rule] = _one(rendered(token), LIFECYCLE, "storage-lifecycle")["inputs"]["rules"]
    assert rule["status"] == "Enabled" and rule["filter"] == {}
    assert rule["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": days}


@pytest.mark.parametrize("token", ["O4@aws", "E6+ha+mr@aws"])
def test_bucket_policy_denies_requests_without_tls_or_below_tls_1_2(token):
    graph, name = rendered(token), _bucket_name(token)
    policy = _one(graph, POLICY, "storage-tls-only")["inputs"]
    document = json.loads(policy["policy"])
    assert policy["bucket"] == name
    statements = {s["Sid"]: s for s in document["Statement"]}
    assert all(s["Effect"] == "Deny" and s["Principal"] == "*" and s["Action"] == "s3:*" for s in statements.values())
    for s in statements.values():
        assert s["Resource"] == [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    assert statements["DenyWithoutTls"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statements["DenyOldTls"]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": 1.2}}
    assert document["Statement"] and not any(s["Effect"] == "Allow" for s in document["Statement"])


def test_no_replication_without_mr():
    graph = rendered("E5+ha@aws")
    assert resources_of(graph, REPLICATION) == [] and resources_of(graph, ROLE) == []
    assert len(resources_of(graph, BUCKET)) == 1


def test_renders_are_byte_identical():
    assert render_components(_body("E6+ha+mr@aws"), token="E6+ha+mr@aws").to_json() == rendered("E6+ha+mr@aws").to_json()


# --- +mr: the replica and the replication -------------------------------------------------


@pytest.mark.parametrize("token", ["O5+mr@aws", "E6+ha+mr@aws"])
def test_mr_makes_a_replica_bucket_with_the_same_guards_in_the_second_region(token):
    graph = rendered(token)
    plan = build_plan(parse(token))
    replica = _one(graph, BUCKET, "storage-replica-bucket")
    assert _region_of(replica) == SECOND
    assert replica["inputs"]["bucket"] == naming.global_name(plan, "storage", scope=SECOND)
    assert replica["inputs"]["bucket"] != _bucket_name(token)
    assert replica["protect"] is plan.policy.protect
    for type_ in (*GUARDS, VERSIONING):  # replication needs versioning on both ends, even for O
        on_replica = [r for r in resources_of(graph, type_) if r["name"].startswith("storage-replica-")]
        assert len(on_replica) == 1 and _region_of(on_replica[0]) == SECOND, type_
        assert on_replica[0]["inputs"]["bucket"] == replica["inputs"]["bucket"]
    assert _one(graph, VERSIONING, "storage-versioning")["inputs"]["versioningConfiguration"]["status"] == "Enabled"


def test_edition_e_replica_is_encrypted_with_the_second_regions_key():
    graph = rendered("E6+ha+mr@aws")
    [rule] = _one(graph, ENCRYPTION, "storage-replica-encryption")["inputs"]["rules"]
    key = _key_arn(graph, "key-west")
    assert key.startswith(f"arn:aws:kms:{SECOND}:")
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key}


@pytest.mark.parametrize("token", ["O5+mr@aws", "E6+ha+mr@aws"])
def test_replication_copies_everything_and_delete_markers_into_the_replica(token):
    graph = rendered(token)
    config = _one(graph, REPLICATION, "storage-replication")
    assert _region_of(config) == PRIMARY
    [rule] = config["inputs"]["rules"]
    assert config["inputs"]["bucket"] == _bucket_name(token)
    assert rule["status"] == "Enabled" and rule["filter"] == {}
    assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    assert rule["destination"]["bucket"] == f"arn:aws:s3:::{_bucket_name(token, 'storage-replica')}"
    role = _one(graph, ROLE, "storage-replication-role")
    assert json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "s3.amazonaws.com"}
    assert config["inputs"]["role"].endswith(f":role/{role['inputs']['name']}")
    # S3 accepts the configuration only once both buckets are versioned
    versioning = {r.urn for r in graph.resources if r.type == VERSIONING}
    [urn] = [r.urn for r in graph.resources if r.type == REPLICATION]
    assert versioning <= set(graph.get(urn).dependencies)


def test_edition_e_replicates_kms_objects_re_encrypted_with_the_second_regions_key():
    graph = rendered("E6+ha+mr@aws")
    [rule] = _one(graph, REPLICATION, "storage-replication")["inputs"]["rules"]
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    assert rule["destination"]["encryptionConfiguration"] == {"replicaKmsKeyId": _key_arn(graph, "key-west")}


def test_edition_o_replication_has_no_kms_settings():
    [rule] = _one(rendered("O5+mr@aws"), REPLICATION, "storage-replication")["inputs"]["rules"]
    assert "sourceSelectionCriteria" not in rule and "encryptionConfiguration" not in rule["destination"]


def _replication_policy(token: str) -> dict[str, dict]:
    policy = json.loads(_one(rendered(token), ROLE_POLICY, "storage-replication-policy")["inputs"]["policy"])
    return {s["Sid"]: s for s in policy["Statement"]}


@pytest.mark.parametrize("token", ["O5+mr@aws", "E6+ha+mr@aws"])
def test_replication_role_reads_only_the_source_and_writes_only_the_replica(token):
    statements = _replication_policy(token)
    source, destination = (f"arn:aws:s3:::{_bucket_name(token, p)}" for p in ("storage", "storage-replica"))
    assert all(s["Effect"] == "Allow" and "*" not in json.dumps(s["Action"]) for s in statements.values())
    assert statements["ReadSourceConfiguration"]["Resource"] == source
    assert statements["ReadSourceVersions"]["Resource"] == f"{source}/*"
    assert statements["ReplicateIntoDestination"]["Resource"] == f"{destination}/*"
    assert not any(a.startswith("s3:Put") or a.startswith("s3:Delete")
                   for s in statements.values() for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    kms = {sid for sid, s in statements.items() if "kms:" in json.dumps(s["Action"])}
    assert kms == (set() if token.startswith("O") else {"DecryptSourceObjects", "EncryptReplicas"})


def test_edition_e_replication_role_uses_each_key_only_through_s3_of_its_region():
    graph = rendered("E6+ha+mr@aws")
    statements = _replication_policy("E6+ha+mr@aws")
    decrypt, encrypt = statements["DecryptSourceObjects"], statements["EncryptReplicas"]
    assert decrypt["Action"] == "kms:Decrypt" and decrypt["Resource"] == _key_arn(graph, "key-east")
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{PRIMARY}.amazonaws.com"}}
    assert set(encrypt["Action"]) == {"kms:Encrypt", "kms:GenerateDataKey"}
    assert encrypt["Resource"] == _key_arn(graph, "key-west")
    assert encrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"s3.{SECOND}.amazonaws.com"}}


def test_a_replica_needs_its_bucket_name():
    with pytest.raises(Exception, match="replica_bucket_name"):
        render_components(_body("O5+mr@aws", replica_bucket_name=None), token="O5+mr@aws")


def test_a_replica_refuses_a_customer_managed_key_on_one_end_only():
    with pytest.raises(Exception, match="both regions or in neither"):
        render_components(_body("E6+ha+mr@aws", kms_key=None), token="E6+ha+mr@aws")
