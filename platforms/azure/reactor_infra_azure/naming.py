"""Names for the azure platform: Azure's name rules over the core's physical names, the Key
Vault's and the storage account's globally unique names, the Key Vault secret names, tags.

Most resource names allow 1-80 letters, digits, '-', '_' and '.'; a virtual machine's computer
name at most 64 (Linux); a Key Vault 3-24 letters, digits and '-' (a letter first, no '--'),
unique in Azure; a storage account 3-24 lowercase letters and digits, unique in Azure; a
PostgreSQL flexible server 3-63 lowercase letters, digits and '-', unique in Azure (its name is
a DNS name under postgres.database.azure.com). Tag values allow '+' and '@' of a token.
"""

from __future__ import annotations

import re

from reactor_infra import naming
from reactor_infra.layout import Plan

NAME_MAX = 63
VAULT_MAX = 24
ACCOUNT_MAX = 24
COMPUTER_MAX = 63


def physical_name(plan: Plan, tier: str, role: str, limit: int = NAME_MAX) -> str:
    """`<stack>-<tier>-<role>`, cut to a limit (never ending in '-')."""
    name = naming.physical_name(plan, tier, role, limit)
    return name if name[0].isalpha() else f"r{name[: limit - 1]}"


def resource_group(plan: Plan) -> str:
    """The install's resource group: `<stack>` (`rg-` first when the stack starts with a digit)."""
    return naming.prefix(plan) if naming.prefix(plan)[0].isalpha() else f"rg-{naming.prefix(plan)}"


def key_vault(plan: Plan, region: str) -> str:
    """A Key Vault name (unique in Azure): `<stack>-<8 hex>`, the hex from the stack and region."""
    name = naming.global_name(plan, "kv", scope=region, limit=VAULT_MAX)
    name = re.sub(r"-{2,}", "-", name)
    return name if name[0].isalpha() else f"k{name[1:]}"


def storage_account(plan: Plan) -> str:
    """A storage account name (unique in Azure): lowercase letters and digits only."""
    full = re.sub(r"[^a-z0-9]", "", naming.global_name(plan, "files", scope=plan.primary_region, limit=40))
    return (full[:ACCOUNT_MAX - 8] + full[-8:]) if len(full) > ACCOUNT_MAX else full


def database_server(plan: Plan, role: str = "postgres") -> str:
    """A PostgreSQL flexible server name (unique in Azure): `<stack>-<role>-<8 hex>`."""
    return naming.global_name(plan, role, scope=plan.primary_region, limit=NAME_MAX)


def secret_name(plan: Plan, secret: str) -> str:
    """The Key Vault secret that holds one plan secret: `<stack>-<name>`."""
    return f"{naming.prefix(plan)}-{secret}"


def tags(plan: Plan, tier: str | None = None) -> dict[str, str]:
    return naming.labels(plan, tier)
