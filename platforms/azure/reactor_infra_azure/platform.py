"""AzurePlatform: every `@azure` token, sizes 2 to 10 with +ha, +mr and +as (see README.md).

`deploy` hands the Plan to the recipe (`recipe.Recipe`), which walks its regions and tiers;
this class holds what the core asks of a platform besides: mock answers for offline renders,
the doctor's credential check, the operators' way to the admin API, the checks a stack's
`extras.azure` must pass for its token.
"""

from __future__ import annotations

import os
import shlex
import shutil
from typing import ClassVar

from pydantic import BaseModel

from reactor_infra.catalogue import ADMIN_PORT
from reactor_infra.errors import UserError
from reactor_infra.layout import DatabaseHosting, Plan, TlsTermination
from reactor_infra.platforms import AdminAccess, Check, RecipePlatform

from . import mocks
from .naming import key_vault, physical_name, resource_group, secret_name
from .recipe import Recipe
from .settings import PAIRED, AzureSettings


class AzurePlatform(RecipePlatform):
    name: ClassVar[str] = "azure"
    package: ClassVar[str] = "reactor-infra-azure"
    settings_model: ClassVar[type[AzureSettings]] = AzureSettings
    recipe: ClassVar[type[Recipe]] = Recipe
    mocks: ClassVar = mocks

    def extras(self, plan: Plan) -> BaseModel:
        settings = super().extras(plan)
        primary = plan.primary_region
        geo = plan.policy.customer_managed_keys and plan.database.hosting is DatabaseHosting.MANAGED
        if geo and primary not in PAIRED:
            raise UserError(f"{plan.topology}: edition {plan.topology.edition} keeps geo-redundant database backups, "
                            f"encrypted with a key in the primary region's pair, and {primary} has no pair; "
                            f"choose a paired primary region such as {', '.join(sorted(PAIRED)[:4])}")
        fronted = plan.ingress.tls is TlsTermination.LOAD_BALANCER  # Front Door terminates TLS (size 3)
        if plan.policy.multi_tenant and fronted and plan.settings.domain and not settings.wildcard_certificate:
            raise UserError(f"extras.azure.wildcard_certificate: {plan.topology} serves tenants at "
                            f"*.{plan.settings.domain} through Front Door, whose managed certificates cover no "
                            "wildcard; import a certificate for it into a Key Vault and set its secret's resource id")
        return settings

    def conformance(self):
        from .conformance import AzureReadings

        return AzureReadings()

    def doctor(self) -> list[Check]:
        return [_credentials()]

    def admin_access(self, plan: Plan, local_port: int) -> AdminAccess:
        """SSH through Azure Bastion's native client tunnel (signed in with Entra ID) into a
        running machine of the app tier, forwarding a local port to its admin forwarder on the
        machine's loopback (ADMIN_PORT): the server sees loopback."""
        tier = plan.app_tier.name.value
        extras = self.extras(plan)
        group = getattr(extras, "resource_group", None) or resource_group(plan)
        query = f"[?tags.stack=='{plan.stack}' && tags.tier=='{tier}'] | [0].id"
        find = shlex.join(["az", "vm", "list", "--resource-group", group, "--query", query, "--output", "tsv"])
        forward = shlex.join(["az", "network", "bastion", "ssh", "--name", physical_name(plan, "bastion", "host"),
                              "--resource-group", group, "--auth-type", "AAD", "--target-resource-id"])
        script = (f"id=$({find}) || exit 1; [ -n \"$id\" ] || {{ echo 'no {tier} machine of stack {plan.stack} "
                  f"in resource group {group}' >&2; exit 1; }}; exec {forward} \"$id\" -- -N -L "
                  f"{local_port}:127.0.0.1:{ADMIN_PORT}")
        # the vault answers only over its private endpoint: from a machine of the install or a peered network
        token_hint = shlex.join(["az", "keyvault", "secret", "show", "--vault-name", key_vault(plan, plan.primary_region),
                                 "--name", secret_name(plan, "admin-token"), "--query", "value", "--output", "tsv"])
        needs = ("az install the Azure CLI with the bastion and ssh extensions "
                 "(az extension add -n bastion; az extension add -n ssh); you need the Virtual Machine "
                 "Administrator Login role on the machines and Reader on the Bastion",)
        return AdminAccess(command=["sh", "-c", script], token_hint=token_hint, needs=needs)


def _credentials() -> Check:
    """Where the Azure provider would find credentials (never their values)."""
    if os.environ.get("ARM_CLIENT_ID") and (os.environ.get("ARM_CLIENT_SECRET") or os.environ.get("ARM_USE_OIDC")
                                            or os.environ.get("ARM_USE_MSI")):
        return Check("azure credentials", True, "a service principal or managed identity from ARM_* variables")
    config = os.environ.get("AZURE_CONFIG_DIR") or os.path.expanduser("~/.azure")
    if os.path.exists(os.path.join(config, "msal_token_cache.json")) or os.path.exists(os.path.join(config, "azureProfile.json")):
        cli = "found" if shutil.which("az") else "not on PATH"
        return Check("azure credentials", True, f"the Azure CLI's sign-in ({config}; az {cli})")
    return Check("azure credentials", False, "none found (az login, or ARM_CLIENT_ID with ARM_CLIENT_SECRET / ARM_USE_OIDC)")
