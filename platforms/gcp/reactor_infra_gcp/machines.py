"""A machine tier: the service account of one Plan tier and its machines in each of its regions
(fixed Nodes, or a Pool when the tier is autoscaled), their snapshot schedule, and the
instance groups a load balancer or router sends to.

Each fixed replica lives in its zone (`addressing.zone_of`) on its fixed address in its region's
subnet (`addressing.machine_address`); the size-2 node also gets the static external address.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import pulumi
import pulumi_gcp as gcp

from reactor_infra.addressing import zone_of
from reactor_infra.layout import Plan, TierPlan

from .identity import Identity, IdentityArgs
from .naming import labels, physical_name
from .node import MachineShape, Node, NodeArgs
from .places import is_pool, machine_name
from .pool import Pool, PoolArgs


@dataclass(frozen=True)
class Site:
    """Where a tier's machines go in one region."""

    region: str
    zones: Sequence[str]
    subnetwork: pulumi.Input[str]
    addresses: Sequence[str] = ()  # fixed private address per replica (fixed tiers)
    user_data: Sequence[pulumi.Input[str]] = ()  # per replica; a pool's: the first
    kms_key: pulumi.Input[str] | None = None  # the region's data key (editions E and C): disks are regional


@dataclass(frozen=True)
class MachineTierArgs:
    plan: Plan
    tier: TierPlan
    shape: MachineShape  # without its service account (the tier's own is made here)
    identity: IdentityArgs
    sites: Sequence[Site]
    named_ports: Sequence[tuple[str, int]] = ()  # what a load balancer sends to
    health: tuple[int, str | None] = (8000, "/health")  # a pool's autohealing check (port, HTTP path)
    public_ip: pulumi.Input[str] | None = None  # size 2
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


@dataclass
class MachineTier:
    identity: Identity
    nodes: dict[str, list[Node]]
    pools: dict[str, Pool]
    groups: dict[str, list[pulumi.Output[str]]]  # region -> instance group URLs (backends)


def build_machine_tier(args: MachineTierArgs, opts: pulumi.ResourceOptions) -> MachineTier:
    plan, tier = args.plan, args.tier
    name = tier.name.value
    identity = Identity(f"{name}-identity", args.identity, opts)
    shape = replace(args.shape, service_account=identity.email)
    after = [*args.depends_on, *identity.grants]  # the account must read its secrets when it boots
    out = MachineTier(identity=identity, nodes={}, pools={}, groups={})
    tier_opts = pulumi.ResourceOptions(parent=identity)  # the tier's own resources: its schedule, its groups
    for i, site in enumerate(args.sites):
        suffix = "" if i == 0 else f"-{site.region}"
        site_shape = replace(shape, kms_key=site.kms_key)
        if is_pool(tier):
            pool = Pool(f"{name}{suffix}", PoolArgs(
                shape=site_shape, tier=tier, region=site.region, zones=site.zones[:tier.zones],
                subnetwork=site.subnetwork, user_data=site.user_data[0], named_ports=args.named_ports,
                health_port=args.health[0], health_path=args.health[1], depends_on=after), opts)
            out.pools[site.region] = pool
            out.groups[site.region] = [pool.instance_group]
            continue
        policy = _snapshots(plan, name, suffix, site.region, tier_opts)
        nodes = []
        for r in range(tier.replicas.max):
            nodes.append(Node(f"{machine_name(tier, r)}{suffix}", NodeArgs(
                shape=site_shape, zone=site.zones[zone_of(r, tier.zones)], subnetwork=site.subnetwork,
                user_data=site.user_data[r], private_ip=site.addresses[r] if site.addresses else None,
                public_ip=args.public_ip, snapshot_policy=policy.id,
                depends_on=after), opts))
        out.nodes[site.region] = nodes
        if args.named_ports:
            out.groups[site.region] = _groups(plan, name, suffix, site, tier, nodes, args.named_ports, tier_opts)
    return out


def _snapshots(plan: Plan, name: str, suffix: str, region: str, opts: pulumi.ResourceOptions):
    """A daily snapshot of each data disk, kept as long as the edition keeps backups."""
    return gcp.compute.ResourcePolicy(
        f"{name}-snapshots{suffix}", name=physical_name(plan, name, f"snapshots-{region}"), region=region,
        snapshot_schedule_policy=gcp.compute.ResourcePolicySnapshotSchedulePolicyArgs(
            schedule=gcp.compute.ResourcePolicySnapshotSchedulePolicyScheduleArgs(
                daily_schedule=gcp.compute.ResourcePolicySnapshotSchedulePolicyScheduleDailyScheduleArgs(
                    days_in_cycle=1, start_time="04:00")),
            retention_policy=gcp.compute.ResourcePolicySnapshotSchedulePolicyRetentionPolicyArgs(
                max_retention_days=plan.policy.backup_retention_days, on_source_disk_delete="KEEP_AUTO_SNAPSHOTS"),
            snapshot_properties=gcp.compute.ResourcePolicySnapshotSchedulePolicySnapshotPropertiesArgs(
                labels=labels(plan, name), storage_locations=region)),
        opts=opts)


def _groups(plan: Plan, name: str, suffix: str, site: Site, tier: TierPlan, nodes: list[Node],
            ports: Sequence[tuple[str, int]], opts: pulumi.ResourceOptions) -> list[pulumi.Output[str]]:
    """An unmanaged instance group per zone holding the tier's machines there (a backend)."""
    by_zone: dict[str, list[Node]] = {}
    for r, node in enumerate(nodes):
        by_zone.setdefault(site.zones[zone_of(r, tier.zones)], []).append(node)
    groups = []
    for zone, members in sorted(by_zone.items()):
        group = gcp.compute.InstanceGroup(
            f"{name}{suffix}-group-{zone}", name=physical_name(plan, name, f"group-{zone}"), zone=zone,
            instances=[n.instance.self_link for n in members],
            named_ports=[gcp.compute.InstanceGroupNamedPortArgs(name=n, port=p) for n, p in ports], opts=opts)
        groups.append(group.self_link)
    return groups


def named(ports: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(ports.items())
