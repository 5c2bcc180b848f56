"""A Plan in words and as plain data (for `explain` and `explain --json`). No Pulumi."""

from __future__ import annotations

from typing import Any

from .layout import Plan, Tier
from .plan import deployment_problems
from .token import SIZE_NAMES, Topology

SCHEMA_VERSION = 1

TIER_ROLES = {
    Tier.LOCAL: "everything on this machine",
    Tier.NODE: "the single node",
    Tier.APP: "reactor-server pool",
    Tier.EDGE: "TLS gateway",
    Tier.INFRA: "shared infrastructure node",
    Tier.NATS: "NATS JetStream",
    Tier.VAULT: "OpenBao",
    Tier.POOLER: "connection pooler",
    Tier.DATABASE: "Postgres",
    Tier.STORAGE: "object storage",
}


def describe_token(topo: Topology) -> str:
    mods = ", ".join(m.title for m in topo.modifiers)
    text = f"{topo.edition.title} edition, size {topo.size} ({SIZE_NAMES[topo.size]})"
    return f"{text}, {mods}, on {topo.platform.value}" if mods else f"{text}, on {topo.platform.value}"


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-ready data. Keys are stable; new keys may be added."""
    topo = plan.topology
    return {
        "schema": SCHEMA_VERSION,
        "topology": topo.token,
        "edition": topo.edition.value,
        "size": topo.size,
        "modifiers": [m.value for m in topo.modifiers],
        "platform": topo.platform.value,
        "summary": describe_token(topo),
        "stack": plan.stack,
        "name_prefix": plan.name_prefix,
        "regions": list(plan.regions),
        "sizing_preset": plan.sizing_preset,
        "zones": plan.zones,
        "tiers": [
            {
                "name": t.name.value,
                "services": [s.value for s in t.services],
                "replicas": {"min": t.replicas.min, "max": t.replicas.max},
                "regions": list(t.regions),
                "zones": t.zones,
                "sizing": None if t.sizing is None else {
                    "vcpu": t.sizing.vcpu, "memory_gb": t.sizing.memory_gb, "disk_gb": t.sizing.disk_gb},
                "public": t.public,
                "stateful": t.stateful,
                "egress": t.egress,
            }
            for t in plan.tiers
        ],
        "ingress": {
            "tls": plan.ingress.tls,
            "tier": plan.ingress.tier.value if plan.ingress.tier else None,
            "load_balancer": plan.ingress.load_balancer,
        },
        "links": [
            {"from": link.source, "to": link.target, "port": link.port,
             "protocol": link.protocol, "purpose": link.purpose}
            for link in plan.links
        ],
        # every service-to-service connection, on one node or across nodes (links are those that cross)
        "flows": [
            {"from": str(f.source_service), "to": str(f.target_service), "port": f.port, "purpose": f.purpose}
            for f in plan.flows
        ],
        "database": {
            "hosting": plan.database.hosting.value,
            "engine_version": plan.database.engine_version,
            "standby": plan.database.standby,
            "cross_region_replica": plan.database.cross_region_replica,
            "max_connections": plan.database.max_connections,
            "pool_max_per_node": plan.database.pool_max_per_node,
            "tenant_databases": plan.database.tenant_databases,
        },
        "storage": plan.storage.value,
        "vault": {"mode": plan.vault.value, "seal": plan.vault_seal},
        "nats": plan.nats,
        "internal_tls": plan.internal_tls,
        "pooler": None if plan.pooler is None else {
            "kind": plan.pooler.kind, "mode": plan.pooler.mode, "port": plan.pooler.port},
        "policy": {
            "protect": plan.policy.protect,
            "backup_retention_days": plan.policy.backup_retention_days,
            "customer_managed_keys": plan.policy.customer_managed_keys,
            "egress_per_zone": plan.policy.egress_per_zone,
            "multi_tenant": plan.policy.multi_tenant,
            "tenant_provider": plan.policy.tenant_provider,
            "free_tier_quotas": plan.policy.free_tier_quotas,
        },
        # names and how each is made; values never exist here
        "secrets": [
            {"name": s.name, "generator": s.generator, "purpose": s.purpose, "env": s.env}
            for s in plan.secrets
        ],
        "notes": list(plan.notes),
    }


def plan_in_words(plan: Plan) -> list[tuple[str, list[str]]]:
    """Sections of (heading, lines) that say what the plan builds and why."""
    topo = plan.topology
    tiers = []
    for t in plan.tiers:
        services = ", ".join(s.value for s in t.services) or (
            "(the operator's)" if t.name.value == "database" and _operators(plan) else "(managed by the platform)")
        where = f"in {', '.join(t.regions)}" + (f" across {t.zones} zones" if t.zones > 1 else "")
        size = f"; {t.sizing}" if t.sizing else ""
        scaled = " (autoscaled)" if t.replicas.autoscaled else ""
        out = "; calls out to the internet" if t.egress else ""
        tiers.append(f"{t.name.value:<9} ×{t.replicas}{scaled}  {services} — {TIER_ROLES[t.name]} {where}{size}{out}")
    db = plan.database
    data = [
        f"database: {'the operator' + chr(39) + 's' if _operators(plan) else db.hosting.value} Postgres {db.engine_version}"
        + (", standby in another zone" if db.standby else "")
        + (f", read replica in {db.cross_region_replica}" if db.cross_region_replica else "")
        + f"; max_connections {db.max_connections}, pool_max {db.pool_max_per_node} per app node",
        f"storage: {plan.storage.value}" + (" (on the network file system the app nodes share)" if plan.shared_blobs else ""),
        f"vault: {plan.vault.value}" + (f" (seal: {plan.vault_seal})" if plan.vault_seal else ""),
        "realtime/pubsub: NATS" if plan.nats else "realtime/pubsub: in process",
    ]
    if plan.internal_tls:
        data.append("between machines: TLS from the install's private CA (OpenBao's API and raft, NATS clients and "
                    "routes)" + ("; Postgres verified against the managed database's CA (verify-full)"
                                 if plan.database_ca_url else ""))
    if plan.pooler:
        data.append(f"pooler: {plan.pooler.kind}, {plan.pooler.mode} mode on :{plan.pooler.port}")
    if db.tenant_databases:
        data.append("tenants: one tenant_<ref> database each, behind the pooler when there is one")
    pol = plan.policy
    policy = [
        f"protect stateful resources: {'yes' if pol.protect else 'no'}",
        f"backups kept {pol.backup_retention_days} days; "
        f"{'customer-managed' if pol.customer_managed_keys else 'platform-managed'} encryption keys",
    ]
    if plan.zones > 1 and plan.traits.nat_egress:
        policy.append("egress: " + ("one NAT gateway per zone" if pol.egress_per_zone else "one shared NAT gateway"))
    if pol.multi_tenant:
        quotas = ", ".join(f"{k} {v}" for k, v in (pol.free_tier_quotas or {}).items())
        policy.append(f"multi-tenant ({pol.tenant_provider}); free tier: {quotas}")
    links = [str(link) for link in plan.links] or ["none: nothing listens beyond 127.0.0.1"]
    if plan.traits.one_host:
        links.append("on one Docker host each flow between two services is a network of its own; a Docker "
                     "bridge cannot restrict ports, so the two reach every port the other listens on")
    api = plan.traits.platform_api_port
    if api and plan.topology.size >= 2:
        links.append(f"outbound: tiers that do not call out may still open :{api} to the platform's own APIs "
                     "(secret store, image registry, logs, operators' sessions)")
    mirror = plan.traits.package_mirror_port
    if mirror and plan.topology.size >= 2:
        links.append(f"outbound: every machine may open :{mirror} to its image's package mirror (plain HTTP; "
                     "packages are verified by their signatures)")
    secrets = [f"{s.name} ({s.generator}) — {s.purpose}" for s in plan.secrets]
    return [
        (f"{topo.token}: {describe_token(topo)}", [
            f"stack: {plan.stack} (physical names start {plan.name_prefix}-)",
            f"regions: {', '.join(plan.regions)}; sizing preset: {plan.sizing_preset}"
            + (f"; network over {plan.zones} zones per region" if plan.zones > 1 else "")]),
        ("tiers", tiers),
        ("data", data),
        ("links (each is one firewall rule; nothing else is open)" if plan.traits.link_rules else
         "links (the ways in through the platform's proxy are its only rules; the install's private "
         "network holds the others, and machines may call out)", links),
        ("secrets (generated, never shown)", secrets),
        ("policy", policy),
        *([("notes", list(plan.notes))] if plan.notes else []),
        *([("cannot be deployed as it stands (validate, render and up refuse it)", deployment_problems(plan))]
          if deployment_problems(plan) else []),
    ]


def _operators(plan) -> bool:
    """The database is the operator's (a URL in the stack), not the platform's managed one."""
    from .layout import DatabaseHosting

    return plan.database.hosting is DatabaseHosting.MANAGED and (
        plan.traits.external_database or plan.traits.operator_database)
