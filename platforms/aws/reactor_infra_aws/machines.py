"""A machine tier: the EC2 machines of one Plan tier (the size-2 node; infra, NATS or OpenBao),
each running the tier's compose project from its user data, and the role they share.

Each replica lives in the private subnet of its zone (`addressing.zone_of`) on its fixed
private address (`addressing.machine_address`), so peers and certificates name it before it
exists and a replaced machine comes back where it was; the size-2 node is the exception, alone
in a public subnet behind its Elastic IP. The role reads exactly the parameters the tier's
services use; the tier that initialises OpenBao may write its two init parameters and use the
seal key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from reactor_infra.addressing import zone_of
from reactor_infra.layout import Plan, TierPlan

from .instance_role import InstanceRole, InstanceRoleArgs
from .node import Node, NodeArgs
from .places import machine_name


@dataclass(frozen=True)
class MachineTierArgs:
    plan: Plan
    tier: TierPlan  # replicas, zones, sizing
    subnets: Sequence[tuple[pulumi.Input[str], str]]  # (subnet id, availability zone) per zone index
    security_group_id: pulumi.Input[str]  # the tier's group
    user_data: Sequence[pulumi.Input[str]]  # one #cloud-config per replica (no secret values)
    instance_type: str
    ami: pulumi.Input[str]
    parameter_arns: Sequence[pulumi.Input[str]]  # what its machines read at boot
    root_volume_gb: int = 20
    addresses: Sequence[str | None] = ()  # fixed private address per replica; default: the subnet picks
    written_parameters: Sequence[str] = ()  # OpenBao's init parameters, on the tier that initialises it
    kms_key: aws.kms.Key | None = None  # the data key for volumes and parameters; default AWS-managed
    seal_key_arn: pulumi.Input[str] | None = None  # OpenBao's awskms key, for a tier running OpenBao
    key_name: str | None = None
    public_address: pulumi.Input[str] | None = None  # size 2: the Elastic IP's allocation id
    containers_need_identity: bool = False
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    file_system_arn: pulumi.Input[str] | None = None  # the EFS its machines mount (shared volumes)
    access_point_arns: Sequence[pulumi.Input[str]] = ()


@dataclass
class MachineTier:
    role: InstanceRole
    nodes: list[Node]


def build_machine_tier(args: MachineTierArgs, opts: pulumi.ResourceOptions) -> MachineTier:
    plan, tier = args.plan, args.tier
    name = tier.name.value
    assert tier.sizing is not None
    role = InstanceRole(f"{name}-identity", InstanceRoleArgs(
        plan=plan, tier=name, parameter_arns=list(args.parameter_arns),
        written_parameters=list(args.written_parameters),
        data_key_arn=args.kms_key.arn if args.kms_key else None, seal_key_arn=args.seal_key_arn,
        file_system_arn=args.file_system_arn, access_point_arns=list(args.access_point_arns)), opts)
    nodes = []
    for i in range(tier.replicas.max):
        subnet_id, zone = args.subnets[zone_of(i, tier.zones)]
        nodes.append(Node(machine_name(tier, i), NodeArgs(
            plan=plan, tier=name, instance_type=args.instance_type, ami=args.ami,
            subnet_id=subnet_id, availability_zone=zone, security_group_ids=[args.security_group_id],
            address_allocation_id=args.public_address, instance_profile=role.profile.name,
            user_data=args.user_data[i], data_volume_gb=tier.sizing.disk_gb, root_volume_gb=args.root_volume_gb,
            kms_key=args.kms_key, key_name=args.key_name,
            containers_need_identity=args.containers_need_identity,
            private_ip=args.addresses[i] if args.addresses else None,
            # the role must read the parameters (and the seal key) when it boots
            depends_on=[*args.depends_on, role]), opts))
    return MachineTier(role=role, nodes=nodes)
