"""Where each service is found on Fly, and the Placement each machine renders its configs with.
Pure: no Pulumi.

One Fly app per Plan tier (`<stack>-<tier>-<8 hex>`: app names are global across Fly), one
machine per service replica (a machine runs one image; Fly's multi-container machines are
limited to selected organizations and cannot mount a volume per container). Machines find each
other over 6PN, the install's private IPv6 network, by Fly's `.internal` names:

- a tier that runs one service: `<app>.internal` (every machine of the app), or
  `<region>.<app>.internal` from a region of a tier that spans several (+mr: the nearest copy);
- a tier that runs several: the machines of one service form a process group named after it,
  `<service>.process.<app>.internal`;
- a clustered service (NATS, OpenBao with several replicas): each replica is a process group of
  its own, `<service>-<i>.process.<app>.internal`, so peers and clients name each node;
- a clustered OpenBao behind the vault router: `<app>.flycast`, Fly's proxy on the app's
  private (Flycast) address, which passes :8200 only to the node whose /v1/sys/health says it
  is active.
"""

from __future__ import annotations

from dataclasses import replace

from reactor_infra import compose, naming
from reactor_infra.catalogue import Placement
from reactor_infra.layout import VAULT_API, DatabaseHosting, Plan, Service, TierPlan
from reactor_infra.reactor_toml import Endpoints, default_endpoints

S = Service
APP_NAME_MAX = 63
Database = tuple[str, int, str]  # the operator's database: host, port, sslmode
CLUSTERED = (S.NATS, S.OPENBAO)


def app_name(plan: Plan, tier: TierPlan | str, org: str) -> str:
    """A Fly app: `<stack>-<key>-<8 hex>` (the hex from the stack, project and org); `tier` is a
    tier or an app key (`app_key`)."""
    name = tier if isinstance(tier, str) else tier.name.value
    return naming.global_name(plan, name, scope=org, limit=APP_NAME_MAX)


def app_key(plan: Plan, tier: TierPlan, service: Service) -> str:
    """The app a service's machines belong to: its tier's, except a routed OpenBao in the
    ingress tier (size 4 with +ha: infra), which gets `<tier>-vault`: Fly publishes every service
    of an app on all of its addresses, so the router's :8200 must not live in a public app."""
    vault = routed(plan)
    if service is S.OPENBAO and vault is not None and vault.name == tier.name == plan.ingress.tier:
        return f"{tier.name.value}-vault"
    return tier.name.value


def clustered(tier: TierPlan, service: Service) -> bool:
    return service in CLUSTERED and tier.replicas.max > 1


def via_proxy(tier: TierPlan) -> bool:
    """An autoscaled tier of one service behind the gateway (the app pool): reached through Fly's
    proxy on its Flycast address, which starts a stopped machine when a request comes."""
    return tier.replicas.autoscaled and len(tier.services) == 1 and tier.name.value == "app"


def group(tier: TierPlan, service: Service, index: int) -> str:
    """The process group of replica `index` of a service: the service's name, or
    `<service>-<index>` for a clustered service (a DNS name per node)."""
    return f"{service}-{index}" if clustered(tier, service) else str(service)


def host(plan: Plan, tier: TierPlan, service: Service, org: str, region: str | None = None,
         index: int | None = None) -> str:
    """A service's 6PN name, seen from `region` (default the primary); `index`: one node of a
    clustered service."""
    app = app_name(plan, app_key(plan, tier, service), org)
    if index is not None or clustered(tier, service):
        return f"{group(tier, service, index or 0)}.process.{app}.internal"
    if via_proxy(tier):
        return f"{app}.flycast"
    if len(tier.services) > 1:
        return f"{service}.process.{app}.internal"
    if len(tier.regions) > 1:
        return f"{region or tier.regions[0]}.{app}.internal"
    return f"{app}.internal"


def routed(plan: Plan) -> TierPlan | None:
    """The tier whose OpenBao sits behind the vault router (a clustered OpenBao)."""
    tier = plan.tier_of(S.OPENBAO)
    return tier if tier is not None and any(str(link.target) == "vault-router" for link in plan.links) else None


def hosts(plan: Plan, org: str, region: str | None = None) -> dict[Service, str]:
    out: dict[Service, str] = {}
    for t in plan.tiers:
        for s in t.services:
            out.setdefault(s, host(plan, t, s, org, region))
    return out


def endpoints(plan: Plan, org: str, region: str | None = None, database: Database | None = None) -> Endpoints:
    """Reactor.toml's addresses from `region`: the services' 6PN names, the vault router's
    Flycast name, the operator's database (`database`: host, port, and the TLS mode every direct
    connection keeps)."""
    ep = default_endpoints(plan)
    names = hosts(plan, org, region)
    changes: dict = {"backend_target": f"{names[S.REACTOR_SERVER]}:{ep.backend_target.rsplit(':', 1)[1]}"}
    if plan.database.hosting is not DatabaseHosting.MANAGED and S.POSTGRES in names:
        changes["database_host"] = names[S.POSTGRES]
    elif database is not None:
        changes["database_host"], changes["database_port"], changes["database_sslmode"] = database
    if plan.pooler is not None:
        changes["pooler_host"] = names[S(plan.pooler.kind)]
    if ep.openbao_address:
        vault = routed(plan)
        address = (f"{app_name(plan, app_key(plan, vault, S.OPENBAO), org)}.flycast" if vault is not None
                   else names[S.OPENBAO])
        changes["openbao_address"] = f"http://{address}:{VAULT_API}"
    nats = plan.tier_of(S.NATS)
    if nats is not None:
        count = nats.replicas.max
        changes["nats_servers"] = tuple(
            f"nats://{host(plan, nats, S.NATS, org, index=i if count > 1 else None)}:4222" for i in range(count))
    return replace(ep, **changes)


def site_address(plan: Plan, org: str) -> str:
    """Caddy's site: the domain, or the ingress app's `<app>.fly.dev` name without one."""
    return plan.settings.domain or f"{app_name(plan, plan.tier(plan.ingress.tier), org)}.fly.dev"


def placement(plan: Plan, tier: TierPlan, service: Service, index: int, org: str, region: str,
              database: Database | None = None) -> Placement:
    """Replica `index` of a service in `region`: every neighbour by 6PN name; a clustered
    service names this node and its peers."""
    instance, peers = "", {}
    if clustered(tier, service):
        names = [host(plan, tier, service, org, index=j) for j in range(tier.replicas.max)]
        instance = names[index]
        peers = {service: tuple(n for j, n in enumerate(names) if j != index)}
    base = compose.placement(plan, endpoints(plan, org, region, database), site_address(plan, org), services=(),
                             elsewhere=hosts(plan, org, region), instance=instance, peers=peers)
    return replace(base, admin_peer=None)
