"""ContainerService: one Reactor service of a container tier (app, edge, pooler) as an ECS
service on Fargate, run as the core's catalogue says (`ServiceSpec`); what its task holds
(containers, volumes, size) is `task_containers`.

- Its own task: the edge's caddy and gateway-server are two services, never one task.
  gateway-server's config sync posts to `localhost:2019`; beside Caddy (a shared network
  namespace) it would replace Caddy's config (reactor-runtime.md §7). Alone, it reaches nothing.
- Secrets: each secret variable is an ECS `secrets` entry whose `valueFrom` is the ARN of the SSM
  SecureString parameter holding its whole value; no value is ever in the task definition. The
  execution role may read exactly those parameters (and decrypt with the data key through SSM),
  write its own log group and pull its image from ECR when it is there; nothing else.
- The task role: ECS Exec (operators' shell, and the way to reactor-server's loopback-only admin
  API), the storage bucket when given, its EFS access points when it has persistent mounts.
- Private subnets, no public IP; rolling deployments with a circuit breaker that rolls back;
  Cloud Map A records when a namespace is given; the autoscaler owns the count when the Plan
  autoscales the tier.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from reactor_infra import late
from reactor_infra.layout import Plan, TierPlan
from reactor_infra.service_spec import ServiceSpec

from .component import AwsComponent
from .naming import IAM_ROLE_MAX, physical_name, tags
from .task_containers import container_definitions, fargate_size, secret_vars, volumes

FARGATE_DEFAULT_DISK_GB, FARGATE_MAX_DISK_GB = 20, 200
_ECR = re.compile(r"^(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com/([^:@]+)")
_ASSUME_ECS_TASKS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def service_name(plan: Plan, tier: str, service: str, suffix: str = "") -> str:
    """The ECS service's name (and its task family): `<stack>-<tier>-<service>`."""
    return physical_name(plan, tier, f"{service}{suffix}")


@dataclass(frozen=True)
class ServiceArgs:
    plan: Plan  # names, tags
    tier: TierPlan  # replicas (min/max), sizing
    spec: ServiceSpec  # from catalogue.specs(...) for this service
    region: str  # the region it runs in (its log group's)
    cluster_arn: pulumi.Input[str]  # the region's ECS cluster
    subnet_ids: Sequence[pulumi.Input[str]]  # private subnets over the tier's zones
    security_group_id: pulumi.Input[str]  # the tier's group
    # env var -> ARN of the SSM SecureString parameter holding its whole value; exactly spec.secret_env's
    # vars, and `<step>/<VAR>` for each prestart step's (task_containers.secret_vars)
    secret_env: Mapping[str, pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str] | None = None  # CMK the parameters are encrypted with (E, C); default aws/ssm
    bucket_arn: pulumi.Input[str] | None = None  # the storage bucket it may use; default none
    # the key the bucket's objects are encrypted with (SSE-KMS); default none (SSE-S3 or no bucket)
    bucket_kms_key_arn: pulumi.Input[str] | None = None
    # (target group ARN, container port) to register with; default none
    target_groups: Sequence[tuple[pulumi.Input[str], int]] = ()
    # Cloud Map private DNS namespace; the service registers as `discovery_name` (default its service name)
    discovery_namespace_id: pulumi.Input[str] | None = None
    discovery_name: str | None = None
    # Mount.role -> (EFS file system id, access point id): mounts that must persist; default none
    volumes: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = field(default_factory=dict)
    log_retention_days: int = 30  # default 30 days
    suffix: str = ""  # physical-name suffix in a second region; default ""
    # what must exist before the service starts (the listeners its target groups hang off); default nothing
    depends_on: Sequence[pulumi.Resource] = ()
    # values of the late markers in the spec (reactor_infra.late: the database's address, the
    # load balancer's name); default none
    late: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)


class ContainerService(AwsComponent):
    """`service`, `task_definition`, `task_role`, `execution_role`, `log_group`, `name` (the ECS
    service's name, Output) and `discovery` (its Cloud Map service, or None)."""

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier.name.value, opts)
        self._name, self._args, self._plan, self._spec = name, args, args.plan, args.spec
        self._tier = args.tier.name.value
        self._container = str(args.spec.service)
        self._check_args()
        self._base = service_name(self._plan, self._tier, self._container, args.suffix)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/ecs/{self._base}", retention_in_days=args.log_retention_days,
            tags=tags(self._plan, self._tier, self._base), opts=pulumi.ResourceOptions(parent=self))
        self.execution_role = self._create_role("exec", "pulls the image, writes its logs, reads its secrets",
                                                self._execution_statements())
        self.task_role = self._create_role("task", "what the service itself may do in AWS",
                                           self._task_statements())
        self.task_definition = self._create_task_definition()
        self.discovery = self._create_discovery() if args.discovery_namespace_id is not None else None
        self.service = self._create_service()
        self.name: pulumi.Output[str] = self.service.name
        self.register_outputs({"name": self.name, "task_definition": self.task_definition.arn})

    # --- checks and pieces -------------------------------------------------------------------------

    def _check_args(self) -> None:
        spec, args = self._spec, self._args
        missing = sorted(secret_vars(spec) - set(args.secret_env))
        if missing:
            raise ValueError(f"{spec.service}: no SSM parameter given for its secret env {', '.join(missing)}; "
                             "every secret variable must come from a parameter, never a plain value")
        unknown = sorted(set(args.secret_env) - secret_vars(spec))
        if unknown:
            raise ValueError(f"{spec.service}: secret env {', '.join(unknown)} is not in its catalogue spec")
        roles = {m.role for m in spec.mounts}
        if not set(args.volumes) <= roles:
            raise ValueError(f"{spec.service}: no mount {sorted(set(args.volumes) - roles)} to persist")
        for _, port in args.target_groups:
            if port not in spec.listens:
                raise ValueError(f"{spec.service} does not listen on {port}")

    # --- IAM ---------------------------------------------------------------------------------------

    def _create_role(self, role: str, purpose: str, statements: list[dict[str, Any]]) -> aws.iam.Role:
        physical = physical_name(self._plan, self._tier, f"{self._container}-{role}{self._args.suffix}", IAM_ROLE_MAX)
        iam_role = aws.iam.Role(
            f"{self._name}-{role}-role", name=physical, description=f"Reactor {self._container}: {purpose}",
            assume_role_policy=_ASSUME_ECS_TASKS, tags=tags(self._plan, self._tier, physical),
            opts=pulumi.ResourceOptions(parent=self))
        aws.iam.RolePolicy(
            f"{self._name}-{role}-policy", name=physical, role=iam_role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements}),
            opts=pulumi.ResourceOptions(parent=self))
        return iam_role

    def _execution_statements(self) -> list[dict[str, Any]]:
        args = self._args
        statements: list[dict[str, Any]] = [{
            "Sid": "WriteOwnLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": pulumi.Output.concat(self.log_group.arn, ":log-stream:*")}]
        ecr = _ECR.match(self._spec.image)
        if ecr:  # a public registry needs no permission
            account, region, repository = ecr.groups()
            statements += [
                {"Sid": "EcrLogin", "Effect": "Allow", "Action": "ecr:GetAuthorizationToken", "Resource": "*"},
                {"Sid": "PullImage", "Effect": "Allow",
                 "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
                 "Resource": f"arn:aws:ecr:{region}:{account}:repository/{repository}"}]
        if args.secret_env:
            statements.append({"Sid": "ReadOwnSecretParameters", "Effect": "Allow", "Action": "ssm:GetParameters",
                               "Resource": [args.secret_env[var] for var in sorted(args.secret_env)]})
            if args.kms_key_arn is not None:
                statements.append({
                    "Sid": "DecryptSecretParameters", "Effect": "Allow", "Action": "kms:Decrypt",
                    "Resource": args.kms_key_arn,
                    # the parameters live in the primary region, whichever region the task runs in
                    "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{self._plan.primary_region}.amazonaws.com"}}})
        return statements

    def _task_statements(self) -> list[dict[str, Any]]:
        args = self._args
        statements: list[dict[str, Any]] = [{
            "Sid": "EcsExec", "Effect": "Allow", "Resource": "*",
            "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                       "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"]}]
        if args.bucket_arn is not None:
            statements += [
                {"Sid": "ListOwnBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": args.bucket_arn},
                {"Sid": "UseOwnObjects", "Effect": "Allow",
                 "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                 "Resource": pulumi.Output.concat(args.bucket_arn, "/*")}]
            if args.bucket_kms_key_arn is not None:
                statements.append({
                    "Sid": "BucketObjectKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": args.bucket_kms_key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}}})
        if args.volumes:
            account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
            prefix = pulumi.Output.concat(f"arn:aws:elasticfilesystem:{args.region}:", account)
            for role, (fs_id, ap_id) in sorted(args.volumes.items()):
                statements.append({
                    "Sid": "Mount" + re.sub(r"[^A-Za-z0-9]", "", role.title()), "Effect": "Allow",
                    "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                    "Resource": pulumi.Output.concat(prefix, ":file-system/", fs_id),
                    "Condition": {"StringEquals": {
                        "elasticfilesystem:AccessPointArn": pulumi.Output.concat(prefix, ":access-point/", ap_id)}}})
        return statements

    # --- the task ----------------------------------------------------------------------------------

    def _create_task_definition(self) -> aws.ecs.TaskDefinition:
        args = self._args
        cpu, memory = fargate_size(args.tier.sizing)
        # every input resolved first, then the spec's late markers bound, then one JSON document
        containers = pulumi.Output.all(dict(args.late), dict(args.secret_env), self.log_group.name).apply(
            lambda r: json.dumps(container_definitions(late.bind_spec(self._spec, r[0]), r[1], args.volumes, r[2],
                                                       args.region), sort_keys=True))
        disk = args.tier.sizing.disk_gb if args.tier.sizing else FARGATE_DEFAULT_DISK_GB
        return aws.ecs.TaskDefinition(
            f"{self._name}-task",
            family=self._base,
            cpu=str(cpu),
            memory=str(memory),
            network_mode="awsvpc",
            requires_compatibilities=["FARGATE"],
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture="X86_64"),
            ephemeral_storage=aws.ecs.TaskDefinitionEphemeralStorageArgs(size_in_gib=min(disk, FARGATE_MAX_DISK_GB))
            if disk > FARGATE_DEFAULT_DISK_GB else None,
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=containers,
            volumes=volumes(self._spec, args.volumes),
            tags=tags(self._plan, self._tier, self._base),
            opts=pulumi.ResourceOptions(parent=self),
        )

    # --- the service -------------------------------------------------------------------------------

    def _create_discovery(self) -> aws.servicediscovery.Service:
        args = self._args
        return aws.servicediscovery.Service(
            f"{self._name}-discovery",
            name=args.discovery_name or self._container,
            dns_config=aws.servicediscovery.ServiceDnsConfigArgs(
                namespace_id=args.discovery_namespace_id, routing_policy="MULTIVALUE",
                dns_records=[aws.servicediscovery.ServiceDnsConfigDnsRecordArgs(type="A", ttl=10)]),
            # ECS reports task health; AWS fixes the failure threshold at 1 (the argument is deprecated)
            health_check_custom_config=aws.servicediscovery.ServiceHealthCheckCustomConfigArgs(),
            tags=tags(self._plan, self._tier, self._base),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_service(self) -> aws.ecs.Service:
        args = self._args
        # a single task over persistent files (fs storage, the embedded vault) is their only
        # writer: a deployment stops it before the new one starts, never two on the same files
        single_writer = bool(args.volumes) and args.tier.replicas.max == 1
        return aws.ecs.Service(
            f"{self._name}-service",
            name=self._base,
            cluster=args.cluster_arn,
            task_definition=self.task_definition.arn,
            desired_count=args.tier.replicas.min,
            launch_type="FARGATE",
            platform_version="LATEST",
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=list(args.subnet_ids), security_groups=[args.security_group_id], assign_public_ip=False),
            enable_execute_command=True,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            deployment_minimum_healthy_percent=0 if single_writer else 100,
            deployment_maximum_percent=100 if single_writer else 200,
            propagate_tags="SERVICE",
            load_balancers=[aws.ecs.ServiceLoadBalancerArgs(target_group_arn=arn, container_name=self._container,
                                                            container_port=port) for arn, port in args.target_groups],
            health_check_grace_period_seconds=self._spec.health.check.start_period_s if args.target_groups else None,
            service_registries=aws.ecs.ServiceServiceRegistriesArgs(registry_arn=self.discovery.arn)
            if self.discovery else None,
            tags=tags(self._plan, self._tier, self._base),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=list(args.depends_on) or None,
                # Application Auto Scaling owns the count between the tier's min and max
                ignore_changes=["desiredCount"] if args.tier.replicas.autoscaled else None),
        )
