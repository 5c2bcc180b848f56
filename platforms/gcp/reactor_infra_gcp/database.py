"""Database: Cloud SQL for PostgreSQL 16 on a private address only (Private Service Access), its
admin user's password, and with +mr a cross-region read replica.

- `edition` is set explicitly (PostgreSQL 16 defaults to Enterprise Plus, which refuses custom
  machines): Enterprise with a custom machine from the tier's sizing; edition C runs Enterprise
  Plus (its performance-optimised shapes, 35 days of point-in-time recovery).
- REGIONAL (a standby in another zone) with +ha; backups kept as long as the edition says,
  point-in-time recovery; deletion protection (Pulumi's and Cloud SQL's own) and the
  customer-managed key for editions E and C, set at create (CMEK cannot be added later).
- TLS required (ENCRYPTED_ONLY): reactor-server, gateway-server and the roles step connect with
  sslmode=require. Cloud SQL's server certificate names the instance, not the address the
  clients dial, and client certificates would have to reach every container (README).
- `log_statement` stays `none` (the roles step sets passwords; the reference's trap), and the
  admin user is Cloud SQL's `postgres` (cloudsqlsuperuser: CREATEROLE, CREATEDB), whose
  password is the Plan's `database-admin-password`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import labels, physical_name
from .sizing import sql_tier_for

TIER = "database"
PITR_DAYS = {"ENTERPRISE": 7, "ENTERPRISE_PLUS": 35}


def edition_for(plan: Plan) -> str:
    return "ENTERPRISE_PLUS" if plan.policy.multi_tenant else "ENTERPRISE"


@dataclass(frozen=True)
class DatabaseReplicaArgs:
    region: str
    kms_key: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class DatabaseArgs:
    plan: Plan
    region: str
    network: pulumi.Input[str]  # the VPC (its Private Service Access range)
    password: pulumi.Input[str]  # the admin user's (postgres)
    kms_key: pulumi.Input[str] | None = None  # editions E and C
    tier: str | None = None  # the machine; default from the database tier's sizing
    replica: DatabaseReplicaArgs | None = None  # +mr
    depends_on: tuple[pulumi.Resource, ...] = ()  # Private Service Access, the key grant


class Database(GcpComponent):
    """`instance`; `address` (Output[str], the private address); `replica` or None."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        tier = plan.tier("database")
        assert tier is not None and tier.sizing is not None
        edition = edition_for(plan)
        self._machine = args.tier or sql_tier_for(tier.sizing, edition)
        self._edition, self._plan, self._args = edition, plan, args
        protect = pulumi.ResourceOptions(parent=self, protect=plan.policy.protect, depends_on=list(args.depends_on))
        retention = plan.policy.backup_retention_days
        self.instance = gcp.sql.DatabaseInstance(
            f"{name}-instance", name=physical_name(plan, TIER, "postgres"), region=args.region,
            database_version="POSTGRES_16", deletion_protection=plan.policy.protect,
            encryption_key_name=args.kms_key,
            settings=self._settings(args.network, availability="REGIONAL" if plan.database.standby else "ZONAL",
                                    backups=gcp.sql.DatabaseInstanceSettingsBackupConfigurationArgs(
                                        enabled=True, start_time="03:00", point_in_time_recovery_enabled=True,
                                        transaction_log_retention_days=min(retention, PITR_DAYS[edition]),
                                        backup_retention_settings=gcp.sql
                                        .DatabaseInstanceSettingsBackupConfigurationBackupRetentionSettingsArgs(
                                            retained_backups=retention, retention_unit="COUNT"))),
            opts=protect)
        self.address: pulumi.Output[str] = self.instance.private_ip_address
        gcp.sql.User(f"{name}-admin", instance=self.instance.name, name="postgres", password=args.password,
                     opts=pulumi.ResourceOptions(parent=self))
        self.replica = self._replica(name, args.replica) if args.replica else None
        self.register_outputs({"address": self.address})

    def _settings(self, network, *, availability: str, backups=None):
        plan = self._plan
        tier = plan.tier("database")
        return gcp.sql.DatabaseInstanceSettingsArgs(
            tier=self._machine, edition=self._edition, availability_type=availability,
            disk_type="PD_SSD", disk_size=tier.sizing.disk_gb, disk_autoresize=True,
            deletion_protection_enabled=plan.policy.protect, retain_backups_on_delete=plan.policy.protect,
            backup_configuration=backups,
            ip_configuration=gcp.sql.DatabaseInstanceSettingsIpConfigurationArgs(
                ipv4_enabled=False, private_network=network, ssl_mode="ENCRYPTED_ONLY"),
            database_flags=[
                gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="max_connections",
                                                                 value=str(plan.database.max_connections)),
                gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_statement", value="none"),
                gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_checkpoints", value="on"),
                gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_connections", value="on"),
                gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_disconnections", value="on"),
                gcp.sql.DatabaseInstanceSettingsDatabaseFlagArgs(name="log_lock_waits", value="on"),
            ],
            insights_config=gcp.sql.DatabaseInstanceSettingsInsightsConfigArgs(query_insights_enabled=True),
            maintenance_window=gcp.sql.DatabaseInstanceSettingsMaintenanceWindowArgs(day=7, hour=3),
            user_labels=labels(plan, TIER))

    def _replica(self, name: str, replica: DatabaseReplicaArgs) -> gcp.sql.DatabaseInstance:
        plan = self._plan
        return gcp.sql.DatabaseInstance(
            f"{name}-replica", name=physical_name(plan, TIER, f"postgres-{replica.region}"), region=replica.region,
            database_version="POSTGRES_16", master_instance_name=self.instance.name,
            deletion_protection=plan.policy.protect, encryption_key_name=replica.kms_key,
            replica_configuration=gcp.sql.DatabaseInstanceReplicaConfigurationArgs(failover_target=False),
            settings=self._settings(self._args.network, availability="ZONAL"),
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect, depends_on=list(self._args.depends_on)))
