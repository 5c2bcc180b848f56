"""Storage: the install's Cloud Storage bucket, used by reactor-server's S3 client through the
XML API (path-style, region `auto`), and the key pair it signs with.

Uniform bucket-level access, public access prevention enforced, versioning and the
customer-managed key for editions E and C; +mr makes it a dual-region bucket over the
install's two regions (turbo replication). The key pair is an HMAC key of a service account of
its own that may only use this bucket's objects: the XML API takes no machine identity from an
S3 client. An organisation policy `storage.restrictAuthTypes` that forbids HMAC keys makes the
key unusable: the README says what to do then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import account_id, labels

TIER = "storage"
# the multi-region a custom dual-region bucket belongs to, by region prefix
CONTINENT = {"us": "US", "northamerica": "US", "southamerica": "US", "europe": "EU", "asia": "ASIA",
             "australia": "ASIA", "me": "ASIA", "africa": "EU"}


def dual_region_location(regions: Sequence[str]) -> str:
    return CONTINENT.get(regions[0].split("-", 1)[0], "US")


@dataclass(frozen=True)
class StorageArgs:
    plan: Plan
    bucket_name: str
    regions: Sequence[str]  # one region, or the two of +mr (a dual-region bucket)
    kms_key: pulumi.Input[str] | None = None  # editions E and C
    depends_on: Sequence[pulumi.Resource] = ()  # the key grant Cloud Storage's agent needs


class Storage(GcpComponent):
    """`bucket`; `access_key_id`, `secret_access_key` (secret Outputs, the HMAC key)."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        dual = len(args.regions) > 1
        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket", name=args.bucket_name,
            location=dual_region_location(args.regions) if dual else args.regions[0].upper(),
            custom_placement_config=gcp.storage.BucketCustomPlacementConfigArgs(
                data_locations=[r.upper() for r in args.regions]) if dual else None,
            rpo="ASYNC_TURBO" if dual else None,
            storage_class="STANDARD", uniform_bucket_level_access=True, public_access_prevention="enforced",
            versioning=gcp.storage.BucketVersioningArgs(enabled=plan.policy.protect),
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=args.kms_key) if args.kms_key else None,
            force_destroy=not plan.policy.protect, labels=labels(plan, TIER),
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect,
                                        depends_on=list(args.depends_on) or None))
        self.account = gcp.serviceaccount.Account(
            f"{name}-account", account_id=account_id(plan, "storage"),
            display_name=f"{plan.stack}: reactor-server's bucket (HMAC key)", opts=child)
        gcp.storage.BucketIAMMember(
            f"{name}-objects", bucket=self.bucket.name, role="roles/storage.objectAdmin",
            member=self.account.email.apply(lambda e: f"serviceAccount:{e}"), opts=child)
        key = gcp.storage.HmacKey(f"{name}-hmac", service_account_email=self.account.email, opts=child)
        self.access_key_id = pulumi.Output.secret(key.access_id)
        self.secret_access_key = pulumi.Output.secret(key.secret)
        self.register_outputs({"bucket": self.bucket.name})
