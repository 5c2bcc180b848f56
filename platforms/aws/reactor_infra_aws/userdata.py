"""The node's user data: a `#cloud-config` built from the shared renderers (`templating`,
`reactor_toml`) with this platform's paths, plus two small boot scripts.

- `reactor-prepare-node` (first boot, cloud-init runcmd): formats the data volume once and
  mounts it at /var/lib/docker/volumes (so Postgres, OpenBao and the runtime's state live on
  it), installs Docker and the compose plugin, makes the rendered config files readable by
  the containers' users.
- `reactor-fetch-secrets` (every start, `ExecStartPre` of reactor.service): reads this
  install's SecureString parameters with the instance role and writes the env files compose
  reads into /run/reactor (tmpfs, 0700 directory, 0600 files). No secret value is ever in the
  user data, which anyone with ec2:DescribeInstanceAttribute can read.

Pure functions of the Plan and a few names: deterministic, no Pulumi.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from reactor_infra import catalogue, compose, late, openbao_bootstrap, templating
from reactor_infra.layout import Plan, Service
from reactor_infra.reactor_toml import Endpoints
from reactor_infra.catalogue import Placement
from reactor_infra.service_spec import ServiceSpec

from .naming import parameter_name

COMPOSE_DIR = "/opt/reactor"
SECRETS_DIR = "/run/reactor"  # reactor.service's RuntimeDirectory: tmpfs, root only
DATA_MOUNT = "/var/lib/docker/volumes"  # compose's named volumes live on the data volume
DATA_LABEL = "reactor-data"
PREPARE_SCRIPT = "/usr/local/sbin/reactor-prepare-node"
FETCH_SCRIPT = "/usr/local/sbin/reactor-fetch-secrets"
GUARD_SCRIPT = "/usr/local/sbin/reactor-metadata-guard"
BOOTSTRAP_SCRIPT = "/usr/local/sbin/reactor-openbao-bootstrap"
# Docker Compose v2 plugin (AL2023 packages Docker but not the plugin); verified by its checksum.
COMPOSE_VERSION = "2.29.7"
PACKAGES = ["docker", "iptables-nft"]

_REF = re.compile(r"\$\{([a-z0-9-]+)\}")  # service_spec templates: ${secret-name}


@dataclass(frozen=True)
class NodeFiles:
    """What the user data needs to know besides the Plan."""

    endpoints: Endpoints  # addresses in Reactor.toml (compose service names at size 2)
    site_address: str  # Caddy's site: the domain, or the Elastic IP (Caddy's internal CA)
    parameters: Mapping[str, str]  # plan secret name -> SSM parameter name
    placeholder: str  # the value of an `init` parameter the first boot has not set yet
    seal_alias: str | None  # OpenBao's awskms key alias; none when the seal is not awskms
    data_key_alias: str | None = None  # the customer-managed key the parameters use; none: aws/ssm
    # the machine's services; default: the size-2 node's (every service of the plan)
    services: tuple[Service, ...] = ()
    # where the machine's neighbours are (private names); default: all on this node
    placement: Placement | None = None
    # whether this machine initialises OpenBao (the first of its tier); default: bootstraps_openbao(plan)
    initialises_openbao: bool | None = None
    # volume (`<service>-<role>`) -> (EFS file system id, access point id): kept on the network
    # file system the tier's machines share (Caddy's certificates); default none
    shared_volumes: Mapping[str, tuple[str, str]] = field(default_factory=dict)


def _services(plan: Plan, files: NodeFiles) -> tuple[Service, ...]:
    return files.services or plan.app_tier.services


def _initialises(plan: Plan, files: NodeFiles) -> bool:
    return bootstraps_openbao(plan) if files.initialises_openbao is None else files.initialises_openbao


def node_specs(plan: Plan, files: NodeFiles) -> dict[Service, ServiceSpec]:
    """The node's services from the catalogue: compose service names reach each other."""
    placement = files.placement or compose.placement(plan, files.endpoints, files.site_address, seal_config(plan, files))
    return catalogue.specs(plan, placement, _services(plan, files))


def seal_config(plan: Plan, files: NodeFiles) -> dict[str, str]:
    """OpenBao's awskms seal stanza: the key's alias in the primary region."""
    return {"region": plan.primary_region, "kms_key_id": files.seal_alias} if files.seal_alias else {}


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
    """The boot step that turns SSM parameters into compose's env files (no values inside);
    `envs` is env file -> variable -> template over plan secrets (`compose.env_files`);
    `secret_files` is file -> (secret, owner, mode) (`compose.secret_files`: TLS keys)."""
    secret_files = secret_files or {}
    used = sorted({m for vals in envs.values() for v in vals.values() for m in _REF.findall(v)}
                  | {secret for secret, _, _ in secret_files.values()})
    unknown = [s for s in used if s not in files.parameters]
    if unknown:
        raise ValueError(f"aws: secrets {unknown} have no SSM parameter")
    optional = {s.name for s in plan.secrets if s.generator == "init"}
    var_of = {s: _var(s) for s in used}
    lines = [
        "#!/bin/sh",
        f"# reactor-fetch-secrets for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        "# Reads this install's SecureString parameters with the instance role and writes the env",
        f"# files compose reads into {SECRETS_DIR} (tmpfs), readable by root only.",
        "set -eu",
        "umask 077",
        f"export AWS_DEFAULT_REGION={shlex.quote(plan.primary_region)}",
        "get() {",
        "  tries=0",
        '  until aws ssm get-parameter --with-decryption --name "$1" --query Parameter.Value --output text; do',
        "    tries=$((tries + 1))",
        '    [ "$tries" -lt 12 ] || return 1',
        "    sleep 5",
        "  done",
        "}",
        f"placeholder={shlex.quote(files.placeholder)}",
    ]
    for secret in used:
        lines.append(f"{var_of[secret]}=$(get {shlex.quote(files.parameters[secret])})")
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


EFS_ROOT = "/mnt/reactor"  # where a machine mounts the shared volumes of its tier


def shared_path(volume: str) -> str:
    return f"{EFS_ROOT}/{volume}"


def _efs_mounts(shared: Mapping[str, tuple[str, str]]) -> list[str]:
    """Mount each shared volume's EFS access point (TLS in transit, the instance role's IAM) at boot."""
    if not shared:
        return []
    lines = ["# the volumes the tier's machines share: EFS through its access point, TLS and IAM",
             "rpm -q amazon-efs-utils >/dev/null || dnf install -y amazon-efs-utils"]
    for volume, (fs, point) in sorted(shared.items()):
        path = shared_path(volume)
        entry = f"{fs}:/ {path} efs _netdev,noresvport,tls,iam,accesspoint={point} 0 0"
        lines += [f"mkdir -p {path}", f"grep -q ' {path} ' /etc/fstab || echo '{entry}' >> /etc/fstab",
                  f"mountpoint -q {path} || mount {path}"]
    return lines


def prepare_node_script(plan: Plan, fetched: Mapping[str, str] | None = None,
                        shared: Mapping[str, tuple[str, str]] | None = None) -> str:
    """First boot: data volume, Docker, the compose plugin, the config files published elsewhere
    (`fetched`: name -> URL, e.g. the managed database's CA bundle), the shared volumes (`shared`:
    volume -> EFS file system and access point), readable config files."""
    url = f"https://github.com/docker/compose/releases/download/v{COMPOSE_VERSION}/docker-compose-linux-x86_64"
    return "\n".join([
        "#!/bin/sh",
        f"# reactor-prepare-node for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        "set -eu",
        "# wait for the way out (the Elastic IP is attached just after the instance starts)",
        "n=0; until curl -fsS --max-time 5 -o /dev/null https://github.com; do",
        '  n=$((n + 1)); [ "$n" -lt 60 ] || { echo "no internet access" >&2; exit 1; }; sleep 5; done',
        "# the data volume: the one disk that is not the root disk; formatted on first use only",
        'root=$(lsblk -no PKNAME "$(findmnt -no SOURCE /)")',
        'disk=""; n=0',
        'while [ -z "$disk" ]; do',
        '  disk=$(lsblk -dnpo NAME,TYPE | awk -v root="/dev/$root" \'$2 == "disk" && $1 != root {print $1; exit}\')',
        '  [ -n "$disk" ] && break',
        '  n=$((n + 1)); [ "$n" -lt 60 ] || { echo "data volume not attached" >&2; exit 1; }; sleep 5',
        "done",
        f'blkid "$disk" >/dev/null 2>&1 || mkfs.ext4 -q -L {DATA_LABEL} "$disk"',
        f"mkdir -p {DATA_MOUNT}",
        f"grep -q 'LABEL={DATA_LABEL}' /etc/fstab || "
        f"echo 'LABEL={DATA_LABEL} {DATA_MOUNT} ext4 defaults,nofail,x-systemd.before=docker.service 0 2' >> /etc/fstab",
        f"mountpoint -q {DATA_MOUNT} || mount {DATA_MOUNT}",
        "# Docker and the compose plugin",
        "command -v docker >/dev/null || dnf install -y docker",
        "if ! docker compose version >/dev/null 2>&1; then",
        "  mkdir -p /usr/local/lib/docker/cli-plugins",
        f"  curl -fsSL -o /tmp/docker-compose {url}",
        f'  echo "$(curl -fsSL {url}.sha256 | cut -d" " -f1)  /tmp/docker-compose" | sha256sum -c -',
        "  install -m 0755 /tmp/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose",
        "fi",
        *_efs_mounts(shared or {}),
        "systemctl enable --now docker",
        *[f"curl -fsSL --retry 5 -o {COMPOSE_DIR}/{name} {shlex.quote(url)}" for name, url in sorted((fetched or {}).items())],
        "# the config files hold no secret; the containers' own users must read them",
        f"chmod 0644 {COMPOSE_DIR}/*",
        "",
    ])


def cloud_config(plan: Plan, files: NodeFiles, late_values: Mapping[str, str] | None = None) -> str:
    """The user data of the single node: its compose project (from the catalogue), the boot steps
    and the unit that runs them."""
    specs = node_specs(plan, files)
    if late_values is not None:  # certificates, addresses: bound before the YAML is written
        specs = {s: late.bind_spec(spec, late_values) for s, spec in specs.items()}
    node_files = {f"{COMPOSE_DIR}/{name}": text for name, text in compose.config_files(specs).items()}
    node_files[f"{COMPOSE_DIR}/compose.yaml"] = compose.compose_yaml(
        plan, specs, secrets_dir=SECRETS_DIR, host_paths={v: shared_path(v) for v in files.shared_volumes})
    node_files[PREPARE_SCRIPT] = prepare_node_script(plan, compose.fetched_files(specs), files.shared_volumes)
    node_files[FETCH_SCRIPT] = fetch_secrets_script(plan, files, compose.env_files(specs), compose.secret_files(specs))
    units: dict[str, str] = {}
    identity = compose.identity_addresses(specs)
    if identity:  # the instance role reaches containers (hop limit 2): only these may use it
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
                                 pre_commands=[f"/bin/sh {PREPARE_SCRIPT}"], packages=PACKAGES)


def _compose(plan: Plan) -> str:
    return f"{templating.DEFAULT_COMPOSE_COMMAND} -p {plan.settings.project_name} -f {COMPOSE_DIR}/compose.yaml"


def bootstrap_script(plan: Plan, files: NodeFiles) -> str:
    """OpenBao's first boot on the node (openbao_bootstrap): `bao` inside the compose service,
    the recovery keys and reactor-server's token stored as SecureString parameters."""
    region = shlex.quote(plan.primary_region)
    key = f" --key-id {shlex.quote(files.data_key_alias)}" if files.data_key_alias else ""
    name = f'"{parameter_name(plan, "")}$1"'
    store = (f"aws ssm put-parameter --region {region} --overwrite --type SecureString{key} "
             f'--name {name} --value "file://$2" >/dev/null')
    fetch = (f"value=$(aws ssm get-parameter --region {region} --with-decryption --name {name} "
             f"--query Parameter.Value --output text) && [ \"$value\" != {shlex.quote(files.placeholder)} ]")
    return openbao_bootstrap.bootstrap_script(
        plan, bao=f"{_compose(plan)} exec -T -e BAO_TOKEN {Service.OPENBAO} bao", store=store, fetch=fetch)


def bootstraps_openbao(plan: Plan, services: tuple[Service, ...] = ()) -> bool:
    """Whether a machine running `services` (default: the size-2 node's) initialises OpenBao
    itself (an automatic seal): it then writes the `init` secrets into SSM. Of a clustered
    tier only the first machine does; the others join it."""
    return (plan.vault_seal is not None and plan.vault_seal.automatic
            and Service.OPENBAO in (services or plan.app_tier.services))


def needs_cloud_identity(plan: Plan, services: tuple[Service, ...] = ()) -> bool:
    """Whether a container of the machine must reach the instance role (OpenBao's KMS seal)."""
    return any(catalogue.cloud_identity(plan, s) for s in (services or plan.app_tier.services))
