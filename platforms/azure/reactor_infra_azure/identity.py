"""Identity: the user-assigned managed identity a tier's machines run as, and exactly what it may
do: read the secrets its services use (Key Vault Secrets User on each secret), set the versions
of OpenBao's init secrets (Secrets Officer on those, the machine that initialises OpenBao),
wrap and unwrap with the seal key (Crypto Service Encryption User on that key: get, wrapKey,
unwrapKey, what the azurekeyvault seal does), write the DNS-01 challenge records of edition C's
wildcard certificate (DNS Zone Contributor on the one zone: the narrowest built-in role; Caddy's
azure module signs in as the machine). Nothing at the subscription or group scope. The
machine has no other identity, so the metadata service hands out this one without a client id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags
from .roles import CRYPTO_SERVICE_USER, DNS_ZONE_CONTRIBUTOR, SECRETS_OFFICER, SECRETS_USER, grant


@dataclass(frozen=True)
class IdentityArgs:
    plan: Plan
    tier: str
    region: str
    resource_group: pulumi.Input[str]
    subscription: pulumi.Input[str]
    reads: Mapping[str, pulumi.Input[str]]  # plan secret -> the Key Vault secret's resource id
    writes: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)  # init secrets the first boot sets
    seal_key: pulumi.Input[str] | None = None  # the seal key's resource id
    dns_zone: pulumi.Input[str] | None = None  # the Azure DNS zone Caddy's DNS-01 writes to (its id)


class Identity(AzureComponent):
    """`identity` (managedidentity.UserAssignedIdentity); `id`; `grants`."""

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        self.identity = az.managedidentity.UserAssignedIdentity(
            f"{name}-identity", resource_name_=physical_name(plan, args.tier, "identity"),
            resource_group_name=args.resource_group, location=args.region, tags=tags(plan, args.tier), opts=child)
        self.id = self.identity.id
        principal = self.identity.principal_id
        self.grants: list[pulumi.Resource] = []
        wanted = [(f"reads-{s}", SECRETS_USER, ref) for s, ref in sorted(args.reads.items())]
        wanted += [(f"writes-{s}", SECRETS_OFFICER, ref) for s, ref in sorted(args.writes.items())]
        if args.seal_key is not None:
            wanted.append(("seal", CRYPTO_SERVICE_USER, args.seal_key))
        if args.dns_zone is not None:
            wanted.append(("dns-challenge", DNS_ZONE_CONTRIBUTOR, args.dns_zone))
        for role_name, role, scope in wanted:
            self.grants.append(grant(f"{name}-{role_name}", plan=plan, subscription=args.subscription, role=role,
                                     principal=principal, scope=scope, opts=child))
        self.register_outputs({"id": self.id})
