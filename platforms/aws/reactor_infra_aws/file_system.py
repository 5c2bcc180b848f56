"""FileSystem: an EFS file system for the container mounts that must outlive a task.

A Fargate task's own disk goes with the task. What must survive a restart or a replacement
lives here: reactor-server's `.reactor/` where the Plan says storage `fs` (one app node), and
Caddy's certificate storage, which every edge replica shares so ACME and on-demand TLS work
across them. One mount target per private subnet of the tier's zones, behind the Plan's
"file-system" link-end group (NFS only from the tiers that mount it).

Each mount is an access point: its root directory is created owned by the `uid:gid` the
service runs as (the catalogue's `Mount.owner`), mode 0700, and every file operation through
it is done as that user, so a fresh file system needs no chown and one service never sees
another's directory. Encrypted at rest (the customer-managed key when the edition has one);
for E and C Pulumi `protect` and AWS Backup's daily backups (backup policy ENABLED).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import physical_name, tags

DIRECTORY_MODE = "0700"  # service_spec.Mount's default: only the owner


def owner_ids(owner: str) -> tuple[int, int]:
    """`"uid:gid"` -> (uid, gid)."""
    uid, _, gid = owner.partition(":")
    if not (uid.isdigit() and gid.isdigit()):
        raise ValueError(f"owner must be numeric uid:gid, got {owner!r}")
    return int(uid), int(gid)


@dataclass(frozen=True)
class FileSystemArgs:
    plan: Plan  # names, tags, policy (protect, backups)
    tier: str  # the tier whose mounts it holds (a tag and the render's component)
    subnet_ids: Sequence[pulumi.Input[str]]  # private subnets: one mount target in each
    security_group_id: pulumi.Input[str]  # the Plan's "file-system" link-end group
    # customer-managed KMS key for the data at rest; none: the AWS-managed aws/elasticfilesystem key
    kms_key: aws.kms.Key | None
    # mount role -> (root directory path, owner "uid:gid"): one access point each
    access_points: Mapping[str, tuple[str, str]]


class FileSystem(AwsComponent):
    """`file_system` (aws.efs.FileSystem), `id` (Output) and `access_points[role]`."""

    def __init__(self, name: str, args: FileSystemArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        self._name, self._args, self._plan = name, args, args.plan
        self.file_system = self._create_file_system()
        self.id: pulumi.Output[str] = self.file_system.id
        if self._plan.policy.protect:
            self._enable_backups()
        self._create_mount_targets()
        self.access_points: dict[str, aws.efs.AccessPoint] = {
            role: self._create_access_point(role, path, owner)
            for role, (path, owner) in sorted(args.access_points.items())
        }
        self.register_outputs({"id": self.id,
                               "access_points": {r: ap.id for r, ap in self.access_points.items()}})

    def _create_file_system(self) -> aws.efs.FileSystem:
        plan, tier = self._plan, self._args.tier
        physical = physical_name(plan, tier, "files")
        key = self._args.kms_key
        return aws.efs.FileSystem(
            f"{self._name}-fs",
            creation_token=physical,  # idempotent create: a retried call never makes a second one
            encrypted=True,
            kms_key_id=key.arn if key else None,
            performance_mode="generalPurpose",
            # small and spiky (certificates, one node's files): elastic needs no burst credits
            throughput_mode="elastic",
            lifecycle_policies=[aws.efs.FileSystemLifecyclePolicyArgs(transition_to_ia="AFTER_30_DAYS")],
            tags=tags(plan, tier, physical),
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect,
                                        depends_on=[key] if key else None),
        )

    def _enable_backups(self) -> None:
        aws.efs.BackupPolicy(
            f"{self._name}-backup",
            file_system_id=self.file_system.id,
            backup_policy=aws.efs.BackupPolicyBackupPolicyArgs(status="ENABLED"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_mount_targets(self) -> None:
        for i, subnet_id in enumerate(self._args.subnet_ids):
            aws.efs.MountTarget(
                f"{self._name}-mount-{i}",
                file_system_id=self.file_system.id,
                subnet_id=subnet_id,
                security_groups=[self._args.security_group_id],
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _create_access_point(self, role: str, path: str, owner: str) -> aws.efs.AccessPoint:
        uid, gid = owner_ids(owner)
        plan, tier = self._plan, self._args.tier
        return aws.efs.AccessPoint(
            f"{self._name}-{role}",
            file_system_id=self.file_system.id,
            posix_user=aws.efs.AccessPointPosixUserArgs(uid=uid, gid=gid),
            root_directory=aws.efs.AccessPointRootDirectoryArgs(
                path=path,
                creation_info=aws.efs.AccessPointRootDirectoryCreationInfoArgs(
                    owner_uid=uid, owner_gid=gid, permissions=DIRECTORY_MODE),
            ),
            tags=tags(plan, tier, physical_name(plan, tier, f"files-{role}")),
            opts=pulumi.ResourceOptions(parent=self),
        )
