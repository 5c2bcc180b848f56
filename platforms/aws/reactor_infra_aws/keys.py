"""Keys: the KMS keys of one install.

- `seal`: OpenBao's awskms auto-unseal key, when the Plan's vault seal is `awskms`.
- `data`: a customer-managed key for the data volume, the root volume and the secret
  parameters, when the edition asks for customer-managed keys (`plan.policy`); otherwise
  AWS-managed keys (aws/ebs, aws/ssm) encrypt them.

Each key has an alias `alias/<stack>-vault-<role>`, so config files can name it before the key
exists (OpenBao's seal stanza takes the alias).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import KMS_ALIAS_MAX, physical_name, tags

TIER = "vault"


def alias_name(plan: Plan, role: str) -> str:
    return "alias/" + physical_name(plan, TIER, role, KMS_ALIAS_MAX - len("alias/"))


@dataclass(frozen=True)
class KeysArgs:
    plan: Plan  # vault_seal and policy.customer_managed_keys decide which keys exist
    # the primary region holds the seal key; another region (+mr) only its data key; default True
    primary: bool = True


class Keys(AwsComponent):
    """`seal` and `data` are `aws.kms.Key`s or None; `*_alias` the alias names."""

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._plan = name, args.plan
        plan = args.plan
        self.seal_alias = alias_name(plan, "seal") if plan.vault_seal == "awskms" and args.primary else None
        self.data_alias = alias_name(plan, "data") if plan.policy.customer_managed_keys else None
        self.seal = self._create_key("seal", "OpenBao auto-unseal (awskms seal)") if self.seal_alias else None
        self.data = self._create_key("data", "volumes, secret parameters, database, bucket and file systems") \
            if self.data_alias else None
        self.register_outputs({
            "seal": self.seal.arn if self.seal else None,
            "data": self.data.arn if self.data else None,
        })

    def _create_key(self, role: str, purpose: str) -> aws.kms.Key:
        plan = self._plan
        protect = plan.policy.protect
        key = aws.kms.Key(
            f"{self._name}-{role}",
            description=f"{plan.stack}: {purpose}",
            enable_key_rotation=True,
            # losing a key loses what it encrypts: the longest window when the edition protects
            deletion_window_in_days=30 if protect else 7,
            tags=tags(plan, TIER, physical_name(plan, TIER, role)),
            opts=pulumi.ResourceOptions(parent=self, protect=protect),
        )
        aws.kms.Alias(
            f"{self._name}-{role}-alias",
            name=alias_name(plan, role),
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return key
