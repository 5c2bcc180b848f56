"""A host's own firewall, from the Plan's links (on-prem: no cloud firewall in front of the hosts).

Docker publishes a container's port through its own NAT rules, ahead of the host's INPUT chain
(ufw and firewalld never see that traffic); the one place a host may filter it is the
`DOCKER-USER` chain. Each host gets a chain `REACTOR-IN`, jumped to from `DOCKER-USER`: for each
port its services publish for another tier's link, the addresses of that tier's hosts may pass
and everyone else is dropped. Ports the internet's links name (80, 443) stay open. Ports are
published on the host's inventory address only (IPv4), so no IPv6 listener of Docker's proxy
slips around the chain. `iptables-restore --noflush` loads the chain (declaring it empties it
first), so a second load changes nothing. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from .inventory import OnpremExtras, hosts_of
from .layout import INTERNET, LOAD_BALANCER, Plan, TierPlan

CHAIN = "REACTOR-IN"
RULES_FILE = "/opt/reactor/firewall.rules"
SCRIPT = "/usr/local/sbin/reactor-firewall"
UNIT = "reactor-firewall.service"


@dataclass(frozen=True, order=True)
class Allow:
    """`source` (a tier, or `internet`) may reach `port` of this host, from `addresses` (empty:
    from anywhere)."""

    port: int
    source: str
    addresses: tuple[str, ...]
    purpose: str


def allows(plan: Plan, extras: OnpremExtras, tier: TierPlan) -> list[Allow]:
    """What reaches the tier's hosts, one entry per link (the links *are* the rules)."""
    out = []
    for link in plan.links:
        if link.target != tier.name or link.target_service not in tier.services:
            continue
        if link.source in (INTERNET, LOAD_BALANCER):  # the world, or the operator's TCP balancer in front
            out.append(Allow(link.port, str(INTERNET), (), link.purpose))
            continue
        source = plan.tier(link.source)
        out.append(Allow(link.port, source.name.value, tuple(h.address for _, h in hosts_of(plan, extras, source)),
                         link.purpose))
    return sorted(set(out))


def rules_file(plan: Plan, host: str, tier: TierPlan, allowed: list[Allow]) -> str:
    """iptables-restore input for the host's chain."""
    lines = [f"# {RULES_FILE} for host {host} ({tier.name.value}) of {plan.topology} (stack {plan.stack}), "
             "rendered by reactor-infra.",
             f"# Loaded by {SCRIPT} with iptables-restore --noflush; DOCKER-USER jumps to {CHAIN}.",
             "*filter", f":{CHAIN} - [0:0]"]
    restricted = sorted({a.port for a in allowed if a.addresses} - {a.port for a in allowed if not a.addresses})
    for port in restricted:
        match = f"-p tcp -m conntrack --ctorigdstport {port} --ctdir ORIGINAL"
        for allow in (a for a in allowed if a.port == port):
            comment = f"{allow.source} -> {tier.name.value} :{port}"
            lines += [f'-A {CHAIN} {match} -s {address}/32 -m comment --comment "{comment}" -j RETURN'
                      for address in allow.addresses]
        lines.append(f'-A {CHAIN} {match} -m comment --comment "others -> {tier.name.value} :{port}" -j DROP')
    lines += ["COMMIT", ""]
    return "\n".join(lines)


def script(plan: Plan) -> str:
    return "\n".join([
        "#!/bin/sh",
        f"# {SCRIPT} for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        f"# Loads {CHAIN} (the Plan's links into this host) and makes DOCKER-USER jump to it once.",
        "set -eu",
        f"iptables-restore --noflush {RULES_FILE}",
        f"iptables -C DOCKER-USER -j {CHAIN} 2>/dev/null || iptables -I DOCKER-USER -j {CHAIN}",
        "",
    ])


def unit(plan: Plan) -> str:
    return "\n".join([
        f"# {UNIT} for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        "[Unit]",
        f"Description=Reactor {plan.topology}: only the Plan's links reach this host's published ports",
        "Requires=docker.service",
        "After=docker.service",
        "Before=reactor.service",
        "",
        "[Service]",
        "Type=oneshot",
        "RemainAfterExit=yes",
        f"ExecStart=/bin/sh {SCRIPT}",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])
