"""Keys: a Key Vault and the keys made in it: OpenBao's seal key (RSA, the azurekeyvault seal
wraps and unwraps with it) and, for editions E and C, the customer-managed data key of disks,
the database and the file share.

RBAC authorization (no access policies), purge protection and soft delete, public network
access disabled (machines use the private endpoint; Azure's trusted services, which read
customer-managed keys, pass by `AzureServices`). The program writes secrets and keys through
Azure Resource Manager, which the vault's network rules do not apply to. Keys rotate on a
policy (a new version every 90 days; the seal records the version it wrapped with, and older
versions stay usable for unwrap; no expiry). The primary region's vault also holds every secret
(`Secrets`); a vault in the database's paired region holds only the key its geo-redundant
backups are encrypted with.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import key_vault, tags

TIER = "vault"
# a new version every 90 days; no expiry: an expired version could no longer unwrap what it
# wrapped (OpenBao's root key, the disks' keys), so checkov's CKV_AZURE_40 is answered by rotation
ROTATION = {"lifetime_actions": [{"action": {"type": "rotate"}, "trigger": {"time_after_create": "P90D"}}]}
SEAL_KEY = "openbao-seal"
DATA_KEY = "data"


@dataclass(frozen=True)
class KeysArgs:
    plan: Plan
    location: str
    resource_group: pulumi.Input[str]
    tenant: pulumi.Input[str]
    data_key: bool = False  # editions E and C
    seal_key: bool = False  # OpenBao's azurekeyvault seal


class Keys(AzureComponent):
    """`vault`; `vault_name`; `data` and `seal` (keyvault.Key or None); their names."""

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        stateful = pulumi.ResourceOptions(parent=self, protect=plan.policy.protect)
        self.vault_name = key_vault(plan, args.location)
        self.vault = az.keyvault.Vault(
            f"{name}-vault", vault_name=self.vault_name, resource_group_name=args.resource_group,
            location=args.location, tags=tags(plan, TIER),
            properties={"tenant_id": args.tenant, "sku": {"family": "A", "name": "standard"},
                        "enable_rbac_authorization": True, "enable_soft_delete": True,
                        "soft_delete_retention_in_days": 90, "enable_purge_protection": True,
                        "public_network_access": "Disabled",
                        "network_acls": {"bypass": "AzureServices", "default_action": "Deny"}},
            opts=stateful)
        self.seal = self._key(name, args, SEAL_KEY, stateful) if args.seal_key else None
        self.data = self._key(name, args, DATA_KEY, stateful) if args.data_key else None
        self.seal_name = SEAL_KEY if self.seal is not None else None
        self.register_outputs({"vault": self.vault.id})

    def _key(self, name: str, args: KeysArgs, key: str, opts: pulumi.ResourceOptions) -> az.keyvault.Key:
        ops = ["wrapKey", "unwrapKey"] + (["encrypt", "decrypt"] if key == DATA_KEY else [])
        return az.keyvault.Key(
            f"{name}-{key}", key_name=key, vault_name=self.vault.name, resource_group_name=args.resource_group,
            properties={"kty": "RSA", "key_size": 3072, "key_ops": ops, "rotation_policy": ROTATION},
            tags=tags(args.plan, TIER), opts=opts)


def key_id(vault: az.keyvault.Vault, key: str) -> pulumi.Output[str]:
    """A key's resource id (an RBAC scope): `<vault id>/keys/<name>`."""
    return pulumi.Output.concat(vault.id, "/keys/", key)

