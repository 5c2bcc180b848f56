"""Backup: a region's daily backups of its machines' data disks (NATS's JetStream store,
OpenBao's raft, the size-2 node's Postgres and state), kept as long as the edition keeps
backups: an Azure Backup vault (zone-redundant where the region has zones, soft delete on),
one policy (an incremental snapshot a day at 04:00 UTC, in the operational store), one backup
instance per disk. The vault's own identity reads the disks (Disk Backup Reader on each) and
keeps the snapshots in the install's resource group (Disk Snapshot Contributor there); nothing
else may."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags
from .roles import DISK_BACKUP_READER, DISK_SNAPSHOT_CONTRIBUTOR, grant

TIER = "backup"
DISKS = "Microsoft.Compute/disks"
OPERATIONAL = {"data_store_type": "OperationalStore", "object_type": "DataStoreInfoBase"}
MAX_DAYS = 360  # the operational store keeps a disk's snapshots at most this long


@dataclass(frozen=True)
class BackupArgs:
    plan: Plan
    region: str
    zoned: bool
    resource_group: pulumi.Input[str]  # the install's: the snapshots go there
    resource_group_id: pulumi.Input[str]
    subscription: pulumi.Input[str]
    disks: Mapping[str, pulumi.Input[str]]  # machine -> its data disk's id


class Backup(AzureComponent):
    """`vault`; `policy`."""

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child, rg = args.plan, pulumi.ResourceOptions(parent=self), args.resource_group
        days = min(MAX_DAYS, plan.policy.backup_retention_days)
        self.vault = az.dataprotection.BackupVault(
            f"{name}-vault", vault_name=physical_name(plan, "backup", args.region), resource_group_name=rg,
            location=args.region, identity={"type": "SystemAssigned"}, tags=tags(plan, TIER),
            properties={"storage_settings": [{"datastore_type": "VaultStore",
                                              "type": "ZoneRedundant" if args.zoned else "LocallyRedundant"}],
                        "security_settings": {"soft_delete_settings": {"state": "On", "retention_duration_in_days": 14}}},
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect))
        self.policy = az.dataprotection.BackupPolicy(
            f"{name}-policy", backup_policy_name="daily-disks", vault_name=self.vault.name, resource_group_name=rg,
            properties={
                "object_type": "BackupPolicy", "datasource_types": [DISKS],
                "policy_rules": [
                    {"object_type": "AzureBackupRule", "name": "BackupDaily", "data_store": OPERATIONAL,
                     "backup_parameters": {"object_type": "AzureBackupParams", "backup_type": "Incremental"},
                     "trigger": {"object_type": "ScheduleBasedTriggerContext",
                                 "schedule": {"repeating_time_intervals": ["R/2026-01-01T04:00:00+00:00/P1D"],
                                              "time_zone": "UTC"},
                                 "tagging_criteria": [{"is_default": True, "tag_info": {"tag_name": "Default"},
                                                       "tagging_priority": 99}]}},
                    {"object_type": "AzureRetentionRule", "name": "Default", "is_default": True,
                     "lifecycles": [{"delete_after": {"object_type": "AbsoluteDeleteOption", "duration": f"P{days}D"},
                                     "source_data_store": OPERATIONAL}]}]},
            opts=child)
        principal = self.vault.identity.apply(lambda i: i.principal_id if i else "")
        snapshots = grant(f"{name}-snapshots", plan=plan, subscription=args.subscription,
                          role=DISK_SNAPSHOT_CONTRIBUTOR, principal=principal, scope=args.resource_group_id, opts=child)
        for machine, disk in sorted(args.disks.items()):
            reader = grant(f"{name}-reads-{machine}", plan=plan, subscription=args.subscription, role=DISK_BACKUP_READER,
                           principal=principal, scope=disk, opts=child)
            az.dataprotection.BackupInstance(
                f"{name}-{machine}", backup_instance_name=physical_name(plan, machine, "backup"), vault_name=self.vault.name,
                resource_group_name=rg, tags=tags(plan, TIER),
                properties={
                    "object_type": "BackupInstance", "friendly_name": physical_name(plan, machine, "data"),
                    "data_source_info": {"object_type": "Datasource", "datasource_type": DISKS, "resource_id": disk,
                                         "resource_uri": disk, "resource_location": args.region,
                                         "resource_name": physical_name(plan, machine, "data"), "resource_type": DISKS},
                    "policy_info": {"policy_id": self.policy.id, "policy_parameters": {"data_store_parameters_list": [
                        {"object_type": "AzureOperationalStoreParameters", "data_store_type": "OperationalStore",
                         "resource_group_id": args.resource_group_id}]}}},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[reader, snapshots]))
        self.register_outputs({"vault": self.vault.id})
