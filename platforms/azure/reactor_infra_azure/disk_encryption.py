"""DiskEncryption: a region's disk encryption set (editions E and C): every disk of the region's
machines is encrypted with the install's customer-managed data key there (disks and their key
must share a region), as the key user identity, following the key's rotations."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags

TIER = "vault"


@dataclass(frozen=True)
class DiskEncryptionArgs:
    plan: Plan
    region: str
    resource_group: pulumi.Input[str]
    key_url: pulumi.Input[str]  # the region's data key (its URL with version)
    identity: pulumi.Input[str]  # the key user
    depends_on: tuple[pulumi.Resource, ...] = ()


class DiskEncryption(AzureComponent):
    """`encryption_set`; `id`."""

    def __init__(self, name: str, args: DiskEncryptionArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        self.encryption_set = az.compute.DiskEncryptionSet(
            f"{name}-set", disk_encryption_set_name=physical_name(plan, "disks", args.region),
            resource_group_name=args.resource_group, location=args.region,
            encryption_type="EncryptionAtRestWithCustomerKey", identity={"type": "UserAssigned", "user_assigned_identities": [args.identity]},
            active_key={"key_url": args.key_url}, rotation_to_latest_key_version_enabled=True, tags=tags(plan, TIER),
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect, depends_on=list(args.depends_on)))
        self.id = self.encryption_set.id
        self.register_outputs({"id": self.id})
