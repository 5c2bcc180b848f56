"""Autoscaling: target tracking for one ECS service whose tier the Plan autoscales (+as, size 10).

Application Auto Scaling owns the service's desired count between the tier's replicas min and
max (the service ignores its own `desiredCount` then) and keeps the service's average CPU near
60%: quick to add tasks (60 s after a scale-out), slow to remove them (300 s), so a short lull
never drops capacity a burst is about to need. A tier with a fixed count gets nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan, TierPlan

from .component import AwsComponent
from .naming import physical_name, tags

TARGET_CPU_PERCENT = 60.0
SCALE_IN_COOLDOWN_S = 300
SCALE_OUT_COOLDOWN_S = 60
POLICY_NAME_MAX = 255
DIMENSION = "ecs:service:DesiredCount"


@dataclass(frozen=True)
class AutoscalingArgs:
    plan: Plan  # names and tags
    tier: TierPlan  # its replicas give min and max; nothing is made unless they differ
    cluster_name: pulumi.Input[str]  # the ECS cluster's name
    service_name: pulumi.Input[str]  # the ECS service's name
    # the service this scales (its catalogue name) when a tier runs several; default the tier's only one
    service: str = ""
    # physical-name suffix: "" in the primary region (default), e.g. "-us-west-2" in the second
    suffix: str = ""


class Autoscaling(AwsComponent):
    """`target` (aws.appautoscaling.Target) and `policy` (aws.appautoscaling.Policy), or None
    for both when the tier is not autoscaled."""

    def __init__(self, name: str, args: AutoscalingArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier.name.value, opts)
        self.target: aws.appautoscaling.Target | None = None
        self.policy: aws.appautoscaling.Policy | None = None
        replicas = args.tier.replicas
        if replicas.autoscaled:
            plan, tier = args.plan, args.tier.name.value
            role = f"{args.service}-scaling" if args.service else "scaling"
            physical = physical_name(plan, tier, f"{role}{args.suffix}", POLICY_NAME_MAX)
            resource_id = pulumi.Output.concat("service/", args.cluster_name, "/", args.service_name)
            self.target = aws.appautoscaling.Target(
                f"{name}-target",
                service_namespace="ecs",
                scalable_dimension=DIMENSION,
                resource_id=resource_id,
                min_capacity=replicas.min,
                max_capacity=replicas.max,
                tags=tags(plan, tier, physical),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.policy = aws.appautoscaling.Policy(
                f"{name}-cpu",
                name=physical,
                policy_type="TargetTrackingScaling",
                service_namespace=self.target.service_namespace,
                scalable_dimension=self.target.scalable_dimension,
                resource_id=self.target.resource_id,
                target_tracking_scaling_policy_configuration={
                    "target_value": TARGET_CPU_PERCENT,
                    "predefined_metric_specification": {"predefined_metric_type": "ECSServiceAverageCPUUtilization"},
                    "scale_in_cooldown": SCALE_IN_COOLDOWN_S,
                    "scale_out_cooldown": SCALE_OUT_COOLDOWN_S,
                },
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"min": replicas.min, "max": replicas.max})
