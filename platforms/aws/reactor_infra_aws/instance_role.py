"""InstanceRole: what the node may do in AWS, and nothing more.

- `AmazonSSMManagedInstanceCore`: operators reach the node through SSM Session Manager, so no
  SSH key and no port 22.
- read (with decryption) exactly this install's secret parameters, by ARN;
- decrypt with the customer-managed data key, only through SSM, when there is one;
- encrypt/decrypt/describe with OpenBao's seal key, when the vault seal is awskms.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import IAM_ROLE_MAX, INSTANCE_PROFILE_MAX, physical_name, tags

SSM_CORE_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

_ASSUME_EC2 = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


@dataclass(frozen=True)
class InstanceRoleArgs:
    plan: Plan  # names, tags, region
    tier: str  # the tier whose machines wear this role
    # ARNs of the parameters the node reads at boot (and nothing else)
    parameter_arns: Sequence[pulumi.Input[str]]
    # names of the parameters the node writes (OpenBao's first boot: its token, its recovery keys)
    written_parameters: Sequence[str] = ()
    # the customer-managed key the parameters are encrypted with; none: AWS-managed aws/ssm
    data_key_arn: pulumi.Input[str] | None = None
    # OpenBao's awskms seal key; none: no seal permissions
    seal_key_arn: pulumi.Input[str] | None = None
    # the EFS file system and access points the machines mount (IAM-authorized); default none
    file_system_arn: pulumi.Input[str] | None = None
    access_point_arns: Sequence[pulumi.Input[str]] = ()


class InstanceRole(AwsComponent):
    """`role` (aws.iam.Role) and `profile` (aws.iam.InstanceProfile) for the node."""

    def __init__(self, name: str, args: InstanceRoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        self._name, self._args, self._plan = name, args, args.plan
        self.role = self._create_role()
        self._attach_ssm_core()
        self._create_least_privilege_policy()
        self.profile = self._create_instance_profile()
        self.register_outputs({"role": self.role.arn, "profile": self.profile.name})

    def _create_role(self) -> aws.iam.Role:
        name = physical_name(self._plan, self._args.tier, "role", IAM_ROLE_MAX)
        return aws.iam.Role(
            f"{self._name}-role",
            name=name,
            description=f"Reactor {self._args.tier} tier of {self._plan.topology}: SSM access, its own secrets",
            assume_role_policy=_ASSUME_EC2,
            tags=tags(self._plan, self._args.tier, name),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _attach_ssm_core(self) -> None:
        aws.iam.RolePolicyAttachment(
            f"{self._name}-ssm-core",
            role=self.role.name,
            policy_arn=SSM_CORE_POLICY,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _statements(self) -> list[Mapping[str, object]]:
        args = self._args
        statements: list[Mapping[str, object]] = [{
            "Sid": "ReadOwnSecretParameters",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Resource": list(args.parameter_arns),
        }]
        if args.written_parameters:
            region = self._plan.primary_region
            account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
            statements.append({
                "Sid": "WriteOpenBaoInitParameters",
                "Effect": "Allow",
                "Action": "ssm:PutParameter",
                "Resource": [pulumi.Output.concat(f"arn:aws:ssm:{region}:", account, f":parameter/{name.lstrip('/')}")
                             for name in args.written_parameters],
            })
        if args.data_key_arn is not None:
            statements.append({
                "Sid": "DecryptSecretParameters",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:Encrypt"] if args.written_parameters else "kms:Decrypt",
                "Resource": args.data_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{self._plan.primary_region}.amazonaws.com"}},
            })
        if args.file_system_arn is not None:
            statements.append({
                "Sid": "MountSharedVolumes",
                "Effect": "Allow",
                "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
                "Resource": args.file_system_arn,
                "Condition": {"StringEquals": {"elasticfilesystem:AccessPointArn": list(args.access_point_arns)}},
            })
        if args.seal_key_arn is not None:
            statements.append({
                "Sid": "OpenBaoAutoUnseal",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                "Resource": args.seal_key_arn,
            })
        return statements

    def _create_least_privilege_policy(self) -> None:
        aws.iam.RolePolicy(
            f"{self._name}-policy",
            name=physical_name(self._plan, self._args.tier, "runtime", 128),
            role=self.role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": self._statements()}),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_instance_profile(self) -> aws.iam.InstanceProfile:
        name = physical_name(self._plan, self._args.tier, "profile", INSTANCE_PROFILE_MAX)
        return aws.iam.InstanceProfile(
            f"{self._name}-profile",
            name=name,
            role=self.role.name,
            tags=tags(self._plan, self._args.tier, name),
            opts=pulumi.ResourceOptions(parent=self),
        )
