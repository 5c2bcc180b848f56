"""A cloud machine's boot, the same on every cloud: a `#cloud-config` that writes the machine's
compose project (from the catalogue) and three small scripts, and the unit that runs them.

- `reactor-prepare-node` (first boot, cloud-init runcmd): waits for the way out, formats the
  data disk once and mounts it at /var/lib/docker/volumes (so Postgres, OpenBao and the
  runtime's state live on it), installs Docker and the compose plugin, mounts the volumes the
  tier's machines share, makes the rendered config files readable by the containers' users.
- `reactor-fetch-secrets` (every start, `ExecStartPre` of reactor.service): reads this
  install's secrets with the machine's identity and writes the env files compose reads into
  /run/reactor (tmpfs, 0700 directory, 0600 files). No secret value is ever in the user data,
  which anyone who may describe the machine can read.
- `reactor-openbao-bootstrap` (the machine that initialises OpenBao): `openbao_bootstrap`'s
  script, its results stored back into the secret store.

What differs per cloud is a `NodeCloud`: how a script reads and writes one secret of the
store (SSM parameters, Secret Manager), how Docker is installed on the image the platform
boots, which disk is the data disk, how a shared volume is mounted. Pure functions of the Plan
and those hooks: deterministic, no Pulumi.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import catalogue, compose, late, openbao_bootstrap, templating
from .catalogue import Placement
from .layout import Plan, Service, SecretGenerator
from .reactor_toml import Endpoints
from .service_spec import ServiceSpec

COMPOSE_DIR = "/opt/reactor"
SECRETS_DIR = "/run/reactor"  # reactor.service's RuntimeDirectory: tmpfs, root only
DATA_MOUNT = "/var/lib/docker/volumes"  # compose's named volumes live on the data volume
DATA_LABEL = "reactor-data"
PREPARE_SCRIPT = "/usr/local/sbin/reactor-prepare-node"
FETCH_SCRIPT = "/usr/local/sbin/reactor-fetch-secrets"
GUARD_SCRIPT = "/usr/local/sbin/reactor-metadata-guard"
BOOTSTRAP_SCRIPT = "/usr/local/sbin/reactor-openbao-bootstrap"

_REF = re.compile(r"\$\{([a-z0-9-]+)\}")  # service_spec templates: ${secret-name}


@dataclass(frozen=True)
class NodeCloud:
    """What one cloud's machines do differently at boot (shell lines, no values)."""

    packages: tuple[str, ...]  # cloud-init installs them before runcmd
    # what the fetch script reads, in words ("SecureString parameters with the instance role")
    store_words: str
    # lines of reactor-fetch-secrets before the first read (e.g. the store's region)
    store_env: tuple[str, ...]
    # a command printing the value of the secret whose store name is "$1"
    read: str
    # reactor-openbao-bootstrap: `store` keeps the file "$2" as the secret named "$1" (its Plan
    # name), `fetch` sets `value` to that secret's value and fails while it is the placeholder
    bootstrap_store: Callable[[Plan], str]
    bootstrap_fetch: Callable[[Plan, str], str]
    # reactor-prepare-node: why and how to wait for the way out
    network_wait: tuple[str, ...]
    # lines that set $disk to the data disk's device
    find_data_disk: tuple[str, ...]
    # lines that install Docker and the compose plugin when they are missing
    install_docker: tuple[str, ...]
    # volume -> what the cloud needs to mount it: the lines that mount each at shared_path(volume)
    mount_shared: Callable[[Mapping[str, Any]], list[str]] = lambda shared: []


def wait_for_registry(why: str) -> tuple[str, ...]:
    """`network_wait` lines: wait until Docker Hub answers (the way out: `why`)."""
    return (f"# wait for the way out ({why}): images come from registries",
            "n=0; until curl -sS --max-time 5 -o /dev/null https://registry-1.docker.io/v2/; do",
            '  n=$((n + 1)); [ "$n" -lt 60 ] || { echo "no internet access" >&2; exit 1; }; sleep 5; done')


def wait_for_disk(path: str) -> tuple[str, ...]:
    """`find_data_disk` lines: the data disk is the block device at `path`, once attached."""
    return (f"disk={path}; n=0",
            'until [ -b "$disk" ]; do',
            '  n=$((n + 1)); [ "$n" -lt 60 ] || { echo "data disk not attached" >&2; exit 1; }; sleep 5',
            "done")


# `install_docker` on Ubuntu: its own docker.io and compose plugin packages
APT_DOCKER = ("command -v docker >/dev/null || { apt-get update -q && apt-get install -y -q docker.io docker-compose-v2; }",
              "docker compose version >/dev/null")


@dataclass(frozen=True)
class NodeFiles:
    """What a machine's user data needs to know besides the Plan."""

    cloud: NodeCloud
    endpoints: Endpoints  # addresses in Reactor.toml (compose service names at size 2)
    site_address: str  # Caddy's site: the domain, or the public address (Caddy's internal CA)
    secret_names: Mapping[str, str]  # plan secret name -> its name in the cloud's secret store
    placeholder: str  # the value of an `init` secret the first boot has not set yet
    seal: Mapping[str, str] = field(default_factory=dict)  # OpenBao's seal stanza (a KMS seal)
    # the machine's services; default: the size-2 node's (every service of the plan)
    services: tuple[Service, ...] = ()
    # where the machine's neighbours are (private names); default: all on this node
    placement: Placement | None = None
    # whether this machine initialises OpenBao (the first of its tier); default: bootstraps_openbao(plan)
    initialises_openbao: bool | None = None
    # volume (`<service>-<role>`) -> what the cloud mounts it from (`NodeCloud.mount_shared`):
    # kept on the network file system the tier's machines share (Caddy's certificates)
    shared_volumes: Mapping[str, Any] = field(default_factory=dict)


def _services(plan: Plan, files: NodeFiles) -> tuple[Service, ...]:
    return files.services or plan.app_tier.services


def _initialises(plan: Plan, files: NodeFiles) -> bool:
    return bootstraps_openbao(plan) if files.initialises_openbao is None else files.initialises_openbao


def node_specs(plan: Plan, files: NodeFiles) -> dict[Service, ServiceSpec]:
    """The machine's services from the catalogue: compose service names reach each other."""
    placement = files.placement or compose.placement(plan, files.endpoints, files.site_address, files.seal)
    return catalogue.specs(plan, placement, _services(plan, files))


def _sh_template(template: str, var_of: Mapping[str, str]) -> str:
    """`postgres://reactor:${database-password}@...` -> a double-quoted shell word."""
    out = []
    pos = 0
    for m in _REF.finditer(template):
        out.append(_dq(template[pos:m.start()]))
        out.append(f"${{{var_of[m.group(1)]}}}")
        pos = m.end()
    out.append(_dq(template[pos:]))
    return '"' + "".join(out) + '"'


def _dq(text: str) -> str:
    return re.sub(r'([\\"$`])', r"\\\1", text)


def _var(secret: str) -> str:
    return "s_" + secret.replace("-", "_")


def fetch_secrets_script(plan: Plan, files: NodeFiles, envs: Mapping[str, Mapping[str, str]],
                         secret_files: Mapping[str, tuple[str, str, str]] | None = None) -> str:
    """The boot step that turns the store's secrets into compose's env files (no values inside);
    `envs` is env file -> variable -> template over plan secrets (`compose.env_files`);
    `secret_files` is file -> (secret, owner, mode) (`compose.secret_files`: TLS keys)."""
    secret_files = secret_files or {}
    used = sorted({m for vals in envs.values() for v in vals.values() for m in _REF.findall(v)}
                  | {secret for secret, _, _ in secret_files.values()})
    unknown = [s for s in used if s not in files.secret_names]
    if unknown:
        raise ValueError(f"secrets {unknown} are not in the platform's secret store")
    optional = {s.name for s in plan.secrets if s.generator is SecretGenerator.INIT}
    waits = any(r in optional for vals in envs.values() for v in vals.values() for r in _REF.findall(v))
    var_of = {s: _var(s) for s in used}
    lines = [
        "#!/bin/sh",
        f"# reactor-fetch-secrets for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        f"# Reads this install's {files.cloud.store_words} and writes the env",
        f"# files compose reads into {SECRETS_DIR} (tmpfs), readable by root only.",
        "set -eu",
        "umask 077",
        *files.cloud.store_env,
        "get() {",
        "  tries=0",
        f"  until {files.cloud.read}; do",
        "    tries=$((tries + 1))",
        '    [ "$tries" -lt 12 ] || return 1',
        "    sleep 5",
        "  done",
        "}",
        # an `init` secret the first boot has not set yet is skipped (only where one is used)
        *([f"placeholder={shlex.quote(files.placeholder)}"] if waits else []),
    ]
    for secret in used:
        lines.append(f"{var_of[secret]}=$(get {shlex.quote(files.secret_names[secret])})")
    lines += [f"mkdir -p {SECRETS_DIR}", f"chmod 0700 {SECRETS_DIR}",
              f'tmp=$(mktemp -d {SECRETS_DIR}/.fetch.XXXXXX)']
    for name, variables in envs.items():
        lines.append(f": > \"$tmp/{name}\"")
        for var, template in variables.items():
            refs = _REF.findall(template)
            write = f"printf '%s=%s\\n' {var} {_sh_template(template, var_of)} >> \"$tmp/{name}\""
            opt = [r for r in refs if r in optional]
            if opt:
                cond = " && ".join(f'[ "${{{var_of[r]}}}" != "$placeholder" ]' for r in opt)
                lines.append(f"if {cond}; then {write}; "
                             f"else echo 'reactor-fetch-secrets: {var} not set yet (see README: OpenBao init)' >&2; fi")
            else:
                lines.append(write)
    for name in envs:
        lines.append(f'chmod 0600 "$tmp/{name}" && mv -f "$tmp/{name}" {SECRETS_DIR}/{name}')
    for name, (secret, owner, mode) in secret_files.items():
        # a file only its service's user reads (the container mounts it read-only)
        lines += [f'printf \'%s\\n\' "${{{var_of[secret]}}}" > "$tmp/{name}"',
                  f'chown {owner} "$tmp/{name}" && chmod {mode} "$tmp/{name}" && mv -f "$tmp/{name}" {SECRETS_DIR}/{name}']
    lines.append('rmdir "$tmp"')
    return "\n".join(lines) + "\n"


SHARED_ROOT = "/mnt/reactor"  # where a machine mounts the shared volumes of its tier


def shared_path(volume: str) -> str:
    return f"{SHARED_ROOT}/{volume}"


def prepare_node_script(plan: Plan, cloud: NodeCloud, fetched: Mapping[str, str] | None = None,
                        shared: Mapping[str, Any] | None = None, owners: Mapping[str, str] | None = None) -> str:
    """First boot: data volume, Docker, the compose plugin, the config files published elsewhere
    (`fetched`: name -> URL, e.g. the managed database's CA bundle), the shared volumes (`shared`:
    volume -> what the cloud mounts; `owners`: volume -> the uid:gid its container runs as, for
    a directory a non-root user writes), readable config files."""
    return "\n".join([
        "#!/bin/sh",
        f"# reactor-prepare-node for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        "set -eu",
        *cloud.network_wait,
        "# the data volume: the one disk that is not the root disk; formatted on first use only",
        *cloud.find_data_disk,
        f'blkid "$disk" >/dev/null 2>&1 || mkfs.ext4 -q -L {DATA_LABEL} "$disk"',
        f"mkdir -p {DATA_MOUNT}",
        f"grep -q 'LABEL={DATA_LABEL}' /etc/fstab || "
        f"echo 'LABEL={DATA_LABEL} {DATA_MOUNT} ext4 defaults,nofail,x-systemd.before=docker.service 0 2' >> /etc/fstab",
        f"mountpoint -q {DATA_MOUNT} || mount {DATA_MOUNT}",
        "# Docker and the compose plugin",
        *cloud.install_docker,
        *cloud.mount_shared(shared or {}),
        *[f"chown {owner} {shared_path(v)}" for v, owner in sorted((owners or {}).items())
          if v in (shared or {}) and owner != "0:0"],
        "systemctl enable --now docker",
        *[f"curl -fsSL --retry 5 -o {COMPOSE_DIR}/{name} {shlex.quote(url)}" for name, url in sorted((fetched or {}).items())],
        "# the config files hold no secret; the containers' own users must read them",
        f"chmod 0644 {COMPOSE_DIR}/*",
        "",
    ])


def cloud_config(plan: Plan, files: NodeFiles, late_values: Mapping[str, str] | None = None) -> str:
    """A machine's user data: its compose project (from the catalogue), the boot steps and the
    unit that runs them."""
    specs, node_files = project_files(plan, files, late_values)
    owners = {f"{spec.service}-{m.role}": m.owner for spec in specs.values() for m in spec.mounts}
    node_files[PREPARE_SCRIPT] = prepare_node_script(plan, files.cloud, compose.fetched_files(specs),
                                                     files.shared_volumes, owners)
    units: dict[str, str] = {}
    identity = compose.identity_addresses(specs)
    if identity:  # the machine's identity reaches containers: only these may use it
        node_files[GUARD_SCRIPT], units = templating.metadata_guard(
            plan, allowed=list(identity.values()), script_path=GUARD_SCRIPT)
    pre_start = [f"/bin/sh {FETCH_SCRIPT}"]
    if _initialises(plan, files):
        # first boot: OpenBao up, initialised, configured; its token stored, then read into env
        node_files[BOOTSTRAP_SCRIPT] = bootstrap_script(plan, files)
        pre_start += [f"{_compose(plan)} up -d --wait {Service.OPENBAO}", f"/bin/sh {BOOTSTRAP_SCRIPT}",
                      f"/bin/sh {FETCH_SCRIPT}"]
    units = {**templating.systemd_units(plan, compose_dir=COMPOSE_DIR, pre_start=pre_start,
                                        requires=list(units)), **units}
    return templating.cloud_init(plan, files=node_files, units=units,
                                 pre_commands=[f"/bin/sh {PREPARE_SCRIPT}"], packages=list(files.cloud.packages))


def project_files(plan: Plan, files: NodeFiles, late_values: Mapping[str, str] | None = None,
                  extra_hosts: Mapping[str, tuple[str, ...]] | None = None, publish_address: str | None = None,
                  prestart_env: Mapping[str, str] | None = None
                  ) -> tuple[dict[Service, ServiceSpec], dict[str, str]]:
    """A machine's services (late values bound) and the files of its compose project: the
    compose file and configs under COMPOSE_DIR, and the script that fetches its secrets.
    `extra_hosts`: private name -> addresses its containers resolve it to (no private DNS);
    `publish_address`: the host address its ports bind to (default: all); `prestart_env`: plain
    variables every prestart step also gets (how the roles step reaches the operator's database)."""
    specs = node_specs(plan, files)
    if prestart_env:
        specs = {s: replace(spec, prestart=tuple(replace(p, env={**p.env, **prestart_env}) for p in spec.prestart))
                 for s, spec in specs.items()}
    if late_values is not None:  # certificates, addresses: bound before the YAML is written
        specs = {s: late.bind_spec(spec, late_values) for s, spec in specs.items()}
    node_files = {f"{COMPOSE_DIR}/{name}": text for name, text in compose.config_files(specs).items()}
    node_files[f"{COMPOSE_DIR}/compose.yaml"] = compose.compose_yaml(
        plan, specs, secrets_dir=SECRETS_DIR, host_paths={v: shared_path(v) for v in files.shared_volumes},
        extra_hosts=extra_hosts, publish_address=publish_address)
    node_files[FETCH_SCRIPT] = fetch_secrets_script(plan, files, compose.env_files(specs), compose.secret_files(specs))
    return specs, node_files


def compose_command(plan: Plan) -> str:
    """docker compose over the machine's project (`… exec -T openbao bao`)."""
    return _compose(plan)


def _compose(plan: Plan) -> str:
    return f"{templating.DEFAULT_COMPOSE_COMMAND} -p {plan.settings.project_name} -f {COMPOSE_DIR}/compose.yaml"


def bootstrap_script(plan: Plan, files: NodeFiles) -> str:
    """OpenBao's first boot on the machine (openbao_bootstrap): `bao` inside the compose service,
    the recovery keys and reactor-server's token kept in the cloud's secret store."""
    return openbao_bootstrap.bootstrap_script(
        plan, bao=f"{_compose(plan)} exec -T -e BAO_TOKEN {Service.OPENBAO} bao",
        store=files.cloud.bootstrap_store(plan), fetch=files.cloud.bootstrap_fetch(plan, files.placeholder))


def bootstraps_openbao(plan: Plan, services: tuple[Service, ...] = ()) -> bool:
    """Whether a machine running `services` (default: the size-2 node's) initialises OpenBao
    itself (an automatic seal): it then writes the `init` secrets into the store. Of a
    clustered tier only the first machine does; the others join it."""
    return (plan.vault_seal is not None and plan.vault_seal.automatic
            and Service.OPENBAO in (services or plan.app_tier.services))


def needs_cloud_identity(plan: Plan, services: tuple[Service, ...] = ()) -> bool:
    """Whether a container of the machine must reach the machine's identity (a KMS seal)."""
    return any(catalogue.cloud_identity(plan, s) for s in (services or plan.app_tier.services))
