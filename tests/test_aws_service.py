"""The aws container runtime components on their own: the ECS cluster, one ECS service per
Reactor service (its task definition, roles, log group), the EFS file system and autoscaling,
rendered under the platform's mocks (componentkit)."""

from __future__ import annotations

import base64
import dataclasses
import json

import pulumi
import pulumi_aws as aws
import pytest

from reactor_infra import late
from componentkit import render_components, resources_of

from reactor_infra import catalogue
from reactor_infra.errors import OperationError
from reactor_infra.layout import Service, Sizing
from reactor_infra.plan import build_plan
from reactor_infra.reactor_toml import default_endpoints
from reactor_infra.token import parse
from reactor_infra_aws.autoscaling import Autoscaling, AutoscalingArgs
from reactor_infra_aws.cluster import Cluster, ClusterArgs
from reactor_infra_aws.file_system import FileSystem, FileSystemArgs
from reactor_infra_aws.service import ContainerService, ServiceArgs
from reactor_infra_aws.task_containers import fargate_size, secret_vars

TASK_DEF = "aws:ecs/taskDefinition:TaskDefinition"
ECS_SERVICE = "aws:ecs/service:Service"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
EFS = "aws:efs/fileSystem:FileSystem"
ACCESS_POINT = "aws:efs/accessPoint:AccessPoint"
MOUNT_TARGET = "aws:efs/mountTarget:MountTarget"
BACKUP = "aws:efs/backupPolicy:BackupPolicy"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/data"
BUCKET_ARN = "arn:aws:s3:::test-storage"
TG_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/app/0123"


def specs(token: str) -> tuple:
    plan = build_plan(parse(token))
    placement = catalogue.Placement(
        endpoints=default_endpoints(plan), site_address="api.example.com",
        hosts={s: f"{plan.tier_of(s).name.value}.internal" for s in plan.services})
    return plan, catalogue.specs(plan, placement)


def arn_of(var: str) -> str:
    return f"arn:aws:ssm:us-east-1:123456789012:parameter/test/{var.lower()}"


def late_values(spec) -> dict[str, str]:
    """A stand-in for each late value the spec waits for (certificates, the database's host)."""
    text = json.dumps([spec.env, spec.secret_env, [f.content for f in spec.files],
                       [(p.env, p.stdin) for p in spec.prestart]])
    return {name: f"{name}.example.net" for name in late.names(text)}


def render_service(token: str, service: Service, **extra):
    plan, all_specs = specs(token)
    spec = all_specs[service]
    args = dict(plan=plan, tier=plan.tier_of(service), spec=spec, region="us-east-1",
                cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/test", subnet_ids=["subnet-a", "subnet-b"],
                security_group_id="sg-app", secret_env={var: arn_of(var) for var in secret_vars(spec)},
                late=late_values(spec))
    args.update(extra)

    def body():
        provider = aws.Provider("aws-us-east-1", region="us-east-1")
        ContainerService("svc", ServiceArgs(**args), pulumi.ResourceOptions(providers={"aws": provider}))

    return spec, render_components(body, token=token)


def containers(graph) -> dict[str, dict]:
    (task,) = resources_of(graph, TASK_DEF)
    return {c["name"]: c for c in json.loads(task["inputs"]["containerDefinitions"])}


def policy(graph, role: str) -> list[dict]:
    (doc,) = [r for r in resources_of(graph, ROLE_POLICY) if r["name"] == f"svc-{role}-policy"]
    return json.loads(doc["inputs"]["policy"])["Statement"]


# --- the task definition -------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["E5+ha@aws", "C10@aws"])
def test_secrets_are_references_only(token):
    spec, graph = render_service(token, Service.REACTOR_SERVER)
    main = containers(graph)["reactor-server"]
    assert {s["name"]: s["valueFrom"] for s in main["secrets"]} == {v: arn_of(v) for v in spec.secret_env}
    assert not set(spec.secret_env) & {e["name"] for e in main["environment"]}
    (task,) = resources_of(graph, TASK_DEF)
    text = task["inputs"]["containerDefinitions"]
    assert "${" not in text and "postgres://" not in text
    assert all(template not in text for template in spec.secret_env.values())


def test_a_missing_secret_is_refused():
    plan, all_specs = specs("E5+ha@aws")
    spec = all_specs[Service.REACTOR_SERVER]
    partial = {v: arn_of(v) for v in sorted(secret_vars(spec)) if v != sorted(spec.secret_env)[0]}
    # the render reports the component's ValueError as a failed operation, naming the variable
    with pytest.raises(OperationError, match=f"ValueError: .*{sorted(spec.secret_env)[0]}"):
        render_service("E5+ha@aws", Service.REACTOR_SERVER, secret_env=partial)


@pytest.mark.parametrize(("preset", "expected"), [("dev", (1024, 2048)), ("small", (2048, 4096)),
                                                  ("active", (4096, 8192))])
def test_fargate_size_per_preset(preset, expected):
    from reactor_infra.layout import SIZING_PRESETS, SUPPORT_SIZING
    assert fargate_size(SIZING_PRESETS[preset]) == expected
    assert fargate_size(SUPPORT_SIZING) == (1024, 2048)
    assert fargate_size(Sizing(2, 5.5, 50)) == (2048, 6144)
    with pytest.raises(ValueError):
        fargate_size(Sizing(1, 16, 20))


@pytest.mark.parametrize(("token", "service", "cpu", "memory"), [
    ("O5+as@aws", Service.REACTOR_SERVER, "2048", "4096"), ("E5+ha@aws", Service.REACTOR_SERVER, "4096", "8192"),
    ("E5+ha@aws", Service.CADDY, "1024", "2048"), ("C10@aws", Service.PGBOUNCER, "1024", "2048")])
def test_task_size_comes_from_the_tier(token, service, cpu, memory):
    _, graph = render_service(token, service)
    (task,) = resources_of(graph, TASK_DEF)
    inputs = task["inputs"]
    assert (inputs["cpu"], inputs["memory"]) == (cpu, memory)
    assert inputs["networkMode"] == "awsvpc" and inputs["requiresCompatibilities"] == ["FARGATE"]
    assert inputs["runtimePlatform"] == {"cpuArchitecture": "X86_64", "operatingSystemFamily": "LINUX"}


def test_files_reach_the_container_through_the_init_container():
    spec, graph = render_service("E5+ha@aws", Service.REACTOR_SERVER)
    defs = containers(graph)
    init, main = defs["files"], defs["reactor-server"]
    assert init["essential"] is False and init["user"] == "0" and init["image"] == spec.image
    assert init["entryPoint"] == ["sh", "-c"] and "base64 -d > /srv/reactor/Reactor.toml" in init["command"][0]
    toml, ca, database_ca = spec.files  # Reactor.toml, the private CA (VAULT_CACERT), the database's CA bundle
    values = late_values(spec)
    assert base64.b64decode(init["environment"][0]["value"]).decode() == toml.content
    assert base64.b64decode(init["environment"][1]["value"]).decode() == late.bind(ca.content, values)
    # the database's CA bundle is published by AWS: fetched at start, never embedded
    assert f"-o /srv/reactor/database-ca.pem {database_ca.source_url}" in init["command"][0]
    assert database_ca.source_url == "https://truststore.pki.rds.amazonaws.com/us-east-1/us-east-1-bundle.pem"
    assert len(init["environment"]) == 2
    # after its files and the managed database's roles step (RDS has no initdb.d)
    assert main["dependsOn"] == [{"containerName": "files", "condition": "SUCCESS"},
                                 {"containerName": "db-roles", "condition": "SUCCESS"}]
    mounts = {m["containerPath"]: m for m in main["mountPoints"]}
    assert mounts["/srv/reactor"]["readOnly"] is True
    # the working directory's state directory, hidden by the files volume, is given back writable
    assert mounts["/srv/reactor/.reactor"]["readOnly"] is False
    assert "chown 10001:10001 /srv/reactor/.reactor" in init["command"][0]
    assert main["user"] == "10001:10001" and main["workingDirectory"] == "/srv/reactor"
    assert main["healthCheck"]["command"][0] == "CMD" and main["healthCheck"]["startPeriod"] == 120
    assert main["stopTimeout"] == 40 and main["portMappings"] == [{"containerPort": 8000, "protocol": "tcp"}]


def test_a_service_without_files_or_mounts_has_no_init_container():
    plan, all_specs = specs("C10@aws")
    bare = dataclasses.replace(all_specs[Service.PGBOUNCER], files=(), secret_files=())
    _, graph = render_service("C10@aws", Service.PGBOUNCER, spec=bare,
                              secret_env={v: arn_of(v) for v in secret_vars(bare)})
    defs = containers(graph)
    assert list(defs) == ["pgbouncer"] and "dependsOn" not in defs["pgbouncer"]


def test_persistent_mounts_are_efs_with_tls_and_iam():
    _, graph = render_service("E5+ha@aws", Service.CADDY, volumes={"data": ("fs-01", "fsap-01")})
    (task,) = resources_of(graph, TASK_DEF)
    volumes = {v["name"]: v for v in task["inputs"]["volumes"]}
    efs = volumes["mount-data"]["efsVolumeConfiguration"]
    assert efs["fileSystemId"] == "fs-01" and efs["transitEncryption"] == "ENABLED"
    assert efs["authorizationConfig"] == {"accessPointId": "fsap-01", "iam": "ENABLED"}
    assert "efsVolumeConfiguration" not in volumes["mount-config"]  # task-ephemeral
    (mount,) = [s for s in policy(graph, "task") if s["Sid"].startswith("Mount")]
    assert mount["Resource"].endswith(":file-system/fs-01")
    assert mount["Condition"]["StringEquals"]["elasticfilesystem:AccessPointArn"].endswith(":access-point/fsap-01")


def test_exec_on_and_the_service_shape():
    _, graph = render_service("E5+ha@aws", Service.REACTOR_SERVER, target_groups=[(TG_ARN, 8000)])
    (svc,) = resources_of(graph, ECS_SERVICE)
    inputs = svc["inputs"]
    assert inputs["enableExecuteCommand"] is True and inputs["launchType"] == "FARGATE"
    assert inputs["networkConfiguration"]["assignPublicIp"] is False
    assert inputs["desiredCount"] == 2 and inputs["propagateTags"] == "SERVICE"
    assert inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}
    assert inputs["loadBalancers"] == [{"containerName": "reactor-server", "containerPort": 8000,
                                        "targetGroupArn": TG_ARN}]
    assert inputs["healthCheckGracePeriodSeconds"] == 120
    assert svc["ignore_changes"] == []
    exec_actions = next(s["Action"] for s in policy(graph, "task") if s["Sid"] == "EcsExec")
    assert "ssmmessages:OpenDataChannel" in exec_actions


@pytest.mark.parametrize(("token", "volumes", "bounds"), [
    ("O3@aws", {"data": ("fs-01", "fsap-01")}, (0, 100)),  # the only writer of its files: stop, then start
    ("O3@aws", {}, (100, 200)),
    ("E5+ha@aws", {}, (100, 200))])
def test_a_single_task_over_persistent_files_never_overlaps(token, volumes, bounds):
    _, graph = render_service(token, Service.REACTOR_SERVER, volumes=volumes)
    (svc,) = resources_of(graph, ECS_SERVICE)
    inputs = svc["inputs"]
    assert (inputs["deploymentMinimumHealthyPercent"], inputs["deploymentMaximumPercent"]) == bounds


def test_caddy_gets_its_caddyfile_and_shared_certificates():
    spec, graph = render_service("C10@aws", Service.CADDY, volumes={"data": ("fs-01", "fsap-01")},
                                 target_groups=[(TG_ARN, 443)])
    defs = containers(graph)
    assert "base64 -d > /etc/caddy/Caddyfile" in defs["files"]["command"][0]
    mounts = {m["containerPath"]: (m["sourceVolume"], m["readOnly"]) for m in defs["caddy"]["mountPoints"]}
    assert mounts == {"/etc/caddy": ("files-0", True), "/data": ("mount-data", False),
                      "/config": ("mount-config", False)}
    assert defs["caddy"]["portMappings"] == [{"containerPort": 80, "protocol": "tcp"},
                                             {"containerPort": 443, "protocol": "tcp"}]


def test_a_target_group_port_it_does_not_listen_on_is_refused():
    with pytest.raises(OperationError, match="ValueError: reactor-server does not listen on 443"):
        render_service("E5+ha@aws", Service.REACTOR_SERVER, target_groups=[(TG_ARN, 443)])


@pytest.mark.parametrize(("token", "ignored"), [("O5+as@aws", ["desiredCount"]), ("E5+ha@aws", [])])
def test_autoscaled_services_leave_the_count_to_the_autoscaler(token, ignored):
    _, graph = render_service(token, Service.REACTOR_SERVER)
    (svc,) = resources_of(graph, ECS_SERVICE)
    assert svc["ignore_changes"] == ignored


def test_execution_role_reads_exactly_its_parameters():
    spec, graph = render_service("E5+ha@aws", Service.REACTOR_SERVER, kms_key_arn=KEY_ARN)
    statements = {s["Sid"]: s for s in policy(graph, "exec")}
    assert sorted(statements["ReadOwnSecretParameters"]["Resource"]) == sorted(arn_of(v) for v in secret_vars(spec))
    assert statements["ReadOwnSecretParameters"]["Action"] == "ssm:GetParameters"
    assert statements["DecryptSecretParameters"]["Resource"] == KEY_ARN
    assert set(statements) == {"WriteOwnLogs", "ReadOwnSecretParameters", "DecryptSecretParameters"}


def test_task_role_touches_only_its_bucket():
    _, graph = render_service("E5+ha@aws", Service.REACTOR_SERVER, bucket_arn=BUCKET_ARN)
    statements = {s["Sid"]: s for s in policy(graph, "task")}
    assert statements["ListOwnBucket"]["Resource"] == BUCKET_ARN
    assert statements["UseOwnObjects"]["Resource"] == BUCKET_ARN + "/*"
    assert set(statements) == {"EcsExec", "ListOwnBucket", "UseOwnObjects"}


def test_discovery_registers_an_a_record():
    _, graph = render_service("E5+ha@aws", Service.GATEWAY_SERVER, discovery_namespace_id="ns-1",
                              discovery_name="gateway")
    (sd,) = resources_of(graph, "aws:servicediscovery/service:Service")
    assert sd["inputs"]["name"] == "gateway"
    assert sd["inputs"]["dnsConfig"]["dnsRecords"] == [{"ttl": 10, "type": "A"}]
    (svc,) = resources_of(graph, ECS_SERVICE)
    assert svc["inputs"]["serviceRegistries"]["registryArn"].startswith("arn:aws:servicediscovery:")
    # its own task: never in Caddy's network namespace
    assert list(containers(graph)) == ["files", "gateway-server"]  # its file: the database's CA bundle


# --- cluster, file system, autoscaling --------------------------------------------------------------


def test_cluster_has_container_insights():
    plan = build_plan(parse("E5+ha@aws"))
    graph = render_components(lambda: Cluster("c", ClusterArgs(plan, suffix="-us-west-2")))
    (cluster,) = resources_of(graph, "aws:ecs/cluster:Cluster")
    assert cluster["inputs"]["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    assert cluster["inputs"]["name"].endswith("-app-cluster-us-west-2")


@pytest.mark.parametrize(("token", "protected"), [("O5+as@aws", False), ("E5+ha@aws", True)])
def test_file_system_is_encrypted_and_owned_per_access_point(token, protected):
    plan = build_plan(parse(token))

    def body():
        key = aws.kms.Key("data") if plan.policy.customer_managed_keys else None
        FileSystem("fs", FileSystemArgs(plan, "edge", ["subnet-a", "subnet-b", "subnet-c"], "sg-fs", key,
                                        {"caddy-data": ("/caddy/data", "0:0"), "state": ("/state", "10001:10001")}))

    graph = render_components(body, token=token)
    (fs,) = resources_of(graph, EFS)
    assert fs["inputs"]["encrypted"] is True and fs["protect"] is protected
    assert ("kmsKeyId" in fs["inputs"]) is protected
    assert len(resources_of(graph, MOUNT_TARGET)) == 3
    assert len(resources_of(graph, BACKUP)) == (1 if protected else 0)
    points = {ap["inputs"]["rootDirectory"]["path"]: ap["inputs"] for ap in resources_of(graph, ACCESS_POINT)}
    assert points["/state"]["posixUser"] == {"gid": 10001, "uid": 10001}
    assert points["/state"]["rootDirectory"]["creationInfo"] == {"ownerGid": 10001, "ownerUid": 10001,
                                                                "permissions": "0700"}
    assert points["/caddy/data"]["posixUser"] == {"gid": 0, "uid": 0}


@pytest.mark.parametrize(("token", "bounds"), [("O5+as@aws", (2, 6)), ("C10@aws", (3, 10)), ("E5+ha@aws", None)])
def test_autoscaling_follows_the_app_tier(token, bounds):
    plan = build_plan(parse(token))
    graph = render_components(lambda: Autoscaling("as", AutoscalingArgs(plan, plan.app_tier, "cluster", "svc")),
                              token=token)
    targets = resources_of(graph, SCALING_TARGET)
    if bounds is None:
        assert targets == [] and resources_of(graph, SCALING_POLICY) == []
        return
    (target,) = targets
    assert (target["inputs"]["minCapacity"], target["inputs"]["maxCapacity"]) == bounds
    assert target["inputs"]["resourceId"] == "service/cluster/svc"
    (pol,) = resources_of(graph, SCALING_POLICY)
    config = pol["inputs"]["targetTrackingScalingPolicyConfiguration"]
    assert config["targetValue"] == 60 and config["scaleInCooldown"] == 300 and config["scaleOutCooldown"] == 60
    assert config["predefinedMetricSpecification"]["predefinedMetricType"] == "ECSServiceAverageCPUUtilization"
