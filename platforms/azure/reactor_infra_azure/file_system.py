"""FileSystem: the install's Azure Files NFS 4.1 share, where the volumes several machines share
live (the Plan's `file-system` links): several Caddy replicas' certificates, and the app nodes'
blobs (the runtime's fs storage backend: Azure has no S3-compatible store; README).

A FileStorage account (Premium, zone-redundant where the region has zones), reachable only
through its private endpoint (public network access disabled, no shared-key or SAS access: NFS
needs no key), TLS 1.2 for anything HTTPS. NFS carries no TLS of its own (`supportsHttpsTrafficOnly`
must be off for NFS: checkov's CKV_AZURE_3 is answered by the private endpoint and the firewall,
which admits only the linked tiers on 2049). Root squash off: each machine's first boot creates
its volume's directory and gives it to the container's user. Editions E and C encrypt with the
customer-managed key; the account is protected with the edition's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import FILE_SYSTEM, Plan

from .component import AzureComponent
from .naming import storage_account, tags

TIER = str(FILE_SYSTEM)
SHARE = "reactor"
QUOTA_GB = 100  # Premium shares bill by provisioned size: 100 GiB is the minimum


@dataclass(frozen=True)
class FileSystemArgs:
    plan: Plan
    region: str
    resource_group: pulumi.Input[str]
    zoned: bool  # ZRS where the region has availability zones
    key_vault_uri: pulumi.Input[str] | None = None  # editions E and C: the data key's vault
    key_identity: pulumi.Input[str] | None = None  # and the identity that may use it
    depends_on: tuple[pulumi.Resource, ...] = ()


class FileSystem(AzureComponent):
    """`account`; `host` (the account's file endpoint host); `share` (`<account>/<share>`, the NFS path)."""

    def __init__(self, name: str, args: FileSystemArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        stateful = pulumi.ResourceOptions(parent=self, protect=plan.policy.protect, depends_on=list(args.depends_on))
        account = storage_account(plan)
        cmk = args.key_vault_uri is not None
        self.account = az.storage.StorageAccount(
            f"{name}-account", account_name=account, resource_group_name=args.resource_group, location=args.region,
            kind="FileStorage", sku={"name": "Premium_ZRS" if args.zoned else "Premium_LRS"},
            enable_https_traffic_only=False, minimum_tls_version="TLS1_2", allow_blob_public_access=False,
            allow_shared_key_access=False, public_network_access="Disabled", default_to_o_auth_authentication=True,
            network_rule_set={"default_action": "Deny", "bypass": "None"},
            identity={"type": "UserAssigned", "user_assigned_identities": [args.key_identity]} if cmk else None,
            encryption=({"key_source": "Microsoft.Keyvault", "require_infrastructure_encryption": True,
                         "key_vault_properties": {"key_name": "data", "key_vault_uri": args.key_vault_uri},
                         "encryption_identity": {"encryption_user_assigned_identity": args.key_identity},
                         "services": {"file": {"enabled": True, "key_type": "Account"}}} if cmk else
                        {"key_source": "Microsoft.Storage", "require_infrastructure_encryption": True,
                         "services": {"file": {"enabled": True, "key_type": "Account"}}}),
            tags=tags(plan, TIER), opts=stateful)
        az.storage.FileShare(
            f"{name}-share", share_name=SHARE, account_name=self.account.name, resource_group_name=args.resource_group,
            enabled_protocols="NFS", root_squash="NoRootSquash", share_quota=QUOTA_GB,
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect))
        self.host = f"{account}.file.core.windows.net"
        self.share = f"{account}/{SHARE}"
        self.register_outputs({"account": self.account.id})
