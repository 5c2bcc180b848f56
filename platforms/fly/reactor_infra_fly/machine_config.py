"""One Fly machine's config from a `ServiceSpec`: what the Machines API takes as `config`. Pure
(no resource is made here), so tests check every render's configs against Fly's API types.

- image, guest (`sizing.guest`), metadata (`fly_process_group`: the service, or one node of a
  clustered service, which gives each its own 6PN name), restart `always` (a one-shot step:
  `on-failure`);
- the process: the spec's command; secret variables only by name (`secrets`: each variable
  from an app secret; `ignore_app_secrets`, so a machine sees only its own service's secrets);
- config files (never secret) as `files` with base64 content; a secret file (a private key)
  from an app secret holding its base64 content;
- the spec's first mount as the machine's one volume (Fly mounts at most one). A fresh volume is
  an ext4 root owned by root, with `lost+found` in it: Postgres keeps its cluster in a
  subdirectory (PGDATA; initdb refuses a non-empty directory); the OpenBao, Postgres, NATS and
  Caddy images start as root and own their data directory before dropping privileges; our
  reactor-server image runs as 10001 from its first instruction, so its machine starts as root,
  owns the volume to the spec's user and drops to it with `setpriv` (util-linux, in the image);
- checks: the spec's health check as Fly's HTTP check where it has an HTTP form, else TCP on
  the first port it listens on; they pass in every state the service goes through (a sealed
  OpenBao is alive), as the catalogue's probes do;
- `services` (Fly's proxy): given by the caller: the ingress's 80/443 passed through as TCP,
  the vault router's :8200 on the app's private Flycast address, checked by /v1/sys/health.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from reactor_infra.layout import Service, Sizing
from reactor_infra.service_spec import Mount, Prestart, Probe, SecretFile, ServiceSpec

from .sizing import guest

S = Service
GROUP_KEY = "fly_process_group"
# what our images run when no command is given (images/*/Dockerfile: ENTRYPOINT tini, CMD)
IMAGE_CMD = {S.REACTOR_SERVER: ("reactor-server",), S.GATEWAY_SERVER: ("reactor-gateway-server",)}
TINI = "/usr/bin/tini"
# images whose entrypoint starts as root and owns its data directory before dropping privileges
OWNS_ITS_VOLUME = frozenset({S.POSTGRES, S.OPENBAO, S.NATS, S.CADDY})
PGDATA_DIR = "pgdata"  # Postgres's cluster below the volume's root (lost+found lives there)
STEPS_DIR = "/etc/reactor-steps"


def secret_name(name: str) -> str:
    """A Fly secret name (an environment variable name) for a Plan secret or a derived value."""
    return name.upper().replace("-", "_").replace("/", "_").replace(".", "_")


def env_secret(owner: str, var: str, template: str, region: str = "") -> str:
    """The app secret a variable reads: the Plan secret's own when the template is just
    `${name}`, else one holding the filled template, named after its owner (a process group or a
    step) and variable (and the region, outside the primary: a regional copy names its region's
    neighbours)."""
    if template.startswith("${") and template.endswith("}") and template.count("${") == 1:
        return secret_name(template[2:-1])
    return secret_name("_".join(p for p in (owner, var, region) if p))


def file_secret(f: SecretFile) -> str:
    return secret_name(f"file_{f.secret}")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _mode(mode: str) -> int:
    return int(mode, 8)


def _duration(seconds: int) -> str:
    return f"{seconds}s"


def check(spec: ServiceSpec, probe: Probe | None = None) -> dict[str, Any]:
    """Fly's check for a probe: HTTP where the probe has an HTTP form, else TCP on the first port."""
    probe = probe or spec.health.check
    out: dict[str, Any] = {"grace_period": _duration(probe.start_period_s), "interval": _duration(probe.interval_s),
                           "timeout": _duration(probe.timeout_s)}
    if probe.http is not None:
        port, path = probe.http
        return {"type": "http", "port": port, "method": "GET", "path": path, "protocol": "http", **out}
    return {"type": "tcp", "port": spec.listens[0], **out}


def _volume_mount(spec: ServiceSpec, volume: str | None) -> Mount | None:
    if volume is None or not spec.mounts:
        return None
    return next((m for m in spec.mounts if m.role == "data"), spec.mounts[0])


def _process(spec: ServiceSpec, mount: Mount | None, secret_names: Mapping[str, str]) -> dict[str, Any]:
    process: dict[str, Any] = {}
    command = list(spec.command) if spec.command else None
    if mount is not None and spec.service not in OWNS_ITS_VOLUME and spec.user != "0:0":
        uid, gid = spec.user.split(":")
        own = (f"chown {uid}:{gid} {mount.path} && chmod {mount.mode} {mount.path} && "
               f'exec setpriv --reuid={uid} --regid={gid} --clear-groups {TINI} -- "$@"')
        process["user"] = "root"
        process["entrypoint"] = ["/bin/sh", "-c", own, "sh"]
        command = command or list(IMAGE_CMD[spec.service])
    if command:
        process["cmd"] = command
    process["secrets"] = [{"env_var": var, "name": secret_names[var]} for var in sorted(spec.secret_env)]
    process["ignore_app_secrets"] = True
    return process


def machine_config(spec: ServiceSpec, sizing: Sizing | None, group: str, secret_names: Mapping[str, str], *,
                   volume: str | None = None, services: Sequence[Mapping[str, Any]] = (),
                   metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The `config` of one machine running `spec`. `secret_names`: each secret variable -> the
    app secret it reads (`env_secret`); `volume`: the Fly volume's id to mount."""
    mount = _volume_mount(spec, volume)
    env = dict(sorted(spec.env.items()))
    if mount is not None and spec.service is S.POSTGRES:
        env["PGDATA"] = f"{mount.path}/{PGDATA_DIR}"
    files = [{"guest_path": f.path, "raw_value": _b64(f.content), "mode": _mode(f.mode)}
             for f in spec.files if not f.source_url]
    files += [{"guest_path": f.path, "secret_name": file_secret(f), "mode": _mode(f.mode)} for f in spec.secret_files]
    config: dict[str, Any] = {
        "image": spec.image,
        "guest": guest(sizing),
        "env": env,
        "metadata": {GROUP_KEY: group, **(metadata or {})},
        "processes": [_process(spec, mount, secret_names)],
        "restart": {"policy": "always"},
        "stop_config": {"timeout": _duration(spec.stop_grace_s), "signal": "SIGTERM"},
    }
    if files:
        config["files"] = files
    if mount is not None:
        config["mounts"] = [{"volume": volume, "path": mount.path}]
    if spec.listens:
        config["checks"] = {"alive": check(spec)}
    if services:
        config["services"] = [dict(s) for s in services]
    return config


def step_config(step: Prestart, group: str, secret_names: Mapping[str, str],
                metadata: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A one-shot step (the managed database's roles) as a machine of its own: its script as a
    file, run to completion at every create and update; restarted only when it fails."""
    script = f"{STEPS_DIR}/{step.name}.sql"
    command = list(step.command)
    if step.stdin is not None:  # `-f -` reads standard input: the script is a file here
        command = [script if c == "-" and i and command[i - 1] == "-f" else c for i, c in enumerate(command)]
    config: dict[str, Any] = {
        "image": step.image,
        "guest": guest(None),
        "env": dict(sorted(step.env.items())),
        "metadata": {GROUP_KEY: group, **(metadata or {})},
        "processes": [{"entrypoint": command[:1], "cmd": command[1:],
                       "secrets": [{"env_var": var, "name": secret_names[var]} for var in sorted(step.secret_env)],
                       "ignore_app_secrets": True}],
        "restart": {"policy": "on-failure", "max_retries": 10},
    }
    if step.stdin is not None:
        config["files"] = [{"guest_path": script, "raw_value": _b64(step.stdin), "mode": 0o644}]
    return config
