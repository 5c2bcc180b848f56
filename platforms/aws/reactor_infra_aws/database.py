"""Database: the Plan's managed Postgres as RDS for PostgreSQL, and its cross-region read replica.

RDS for PostgreSQL rather than Aurora: the Plan asks for one writer, a synchronous standby in
another zone (+ha: Multi-AZ) and a readable copy in a second region (+mr: a cross-region read
replica), which RDS gives with the Plan's own Postgres major, sizing and disk, at a lower floor
price than an Aurora cluster (instances plus I/O) and without a second engine to learn.

- a DB subnet group over the private subnets (at least two zones, as RDS requires);
- a parameter group (`postgres<major>`): the Plan's `max_connections`; `rds.force_ssl` (every
  client uses TLS: Reactor connects with `sslmode=verify-full` against the region's RDS CA
  bundle, `ca_bundle_url`); `log_statement` = none, because the roles' passwords are set by
  `postgres_init`'s managed SQL (ALTER ROLE ... PASSWORD), which must never reach the log;
  `password_encryption` = scram-sha-256;
- the instance: private, encrypted (the customer-managed key for E and C, else aws/rds), gp3
  with storage autoscaling, backups for the Plan's retention; where the edition protects,
  deletion protection, Pulumi `protect`, a final snapshot and the automated backups kept after
  deletion; Performance Insights, the `postgresql` log in CloudWatch. Its admin user is
  `postgres` (postgres_init.ADMIN_USER); its database `postgres` is only the maintenance
  database: `postgres_init` creates the roles and the `reactor` database later;
- +mr: a read replica in the second region through that region's provider, its own subnet group
  and parameter group, encrypted with that region's key (aws/rds there when the edition has no
  CMK: a cross-region replica must name one), protected like the primary and keeping backups,
  so it can be promoted. RDS takes no final snapshot of a replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan, Sizing
from reactor_infra.postgres_init import ADMIN_USER

from .component import AwsComponent
from .sizing import smallest_fitting
from .naming import physical_name, tags

TIER = "database"
ENGINE = "postgres"
MAINTENANCE_DB = "postgres"
CA_CERT = "rds-ca-rsa2048-g1"
MIN_STORAGE_GB = 20  # gp3's smallest RDS volume
STORAGE_AUTOSCALING = 4  # storage may grow to 4x the Plan's disk on its own
IDENTIFIER_MAX = 63
AWS_MANAGED_KEY = "alias/aws/rds"

# (class, vCPU, memory GiB), smallest first. Burstable Graviton t4g up to 2 vCPU; from 4 vCPU
# the steady m6g (a database under sustained load must not run out of CPU credits).
INSTANCE_CLASSES: tuple[tuple[str, float, float], ...] = (
    ("db.t4g.micro", 2, 1),
    ("db.t4g.small", 2, 2),
    ("db.t4g.medium", 2, 4),
    ("db.t4g.large", 2, 8),
    ("db.m6g.xlarge", 4, 16),
    ("db.m6g.2xlarge", 8, 32),
    ("db.m6g.4xlarge", 16, 64),
    ("db.m6g.8xlarge", 32, 128),
)


def instance_class_for(sizing: Sizing) -> str:
    """The smallest listed class with at least the vCPUs and memory asked for."""
    found = smallest_fitting(INSTANCE_CLASSES, sizing)
    if found is None:
        raise ValueError(f"no RDS instance class listed for {sizing}; pass instance_class")
    return found


def ca_bundle_url(region: str) -> str:
    """The public RDS CA bundle of a region (a client's `sslrootcert`)."""
    return f"https://truststore.pki.rds.amazonaws.com/{region}/{region}-bundle.pem"


def parameter_family(engine_version: str) -> str:
    return f"{ENGINE}{engine_version.split('.')[0]}"


def parameters(plan: Plan) -> list[dict[str, str]]:
    """The parameter group's values, by name (a stable order)."""
    values = {
        # static: takes effect at the next reboot (RDS refuses `immediate` for it)
        "max_connections": (str(plan.database.max_connections), "pending-reboot"),
        "rds.force_ssl": ("1", "immediate"),
        # postgres_init's managed SQL sets passwords: no statement may be logged
        "log_statement": ("none", "immediate"),
        "password_encryption": ("scram-sha-256", "immediate"),
    }
    return [{"name": k, "value": v, "apply_method": m} for k, (v, m) in sorted(values.items())]


@dataclass(frozen=True)
class DatabaseReplicaArgs:
    region: str  # the Plan's second region (plan.database.cross_region_replica)
    provider: aws.Provider  # explicit provider for that region
    subnet_ids: Sequence[pulumi.Input[str]]  # private subnets there (>= 2 zones)
    security_group_id: pulumi.Input[str]  # the database tier's security group there
    kms_key: aws.kms.Key | None  # a customer-managed key in that region (E and C); None: aws/rds there


@dataclass(frozen=True)
class DatabaseArgs:
    plan: Plan  # database (version, sizing, max_connections, standby) and policy
    subnet_ids: Sequence[pulumi.Input[str]]  # private subnets of the primary region, >= 2 zones
    security_group_id: pulumi.Input[str]  # the database tier's security group
    password: pulumi.Input[str]  # secret: master password of user "postgres" (postgres_init.ADMIN_USER)
    kms_key: aws.kms.Key | None = None  # CMK for E and C; None: the AWS-managed aws/rds key
    instance_class: str | None = None  # override; default: smallest class fitting plan.database.sizing
    replica: DatabaseReplicaArgs | None = None  # +mr: a read replica there; default none


class Database(AwsComponent):
    """`instance`, `address`, `port`, `ca_bundle_url`; +mr: `replica`, `replica_address`,
    `replica_ca_bundle_url` (else None)."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._args, self._plan = name, args, args.plan
        self._protect = args.plan.policy.protect
        self._class = args.instance_class or instance_class_for(args.plan.database.sizing)
        self.ca_bundle_url = ca_bundle_url(args.plan.primary_region)
        subnets = self._create_subnet_group("", args.subnet_ids, None)
        params = self._create_parameter_group("", None)
        self.instance = self._create_primary(subnets, params)
        self.address: pulumi.Output[str] = self.instance.address
        self.port: pulumi.Output[int] = self.instance.port
        self.replica: aws.rds.Instance | None = None
        self.replica_address: pulumi.Output[str] | None = None
        self.replica_ca_bundle_url: str | None = None
        if args.replica:
            self.replica = self._create_replica(args.replica)
            self.replica_address = self.replica.address
            self.replica_ca_bundle_url = ca_bundle_url(args.replica.region)
        self.register_outputs({"address": self.address, "port": self.port,
                               "replica_address": self.replica_address})

    def _opts(self, provider: aws.Provider | None, **kw) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, provider=provider, **kw)

    def _create_subnet_group(self, scope: str, subnet_ids: Sequence[pulumi.Input[str]],
                             provider: aws.Provider | None) -> aws.rds.SubnetGroup:
        if len(subnet_ids) < 2:
            raise ValueError(f"aws: RDS needs private subnets in at least 2 zones (given {len(subnet_ids)})")
        name = physical_name(self._plan, TIER, "subnets")
        return aws.rds.SubnetGroup(
            f"{self._name}{scope}-subnets",
            name=name,
            description="Reactor database: private subnets only",
            subnet_ids=list(subnet_ids),
            tags=tags(self._plan, TIER, name),
            opts=self._opts(provider),
        )

    def _create_parameter_group(self, scope: str, provider: aws.Provider | None) -> aws.rds.ParameterGroup:
        family = parameter_family(self._plan.database.engine_version)
        # the family in the name: a major upgrade makes a new group before the old one goes
        name = physical_name(self._plan, TIER, family)
        return aws.rds.ParameterGroup(
            f"{self._name}{scope}-parameters",
            name=name,
            family=family,
            description="Reactor database: TLS only, no statement logging, the plan's max_connections",
            parameters=parameters(self._plan),
            tags=tags(self._plan, TIER, name),
            opts=self._opts(provider),
        )

    def _common(self, role: str, key_arn: pulumi.Input[str] | None) -> dict[str, Any]:
        """What the primary and the replica share: class, storage, network exposure, backups,
        protection, monitoring."""
        plan = self._plan
        identifier = physical_name(plan, TIER, role, IDENTIFIER_MAX)
        return dict(
            identifier=identifier,
            instance_class=self._class,
            storage_type="gp3",
            max_allocated_storage=STORAGE_AUTOSCALING * max(MIN_STORAGE_GB, plan.database.sizing.disk_gb),
            storage_encrypted=True,
            kms_key_id=key_arn,
            publicly_accessible=False,
            backup_retention_period=plan.policy.backup_retention_days,
            deletion_protection=self._protect,
            # a protected install keeps its automated backups after the instance is gone
            delete_automated_backups=not self._protect,
            copy_tags_to_snapshot=True,
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key_arn,
            performance_insights_retention_period=7,
            ca_cert_identifier=CA_CERT,
            enabled_cloudwatch_logs_exports=["postgresql"],
            tags=tags(plan, TIER, identifier),
        )

    def _create_primary(self, subnets: aws.rds.SubnetGroup, params: aws.rds.ParameterGroup) -> aws.rds.Instance:
        args, plan = self._args, self._plan
        key = args.kms_key
        return aws.rds.Instance(
            f"{self._name}-instance",
            engine=ENGINE,
            engine_version=plan.database.engine_version,
            allocated_storage=max(MIN_STORAGE_GB, plan.database.sizing.disk_gb),
            username=ADMIN_USER,
            password=pulumi.Output.secret(args.password),  # a secret even if handed over plain
            db_name=MAINTENANCE_DB,
            multi_az=plan.database.standby,
            db_subnet_group_name=subnets.name,
            parameter_group_name=params.name,
            vpc_security_group_ids=[args.security_group_id],
            skip_final_snapshot=not self._protect,
            final_snapshot_identifier=physical_name(plan, TIER, "postgres-final") if self._protect else None,
            opts=self._opts(None, protect=self._protect, depends_on=[key] if key else None),
            **self._common("postgres", key.arn if key else None),
        )

    def _create_replica(self, replica: DatabaseReplicaArgs) -> aws.rds.Instance:
        provider = replica.provider
        subnets = self._create_subnet_group("-replica", replica.subnet_ids, provider)
        params = self._create_parameter_group("-replica", provider)
        if replica.kms_key:
            key_arn: pulumi.Input[str] = replica.kms_key.arn
        else:  # a cross-region replica of an encrypted instance must name a key there
            key_arn = aws.kms.get_key_output(
                key_id=AWS_MANAGED_KEY, opts=pulumi.InvokeOutputOptions(parent=self, provider=provider)).arn
        # engine, version, storage size, user and password come from the source
        return aws.rds.Instance(
            f"{self._name}-replica",
            replicate_source_db=self.instance.arn,  # another region: the source's ARN
            multi_az=False,  # a read copy; Multi-AZ can be switched on when it is promoted
            skip_final_snapshot=True,  # RDS takes no final snapshot of a replica (its backups stay)
            db_subnet_group_name=subnets.name,
            parameter_group_name=params.name,
            vpc_security_group_ids=[replica.security_group_id],
            opts=self._opts(provider, protect=self._protect,
                            depends_on=[replica.kms_key] if replica.kms_key else None),
            **self._common("replica", key_arn),
        )
