"""A machine tier: the managed identity of one Plan tier and its machines in each of its regions
(fixed Nodes, or a Pool when the tier is autoscaled).

Each fixed replica lives in its zone (`addressing.zone_of`) on its fixed address in its region's
machines subnet (`addressing.machine_address`); the size-2 node also gets the static public
address. What sends to the tier (balancer pools) and the tier's application security group
come per region (`Site`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import pulumi

from reactor_infra.addressing import zone_of
from reactor_infra.layout import TierPlan

from .identity import Identity, IdentityArgs
from .node import MachineShape, Node, NodeArgs
from .places import is_pool, machine_name
from .pool import Pool, PoolArgs


@dataclass(frozen=True)
class Site:
    """Where a tier's machines go in one region."""

    region: str
    zones: Sequence[str]  # empty: a region without availability zones
    subnet: pulumi.Input[str]
    security_group: pulumi.Input[str]
    addresses: Sequence[str] = ()  # fixed private address per replica (fixed tiers)
    custom_data: Sequence[pulumi.Input[str]] = ()  # per replica; a pool's: the first
    pools: Sequence[pulumi.Input[str]] = ()  # balancer pools that send to the tier here
    encryption_set: pulumi.Input[str] | None = None  # editions E and C: disks are regional


@dataclass(frozen=True)
class MachineTierArgs:
    tier: TierPlan
    shape: MachineShape  # without identity, group and pools (made or given per region here)
    identity: IdentityArgs
    sites: Sequence[Site]
    resource_group: pulumi.Input[str]
    health: tuple[str, int, str | None] = ("http", 8000, "/health")  # a pool's application health check
    public_ip: pulumi.Input[str] | None = None  # size 2: the static public address's id
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


@dataclass
class MachineTier:
    identity: Identity
    nodes: dict[str, list[Node]]
    pools: dict[str, Pool]


def build_machine_tier(args: MachineTierArgs, opts: pulumi.ResourceOptions) -> MachineTier:
    tier = args.tier
    name = tier.name.value
    identity = Identity(f"{name}-identity", args.identity, opts)
    after = [*args.depends_on, *identity.grants]  # the identity must read its secrets when it boots
    out = MachineTier(identity=identity, nodes={}, pools={})
    for i, site in enumerate(args.sites):
        suffix = "" if i == 0 else f"-{site.region}"
        shape = replace(args.shape, identity=identity.id, security_group=site.security_group, pools=tuple(site.pools),
                        encryption_set=site.encryption_set)
        if is_pool(tier):
            out.pools[site.region] = Pool(f"{name}{suffix}", PoolArgs(
                shape=shape, tier=tier, region=site.region, zones=site.zones[:tier.zones],
                resource_group=args.resource_group, subnet=site.subnet, custom_data=site.custom_data[0],
                health=args.health, depends_on=after), opts)
            continue
        out.nodes[site.region] = [Node(f"{machine_name(tier, r)}{suffix}", NodeArgs(
            shape=shape, region=site.region, zone=site.zones[zone_of(r, tier.zones)] if site.zones else None,
            resource_group=args.resource_group, subnet=site.subnet, custom_data=site.custom_data[r],
            private_ip=site.addresses[r] if site.addresses else None, public_ip=args.public_ip,
            depends_on=after), opts) for r in range(tier.replicas.max)]
    return out
