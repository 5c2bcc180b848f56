"""Storage: the S3 bucket Reactor.toml's storage points at, and its copy in the second region.

Every bucket (the primary, and with +mr its replica) gets the same guards:

- all four public access blocks, and object ownership `BucketOwnerEnforced` (no ACLs);
- default encryption: SSE-KMS with the customer-managed key and an S3 Bucket Key (fewer KMS
  calls) for E and C, else SSE-S3 (AES256);
- versioning for E and C, and whenever the bucket is replicated (replication needs it on both
  ends); a lifecycle rule that aborts multipart uploads left incomplete for 7 days and expires
  noncurrent versions after the Plan's backup retention;
- a bucket policy that denies every request without TLS (`aws:SecureTransport` false) or below
  TLS 1.2 (`s3:TlsVersion`);
- `force_destroy` off, and Pulumi `protect` where the edition protects.

+mr: the replica bucket lives in the second region (through its provider); a replication role
that may only read the source's versions and replicate into the destination (and use the two
customer-managed keys through S3 when there are any) replicates every object, delete markers and
SSE-KMS objects into it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import IAM_ROLE_MAX, physical_name, tags

TIER = "storage"
ABORT_INCOMPLETE_UPLOADS_DAYS = 7
MIN_TLS_VERSION = 1.2

_ASSUME_S3 = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


@dataclass(frozen=True)
class StorageReplicaArgs:
    region: str  # the Plan's second region
    provider: aws.Provider  # explicit provider for that region
    kms_key: aws.kms.Key | None  # a customer-managed key in that region (E and C); None: SSE-S3


@dataclass(frozen=True)
class StorageArgs:
    plan: Plan  # names, tags, policy (protect, backup retention)
    bucket_name: str  # exactly the name Reactor.toml uses (reactor_toml.default_endpoints(plan).s3_bucket)
    kms_key: aws.kms.Key | None = None  # CMK for E and C; None: SSE-S3 (AES256)
    replica: StorageReplicaArgs | None = None  # +mr: replicate into a bucket in the second region; default none
    replica_bucket_name: str | None = None  # with replica: naming.global_name(plan, "storage", scope=<second region>)


@dataclass(frozen=True)
class _Guarded:
    bucket: aws.s3.Bucket
    versioning: aws.s3.BucketVersioning | None


class Storage(AwsComponent):
    """`bucket`, `name`, `arn`; +mr: `replica_bucket` and `replica_arn` (else None)."""

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._args, self._plan = name, args, args.plan
        replica = args.replica
        if replica and not args.replica_bucket_name:
            raise ValueError("aws: a replicated bucket needs replica_bucket_name")
        if replica and (args.kms_key is None) != (replica.kms_key is None):
            raise ValueError("aws: replication needs a customer-managed key in both regions or in neither")
        versioned = args.plan.policy.protect or replica is not None
        primary = self._create_bucket("", args.bucket_name, args.plan.primary_region, args.kms_key, None, versioned)
        self.bucket = primary.bucket
        self.name: pulumi.Output[str] = self.bucket.bucket
        self.arn: pulumi.Output[str] = self.bucket.arn
        self.replica_bucket: aws.s3.Bucket | None = None
        self.replica_arn: pulumi.Output[str] | None = None
        if replica and args.replica_bucket_name:
            copy = self._create_bucket("-replica", args.replica_bucket_name, replica.region, replica.kms_key,
                                       replica.provider, versioned)
            self.replica_bucket, self.replica_arn = copy.bucket, copy.bucket.arn
            self._replicate(primary, copy, replica)
        self.register_outputs({"name": self.name, "arn": self.arn, "replica_arn": self.replica_arn})

    # --- one bucket and its guards -----------------------------------------------------------

    def _create_bucket(self, scope: str, bucket_name: str, region: str, key: aws.kms.Key | None,
                       provider: aws.Provider | None, versioned: bool) -> _Guarded:
        plan, protect = self._plan, self._plan.policy.protect
        prefix = f"{self._name}{scope}"
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        bucket = aws.s3.Bucket(
            f"{prefix}-bucket",
            bucket=bucket_name,
            force_destroy=False,
            tags=tags(plan, TIER, bucket_name),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=protect)),
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{prefix}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{prefix}-ownership",
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{prefix}-encryption",
            bucket=bucket.id,
            rules=[{
                "apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
                "bucket_key_enabled": True,
            } if key else {
                "apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"},
            }],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{prefix}-versioning",
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled"},
            opts=child,
        ) if versioned else None
        aws.s3.BucketLifecycleConfiguration(
            f"{prefix}-lifecycle",
            bucket=bucket.id,
            rules=[{
                "id": "abort-incomplete-uploads-expire-old-versions",
                "status": "Enabled",
                "filter": {},  # every object
                "abort_incomplete_multipart_upload": {"days_after_initiation": ABORT_INCOMPLETE_UPLOADS_DAYS},
                "noncurrent_version_expiration": {"noncurrent_days": plan.policy.backup_retention_days},
            }],
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(
                depends_on=[versioning] if versioning else None)),
        )
        aws.s3.BucketPolicy(
            f"{prefix}-tls-only",
            bucket=bucket.id,
            policy=pulumi.Output.json_dumps(tls_only_policy(bucket.arn)),
            # S3 refuses concurrent changes to one bucket's access settings
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[public_access])),
        )
        return _Guarded(bucket, versioning)

    # --- +mr: replication --------------------------------------------------------------------

    def _replicate(self, source: _Guarded, destination: _Guarded, replica: StorageReplicaArgs) -> None:
        plan = self._plan
        role_name = physical_name(plan, TIER, "replication", IAM_ROLE_MAX)
        role = aws.iam.Role(
            f"{self._name}-replication-role",
            name=role_name,
            description="Reactor storage: S3 replication into the second region's bucket",
            assume_role_policy=_ASSUME_S3,
            tags=tags(plan, TIER, role_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            f"{self._name}-replication-policy",
            name=physical_name(plan, TIER, "replication", 128),
            role=role.id,
            policy=pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": self._replication_statements(
                source.bucket.arn, destination.bucket.arn, replica)}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        encrypted = replica.kms_key is not None
        rule: dict[str, object] = {
            "id": "everything",
            "status": "Enabled",
            "filter": {},  # every object
            "delete_marker_replication": {"status": "Enabled"},
            "destination": {
                "bucket": destination.bucket.arn,
                "storage_class": "STANDARD",
                **({"encryption_configuration": {"replica_kms_key_id": replica.kms_key.arn}}
                   if replica.kms_key else {}),
            },
        }
        if encrypted:
            rule["source_selection_criteria"] = {"sse_kms_encrypted_objects": {"status": "Enabled"}}
        aws.s3.BucketReplicationConfig(
            f"{self._name}-replication",
            bucket=source.bucket.id,
            role=role.arn,
            rules=[rule],
            # both ends must be versioned before S3 accepts the configuration
            opts=pulumi.ResourceOptions(parent=self, depends_on=[v for v in (source.versioning,
                                                                             destination.versioning) if v]),
        )

    def _replication_statements(self, source_arn: pulumi.Output[str], destination_arn: pulumi.Output[str],
                                replica: StorageReplicaArgs) -> list[Mapping[str, object]]:
        statements: list[Mapping[str, object]] = [
            {"Sid": "ReadSourceConfiguration", "Effect": "Allow",
             "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"], "Resource": source_arn},
            {"Sid": "ReadSourceVersions", "Effect": "Allow",
             "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionTagging"],
             "Resource": pulumi.Output.concat(source_arn, "/*")},
            {"Sid": "ReplicateIntoDestination", "Effect": "Allow",
             "Action": ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"],
             "Resource": pulumi.Output.concat(destination_arn, "/*")},
        ]
        if self._args.kms_key is not None:
            statements.append({
                "Sid": "DecryptSourceObjects", "Effect": "Allow", "Action": "kms:Decrypt",
                "Resource": self._args.kms_key.arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{self._plan.primary_region}.amazonaws.com"}},
            })
        if replica.kms_key is not None:
            statements.append({
                "Sid": "EncryptReplicas", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                "Resource": replica.kms_key.arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{replica.region}.amazonaws.com"}},
            })
        return statements


def tls_only_policy(bucket_arn: pulumi.Input[str]) -> dict[str, object]:
    """Deny every request to the bucket and its objects over plain HTTP or below TLS 1.2."""
    resources = [bucket_arn, pulumi.Output.concat(bucket_arn, "/*")]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "DenyWithoutTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": resources, "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            {"Sid": "DenyOldTls", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": resources, "Condition": {"NumericLessThan": {"s3:TlsVersion": MIN_TLS_VERSION}}},
        ],
    }
