"""Role assignments (Azure RBAC): a built-in role for one principal on one scope, named by a
GUID derived from the install and the assignment, so a render is the same every time. Pure
helpers and one function that makes the resource."""

from __future__ import annotations

import uuid

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .naming import resource_group

# built-in role definition ids
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"  # Key Vault Secrets User: read secret values
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"  # Key Vault Secrets Officer: set secrets
CRYPTO_SERVICE_USER = "e147488a-f6f5-4113-8e2d-b22465e65bf6"  # Crypto Service Encryption User: get, wrap, unwrap
DISK_BACKUP_READER = "3e5e47e6-65f7-47ef-90b5-e5dd4d455f24"  # Disk Backup Reader: Azure Backup reads a disk
DISK_SNAPSHOT_CONTRIBUTOR = "7efff54f-a5b4-42b5-a1c5-5411624893ce"  # Disk Snapshot Contributor: keeps its snapshots
DNS_ZONE_CONTRIBUTOR = "befefa01-2a29-4197-83a8-272ff33ce314"  # DNS Zone Contributor: Caddy's DNS-01 records
NAMES = {SECRETS_USER: "Key Vault Secrets User", SECRETS_OFFICER: "Key Vault Secrets Officer",
         CRYPTO_SERVICE_USER: "Key Vault Crypto Service Encryption User", DISK_BACKUP_READER: "Disk Backup Reader",
         DISK_SNAPSHOT_CONTRIBUTOR: "Disk Snapshot Contributor", DNS_ZONE_CONTRIBUTOR: "DNS Zone Contributor"}
_NAMESPACE = uuid.UUID("5d7c2f7e-8a0b-4f43-9d7e-2b1b0c6e9a41")


def definition(subscription: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    return pulumi.Output.concat("/subscriptions/", subscription, "/providers/Microsoft.Authorization/roleDefinitions/",
                                role)


def grant(name: str, *, plan: Plan, subscription: pulumi.Input[str], role: str, principal: pulumi.Input[str],
          scope: pulumi.Input[str], opts: pulumi.ResourceOptions) -> az.authorization.RoleAssignment:
    """`role` (a definition id) for a managed identity's `principal` on `scope`. Its name is a
    GUID from the install (names are unique in the tenant) and the assignment's own name."""
    seed = f"{plan.settings.project_name}/{plan.stack}/{resource_group(plan)}/{name}"
    return az.authorization.RoleAssignment(
        name, role_assignment_name=str(uuid.uuid5(_NAMESPACE, seed)), role_definition_id=definition(subscription, role),
        principal_id=principal, principal_type="ServicePrincipal", scope=scope,
        description=f"reactor-infra: {NAMES.get(role, role)}", opts=opts)
