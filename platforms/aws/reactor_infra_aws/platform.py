"""AwsPlatform: every `@aws` token, sizes 2 to 10 with +ha, +mr and +as (see README.md).

`deploy` hands the Plan to the recipe (`recipe.Recipe`), which walks its regions and tiers;
this class holds what the core asks of a platform besides: mock answers for offline renders,
the doctor's credential check, the operators' way to the admin API, conformance readings.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import ClassVar

from reactor_infra.catalogue import ADMIN_PORT
from reactor_infra.layout import REACTOR, Plan, Service
from reactor_infra.platforms import AdminAccess, Check, RecipePlatform

from . import mocks
from .cluster import cluster_name
from .naming import parameter_name
from .recipe import Recipe
from .service import service_name
from .settings import AwsSettings


class AwsPlatform(RecipePlatform):
    name: ClassVar[str] = "aws"
    package: ClassVar[str] = "reactor-infra-aws"
    settings_model: ClassVar[type[AwsSettings]] = AwsSettings
    recipe: ClassVar[type[Recipe]] = Recipe
    mocks: ClassVar = mocks

    def doctor(self) -> list[Check]:
        return [_credentials()]

    def admin_access(self, plan: Plan, local_port: int) -> AdminAccess:
        """An SSM port forward from here to reactor-server's loopback: no inbound port, no SSH;
        who may open it is who may ssm:StartSession on the target. Size 2: the node's admin
        forwarder (ADMIN_PORT on its loopback). From size 3: a running reactor-server task of the
        primary region (ECS Exec's agent connects to the container's own loopback, :8000)."""
        region = plan.primary_region
        token_hint = shlex.join(["aws", "ssm", "get-parameter", "--region", region, "--with-decryption",
                                 "--name", parameter_name(plan, "admin-token"),
                                 "--query", "Parameter.Value", "--output", "text"])
        needs = ("aws install the AWS CLI v2 (https://docs.aws.amazon.com/cli/)",
                 "session-manager-plugin install the Session Manager plugin (https://docs.aws.amazon.com/"
                 "systems-manager/latest/userguide/session-manager-working-with-install-plugin.html)")
        tier = plan.app_tier.name.value
        if plan.topology.size >= 3:
            script = _task_forward(plan, region, tier, local_port)
        else:
            script = _node_forward(plan, region, tier, local_port)
        return AdminAccess(command=["sh", "-c", script], token_hint=token_hint, needs=needs)

    def conformance(self):
        from .conformance import AwsReadings

        return AwsReadings()


def _forward(region: str, port: int, local_port: int) -> str:
    return shlex.join(["aws", "ssm", "start-session", "--region", region,
                       "--document-name", "AWS-StartPortForwardingSession", "--parameters",
                       f'{{"portNumber":["{port}"],"localPortNumber":["{local_port}"]}}'])


def _node_forward(plan: Plan, region: str, tier: str, local_port: int) -> str:
    find = shlex.join(["aws", "ec2", "describe-instances", "--region", region, "--filters",
                       f"Name=tag:reactor:stack,Values={plan.stack}", f"Name=tag:reactor:tier,Values={tier}",
                       "Name=instance-state-name,Values=running",
                       "--query", "Reservations[0].Instances[0].InstanceId", "--output", "text"])
    return (f"instance=$({find}) || exit 1; case $instance in i-*) ;; *) echo "
            f"'no running node of stack {plan.stack} in {region} (tag reactor:stack)' >&2; "
            f'exit 1;; esac; exec {_forward(region, ADMIN_PORT, local_port)} --target "$instance"')


def _task_forward(plan: Plan, region: str, tier: str, local_port: int) -> str:
    cluster = cluster_name(plan)
    service = service_name(plan, tier, Service.REACTOR_SERVER)
    find = shlex.join(["aws", "ecs", "list-tasks", "--region", region, "--cluster", cluster, "--service-name",
                       service, "--desired-status", "RUNNING", "--query", "taskArns[0]", "--output", "text"])
    runtime = shlex.join(["aws", "ecs", "describe-tasks", "--region", region, "--cluster", cluster, "--query",
                          f"tasks[0].containers[?name=='{Service.REACTOR_SERVER}'].runtimeId | [0]",
                          "--output", "text"])
    return (f"task=$({find}) || exit 1; case $task in arn:*) ;; *) echo "
            f"'no running reactor-server task of stack {plan.stack} in {region} (service {service})' >&2; "
            f'exit 1;; esac; runtime=$({runtime} --tasks "$task") || exit 1; '
            f'exec {_forward(region, REACTOR, local_port)} --target "ecs:{cluster}_${{task##*/}}_$runtime"')


def _credentials() -> Check:
    """Where the AWS SDK would find credentials (never their values)."""
    env = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if any(os.environ.get(v) for v in env):
        return Check("aws credentials", True, "from the environment")
    if (Path.home() / ".aws" / "credentials").exists() or (Path.home() / ".aws" / "config").exists():
        return Check("aws credentials", True, "~/.aws")
    return Check("aws credentials", False, "none found (AWS_PROFILE, AWS_ACCESS_KEY_ID or ~/.aws)")
