"""Secrets: every secret the Plan lists, generated once (the kit's SecretFlow) and kept in the
install's Key Vault: one secret `<stack>-<name>` each.

Written through Azure Resource Manager (the vault's public network access is off; ARM is not
the data plane). Values stay Pulumi secrets end to end; machines read them at boot with their
managed identity (Key Vault Secrets User on each secret they use) and never find one in their
custom data. `init` secrets only exist after OpenBao's init: each holds a placeholder the first
boot replaces with a new version (Pulumi ignores later values).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.kit import SecretFlow
from reactor_infra.layout import Plan, Secret

from .component import AzureComponent
from .naming import secret_name, tags

TIER = "vault"
# The value of an `init` secret until the first boot sets it; the machines skip it.
PLACEHOLDER = "set-after-openbao-init"


@dataclass(frozen=True)
class SecretsArgs:
    plan: Plan
    resource_group: pulumi.Input[str]
    vault: az.keyvault.Vault
    # values of the Plan's PLATFORM secrets, issued by other components (TLS keys)
    issued: dict[str, pulumi.Output[str]] | None = None


class Secrets(AzureComponent, SecretFlow):
    """`secrets[name]` is its keyvault.Secret; `names[name]` its name in the vault; `ids[name]`
    its resource id (an RBAC scope)."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._args = name, args
        self.secrets: dict[str, az.keyvault.Secret] = {}
        self.names: dict[str, str] = {}
        self.ids: dict[str, pulumi.Output[str]] = {}
        self.create_secrets(args.plan, args.issued)
        self.register_outputs({"secrets": dict(self.names)})

    def store(self, plan: Plan, secret: Secret, value: pulumi.Output[str]) -> None:
        self._secret(plan, secret, value)

    def reserve(self, plan: Plan, secret: Secret) -> pulumi.Output[str] | None:
        value = pulumi.Output.secret(PLACEHOLDER)
        self._secret(plan, secret, value, ignore_value=True)
        return value if secret.env else None

    def _secret(self, plan: Plan, secret: Secret, value: pulumi.Output[str], *, ignore_value: bool = False) -> None:
        self.names[secret.name] = secret_name(plan, secret.name)
        self.secrets[secret.name] = az.keyvault.Secret(
            f"{self._name}-{secret.name}", secret_name=self.names[secret.name], vault_name=self._args.vault.name,
            resource_group_name=self._args.resource_group, tags={**tags(plan, TIER), "purpose": secret.purpose[:250]},
            properties={"value": value, "content_type": "text/plain"},
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect,
                                        ignore_changes=["properties.value"] if ignore_value else None))
        self.ids[secret.name] = pulumi.Output.concat(self._args.vault.id, "/secrets/", self.names[secret.name])
