"""Secrets: every secret the Plan lists, generated once (the kit's SecretFlow) and kept in
Secret Manager: one secret `<stack>-<name>` each, its value one version.

Editions E and C replicate each secret only to the install's regions, encrypted with their
customer-managed keys (Secret Manager's service agent holds the key grant); others let Google
choose (automatic replication, Google-managed keys). Values stay Pulumi secrets end to end;
machines read them at boot with their service account (access per secret and tier) and never
find one in their metadata.

`init` secrets only exist after OpenBao's init: reactor-server's OpenBao token gets a secret
holding a placeholder version that the first boot supersedes with a new version (Pulumi
ignores later values); the recovery keys get an empty secret the first boot adds a version to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from reactor_infra.kit import SecretFlow
from reactor_infra.layout import Plan, Secret

from .component import GcpComponent
from .naming import labels, secret_id

TIER = "vault"
# The value of an `init` secret until the first boot sets it; the machines skip it.
PLACEHOLDER = "set-after-openbao-init"


@dataclass(frozen=True)
class SecretsArgs:
    plan: Plan
    # location -> customer-managed key (editions E and C); empty: automatic replication
    keys: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # values of the Plan's PLATFORM secrets, issued by other components (HMAC keys, TLS keys)
    issued: dict[str, pulumi.Output[str]] | None = None
    depends_on: tuple[pulumi.Resource, ...] = ()  # the key grants the service agent needs


class Secrets(GcpComponent, SecretFlow):
    """`secrets[name]` is its `secretmanager.Secret`; `names[name]` its secret id."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._keys, self._after = name, dict(args.keys), list(args.depends_on)
        self.secrets: dict[str, gcp.secretmanager.Secret] = {}
        self.names: dict[str, str] = {}
        self.create_secrets(args.plan, args.issued)
        self.register_outputs({"secrets": dict(self.names)})

    def store(self, plan: Plan, secret: Secret, value: pulumi.Output[str]) -> None:
        self._add_version(plan, secret, self._secret(plan, secret), value)

    def reserve(self, plan: Plan, secret: Secret) -> pulumi.Output[str] | None:
        holder = self._secret(plan, secret)
        if not secret.env:
            return None  # OpenBao's recovery keys: the first boot adds the only version
        return self._add_version(plan, secret, holder, pulumi.Output.secret(PLACEHOLDER), ignore_value=True)

    def _secret(self, plan: Plan, secret: Secret) -> gcp.secretmanager.Secret:
        if self._keys:
            replication = gcp.secretmanager.SecretReplicationArgs(
                user_managed=gcp.secretmanager.SecretReplicationUserManagedArgs(replicas=[
                    gcp.secretmanager.SecretReplicationUserManagedReplicaArgs(
                        location=location,
                        customer_managed_encryption=gcp.secretmanager
                        .SecretReplicationUserManagedReplicaCustomerManagedEncryptionArgs(kms_key_name=key))
                    for location, key in sorted(self._keys.items())]))
        else:
            replication = gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs())
        self.names[secret.name] = secret_id(plan, secret.name)
        self.secrets[secret.name] = gcp.secretmanager.Secret(
            f"{self._name}-{secret.name}", secret_id=self.names[secret.name], replication=replication,
            labels=labels(plan, TIER), annotations={"purpose": secret.purpose[:250]},
            deletion_protection=plan.policy.protect,
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect, depends_on=self._after or None))
        return self.secrets[secret.name]

    def _add_version(self, plan: Plan, secret: Secret, holder: gcp.secretmanager.Secret, value: pulumi.Output[str], *,
                 ignore_value: bool = False) -> pulumi.Output[str]:
        gcp.secretmanager.SecretVersion(
            f"{self._name}-{secret.name}-version", secret=holder.id, secret_data=value,
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect,
                                        ignore_changes=["secret_data"] if ignore_value else None))
        return value
