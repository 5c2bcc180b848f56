"""Pool: an autoscaled tier's machines (+as, size 10): a regional managed instance group from one
instance template (the same Shielded VM, service account, tags and user data as a Node), spread
over the tier's zones, healed when its health check fails, scaled between the Plan's minimum
and maximum on CPU. Its machines keep nothing: storage is the bucket at these sizes (the Plan's
s3 backend beyond one app node), their data disk is created and deleted with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import TierPlan

from .component import GcpComponent
from .naming import labels, physical_name
from .node import MachineShape
from .places import DATA_DEVICE

CPU_TARGET = 0.6
WARMUP_S = 300  # reactor-server migrates before it listens; Docker pulls first


@dataclass(frozen=True)
class PoolArgs:
    shape: MachineShape
    tier: TierPlan  # replicas (min, max) and zones
    region: str
    zones: Sequence[str]
    subnetwork: pulumi.Input[str]
    user_data: pulumi.Input[str]
    named_ports: Sequence[tuple[str, int]]  # what its load balancer sends to: (name, port)
    health_port: int  # the autohealing check: HTTP /health there, or TCP when `health_path` is None
    health_path: str | None = "/health"
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Pool(GcpComponent):
    """`group` (the managed instance group); `instance_group` (its group URL, a backend)."""

    def __init__(self, name: str, args: PoolArgs, opts: pulumi.ResourceOptions | None = None):
        shape = args.shape
        super().__init__(name, shape.tier, opts)
        plan, child = shape.plan, pulumi.ResourceOptions(parent=self)
        template = gcp.compute.InstanceTemplate(
            f"{name}-template", name_prefix=f"{physical_name(plan, name, 'tpl', 50)}-", machine_type=shape.machine_type,
            region=args.region, tags=list(shape.tags), labels=labels(plan, shape.tier),
            metadata=shape.metadata(args.user_data),
            disks=[gcp.compute.InstanceTemplateDiskArgs(
                       boot=True, auto_delete=True, source_image=shape.image, disk_size_gb=shape.boot_disk_gb,
                       disk_type="pd-balanced", disk_encryption_key=self._key(shape)),
                   gcp.compute.InstanceTemplateDiskArgs(
                       boot=False, auto_delete=True, device_name=DATA_DEVICE, disk_size_gb=shape.data_disk_gb,
                       disk_type="pd-balanced", disk_encryption_key=self._key(shape))],
            network_interfaces=[gcp.compute.InstanceTemplateNetworkInterfaceArgs(subnetwork=args.subnetwork)],
            service_account=gcp.compute.InstanceTemplateServiceAccountArgs(email=shape.service_account,
                                                                           scopes=["cloud-platform"]),
            shielded_instance_config=gcp.compute.InstanceTemplateShieldedInstanceConfigArgs(**shape.shielded()),
            # a changed template makes a new one before the group lets go of the old
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=False, depends_on=list(args.depends_on)))
        if args.health_path:
            check = gcp.compute.HealthCheck(
                f"{name}-autoheal", name=physical_name(plan, name, "autoheal"), check_interval_sec=10,
                timeout_sec=5, unhealthy_threshold=3,
                http_health_check=gcp.compute.HealthCheckHttpHealthCheckArgs(port=args.health_port,
                                                                             request_path=args.health_path),
                opts=child)
        else:
            check = gcp.compute.HealthCheck(
                f"{name}-autoheal", name=physical_name(plan, name, "autoheal"), check_interval_sec=10,
                timeout_sec=5, unhealthy_threshold=3,
                tcp_health_check=gcp.compute.HealthCheckTcpHealthCheckArgs(port=args.health_port), opts=child)
        self.group = gcp.compute.RegionInstanceGroupManager(
            f"{name}-group", name=physical_name(plan, name, "group"), region=args.region,
            base_instance_name=physical_name(plan, name, "vm", 50), distribution_policy_zones=list(args.zones),
            versions=[gcp.compute.RegionInstanceGroupManagerVersionArgs(instance_template=template.self_link_unique,
                                                                         name="current")],
            named_ports=[gcp.compute.RegionInstanceGroupManagerNamedPortArgs(name=n, port=p) for n, p in args.named_ports],
            auto_healing_policies=gcp.compute.RegionInstanceGroupManagerAutoHealingPoliciesArgs(
                health_check=check.id, initial_delay_sec=WARMUP_S),
            update_policy=gcp.compute.RegionInstanceGroupManagerUpdatePolicyArgs(
                type="PROACTIVE", minimal_action="REPLACE", max_surge_fixed=len(args.zones), max_unavailable_fixed=0),
            opts=child)
        self.instance_group = self.group.instance_group
        gcp.compute.RegionAutoscaler(
            f"{name}-autoscaler", name=physical_name(plan, name, "autoscaler"), region=args.region,
            target=self.group.id,
            autoscaling_policy=gcp.compute.RegionAutoscalerAutoscalingPolicyArgs(
                min_replicas=args.tier.replicas.min, max_replicas=args.tier.replicas.max, cooldown_period=WARMUP_S,
                cpu_utilization=gcp.compute.RegionAutoscalerAutoscalingPolicyCpuUtilizationArgs(target=CPU_TARGET)),
            opts=child)
        self.register_outputs({"group": self.group.id})

    @staticmethod
    def _key(shape: MachineShape):
        return (gcp.compute.InstanceTemplateDiskDiskEncryptionKeyArgs(kms_key_self_link=shape.kms_key)
                if shape.kms_key else None)
