"""Private address plans, the same on every cloud: how a network's range splits into subnets
per zone, and the fixed private address each machine of a machine tier keeps.

From size 3 the range splits into quarters: the first holds one public subnet per zone (load
balancers and NAT only), each of the other three is the private subnet of one zone (every
machine, task and managed service). A machine's address is fixed by its tier's place in the
Plan and its replica number, so cluster peers (OpenBao raft, NATS routes) and certificates can
name each other before any machine exists, and a replaced machine comes back on the same
address. Pure; no Pulumi.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .layout import Plan, Tier

# the first addresses of a subnet are the cloud's (AWS keeps 4, GCP 2, Azure 5)
FIRST_MACHINE = 16
PER_TIER = 16  # room for each machine tier in a zone's subnet


@dataclass(frozen=True, slots=True)
class SubnetPlan:
    public: tuple[str, ...]  # one per zone
    private: tuple[str, ...]  # one per zone


def subnet_plan(cidr: str, zones: int) -> SubnetPlan:
    """The subnets of a network range over `zones` zones (at most 3)."""
    if not 1 <= zones <= 3:
        raise ValueError(f"{zones} zones: between 1 and 3")
    net = ipaddress.IPv4Network(cidr)
    quarters = list(net.subnets(prefixlen_diff=2))
    public = list(quarters[0].subnets(prefixlen_diff=2))
    return SubnetPlan(public=tuple(str(p) for p in public[:zones]),
                      private=tuple(str(q) for q in quarters[1:1 + zones]))


def range_after(cidr: str, index: int) -> str:
    """The `index`-th range of `cidr`'s size after it (0: itself): a second region's network
    that never overlaps the first (`10.42.0.0/16` -> `10.43.0.0/16`)."""
    net = ipaddress.IPv4Network(cidr)
    return str(ipaddress.IPv4Network((int(net.network_address) + index * net.num_addresses, net.prefixlen)))


def checked_cidr(value: str, low: int, high: int, example: str) -> str:
    """A stack setting's network range: an IPv4 CIDR between /`low` and /`high` (ValueError
    with one line saying what is allowed, for a settings validator)."""
    try:
        net = ipaddress.IPv4Network(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 CIDR such as {example}") from None
    if not low <= net.prefixlen <= high:
        raise ValueError(f"'{value}': between /{low} and /{high}") from None
    return str(net)


def zone_of(replica: int, zones: int) -> int:
    """The zone a tier's replica lives in: spread in turn over the tier's zones."""
    return replica % max(zones, 1)


def machine_address(plan: Plan, tier: Tier, replica: int, private: tuple[str, ...]) -> str:
    """The fixed private address of replica `replica` of a machine tier, in the private subnet
    of its zone (`private`, from `subnet_plan`)."""
    t = plan.tier(tier)
    assert t is not None, f"{tier} is not in the plan"
    index = [x.name for x in plan.tiers].index(tier)
    subnet = ipaddress.IPv4Network(private[zone_of(replica, t.zones)])
    offset = FIRST_MACHINE + index * PER_TIER + replica
    if offset >= subnet.num_addresses - 1:
        raise ValueError(f"{subnet} is too small for {tier} replica {replica}")
    return str(subnet.network_address + offset)
