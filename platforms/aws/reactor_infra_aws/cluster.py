"""Cluster: the ECS cluster the container tiers (app, edge, pooler) run on in one region.

One cluster per region: each `ContainerService` is an ECS service in it on Fargate, so there
are no container instances to patch or scale. Container Insights is on: per-service CPU,
memory and task counts in CloudWatch, which the autoscaling policies and operators read.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import physical_name, tags

TIER = "app"
CLUSTER_NAME_MAX = 255


def cluster_name(plan: Plan, suffix: str = "") -> str:
    return physical_name(plan, TIER, f"cluster{suffix}", CLUSTER_NAME_MAX)


@dataclass(frozen=True)
class ClusterArgs:
    plan: Plan  # names and tags
    # physical-name suffix: "" in the primary region (default), e.g. "-us-west-2" in the second
    suffix: str = ""


class Cluster(AwsComponent):
    """`cluster` (aws.ecs.Cluster), `arn` and `name` (Outputs)."""

    def __init__(self, name: str, args: ClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        physical = cluster_name(plan, args.suffix)
        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            name=physical,
            settings=[aws.ecs.ClusterSettingArgs(name="containerInsights", value="enabled")],
            tags=tags(plan, TIER, physical),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.arn: pulumi.Output[str] = self.cluster.arn
        self.name: pulumi.Output[str] = self.cluster.name
        self.register_outputs({"arn": self.arn, "name": self.name})
