"""Where each service is found on AWS, and the Placement each machine and task renders its
configs with. Pure: no Pulumi.

Machine tiers (the size-2 node, infra, NATS, OpenBao) are EC2 machines running the tier's
compose project; the Plan's container tiers (`traits.container_tiers`: app, edge, pooler) are
ECS services, one per Reactor service. Across machines and tasks every service answers to a
private name in the region's `internal` namespace (Discovery): a container service by its
registration (`app`, `edge`, `gateway-server`, `pooler`), a machine tier by its tier
(`infra.internal`; `vault-0.internal` for one of several; the router's `vault.internal` in
front of a clustered OpenBao). Values that exist only once a resource does (the database's
host, the load balancer's name without a domain) are late markers (`reactor_infra.late`).
"""

from __future__ import annotations

from dataclasses import replace

from reactor_infra import compose, late, naming
from reactor_infra.catalogue import Placement
from reactor_infra.layout import Plan, Service, Tier, TierPlan
from reactor_infra.reactor_toml import Endpoints, late_endpoints

S = Service
MACHINE_TIERS = frozenset({Tier.NODE, Tier.INFRA, Tier.NATS, Tier.VAULT})
DOMAIN = "internal"
# the name each container service registers in the namespace
REGISTERED = {S.REACTOR_SERVER: "app", S.CADDY: "edge", S.GATEWAY_SERVER: "gateway-server",
              S.PGBOUNCER: "pooler", S.SUPAVISOR: "pooler"}
PUBLIC_HOST = "public-host"  # late: the domain, the Elastic IP or the region's load balancer
DATABASE_HOST = "database-host"  # late: the managed database's address


def is_container_tier(plan: Plan, tier: TierPlan) -> bool:
    return tier.name.value in plan.traits.container_tiers and plan.topology.size >= 3


def machine_tiers(plan: Plan) -> list[TierPlan]:
    return [t for t in plan.tiers if t.name in MACHINE_TIERS]


def container_tiers(plan: Plan, region: str) -> list[TierPlan]:
    return [t for t in plan.tiers if is_container_tier(plan, t) and region in t.regions]


def machine_name(tier: TierPlan, index: int) -> str:
    """A machine's private name (without the domain): `infra` alone, `vault-0` of several."""
    return tier.name.value if tier.replicas.max == 1 else f"{tier.name.value}-{index}"


def routed(plan: Plan) -> TierPlan | None:
    """The tier whose OpenBao sits behind the vault router (a clustered OpenBao)."""
    tier = plan.tier_of(S.OPENBAO)
    return tier if tier is not None and any(str(link.target) == "vault-router" for link in plan.links) else None


def hosts(plan: Plan) -> dict[Service, str]:
    """Every service's private name, seen from another machine or task."""
    out: dict[Service, str] = {}
    for t in plan.tiers:
        for s in t.services:
            out[s] = f"{REGISTERED[s] if is_container_tier(plan, t) else t.name.value}.{DOMAIN}"
    return out


def endpoints(plan: Plan) -> Endpoints:
    """Reactor.toml's addresses: the core's private names, the late public host without a
    domain, the late database host when the database is managed."""
    return late_endpoints(plan, PUBLIC_HOST, DATABASE_HOST)


def replica_bucket(plan: Plan, region: str) -> str:
    """The second region's bucket (+mr): named like the first, scoped to its region."""
    return naming.global_name(plan, "storage", scope=region)


def site_address(plan: Plan) -> str:
    return plan.settings.domain or late.marker(PUBLIC_HOST)


def machine_placement(plan: Plan, tier: TierPlan, index: int, seal: dict[str, str]) -> Placement:
    """Replica `index` of a machine tier: its own services by compose name, the rest by private
    name; clustered services name this replica and its peers."""
    count = tier.replicas.max
    peers = {}
    if count > 1:
        names = [f"{machine_name(tier, j)}.{DOMAIN}" for j in range(count)]
        peers = {s: tuple(n for j, n in enumerate(names) if j != index)
                 for s in tier.services if s in (S.OPENBAO, S.NATS)}
    return compose.placement(plan, endpoints(plan), site_address(plan), seal, services=tier.services,
                             elsewhere=hosts(plan), instance=f"{machine_name(tier, index)}.{DOMAIN}" if count > 1 else "",
                             peers=peers)


def task_placement(plan: Plan) -> Placement:
    """A container service: alone in its task, every other service by private name."""
    return replace(compose.placement(plan, endpoints(plan), site_address(plan), services=(), elsewhere=hosts(plan)),
                   admin_peer=None)
