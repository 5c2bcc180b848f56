"""Pool: an autoscaled tier's machines (+as, size 10): a Flexible virtual machine scale set from
one model (the same Trusted Launch machine, identity, security group and custom data as a
Node), spread over the tier's zones, repaired when the application health extension reports
the tier's check failing, upgraded in rolling batches, scaled between the Plan's minimum and
maximum on CPU (an autoscale setting). Its machines keep nothing: blobs live on the shared file
share at these sizes, and each machine's data disk is created and deleted with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import TierPlan

from .component import AzureComponent
from .naming import physical_name, tags
from .node import MachineShape
from .places import DATA_LUN

CPU_OUT, CPU_IN = 60, 30
WARMUP = "PT10M"  # reactor-server migrates before it listens; Docker pulls first


@dataclass(frozen=True)
class PoolArgs:
    shape: MachineShape
    tier: TierPlan  # replicas (min, max)
    region: str
    zones: Sequence[str]
    resource_group: pulumi.Input[str]
    subnet: pulumi.Input[str]
    custom_data: pulumi.Input[str]
    health: tuple[str, int, str | None]  # the application health check: (http | https | tcp, port, path)
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Pool(AzureComponent):
    """`scale_set`."""

    def __init__(self, name: str, args: PoolArgs, opts: pulumi.ResourceOptions | None = None):
        shape = args.shape
        super().__init__(name, shape.tier, opts)
        plan, child, rg = shape.plan, pulumi.ResourceOptions(parent=self), args.resource_group
        protocol, port, path = args.health
        health = {"protocol": protocol, "port": port, **({"requestPath": path} if path else {})}
        self.scale_set = az.compute.VirtualMachineScaleSet(
            f"{name}-vmss", vm_scale_set_name=physical_name(plan, name, "vmss"), resource_group_name=rg,
            location=args.region, zones=list(args.zones) or None, orchestration_mode="Flexible",
            platform_fault_domain_count=1, single_placement_group=False,
            sku={"name": shape.vm_size, "capacity": args.tier.replicas.min}, identity=shape.identity_block(),
            automatic_repairs_policy={"enabled": True, "grace_period": "PT30M", "repair_action": "Replace"},
            upgrade_policy={"mode": "Rolling", "rolling_upgrade_policy": {
                "max_batch_instance_percent": 34, "max_unhealthy_instance_percent": 34,
                "max_unhealthy_upgraded_instance_percent": 34, "pause_time_between_batches": "PT2M",
                "max_surge": True}},
            virtual_machine_profile={
                "os_profile": shape.os_profile(args.custom_data, "computer_name_prefix",
                                               physical_name(plan, name, "", 9).rstrip("-")),
                "security_profile": shape.security_profile(),
                "storage_profile": {
                    "image_reference": shape.image,
                    "os_disk": {"create_option": "FromImage", "caching": "ReadWrite", "disk_size_gb": shape.os_disk_gb,
                                "delete_option": "Delete", "managed_disk": shape.managed_disk()},
                    "data_disks": [{"lun": DATA_LUN, "create_option": "Empty", "disk_size_gb": shape.data_disk_gb,
                                    "caching": "ReadOnly", "delete_option": "Delete",
                                    "managed_disk": shape.managed_disk()}]},
                "network_profile": {"network_api_version": "2022-11-01", "network_interface_configurations": [{
                    "name": "primary", "primary": True, "delete_option": "Delete",
                    "ip_configurations": [{"name": "primary", "primary": True,
                                           **shape.ip_configuration(args.subnet)}]}]},
                "diagnostics_profile": {"boot_diagnostics": {"enabled": True}},
                "extension_profile": {"extensions": [
                    {"name": "health", "publisher": "Microsoft.ManagedServices", "type": "ApplicationHealthLinux",
                     "type_handler_version": "2.0", "auto_upgrade_minor_version": True, "settings": health},
                    {"name": "entra-login", "publisher": "Microsoft.Azure.ActiveDirectory",
                     "type": "AADSSHLoginForLinux", "type_handler_version": "1.0", "auto_upgrade_minor_version": True}]}},
            tags=tags(plan, shape.tier), opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        replicas = args.tier.replicas
        metric = {"metric_name": "Percentage CPU", "metric_resource_uri": self.scale_set.id, "time_grain": "PT1M",
                  "statistic": "Average", "time_window": "PT5M", "time_aggregation": "Average"}
        az.monitor.AutoscaleSetting(
            f"{name}-autoscale", autoscale_setting_name=physical_name(plan, name, "autoscale"), resource_group_name=rg,
            location=args.region, target_resource_uri=self.scale_set.id, enabled=True,
            profiles=[{"name": "cpu", "capacity": {"minimum": str(replicas.min), "maximum": str(replicas.max),
                                                   "default": str(replicas.min)},
                       "rules": [{"metric_trigger": {**metric, "operator": "GreaterThan", "threshold": CPU_OUT},
                                  "scale_action": {"direction": "Increase", "type": "ChangeCount", "value": "1",
                                                   "cooldown": WARMUP}},
                                 {"metric_trigger": {**metric, "operator": "LessThan", "threshold": CPU_IN},
                                  "scale_action": {"direction": "Decrease", "type": "ChangeCount", "value": "1",
                                                   "cooldown": WARMUP}}]}],
            tags=tags(plan, shape.tier), opts=child)
        self.register_outputs({"scale_set": self.scale_set.id})
