"""Where each service is found when every tier is machines running its compose project (GCP,
Azure), and the Placement each machine renders its configs with. Pure: no Pulumi, no SDK.

Across machines every service answers to a private name in the install's private zone
(`plan.traits.private_domain`): a tier by its name (`app.reactor.internal`, all of its fixed
addresses, the nearest region's with +mr), one machine of several by its own
(`nats-1.reactor.internal`), a clustered OpenBao or an autoscaled app pool by its router's
address. Values that exist only once a resource does (the database's address, the public
address without a domain) are late markers the platform binds (`reactor_infra.late`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from dataclasses import replace

from . import compose, late, node_boot
from .catalogue import Placement
from .layout import FILE_SYSTEM, POOL_ROUTER, VAULT_ROUTER, DatabaseHosting, Plan, Service, TierPlan
from .reactor_toml import Endpoints, late_endpoints

S = Service
PUBLIC_HOST = "public-host"  # late: the domain, or the ingress's public address
DATABASE_HOST = "database-host"  # late: the managed database's private address or name


def machine_tiers(plan: Plan) -> list[TierPlan]:
    """Every tier that runs services: all of them are machines."""
    return [t for t in plan.tiers if t.services]


def machine_name(tier: TierPlan, index: int) -> str:
    """A machine's private name (without the domain): `infra` alone, `vault-0` of several."""
    return tier.name.value if tier.replicas.max == 1 else f"{tier.name.value}-{index}"


def is_pool(tier: TierPlan) -> bool:
    """An autoscaled tier: machines from one template (no fixed addresses)."""
    return tier.replicas.autoscaled


def routed(plan: Plan) -> TierPlan | None:
    """The tier whose OpenBao sits behind the vault router (a clustered OpenBao)."""
    tier = plan.tier_of(S.OPENBAO)
    return tier if tier is not None and any(link.target == VAULT_ROUTER for link in plan.links) else None


def pool_routed(plan: Plan) -> TierPlan | None:
    """The autoscaled app pool the gateway reaches through an internal load balancer."""
    return next((t for t in plan.tiers if any(link.source == POOL_ROUTER and link.target == t.name
                                              for link in plan.links)), None)


def hosts(plan: Plan) -> dict[Service, str]:
    """Every service's private name, seen from another machine."""
    domain = plan.traits.private_domain
    return {s: f"{t.name.value}.{domain}" for t in plan.tiers for s in t.services}


def endpoints(plan: Plan) -> Endpoints:
    """Reactor.toml's addresses: the private names, the late public host without a domain, the
    late database host when the database is the cloud's managed one. Its TLS is encrypted, not
    verified (sslmode=require): Cloud SQL's certificate names the instance, not the private
    address; Azure's flexible server's CA changes with Azure's rotations (the READMEs say more)."""
    managed = plan.database.hosting is DatabaseHosting.MANAGED
    return late_endpoints(plan, PUBLIC_HOST, DATABASE_HOST, **({"database_sslmode": "require"} if managed else {}))


def site_address(plan: Plan) -> str:
    """Caddy's site: the domain, or the late public address (Caddy's internal CA)."""
    return plan.settings.domain or late.marker(PUBLIC_HOST)


def machine_placement(plan: Plan, tier: TierPlan, index: int | None, seal: Mapping[str, str]) -> Placement:
    """Replica `index` of a tier: its own services by compose name, the rest by private name;
    clustered services name this replica and its peers. `index` None: any machine of an
    autoscaled pool (no name of its own)."""
    domain = plan.traits.private_domain
    count = tier.replicas.max
    peers, instance = {}, ""
    if count > 1 and index is not None:
        names = [f"{machine_name(tier, j)}.{domain}" for j in range(count)]
        peers = {s: tuple(n for j, n in enumerate(names) if j != index)
                 for s in tier.services if s in (S.OPENBAO, S.NATS)}
        instance = f"{machine_name(tier, index)}.{domain}"
    return compose.placement(plan, endpoints(plan), site_address(plan), dict(seal), services=tier.services,
                             elsewhere=hosts(plan), instance=instance, peers=peers)


def shared_volumes(plan: Plan, tier: TierPlan) -> list[str]:
    """The volumes of a tier's machines kept on the network file system (its `file-system`
    links): several Caddy replicas' certificates, several app nodes' blobs (`plan.shared_blobs`)."""
    if not any(link.source == tier.name and link.target == FILE_SYSTEM for link in plan.links):
        return []
    caddies = S.CADDY in tier.services and tier.replicas.max > 1
    blobs = S.REACTOR_SERVER in tier.services and plan.shared_blobs
    return [f"{S.CADDY}-data"] * caddies + [f"{S.REACTOR_SERVER}-storage"] * blobs


def replica_files(plan: Plan, tier: TierPlan, base: node_boot.NodeFiles, region: str, *,
                  seal: Mapping[str, str]) -> tuple[list[node_boot.NodeFiles], set[str]]:
    """Each machine's boot in one region of a tier (an autoscaled pool: one for all), and the
    plan secrets their services read. From size 3 each replica names itself and its peers
    (`machine_placement`); the first machine of the primary region initialises OpenBao."""
    count = 1 if is_pool(tier) else tier.replicas.max
    initialises = node_boot.bootstraps_openbao(plan, tier.services)
    out, used = [], set()
    for i in range(count):
        files = base
        if plan.topology.size >= 3:
            files = replace(base, placement=machine_placement(plan, tier, None if is_pool(tier) else i, seal),
                            initialises_openbao=initialises and i == 0 and region == plan.primary_region)
        used |= {name for spec in node_boot.node_specs(plan, files).values() for name in spec.secrets()}
        out.append(files)
    return out, used


def certificate_names(plan: Plan, fixed: Callable[[TierPlan, str], list[str]],
                      vault_router: str | None) -> dict[str, tuple[list[str], list[str]]]:
    """What each TLS tier's certificate from the install's private CA covers (`InternalCaArgs`):
    the tier's private name and each of its machines', their fixed addresses (`fixed(tier,
    region)`) and, for a clustered OpenBao, the vault router's address."""
    out = {}
    for t in plan.tls_tiers():
        count = t.replicas.max
        names = [t.name.value] + ([machine_name(t, i) for i in range(count)] if count > 1 else [])
        addresses = [a for r in t.regions for a in fixed(t, r)]
        if vault_router and routed(plan) is t:
            addresses.append(vault_router)
        out[t.name.value] = (names, addresses)
    return out
