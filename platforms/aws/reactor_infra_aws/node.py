"""Node: one EC2 machine of a machine tier (the size-2 node; an infra, NATS or OpenBao machine),
its data volume, and at size 2 its Elastic IP association.

The instance boots from its user data (cloud-init: Docker, the compose project, the boot steps
that fetch secrets from SSM and guard the metadata service). IMDSv2 only; the hop limit is 1,
so no container reaches the instance role, unless a service on the node needs it (OpenBao's KMS
seal): then 2, and the node's metadata guard lets only that service's fixed address through.

The instance is cattle: cloud-init runs once per instance, so a changed config (user data)
replaces it (`user_data_replace_on_change`), the old one first (`delete_before_replace`: the data
volume must be detached before the new one can attach it). What must survive is elsewhere and
protected where the edition protects: the data volume (Postgres, OpenBao, the runtime's files;
a final snapshot when deleted), the Elastic IP (`Address`), the keys and the secrets. So the
instance itself is never `protect`ed nor termination-protected: either would block the replace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import physical_name, tags

# The data volume's device name as attached; Nitro instances show it as an NVMe disk, and
# the boot script finds it as the one disk that is not the root disk.
DATA_DEVICE = "/dev/sdf"


@dataclass(frozen=True)
class NodeArgs:
    plan: Plan  # names, tags and policy.protect
    tier: str  # the tier this node is (the node tier at size 2)
    instance_type: str  # EC2 type, from the tier's sizing or extras.aws.instance_type
    ami: pulumi.Input[str]  # AMI id (resolved from the public SSM parameter)
    subnet_id: pulumi.Input[str]
    availability_zone: str  # the subnet's zone; the data volume must be in it too
    security_group_ids: Sequence[pulumi.Input[str]]
    # the Elastic IP (`Address`) this node answers on; none: no public address (from size 3)
    address_allocation_id: pulumi.Input[str] | None
    instance_profile: pulumi.Input[str]  # name of the instance profile
    user_data: pulumi.Input[str]  # the #cloud-config document (no secret values)
    data_volume_gb: int  # Postgres, OpenBao and the runtime's state
    root_volume_gb: int = 20  # default 20 GiB: OS and images
    # customer-managed KMS key for both volumes; none: the AWS-managed aws/ebs key (still encrypted)
    kms_key: aws.kms.Key | None = None
    # EC2 key pair for SSH; none (reach the node through SSM Session Manager)
    key_name: str | None = None
    # what must exist before the instance boots (e.g. the seal key's alias); default nothing
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    # a container must reach the instance role (the metadata guard picks which); default no
    containers_need_identity: bool = False
    # a fixed private address (cluster peers name it before it exists); default: the subnet picks
    private_ip: str | None = None


class Node(AwsComponent):
    """`instance` and `data_volume`."""

    def __init__(self, name: str, args: NodeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        self._name, self._args, self._plan = name, args, args.plan
        self._protected = args.plan.policy.protect
        self.data_volume = self._create_data_volume()
        self.instance = self._create_instance()
        self._attach_data_volume()
        if args.address_allocation_id is not None:
            self._associate_address()
        self.register_outputs({"instance_id": self.instance.id})

    def _tags(self, role: str) -> dict[str, str]:
        # one of several machines of a tier (`infra-1`) names its replica: infra-1-data
        replica = self._name.removeprefix(self._args.tier).lstrip("-")
        return tags(self._plan, self._args.tier,
                    physical_name(self._plan, self._args.tier, f"{replica}-{role}" if replica else role))

    def _kms_key_arn(self) -> pulumi.Output[str] | None:
        return self._args.kms_key.arn if self._args.kms_key else None

    def _key_dependency(self) -> list[pulumi.Resource]:
        return [self._args.kms_key] if self._args.kms_key else []

    def _create_data_volume(self) -> aws.ebs.Volume:
        args = self._args
        return aws.ebs.Volume(
            f"{self._name}-data",
            availability_zone=args.availability_zone,
            size=args.data_volume_gb,
            type="gp3",
            encrypted=True,
            kms_key_id=self._kms_key_arn(),
            final_snapshot=self._protected,
            tags=self._tags("data"),
            opts=pulumi.ResourceOptions(parent=self, protect=self._protected, depends_on=self._key_dependency()),
        )

    def _create_instance(self) -> aws.ec2.Instance:
        args = self._args
        return aws.ec2.Instance(
            f"{self._name}-instance",
            ami=args.ami,
            instance_type=args.instance_type,
            subnet_id=args.subnet_id,
            availability_zone=args.availability_zone,
            vpc_security_group_ids=list(args.security_group_ids),
            iam_instance_profile=args.instance_profile,
            key_name=args.key_name,
            # the public address (size 2) is the Elastic IP, attached once the instance runs
            associate_public_ip_address=False,
            private_ip=args.private_ip,
            user_data=args.user_data,
            metadata_options=aws.ec2.InstanceMetadataOptionsArgs(
                http_endpoint="enabled",
                http_tokens="required",  # IMDSv2 only
                # 1: no container reaches the instance role; 2 when one must (the guard picks which)
                http_put_response_hop_limit=2 if args.containers_need_identity else 1,
                instance_metadata_tags="disabled",
            ),
            root_block_device=aws.ec2.InstanceRootBlockDeviceArgs(
                volume_type="gp3",
                volume_size=args.root_volume_gb,
                encrypted=True,
                kms_key_id=self._kms_key_arn(),
                delete_on_termination=True,
                tags=self._tags("root"),
            ),
            monitoring=self._protected,  # detailed (1-minute) metrics where the edition protects
            # cloud-init runs once per instance: a changed config reaches the node by a new one
            user_data_replace_on_change=True,
            tags=self._tags("instance"),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.depends_on, *self._key_dependency()],
                delete_before_replace=True,  # the data volume moves to the new instance
                # a newer AMI behind the SSM parameter must not replace a running node
                ignore_changes=["ami"],
            ),
        )

    def _attach_data_volume(self) -> None:
        aws.ec2.VolumeAttachment(
            f"{self._name}-data-attachment",
            device_name=DATA_DEVICE,
            volume_id=self.data_volume.id,
            instance_id=self.instance.id,
            # stop the instance before detaching, so Postgres never loses its disk while running
            stop_instance_before_detaching=True,
            # a volume attaches to one instance at a time: detach from the old one first
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )

    def _associate_address(self) -> None:
        aws.ec2.EipAssociation(
            f"{self._name}-address",
            allocation_id=self._args.address_allocation_id,
            instance_id=self.instance.id,
            opts=pulumi.ResourceOptions(parent=self),
        )
