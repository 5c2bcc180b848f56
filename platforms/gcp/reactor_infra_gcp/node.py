"""Node: one Compute Engine machine of a tier, with its own data disk.

Shielded VM (secure boot, vTPM, integrity monitoring), OS Login and no project-wide SSH keys,
the tier's own service account (never the default one), no external address except the
size-2 node's static one, a fixed private address (cluster peers and certificates name it
before it exists; a replaced machine comes back on it). The data disk (device `reactor-data`,
the machine's compose volumes) is a disk of its own that outlives the machine, snapshotted on
the tier's schedule; both disks use the customer-managed key for editions E and C. The user
data is the core's node boot (no secret values: they are fetched at boot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import labels, physical_name
from .places import DATA_DEVICE


@dataclass(frozen=True)
class MachineShape:
    """What every machine of a tier shares, whether a Node or a Pool's template."""

    plan: Plan
    tier: str
    machine_type: str
    image: str
    service_account: pulumi.Input[str]  # the tier's service account's email
    tags: Sequence[str]  # network tags: the install's, the tier's
    boot_disk_gb: int = 20
    data_disk_gb: int = 20
    kms_key: pulumi.Input[str] | None = None  # editions E and C: the data key of the machine's region

    def metadata(self, user_data: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
        return {"user-data": user_data, "enable-oslogin": "TRUE", "block-project-ssh-keys": "TRUE"}

    def shielded(self):
        return dict(enable_secure_boot=True, enable_vtpm=True, enable_integrity_monitoring=True)


@dataclass(frozen=True)
class NodeArgs:
    shape: MachineShape
    zone: str
    subnetwork: pulumi.Input[str]
    user_data: pulumi.Input[str]
    private_ip: str | None = None  # fixed; default the subnet picks
    public_ip: pulumi.Input[str] | None = None  # size 2: the static external address
    snapshot_policy: pulumi.Input[str] | None = None
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Node(GcpComponent):
    """`instance`; `disk` (the data disk)."""

    def __init__(self, name: str, args: NodeArgs, opts: pulumi.ResourceOptions | None = None):
        shape = args.shape
        super().__init__(name, shape.tier, opts)
        plan = shape.plan
        stateful = pulumi.ResourceOptions(parent=self, protect=plan.policy.protect)
        key = gcp.compute.DiskDiskEncryptionKeyArgs(kms_key_self_link=shape.kms_key) if shape.kms_key else None
        self.disk = gcp.compute.Disk(
            f"{name}-data", name=physical_name(plan, name, "data"), zone=args.zone, type="pd-balanced",
            size=shape.data_disk_gb, disk_encryption_key=key, labels=labels(plan, shape.tier),
            resource_policies=[args.snapshot_policy] if args.snapshot_policy else None, opts=stateful)
        access = [gcp.compute.InstanceNetworkInterfaceAccessConfigArgs(nat_ip=args.public_ip)] if args.public_ip else None
        self.instance = gcp.compute.Instance(
            f"{name}-instance", name=physical_name(plan, name, "vm"), zone=args.zone, machine_type=shape.machine_type,
            tags=list(shape.tags), labels=labels(plan, shape.tier), metadata=shape.metadata(args.user_data),
            boot_disk=gcp.compute.InstanceBootDiskArgs(
                auto_delete=True, kms_key_self_link=shape.kms_key,
                initialize_params=gcp.compute.InstanceBootDiskInitializeParamsArgs(
                    image=shape.image, size=shape.boot_disk_gb, type="pd-balanced")),
            attached_disks=[gcp.compute.InstanceAttachedDiskArgs(source=self.disk.self_link, device_name=DATA_DEVICE,
                                                                 kms_key_self_link=shape.kms_key)],
            network_interfaces=[gcp.compute.InstanceNetworkInterfaceArgs(
                subnetwork=args.subnetwork, network_ip=args.private_ip, access_configs=access)],
            service_account=gcp.compute.InstanceServiceAccountArgs(email=shape.service_account, scopes=["cloud-platform"]),
            shielded_instance_config=gcp.compute.InstanceShieldedInstanceConfigArgs(**shape.shielded()),
            deletion_protection=plan.policy.protect, allow_stopping_for_update=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.register_outputs({"id": self.instance.id})
