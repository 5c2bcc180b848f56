"""What a resource type means for data: which types hold state, and how to move that state.

A replace or delete of one of these loses data unless an operator moves it first. Offline
diffs, the `up` confirmation and the conformance suite read this one table. It is knowledge
about provider resource types (plain strings), not an SDK import; a new platform adds its rows.

`kind` groups types by what they hold; `MIGRATION_STEPS[kind]` is what avoids the loss (the
runtime reference §4 "moving up a size").
"""

from __future__ import annotations

import re
from enum import StrEnum


class StateKind(StrEnum):
    DATABASE = "database"  # Postgres data
    VOLUME = "volume"  # a disk: Postgres, OpenBao raft, NATS JetStream, the runtime's .reactor/
    BUCKET = "bucket"  # blobs, functions and sites bundles
    KEY = "key"  # an encryption key: what it encrypted is unreadable without it
    SECRET = "secret"  # a generated secret whose value is baked into data (data keys, passwords)


STATEFUL_TYPES: dict[str, StateKind] = {
    # aws
    "aws:rds/instance:Instance": StateKind.DATABASE,
    "aws:rds/cluster:Cluster": StateKind.DATABASE,
    "aws:rds/clusterInstance:ClusterInstance": StateKind.DATABASE,
    "aws:rds/globalCluster:GlobalCluster": StateKind.DATABASE,
    "aws:ebs/volume:Volume": StateKind.VOLUME,
    "aws:efs/fileSystem:FileSystem": StateKind.VOLUME,
    "aws:s3/bucket:Bucket": StateKind.BUCKET,
    "aws:s3/bucketV2:BucketV2": StateKind.BUCKET,
    "aws:kms/key:Key": StateKind.KEY,
    "aws:kms/replicaKey:ReplicaKey": StateKind.KEY,
    # gcp
    "gcp:sql/databaseInstance:DatabaseInstance": StateKind.DATABASE,
    "gcp:compute/disk:Disk": StateKind.VOLUME,
    "gcp:compute/regionDisk:RegionDisk": StateKind.VOLUME,
    "gcp:filestore/instance:Instance": StateKind.VOLUME,
    "gcp:storage/bucket:Bucket": StateKind.BUCKET,
    "gcp:kms/cryptoKey:CryptoKey": StateKind.KEY,
    "gcp:kms/keyRing:KeyRing": StateKind.KEY,
    # azure
    "azure-native:dbforpostgresql:Server": StateKind.DATABASE,
    "azure-native:compute:Disk": StateKind.VOLUME,
    "azure-native:storage:StorageAccount": StateKind.BUCKET,
    "azure-native:storage:FileShare": StateKind.VOLUME,
    "azure-native:keyvault:Vault": StateKind.KEY,
    "azure-native:keyvault:Key": StateKind.KEY,
    # fly
    "flyio:index:Volume": StateKind.VOLUME,
    "fly-machines:apps/v1:Volume": StateKind.VOLUME,
    # one Docker host
    "docker:index/volume:Volume": StateKind.VOLUME,
    # generated secrets: a new value orphans what the old one encrypted or authenticated
    "random:index/randomBytes:RandomBytes": StateKind.SECRET,
    "random:index/randomId:RandomId": StateKind.SECRET,
    "random:index/randomPassword:RandomPassword": StateKind.SECRET,
}

MIGRATION_STEPS: dict[StateKind, str] = {
    StateKind.DATABASE: "pg_dump the database (each tenant_<ref> database on C) and restore it into "
                        "the new one before the old is deleted; then reactor-server migrate",
    StateKind.VOLUME: "copy the volume's files (Postgres: pg_dump/restore; OpenBao: a raft snapshot; "
                      "the runtime's .reactor/ blobs, functions and sites) before it is deleted",
    StateKind.BUCKET: "copy the bucket's objects to the new store (aws s3 sync / gsutil rsync / azcopy) "
                      "before it is deleted",
    StateKind.KEY: "decrypt or re-encrypt what the key protects (OpenBao: migrate the seal; volumes "
                   "and databases: snapshot and restore under the new key) before it is scheduled for deletion",
    StateKind.SECRET: "keep the old value: import it into the new resource (pulumi import) or re-seed "
                      "the runtime's secrets; a new data key orphans the data encrypted with the old one",
}


# Stateful resources that hold nothing which cannot be made again: (type, logical-name pattern) ->
# why. Their replace or delete is said, never gated or counted as a data-loss risk.
REGENERABLE: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("docker:index/volume:Volume", re.compile(r"-caddy-(data|config)$"),
     "Caddy's certificates and ACME account: Caddy obtains them again at start (mind the CA's rate limits)"),
)


def regenerates(resource_type: str, name: str) -> str | None:
    """Why losing this resource loses nothing that cannot be made again, or None."""
    for type_, pattern, why in REGENERABLE:
        if resource_type == type_ and pattern.search(name):
            return why
    return None


def state_kind(resource_type: str) -> StateKind | None:
    """The kind of state a resource type holds, or None when replacing it loses nothing."""
    return STATEFUL_TYPES.get(resource_type)


def is_stateful(resource_type: str) -> bool:
    return resource_type in STATEFUL_TYPES


def migration_step(resource_type: str) -> str | None:
    kind = state_kind(resource_type)
    return MIGRATION_STEPS[kind] if kind else None
