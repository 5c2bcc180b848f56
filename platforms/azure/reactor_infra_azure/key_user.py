"""KeyUser: the managed identity Azure's services encrypt the install's data with (editions E and
C): disk encryption sets, the PostgreSQL flexible server (and its geo-redundant backups), the
file share's storage account. It holds Crypto Service Encryption User on each data key (get,
wrapKey, unwrapKey) and nothing else; no machine runs as it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags
from .roles import CRYPTO_SERVICE_USER, grant

TIER = "vault"


@dataclass(frozen=True)
class KeyUserArgs:
    plan: Plan
    region: str
    resource_group: pulumi.Input[str]
    subscription: pulumi.Input[str]
    keys: Mapping[str, pulumi.Input[str]]  # location -> the data key's resource id there


class KeyUser(AzureComponent):
    """`identity`; `id`; `principal`; `grants`."""

    def __init__(self, name: str, args: KeyUserArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        self.identity = az.managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_name_=physical_name(plan, "data-keys", "identity"),
            resource_group_name=args.resource_group, location=args.region, tags=tags(plan, TIER), opts=child)
        self.id = self.identity.id
        self.grants = [grant(f"{name}-{location}", plan=plan, subscription=args.subscription, role=CRYPTO_SERVICE_USER,
                             principal=self.identity.principal_id, scope=key, opts=child)
                       for location, key in sorted(args.keys.items())]
        self.register_outputs({"id": self.id})


def user_assigned(identity: pulumi.Input[str]) -> pulumi.Output[dict]:
    """An `identity` block naming one user-assigned identity (its id is a map key)."""
    return pulumi.Output.from_input(identity).apply(
        lambda i: {"type": "UserAssigned", "user_assigned_identities": {i: {}}})
