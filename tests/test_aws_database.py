"""The aws Database component (RDS for PostgreSQL) on its own, under the render's mocks.

What must hold: private and encrypted (the edition's customer-managed key for E and C), backups
for the Plan's retention, deletion protection + Pulumi protect + a final snapshot for E and C,
Multi-AZ with +ha, a cross-region read replica in the second region with that region's key with
+mr, TLS forced and no statement logging in the parameter group, and the master password a
secret that never appears in the graph.
"""

from __future__ import annotations

import functools

import pulumi
import pulumi_aws as aws
import pytest
from componentkit import render_components, resources_of

from reactor_infra.graph import ResourceGraph
from reactor_infra.layout import Sizing
from reactor_infra.naming import physical_name
from reactor_infra.plan import build_plan
from reactor_infra.token import parse
from reactor_infra_aws.database import (Database, DatabaseArgs, DatabaseReplicaArgs, ca_bundle_url,
                                        instance_class_for)

INSTANCE = "aws:rds/instance:Instance"
PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"
SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
KMS_KEY = "aws:kms/key:Key"
PASSWORD = "do-not-leak-7f3a9c"
PRIMARY, SECOND = "us-east-1", "us-west-2"


def _body(token: str, captured: list[Database], **overrides):
    plan = build_plan(parse(token))

    def body() -> None:
        primary = aws.Provider(f"aws-{PRIMARY}", region=PRIMARY)
        opts = pulumi.ResourceOptions(providers={"aws": primary})
        cmk = plan.policy.customer_managed_keys
        replica = None
        if plan.database.cross_region_replica:
            second = aws.Provider(f"aws-{SECOND}", region=SECOND)
            replica = DatabaseReplicaArgs(
                region=plan.database.cross_region_replica, provider=second,
                subnet_ids=["subnet-west-a", "subnet-west-b"], security_group_id="sg-west-database",
                kms_key=aws.kms.Key("key-west", opts=pulumi.ResourceOptions(provider=second)) if cmk else None)
        args = dict(plan=plan, subnet_ids=["subnet-east-a", "subnet-east-b"], security_group_id="sg-east-database",
                    password=pulumi.Output.secret(PASSWORD),
                    kms_key=aws.kms.Key("key-east", opts=opts) if cmk else None, replica=replica)
        captured.append(Database("database", DatabaseArgs(**{**args, **overrides}), opts))

    return body


@functools.cache
def rendered(token: str) -> tuple[ResourceGraph, Database]:
    captured: list[Database] = []
    graph = render_components(_body(token, captured), token=token)
    return graph, captured[0]


def _one(graph: ResourceGraph, type_: str, name: str) -> dict:
    [found] = [r for r in resources_of(graph, type_) if r["name"] == name]
    return found


def _primary(token: str) -> dict:
    return _one(rendered(token)[0], INSTANCE, "database-instance")


def _key_arn(graph: ResourceGraph, name: str) -> str:
    [key] = [r for r in graph.resources if r.type == KMS_KEY and r.name == name]
    return graph.outputs_of(key.urn)["arn"]


def _region_of(resource: dict) -> str:
    return resource["provider"].rsplit("::aws-", 1)[-1]


# --- the primary ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["O3@aws", "E5+ha@aws"])
def test_instance_is_private_encrypted_postgres_of_the_plans_major(token):
    inputs = _primary(token)["inputs"]
    assert inputs["engine"] == "postgres" and inputs["engineVersion"] == "16"
    assert inputs["publiclyAccessible"] is False
    assert inputs["storageEncrypted"] is True
    assert inputs["storageType"] == "gp3"
    assert inputs["username"] == "postgres" and inputs["dbName"] == "postgres"
    assert inputs["vpcSecurityGroupIds"] == ["sg-east-database"]
    assert inputs["caCertIdentifier"] == "rds-ca-rsa2048-g1"
    assert inputs["enabledCloudwatchLogsExports"] == ["postgresql"]
    assert inputs["performanceInsightsEnabled"] is True
    assert inputs["autoMinorVersionUpgrade"] is True and inputs["applyImmediately"] is False
    assert inputs["copyTagsToSnapshot"] is True


def test_edition_o_uses_the_aws_managed_key_and_is_not_protected():
    r = _primary("O3@aws")
    inputs = r["inputs"]
    assert "kmsKeyId" not in inputs and "performanceInsightsKmsKeyId" not in inputs
    assert r["protect"] is False
    assert inputs["deletionProtection"] is False
    assert inputs["skipFinalSnapshot"] is True and "finalSnapshotIdentifier" not in inputs
    assert inputs["backupRetentionPeriod"] == 7


def test_edition_e_uses_its_key_is_protected_and_keeps_a_final_snapshot():
    graph, _ = rendered("E5+ha@aws")
    r = _primary("E5+ha@aws")
    inputs = r["inputs"]
    key = _key_arn(graph, "key-east")
    assert inputs["kmsKeyId"] == key and inputs["performanceInsightsKmsKeyId"] == key
    assert r["protect"] is True
    assert inputs["deletionProtection"] is True
    assert inputs["skipFinalSnapshot"] is False
    plan = build_plan(parse("E5+ha@aws"))
    assert inputs["finalSnapshotIdentifier"] == physical_name(plan, "database", "postgres-final")
    assert inputs["deleteAutomatedBackups"] is False
    assert inputs["backupRetentionPeriod"] == 14


def test_ha_is_multi_az_and_without_ha_a_single_zone():
    assert _primary("E5+ha@aws")["inputs"]["multiAz"] is True
    assert _primary("O3@aws")["inputs"]["multiAz"] is False


def test_class_and_storage_follow_the_plans_sizing():
    small, active = _primary("O3@aws")["inputs"], _primary("E5+ha@aws")["inputs"]
    assert small["instanceClass"] == "db.t4g.medium"  # 2 vCPU / 4 GB
    assert active["instanceClass"] == "db.m6g.xlarge"  # 4 vCPU / 8 GB: no burstable class
    assert (small["allocatedStorage"], small["maxAllocatedStorage"]) == (50, 200)
    assert (active["allocatedStorage"], active["maxAllocatedStorage"]) == (100, 400)


def test_instance_class_table_takes_the_smallest_that_fits():
    assert instance_class_for(Sizing(1, 1, 10)) == "db.t4g.micro"
    assert instance_class_for(Sizing(2, 8, 10)) == "db.t4g.large"
    assert instance_class_for(Sizing(8, 16, 10)) == "db.m6g.2xlarge"
    with pytest.raises(ValueError, match="instance_class"):
        instance_class_for(Sizing(64, 512, 10))


def test_an_instance_class_override_wins():
    graph = render_components(_body("O3@aws", [], instance_class="db.r7g.large"), token="O3@aws")
    assert _one(graph, INSTANCE, "database-instance")["inputs"]["instanceClass"] == "db.r7g.large"


@pytest.mark.parametrize("token", ["O3@aws", "C10@aws"])
def test_parameter_group_forces_tls_logs_no_statements_and_sets_max_connections(token):
    graph, _ = rendered(token)
    plan = build_plan(parse(token))
    group = _one(graph, PARAMETER_GROUP, "database-parameters")["inputs"]
    assert group["family"] == "postgres16"
    values = {p["name"]: p["value"] for p in group["parameters"]}
    assert values == {
        "max_connections": str(plan.database.max_connections),
        "rds.force_ssl": "1",
        "log_statement": "none",
        "password_encryption": "scram-sha-256",
    }
    assert _primary(token)["inputs"]["parameterGroupName"] == group["name"]


def test_subnet_group_spans_the_given_private_subnets():
    graph, _ = rendered("O3@aws")
    group = _one(graph, SUBNET_GROUP, "database-subnets")["inputs"]
    assert group["subnetIds"] == ["subnet-east-a", "subnet-east-b"]
    assert _primary("O3@aws")["inputs"]["dbSubnetGroupName"] == group["name"]


def test_refuses_a_single_subnet():
    with pytest.raises(Exception, match="at least 2 zones"):
        render_components(_body("O3@aws", [], subnet_ids=["subnet-east-a"]), token="O3@aws")


@pytest.mark.parametrize("token", ["O3@aws", "E6+ha+mr@aws"])
def test_the_password_is_a_secret_and_never_in_the_graph(token):
    graph, _ = rendered(token)
    assert "password" in _primary(token)["secret_inputs"]
    assert _primary(token)["inputs"]["password"] == "[secret]"
    assert PASSWORD not in graph.to_json()


def test_attributes_name_the_regions_ca_bundle_and_no_replica_without_mr():
    _, database = rendered("O3@aws")
    assert database.ca_bundle_url == "https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem"
    assert database.replica is None and database.replica_address is None
    assert ca_bundle_url("eu-west-1").endswith("/eu-west-1/eu-west-1-bundle.pem")
    assert len(resources_of(rendered("O3@aws")[0], INSTANCE)) == 1


def test_renders_are_byte_identical():
    again = render_components(_body("E6+ha+mr@aws", []), token="E6+ha+mr@aws")
    assert again.to_json() == rendered("E6+ha+mr@aws")[0].to_json()


# --- +mr: the cross-region read replica ----------------------------------------------------


def test_mr_makes_a_read_replica_in_the_second_region_with_its_key():
    graph, database = rendered("E6+ha+mr@aws")
    replica = _one(graph, INSTANCE, "database-replica")
    inputs = replica["inputs"]
    assert _region_of(replica) == SECOND
    [primary] = [r for r in graph.resources if r.name == "database-instance"]
    assert inputs["replicateSourceDb"] == graph.outputs_of(primary.urn)["arn"]
    key = _key_arn(graph, "key-west")
    assert key.startswith(f"arn:aws:kms:{SECOND}:")
    assert inputs["kmsKeyId"] == key and inputs["performanceInsightsKmsKeyId"] == key
    assert inputs["storageEncrypted"] is True and inputs["publiclyAccessible"] is False
    assert inputs["vpcSecurityGroupIds"] == ["sg-west-database"]
    # what the source gives the replica is not set again
    assert not {"password", "username", "engine", "allocatedStorage"} & inputs.keys()
    assert database.replica is not None
    assert database.replica_ca_bundle_url.endswith(f"/{SECOND}/{SECOND}-bundle.pem")


def test_the_replica_is_protected_and_keeps_backups_to_be_promoted():
    replica = _one(rendered("E6+ha+mr@aws")[0], INSTANCE, "database-replica")
    assert replica["protect"] is True
    assert replica["inputs"]["deletionProtection"] is True
    assert replica["inputs"]["backupRetentionPeriod"] == 14
    # RDS takes no final snapshot of a replica
    assert replica["inputs"]["skipFinalSnapshot"] is True and "finalSnapshotIdentifier" not in replica["inputs"]


def test_the_replica_has_its_own_subnet_group_and_parameter_group_there():
    graph, _ = rendered("E6+ha+mr@aws")
    subnets = _one(graph, SUBNET_GROUP, "database-replica-subnets")
    params = _one(graph, PARAMETER_GROUP, "database-replica-parameters")
    assert _region_of(subnets) == _region_of(params) == SECOND
    assert subnets["inputs"]["subnetIds"] == ["subnet-west-a", "subnet-west-b"]
    assert {p["name"]: p["value"] for p in params["inputs"]["parameters"]}["rds.force_ssl"] == "1"
    replica = _one(graph, INSTANCE, "database-replica")["inputs"]
    assert replica["dbSubnetGroupName"] == subnets["inputs"]["name"]
    assert replica["parameterGroupName"] == params["inputs"]["name"]


def test_the_replica_answers_at_an_address_in_its_own_region():
    graph, _ = rendered("E6+ha+mr@aws")
    addresses = {r.name: graph.outputs_of(r.urn)["address"] for r in graph.resources if r.type == INSTANCE}
    assert f".{PRIMARY}.rds.amazonaws.com" in addresses["database-instance"]
    assert f".{SECOND}.rds.amazonaws.com" in addresses["database-replica"]


def test_edition_o_replica_names_the_aws_managed_key_of_its_region():
    graph, _ = rendered("O5+mr@aws")
    replica = _one(graph, INSTANCE, "database-replica")
    assert replica["protect"] is False and replica["inputs"]["deletionProtection"] is False
    assert replica["inputs"]["kmsKeyId"].startswith(f"arn:aws:kms:{SECOND}:")
    assert any(i.token == "aws:kms/getKey:getKey" and i.args.get("keyId") == "alias/aws/rds"
               for i in graph.invokes)
    assert "kmsKeyId" not in _primary("O5+mr@aws")["inputs"]
