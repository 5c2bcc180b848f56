"""Database: Azure Database for PostgreSQL flexible server 16, on a subnet delegated to it with a
private DNS zone (no public access), and with +mr a replica in the second region behind a
read-write virtual endpoint (its writer name follows a promotion).

General Purpose (Burstable for edition O without +ha: no high availability there), zone
redundant high availability for +ha (same-zone in a region without availability zones), backups kept the edition's days (7-35), geo-redundant
backups and a customer-managed key for editions E and C (both only at create: set here from the
first `up`), TLS required (`require_secure_transport`), `citext` allowed (the runtime's
migrations create it, in each tenant database for edition C), a CanNotDelete lock and Pulumi's
`protect` for editions E and C. The admin user (`postgres`) only runs the roles step
(postgres_init); Reactor connects as its own roles.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan, Policy
from reactor_infra.postgres_init import ADMIN_USER

from .component import AzureComponent
from .key_user import user_assigned
from .naming import database_server, physical_name, tags
from .sizing import database_sku_for

TIER = "database"
EXTENSIONS = "CITEXT"  # azure.extensions: what CREATE EXTENSION may create


@dataclass(frozen=True)
class Encryption:
    identity: pulumi.Input[str]  # the key user
    key: pulumi.Input[str]  # the primary's data key (its URI with version)
    geo_key: pulumi.Input[str] | None = None  # the paired region's key (geo-redundant backups)
    replica_key: pulumi.Input[str] | None = None  # the replica region's key


@dataclass(frozen=True)
class DatabaseArgs:
    plan: Plan
    region: str
    resource_group: pulumi.Input[str]
    subnets: Mapping[str, pulumi.Input[str]]  # region -> its delegated subnet (the replica's too)
    networks: Mapping[str, pulumi.Input[str]]  # region -> virtual network id (each resolves the zone)
    password: pulumi.Input[str]
    encryption: Encryption | None = None
    replica_region: str | None = None
    zoned: bool = True  # the region has availability zones (zone-redundant HA; else same-zone)
    depends_on: tuple[pulumi.Resource, ...] = field(default_factory=tuple)


def retention_days(policy: Policy) -> int:
    return max(7, min(35, policy.backup_retention_days))


class Database(AzureComponent):
    """`server`; `host` (the name Reactor connects to: the server's, or the writer endpoint's)."""

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child, rg = args.plan, pulumi.ResourceOptions(parent=self), args.resource_group
        stateful = pulumi.ResourceOptions(parent=self, protect=plan.policy.protect, depends_on=list(args.depends_on))
        server_name = database_server(plan)
        zone = az.privatedns.PrivateZone(
            f"{name}-zone", private_zone_name=f"{server_name}.private.postgres.database.azure.com",
            resource_group_name=rg, location="global", tags=tags(plan, TIER), opts=child)
        links = [az.privatedns.VirtualNetworkLink(
            f"{name}-link-{region}", virtual_network_link_name=physical_name(plan, TIER, f"link-{region}"),
            private_zone_name=zone.name, resource_group_name=rg, location="global", virtual_network={"id": network},
            registration_enabled=False, tags=tags(plan, TIER), opts=child) for region, network in sorted(args.networks.items())]
        sizing = plan.database.sizing
        cmk = args.encryption
        sku, tier = database_sku_for(sizing, burstable=plan.topology.edition.value == "O" and not plan.database.standby)
        self.server = az.dbforpostgresql.Server(
            f"{name}-server", server_name=server_name, resource_group_name=rg, location=args.region, version="16",
            administrator_login=ADMIN_USER, administrator_login_password=args.password,
            sku={"name": sku, "tier": tier}, availability_zone="1" if args.zoned else None,
            storage={"storage_size_gb": max(32, sizing.disk_gb), "auto_grow": "Enabled"},
            backup={"backup_retention_days": retention_days(plan.policy),
                    "geo_redundant_backup": "Enabled" if plan.policy.customer_managed_keys else "Disabled"},
            high_availability=(({"mode": "ZoneRedundant", "standby_availability_zone": "2"} if args.zoned
                                else {"mode": "SameZone"}) if plan.database.standby else {"mode": "Disabled"}),
            network={"delegated_subnet_resource_id": args.subnets[args.region],
                     "private_dns_zone_arm_resource_id": zone.id, "public_network_access": "Disabled"},
            auth_config={"password_auth": "Enabled", "active_directory_auth": "Disabled"},
            identity=user_assigned(cmk.identity) if cmk else None,
            data_encryption=({"type": "AzureKeyVault", "primary_key_uri": cmk.key,
                              "primary_user_assigned_identity_id": cmk.identity,
                              "geo_backup_key_uri": cmk.geo_key, "geo_backup_user_assigned_identity_id": cmk.identity}
                             if cmk else {"type": "SystemManaged"}),
            tags=tags(plan, TIER), opts=pulumi.ResourceOptions.merge(stateful, pulumi.ResourceOptions(depends_on=links)))
        for key, value in (("azure.extensions", EXTENSIONS), ("require_secure_transport", "ON"),
                           ("log_statement", "none")):
            az.dbforpostgresql.Configuration(
                f"{name}-{key.replace('.', '-').replace('_', '-')}", configuration_name=key, server_name=self.server.name,
                resource_group_name=rg, value=value, source="user-override", opts=child)
        if plan.policy.protect:
            az.authorization.ManagementLockByScope(
                f"{name}-lock", lock_name="reactor-protect", level="CanNotDelete", scope=self.server.id,
                notes="reactor-infra: the install's database (editions E and C)", opts=child)
        self.host = self.server.fully_qualified_domain_name
        if args.replica_region:
            self._replica(name, args, server_name, zone, stateful)
        self.register_outputs({"server": self.server.id})

    def _replica(self, name: str, args: DatabaseArgs, server_name: str, zone, opts: pulumi.ResourceOptions) -> None:
        plan, region, cmk = args.plan, args.replica_region, args.encryption
        self.replica = az.dbforpostgresql.Server(
            f"{name}-replica", server_name=database_server(plan, "postgres-replica"), resource_group_name=args.resource_group,
            location=region, create_mode="Replica", source_server_resource_id=self.server.id,
            network={"delegated_subnet_resource_id": args.subnets[region],
                     "private_dns_zone_arm_resource_id": zone.id, "public_network_access": "Disabled"},
            identity=user_assigned(cmk.identity) if cmk else None,
            data_encryption=({"type": "AzureKeyVault", "primary_key_uri": cmk.replica_key,
                              "primary_user_assigned_identity_id": cmk.identity} if cmk else None),
            tags=tags(plan, TIER), opts=opts)
        endpoint = physical_name(plan, TIER, "writer")
        az.dbforpostgresql.VirtualEndpoint(
            f"{name}-writer", virtual_endpoint_name=endpoint, server_name=self.server.name,
            resource_group_name=args.resource_group, endpoint_type="ReadWrite", members=[self.replica.name],
            opts=pulumi.ResourceOptions(parent=self))
        self.host = pulumi.Output.from_input(f"{endpoint}.writer.postgres.database.azure.com")
        if plan.policy.protect:
            az.authorization.ManagementLockByScope(
                f"{name}-replica-lock", lock_name="reactor-protect", level="CanNotDelete", scope=self.replica.id,
                notes="reactor-infra: the install's database replica (editions E and C)",
                opts=pulumi.ResourceOptions(parent=self))
