"""Secrets: every secret the Plan lists, generated and kept in SSM Parameter Store.

Each generated secret is one pulumi_random resource and one SecureString parameter
`/<stack>/<name>` (encrypted with the customer-managed key when the edition has one). Values
stay Pulumi secrets end to end; the node reads them at boot with its instance role and never
finds one in its user data.

`init` secrets only exist after `bao operator init`. The one reactor-server needs (its
OpenBao token) gets a parameter holding a placeholder that the operator overwrites once
(`aws ssm put-parameter --overwrite`); Pulumi ignores later changes to its value. OpenBao's
recovery keys never enter Pulumi or the node.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra import random_secrets
from reactor_infra.plan import Plan, Secret

from .component import AwsComponent
from .naming import parameter_name, tags

TIER = "vault"
# The value of an `init` parameter until the operator sets it; the node skips it.
PLACEHOLDER = "set-after-openbao-init"



@dataclass(frozen=True)
class SecretsArgs:
    plan: Plan  # the secrets come from `plan.secrets`; protect from `plan.policy`
    # customer-managed KMS key for the SecureString parameters; none: the AWS-managed aws/ssm key
    kms_key: aws.kms.Key | None = None


class Secrets(AwsComponent):
    """`parameters[secret name]` is its `aws.ssm.Parameter`; `names[secret name]` its name."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._plan, self._kms_key = name, args.plan, args.kms_key
        self.parameters: dict[str, aws.ssm.Parameter] = {}
        self.names: dict[str, str] = {}
        for secret in args.plan.secrets:
            if secret.generator == "init":
                if secret.env:  # reactor-server needs it: the operator fills it in after init
                    self._create_parameter(secret, pulumi.Output.secret(PLACEHOLDER), ignore_value=True)
            else:
                self._create_parameter(secret, self._generate(secret))
        self.register_outputs({"parameters": dict(self.names)})

    def _generate(self, secret: Secret) -> pulumi.Output[str]:
        opts = pulumi.ResourceOptions(parent=self, protect=self._plan.policy.protect)
        return random_secrets.generate(f"{self._name}-{secret.name}", secret, opts)

    def _create_parameter(self, secret: Secret, value: pulumi.Output[str], *, ignore_value: bool = False) -> None:
        plan = self._plan
        name = parameter_name(plan, secret.name)
        self.names[secret.name] = name
        self.parameters[secret.name] = aws.ssm.Parameter(
            f"{self._name}-{secret.name}-parameter",
            name=name,
            type="SecureString",
            value=value,
            key_id=self._kms_key.arn if self._kms_key else None,
            description=secret.purpose,
            tags=tags(plan, TIER),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=plan.policy.protect,
                ignore_changes=["value"] if ignore_value else None,
                depends_on=[self._kms_key] if self._kms_key else None,
            ),
        )
