"""What one host of an install on given machines runs, as files: the on-prem hosts of the
inventory (`inventory`), or the one Docker host of `@local`. The same node configs the cloud
machines boot from (`node_boot.project_files`: compose project from the catalogue, Reactor.toml,
Caddyfile, nats.conf, openbao.hcl, the secrets step, `reactor.service`), plus:

- `install.sh`: places the files (only those that differ), checks the host has what it needs,
  writes the secrets it is given as 0600 files, reloads systemd and restarts `reactor.service`
  only when something changed; idempotent, stops at the first error (`set -eu`).
- `health.sh`: waits until each service on the host answers its catalogue health check (inside
  its container: reactor-server `/health`, NATS `/healthz?js-server-only=true`, OpenBao
  `/v1/sys/health`, which passes while uninitialised or sealed: init is a step, not a failure).

Secrets: every host keeps the Plan secrets its services read in `SECRETS_STORE` (root, 0700;
files 0600); `reactor-fetch-secrets` turns them into compose's env files at each start. They are
written by the run (standard input of an SSH command) or copied from the bundle; no value is
ever in a file below, a command line or a log. Pure: no Pulumi, no SSH.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace

from . import compose, database_url, host_firewall, machine_places, node_boot, openbao_bootstrap, templating
from .inventory import Host, OnpremExtras, hosts_of
from .layout import NATS_CLIENT, REACTOR, VAULT_API, DatabaseHosting, Plan, SecretGenerator, Service, TierPlan
from .reactor_toml import default_endpoints
from .token import Platform

S = Service
SECRETS_STORE = "/etc/reactor/secrets"
UNITS_DIR = "/etc/systemd/system"
PLACEHOLDER = "reactor-infra-unset"  # an `init` or operator's secret nobody has written yet
HEALTH_TRIES = 60  # × 5 s
OPENBAO_INIT_DIR = "/root/reactor-openbao-init"  # where the first vault host's bootstrap leaves the keys


@dataclass(frozen=True)
class HostFiles:
    """One host: its inventory name, its tier and replica, and what it runs."""

    name: str
    tier: TierPlan
    index: int
    host: Host | None  # None: the one Docker host of @local (no SSH)
    files: dict[str, tuple[str, str]]  # absolute path -> (mode, text)
    secrets: tuple[str, ...]  # the Plan secrets this host keeps (SECRETS_STORE/<name>)
    health: tuple[tuple[Service, tuple[str, ...]], ...]  # service -> its health check, in start order
    services: tuple[Service, ...]
    openbao: str  # "", "first" (initialises OpenBao) or "follower"
    units: tuple[str, ...] = ()  # the systemd units it installs, in start order

    @property
    def digest(self) -> str:
        """What changes when any file changes: the run's trigger to copy and install again."""
        h = hashlib.sha256()
        for path, (mode, text) in sorted(self.files.items()):
            h.update(f"{path}\0{mode}\0".encode() + text.encode() + b"\0")
        return h.hexdigest()


def cloud() -> node_boot.NodeCloud:
    """The hooks of the core's node boot for machines the operator runs: secrets are files."""
    return node_boot.NodeCloud(
        packages=(), store_words=f"secret files in {SECRETS_STORE} (root only, 0600)", store_env=(),
        read=f'cat "{SECRETS_STORE}/$1"',
        bootstrap_store=lambda plan: f'install -m 0600 "$2" "{SECRETS_STORE}/$1"',
        bootstrap_fetch=lambda plan, placeholder: (
            f'value=$(cat "{SECRETS_STORE}/$1") && [ "$value" != {shlex.quote(placeholder)} ]'),
        network_wait=(), find_data_disk=(), install_docker=())


# --- where things are --------------------------------------------------------------------------


def extra_hosts(plan: Plan, extras: OnpremExtras) -> dict[str, tuple[str, ...]]:
    """The install's private names -> inventory addresses (no private DNS zone on-prem): a tier's
    name answers with all of its hosts, a replica's own name with its host."""
    domain = plan.traits.private_domain
    out: dict[str, tuple[str, ...]] = {}
    for tier in machine_places.machine_tiers(plan):
        hosts = hosts_of(plan, extras, tier)
        out[f"{tier.name.value}.{domain}"] = tuple(h.address for _, h in hosts)
        if tier.replicas.max > 1:
            out |= {f"{machine_places.machine_name(tier, i)}.{domain}": (h.address,) for i, (_, h) in enumerate(hosts)}
    return out


def late_values(plan: Plan, extras: OnpremExtras) -> dict[str, str]:
    """The public host (the domain, or the first ingress host's address) and the operator's
    database host."""
    ingress = plan.tier(plan.ingress.tier) if plan.ingress.tier else None
    public = plan.settings.domain or (hosts_of(plan, extras, ingress)[0][1].address if ingress else "")
    values = {machine_places.PUBLIC_HOST: public}
    if plan.database.hosting is DatabaseHosting.MANAGED and extras.database_url:
        values[machine_places.DATABASE_HOST] = database_url.address(extras.database_url)[0]
    return values


def _endpoints(plan: Plan, extras: OnpremExtras):
    endpoints = machine_places.endpoints(plan)
    if plan.database.hosting is DatabaseHosting.MANAGED and extras.database_url:
        _, port, sslmode = database_url.address(extras.database_url)
        endpoints = replace(endpoints, database_port=port, database_sslmode=sslmode)
    elif plan.database.hosting is not DatabaseHosting.MANAGED:
        endpoints = replace(endpoints, database_sslmode=None)  # our own Postgres host: no TLS yet (README)
    return endpoints


# --- the hosts ---------------------------------------------------------------------------------


def onprem_hosts(plan: Plan, extras: OnpremExtras) -> list[HostFiles]:
    """Every host of the inventory (checked before: `inventory.problems`), in start order."""
    base = node_boot.NodeFiles(cloud=cloud(), endpoints=_endpoints(plan, extras),
                               site_address=machine_places.site_address(plan),
                               secret_names={s.name: s.name for s in plan.secrets}, placeholder=PLACEHOLDER)
    values = late_values(plan, extras)
    names = extra_hosts(plan, extras) if plan.topology.size >= 3 else {}
    admin = database_url.admin_connection(extras.database_url) if extras.database_url else None
    out = []
    for tier in _start_order(plan):
        shared = {v: extras.shared_filesystem for v in machine_places.shared_volumes(plan, tier)}
        for index, (name, host) in enumerate(hosts_of(plan, extras, tier)):
            files = replace(base, services=tier.services, shared_volumes=shared)
            if plan.topology.size >= 3:
                files = replace(files, placement=replace(
                    machine_places.machine_placement(plan, tier, index, {}), endpoints=files.endpoints))
            openbao = "" if S.OPENBAO not in tier.services else ("first" if index == 0 else "follower")
            out.append(_host(plan, name, tier, index, host, files, values, names, admin, openbao,
                             host_firewall.allows(plan, extras, tier)))
    return out


def local_host(plan: Plan) -> HostFiles:
    """The one Docker host of @local: every service in one compose project, by service name."""
    assert plan.topology.platform is Platform.LOCAL
    endpoints = replace(
        default_endpoints(plan), backend_target=f"{S.REACTOR_SERVER}:{REACTOR}", database_host=str(S.POSTGRES),
        pooler_host=str(plan.pooler.kind) if plan.pooler else None,
        openbao_address=f"http://{S.OPENBAO}:{VAULT_API}" if S.OPENBAO in plan.services else None,
        nats_servers=(f"nats://{S.NATS}:{NATS_CLIENT}",) if S.NATS in plan.services else ())
    site = plan.settings.domain or "localhost"
    services = tuple(s for t in plan.tiers for s in t.services)
    files = node_boot.NodeFiles(cloud=cloud(), endpoints=endpoints, site_address=site,
                                secret_names={s.name: s.name for s in plan.secrets}, placeholder=PLACEHOLDER,
                                services=services,
                                placement=compose.placement(plan, endpoints, site, services=services))
    openbao = "first" if S.OPENBAO in services else ""
    return _host(plan, "local", plan.app_tier, 0, None, files, {}, {}, None, openbao)


def _start_order(plan: Plan) -> list[TierPlan]:
    """Tiers whose services others need first: database, vault, nats, infra, pooler, app, edge."""
    rank = {S.POSTGRES: 0, S.OPENBAO: 1, S.NATS: 2, S.PGBOUNCER: 3, S.SUPAVISOR: 3, S.REACTOR_SERVER: 4,
            S.GATEWAY_SERVER: 5, S.CADDY: 6}
    tiers = machine_places.machine_tiers(plan)
    return sorted(tiers, key=lambda t: min(rank.get(s, 9) for s in t.services))


def _host(plan: Plan, name: str, tier: TierPlan, index: int, host: Host | None, files: node_boot.NodeFiles,
          values: Mapping[str, str], names: Mapping[str, tuple[str, ...]], admin: Mapping[str, str] | None,
          openbao: str, allowed: list[host_firewall.Allow] | None = None) -> HostFiles:
    specs, project = node_boot.project_files(
        plan, files, values, extra_hosts=names, prestart_env=admin,
        publish_address=host.address if host is not None and allowed is not None else None)
    out = {path: ("0644", text) for path, text in project.items()}
    out[node_boot.FETCH_SCRIPT] = ("0700", project[node_boot.FETCH_SCRIPT])
    requires = []
    if allowed is not None:  # the host's own firewall: only the Plan's links reach its ports
        out[host_firewall.RULES_FILE] = ("0644", host_firewall.rules_file(plan, name, tier, allowed))
        out[host_firewall.SCRIPT] = ("0700", host_firewall.script(plan))
        out[f"{UNITS_DIR}/{host_firewall.UNIT}"] = ("0644", host_firewall.unit(plan))
        requires.append(host_firewall.UNIT)
    units = templating.systemd_units(plan, compose_dir=node_boot.COMPOSE_DIR,
                                     pre_start=[f"/bin/sh {node_boot.FETCH_SCRIPT}"], requires=requires)
    out |= {f"{UNITS_DIR}/{unit}": ("0644", text) for unit, text in units.items()}
    if openbao:
        out[node_boot.BOOTSTRAP_SCRIPT] = ("0700", openbao_bootstrap.bootstrap_script(
            plan, bao=f"{node_boot.compose_command(plan)} exec -T -e BAO_TOKEN {S.OPENBAO} bao"))
    used = sorted({secret for spec in specs.values() for secret in spec.secrets()})
    health = tuple((s, spec.health.check.command) for s, spec in specs.items())
    owners = {f"{spec.service}-{m.role}": m.owner for spec in specs.values() for m in spec.mounts}
    host_files = HostFiles(name=name, tier=tier, index=index, host=host, files=out, secrets=tuple(used),
                           health=health, services=tuple(specs), openbao=openbao,
                           units=tuple(requires) + tuple(units))
    extra = {"install.sh": install_script(plan, host_files, files.shared_volumes, owners),
             "health.sh": health_script(plan, host_files)}
    return replace(host_files, files={**out, **{f"/{k}": ("0755", v) for k, v in extra.items()}})


# --- the scripts -------------------------------------------------------------------------------


def _who(plan: Plan, host: HostFiles) -> str:
    if host.host is None:
        return f"the Docker host of {plan.topology} (stack {plan.stack})"
    return (f"host {host.name}: {host.tier.name.value} node {host.index + 1} of {host.tier.replicas.max} of "
            f"{plan.topology} (stack {plan.stack})")


def install_script(plan: Plan, host: HostFiles, shared: Mapping[str, str | None],
                   owners: Mapping[str, str]) -> str:
    """The host's install step, run as root from the directory that holds `files/` (and, from a
    bundle, `secrets/`)."""
    placed = sorted(p for p in host.files if p.count("/") > 1)
    generated = {s.name for s in plan.secrets if s.generator not in (SecretGenerator.INIT, SecretGenerator.PLATFORM)}
    operators = [s for s in host.secrets if s not in generated]
    lines = [
        "#!/bin/sh",
        f"# install.sh for {_who(plan, host)}, rendered by reactor-infra.",
        "# Places this host's files (only those that differ), keeps its secrets as 0600 files, and",
        "# restarts reactor.service only when something changed: a second run changes nothing.",
        "# It stops at the first error. Usage: sudo sh install.sh [--stage]",
        "#   --stage       place the files only (no Docker, no systemd): to review them, or to build an image",
        "#   REACTOR_ROOT  install below another root directory (an image being built; the tests' rehearsal)",
        "set -eu",
        'here=$(cd "$(dirname "$0")" && pwd)',
        'root=${REACTOR_ROOT:-}',
        "stage=0",
        "# --for=…: what the run installs (a digest), so a change runs this again; nothing else reads it",
        'for arg in "$@"; do',
        '  case "$arg" in --stage) stage=1 ;; --for=*) ;; *) echo "usage: install.sh [--stage]" >&2; exit 2 ;; esac',
        "done",
        "changed=0",
        'fail() { echo "install.sh: $*" >&2; exit 1; }',
        "# put MODE PATH: the bundled files/PATH at PATH, when its content or mode differs",
        "put() {",
        '  src="$here/files$2"; dst="$root$2"',
        '  if [ -f "$dst" ] && cmp -s "$src" "$dst" && [ "$(stat -c %a "$dst")" = "${1#0}" ]; then return 0; fi',
        '  mkdir -p "$(dirname "$dst")"',
        '  cp "$src" "$dst.new"',
        '  chmod "$1" "$dst.new"',
        '  mv -f "$dst.new" "$dst"',
        '  echo "install.sh: updated $2"; changed=1',
        "}",
        "# keep NAME: the bundled secrets/NAME (when there is one) as a 0600 file of the store; a",
        "# placeholder never replaces a value written since (OpenBao's token after its init)",
        "keep() {",
        '  if [ -f "$here/secrets/$1" ] && ! cmp -s "$here/secrets/$1" "$store/$1" &&',
        f'     ! {{ [ -f "$store/$1" ] && [ "$(cat "$here/secrets/$1")" = {PLACEHOLDER} ]; }}; then',
        '    (umask 077 && cp "$here/secrets/$1" "$store/$1.new")',
        '    mv -f "$store/$1.new" "$store/$1"',
        '    echo "install.sh: updated secret $1"; changed=1',
        "  fi",
        f'  [ -f "$store/$1" ] || fail "secret $1 is missing from {SECRETS_STORE}"',
        '  chmod 0600 "$store/$1"',
        "}",
        "# everything this install places must be here before anything is placed",
        *[f'[ -f "$here/files{p}" ] || fail "files{p} is missing from this directory"' for p in placed],
    ]
    for secret in host.secrets:
        if secret in operators and not _init(plan, secret):  # the operator's value, not generated
            lines.append(f'[ ! -f "$here/secrets/{secret}" ] || [ "$(cat "$here/secrets/{secret}")" != {PLACEHOLDER} ] '
                         f'|| fail "secrets/{secret} holds no value yet: write the operator\'s into it (README: secrets)"')
    lines += [
        'if [ "$stage" = 0 ]; then',
        '  [ "$(id -u)" = 0 ] || fail "run it as root (sudo sh install.sh)"',
        '  command -v systemctl >/dev/null || fail "systemd is missing: the host runs reactor.service"',
        '  command -v docker >/dev/null || fail "Docker Engine is missing: install it and its compose plugin first (README: the hosts)"',
        '  docker compose version >/dev/null 2>&1 || fail "the docker compose plugin is missing (README: the hosts)"',
    ]
    if any(shared.values()):
        lines.append('  command -v mount.nfs >/dev/null || fail "mount.nfs is missing: install nfs-common (Debian, Ubuntu) or nfs-utils (RHEL)"')
    if host_firewall.UNIT in host.units:
        lines.append('  command -v iptables-restore >/dev/null || fail "iptables is missing: the host firewall loads its chain with it"')
    lines += [
        "fi",
        "# the secrets this host keeps: from the bundle's secrets/ when it has one (the run writes",
        "# them itself over SSH); never printed",
        f'store="$root{SECRETS_STORE}"',
        'mkdir -p "$store"',
        'chmod 0700 "$store"',
        *[f"keep {secret}" for secret in host.secrets],
        "# the run's secrets step marks a new value: the services reading it restart below",
        'if [ -f "$store/.changed" ]; then rm -f "$store/.changed"; changed=1; echo "install.sh: secrets changed"; fi',
    ]
    lines.append("# the node's files")
    lines += [f"put {host.files[p][0]} {p}" for p in placed]
    volumes = [v for v in sorted(shared) if shared[v]]
    if volumes:
        export = next(shared[v] for v in volumes)
        entry = f"{export} {node_boot.SHARED_ROOT} nfs4 hard,_netdev 0 0"
        lines += ["# what the tier's nodes share: directories of the operator's NFS export",
                  'if [ "$stage" = 0 ]; then',
                  f"  mkdir -p {node_boot.SHARED_ROOT}",
                  f"  grep -q ' {node_boot.SHARED_ROOT} ' /etc/fstab || echo '{entry}' >> /etc/fstab",
                  f"  mountpoint -q {node_boot.SHARED_ROOT} || mount {node_boot.SHARED_ROOT}",
                  *[line for v in volumes for line in (f"  mkdir -p {node_boot.shared_path(v)}",
                                                       f"  chown {owners.get(v, '0:0')} {node_boot.shared_path(v)}")],
                  "fi"]
    lines += [
        'if [ "$stage" = 1 ]; then echo "install.sh: staged $([ "$changed" = 1 ] && echo changes || echo nothing new)"; exit 0; fi',
        "# systemd: reload and restart only on a change; start when stopped",
        'if [ "$changed" = 1 ]; then systemctl daemon-reload; fi',
        "# unit NAME: enabled; restarted on a change (in start order), started when stopped",
        "unit() {",
        '  systemctl is-enabled -q "$1" 2>/dev/null || systemctl enable -q "$1"',
        '  if [ "$changed" = 1 ]; then systemctl restart "$1"; echo "install.sh: $1 restarted"',
        '  elif ! systemctl is-active -q "$1"; then systemctl start "$1"; echo "install.sh: $1 started"; fi',
        "}",
        *[f"unit {u}" for u in host.units],
        f'[ "$changed" = 1 ] || echo "install.sh: {host.name}: nothing changed"',
        "",
    ]
    return "\n".join(lines)


def _init(plan: Plan, secret: str) -> bool:
    return any(s.name == secret and s.generator is SecretGenerator.INIT for s in plan.secrets)


def health_script(plan: Plan, host: HostFiles) -> str:
    """Waits until each service on the host answers its health check inside its container."""
    compose_cmd = f"docker compose -p {plan.settings.project_name} -f {node_boot.COMPOSE_DIR}/compose.yaml"
    lines = [
        "#!/bin/sh",
        f"# health.sh for {_who(plan, host)}, rendered by reactor-infra.",
        f"# Waits (up to {HEALTH_TRIES * 5} s each) until every service here answers its health check.",
        "set -eu",
        f"compose={shlex.quote(compose_cmd)}",
        "wait_for() {",
        '  service=$1; shift; n=0',
        '  until $compose exec -T "$service" "$@" >/dev/null 2>&1; do',
        f'    n=$((n + 1)); [ "$n" -lt {HEALTH_TRIES} ] || {{ echo "health.sh: $service is not healthy; see: $compose logs $service" >&2; exit 1; }}',
        "    sleep 5",
        "  done",
        '  echo "health.sh: $service healthy"',
        "}",
    ]
    waits_for_token = "openbao-token" in host.secrets
    for service, command in host.health:
        call = f"wait_for {service} {shlex.join(command)}"
        if service is S.REACTOR_SERVER and waits_for_token:
            lines += [f'if [ "$(cat "${{REACTOR_ROOT:-}}{SECRETS_STORE}/openbao-token")" = {PLACEHOLDER} ]; then',
                      '  echo "health.sh: reactor-server waits for OpenBao\'s token (README: first boot); not waited for"',
                      f"else {call}; fi"]
        else:
            lines.append(call)
    return "\n".join(lines) + "\n"
