"""What one Fargate task of a `ContainerService` holds, from a `ServiceSpec`: its size, its
containers and its volumes. Pure (no resource is made here); the spec is read the way the
single-node compose file reads it (`reactor_infra.compose`).

- The main container, named after its service: image, user, command, working directory, plain
  env (sorted), secrets only as `valueFrom` references, ports, the spec's health check (ECS caps
  the start period at 300 s, Fargate the stop timeout at 120 s), logs to its log group.
- Config files (never secrets) come through a non-essential init container `files`: the same
  image as root, it decodes each file from a base64 env var into a task-ephemeral volume mounted
  at the file's directory; the main container starts once it succeeded and mounts that volume
  read-only. A volume over a directory hides what the image has there: reactor-server's working
  directory holds only Reactor.toml and `.reactor/` (given back as a volume of its own,
  `HIDDEN_STATE`), Caddy's /etc/caddy only its Caddyfile. The init container also creates the
  mount points that lie inside a read-only files volume, and owns each task-ephemeral mount to
  the spec's owner and mode (a Fargate bind mount starts root-owned, 0755).
- Mounts that must persist are EFS access points, TLS in transit and IAM-authorized; the others
  are task-ephemeral.
- Secret files (a TLS private key) are written by the same init container from a parameter it
  receives by reference (`secrets`, keyed `files/<name>` in `secret_env`), into a task-ephemeral
  volume per directory, owned by the service's user, mode 0400; the service mounts it read-only.
- Prestart steps (the managed database's roles) are non-essential init containers from their
  own image, each reading its script from a base64 env var on standard input; the main container
  starts once they succeeded. Their secret variables are keyed `<step>/<VAR>` in `secret_env`.
- Sidecars are not run: the admin forwarder lets operators reach reactor-server's loopback from
  a host; ECS Exec opens a shell inside the container, whose loopback is the server's own.
"""

from __future__ import annotations

import base64
import math
import shlex
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from reactor_infra.catalogue import REACTOR_WORKDIR
from reactor_infra.layout import Service, Sizing
from reactor_infra.service_spec import Mount, Prestart, SecretFile, ServiceSpec

INIT = "files"  # the init container's name
ECS_MAX_START_PERIOD_S = 300
FARGATE_MAX_STOP_TIMEOUT_S = 120
# Fargate CPU units -> (lowest, highest, step) memory in MiB (the valid combinations from 1 vCPU).
FARGATE_MEMORY = {1024: (2048, 8192, 1024), 2048: (4096, 16384, 1024), 4096: (8192, 30720, 1024),
                  8192: (16384, 61440, 4096), 16384: (32768, 122880, 8192)}
# What a read-only files volume hides that the service writes: reactor-server's state directory
# (functions and sites workdirs) beside Reactor.toml. A spec mount at the path (fs storage, the
# embedded vault) takes its place; otherwise it is a task-ephemeral volume owned by the service.
HIDDEN_STATE = {Service.REACTOR_SERVER: f"{REACTOR_WORKDIR}/.reactor"}
# (file system id, access point id) of a mount that must persist
Persisted = Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]]


def fargate_size(sizing: Sizing | None) -> tuple[int, int]:
    """(cpu units, memory MiB): the smallest Fargate CPU with the vCPUs, memory rounded up to a
    valid value for it (1 vCPU -> 1024/2048, 2 -> 2048/4096, 4 -> 4096/8192)."""
    if sizing is None:
        raise ValueError("a container tier needs a sizing (vCPU and memory)")
    cpu = next((c for c in FARGATE_MEMORY if c >= sizing.vcpu * 1024), None)
    if cpu is None:
        raise ValueError(f"no Fargate CPU has {sizing.vcpu:g} vCPU")
    low, high, step = FARGATE_MEMORY[cpu]
    memory = max(low, math.ceil(sizing.memory_gb * 1024 / step) * step)
    if memory > high:
        raise ValueError(f"Fargate with {cpu} CPU units takes at most {high} MiB, not {sizing.memory_gb:g} GB")
    return cpu, memory


def mounts(spec: ServiceSpec) -> tuple[Mount, ...]:
    """The spec's mounts, and the state directory a files volume would hide."""
    hidden = HIDDEN_STATE.get(spec.service)
    if hidden is None or any(m.path == hidden for m in spec.mounts):
        return spec.mounts
    return (*spec.mounts, Mount("state", hidden, spec.user))


def file_dirs(spec: ServiceSpec) -> list[str]:
    return sorted({f.path.rsplit("/", 1)[0] for f in spec.files})


def _log(log_group: pulumi.Input[str], region: str, prefix: str) -> dict[str, Any]:
    return {"logDriver": "awslogs", "options": {
        "awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": prefix}}


def _init_container(spec: ServiceSpec, persisted: Persisted, log: dict[str, Any],
                    secret_env: Mapping[str, pulumi.Input[str]]) -> dict[str, Any] | None:
    dirs = file_dirs(spec)
    ephemeral = [m for m in mounts(spec) if m.role not in persisted]
    if not spec.files and not ephemeral and not spec.secret_files:
        return None
    q = shlex.quote
    script, env = ["set -eu"], []
    for i, f in enumerate(spec.files):
        if f.source_url:  # published elsewhere (the database's CA bundle): fetched over HTTPS
            url = q(f.source_url)
            script.append(f"{{ curl -fsSL --retry 5 -o {q(f.path)} {url} || wget -q -O {q(f.path)} {url}; }} "
                          f"&& chmod {f.mode} {q(f.path)}")
            continue
        env.append({"name": f"FILE_{i}", "value": base64.b64encode(f.content.encode()).decode()})
        script.append(f'printf %s "$FILE_{i}" | base64 -d > {q(f.path)} && chmod {f.mode} {q(f.path)}')
    script += [f"mkdir -p {q(m.path)}" for m in mounts(spec) if any(m.path.startswith(d + "/") for d in dirs)]
    script += [f"chown {m.owner} {q(m.path)} && chmod {m.mode} {q(m.path)}" for m in ephemeral]
    # secret files (a TLS key): from the parameter by reference, readable by the service's user only
    secrets = []
    for i, f in enumerate(spec.secret_files):
        secrets.append({"name": f"SECRET_FILE_{i}", "valueFrom": secret_env[secret_file_var(f)]})
        script.append(f'printf \'%s\\n\' "$SECRET_FILE_{i}" > {q(f.path)} && chown {f.owner} {q(f.path)} '
                      f"&& chmod {f.mode} {q(f.path)}")
    points = [{"sourceVolume": f"files-{i}", "containerPath": d, "readOnly": False} for i, d in enumerate(dirs)]
    points += [{"sourceVolume": f"secrets-{i}", "containerPath": d, "readOnly": False}
               for i, d in enumerate(secret_dirs(spec))]
    points += [{"sourceVolume": f"mount-{m.role}", "containerPath": m.path, "readOnly": False} for m in ephemeral]
    return {"name": INIT, "image": spec.image, "essential": False, "user": "0",
            "entryPoint": ["sh", "-c"], "command": ["\n".join(script)], "environment": env, "secrets": secrets,
            "mountPoints": points, "logConfiguration": log}


def _main_container(spec: ServiceSpec, secret_env: Mapping[str, pulumi.Input[str]], after: list[str],
                    log: dict[str, Any]) -> dict[str, Any]:
    probe = spec.health.check
    points = [{"sourceVolume": f"files-{i}", "containerPath": d, "readOnly": True}
              for i, d in enumerate(file_dirs(spec))]
    points += [{"sourceVolume": f"secrets-{i}", "containerPath": d, "readOnly": True}
               for i, d in enumerate(secret_dirs(spec))]
    points += [{"sourceVolume": f"mount-{m.role}", "containerPath": m.path, "readOnly": False} for m in mounts(spec)]
    container: dict[str, Any] = {"name": str(spec.service), "image": spec.image, "essential": True, "user": spec.user}
    if spec.command:
        container["command"] = list(spec.command)
    if spec.working_dir:
        container["workingDirectory"] = spec.working_dir
    container |= {
        "environment": [{"name": k, "value": v} for k, v in sorted(spec.env.items())],
        # by reference only: ECS reads each parameter at start with the execution role
        "secrets": [{"name": var, "valueFrom": secret_env[var]} for var in sorted(secret_env)],
        "portMappings": [{"containerPort": p, "protocol": "tcp"} for p in spec.listens],
        "healthCheck": {"command": ["CMD", *probe.command], "interval": probe.interval_s,
                        "timeout": probe.timeout_s, "retries": probe.retries,
                        "startPeriod": min(probe.start_period_s, ECS_MAX_START_PERIOD_S)},
        "stopTimeout": min(spec.stop_grace_s, FARGATE_MAX_STOP_TIMEOUT_S),
        # no service here is known to run on a read-only root (caddy's and pgbouncer's
        # entrypoints, reactor-server's temporary files): the conservative answer until proved
        "readonlyRootFilesystem": False,
        # an init process reaps what ECS Exec sessions leave behind
        "linuxParameters": {"initProcessEnabled": True},
        "mountPoints": points,
        "logConfiguration": log,
    }
    if after:
        container["dependsOn"] = [{"containerName": name, "condition": "SUCCESS"} for name in after]
    return container


def secret_vars(spec: ServiceSpec) -> set[str]:
    """Every secret variable the task needs: the service's, `<step>/<VAR>` for its prestart steps,
    `files/<name>` for each secret file (the init container writes it)."""
    return (set(spec.secret_env) | {f"{p.name}/{v}" for p in spec.prestart for v in p.secret_env}
            | {secret_file_var(f) for f in spec.secret_files})


def secret_file_var(f: SecretFile) -> str:
    return f"files/{f.name}"


def secret_dirs(spec: ServiceSpec) -> list[str]:
    """The directories of the service's secret files: a task-ephemeral volume each."""
    return sorted({f.path.rsplit("/", 1)[0] for f in spec.secret_files})


def _prestart_container(step: Prestart, secret_env: Mapping[str, pulumi.Input[str]],
                        log: dict[str, Any], files: list[str]) -> dict[str, Any]:
    env = dict(step.env)
    command = shlex.join(step.command)
    if step.stdin is not None:
        env["STDIN_B64"] = base64.b64encode(step.stdin.encode()).decode()
        command = f'printf %s "$STDIN_B64" | base64 -d | {command}'
    return {"name": step.name, "image": step.image, "essential": False, "entryPoint": ["sh", "-c"],
            "command": [command], "environment": [{"name": k, "value": v} for k, v in sorted(env.items())],
            "secrets": [{"name": var, "valueFrom": secret_env[f"{step.name}/{var}"]} for var in sorted(step.secret_env)],
            # the service's files (a CA bundle the step verifies the database against), read-only
            "mountPoints": [{"sourceVolume": f"files-{i}", "containerPath": d, "readOnly": True}
                            for i, d in enumerate(files)],
            "logConfiguration": log}


def container_definitions(spec: ServiceSpec, secret_env: Mapping[str, pulumi.Input[str]], persisted: Persisted,
                          log_group: pulumi.Input[str], region: str) -> list[dict[str, Any]]:
    """The task's containers: `files` (when it has files or task-ephemeral mounts), the prestart
    steps, then the service."""
    init = _init_container(spec, persisted, _log(log_group, region, INIT), secret_env)
    steps = [_prestart_container(p, secret_env, _log(log_group, region, p.name), file_dirs(spec)) for p in spec.prestart]
    for step in steps if init else ():
        step["dependsOn"] = [{"containerName": INIT, "condition": "SUCCESS"}]
    main = _main_container(spec, {v: secret_env[v] for v in spec.secret_env}, [c["name"] for c in [init, *steps] if c],
                           _log(log_group, region, str(spec.service)))
    return [c for c in (init, *steps) if c] + [main]


def volumes(spec: ServiceSpec, persisted: Persisted) -> list[aws.ecs.TaskDefinitionVolumeArgs]:
    """A task-ephemeral volume per files directory and per mount; EFS for the persisted ones."""
    out = [aws.ecs.TaskDefinitionVolumeArgs(name=f"files-{i}") for i in range(len(file_dirs(spec)))]
    out += [aws.ecs.TaskDefinitionVolumeArgs(name=f"secrets-{i}") for i in range(len(secret_dirs(spec)))]
    for m in mounts(spec):
        fs = persisted.get(m.role)
        efs = None if fs is None else aws.ecs.TaskDefinitionVolumeEfsVolumeConfigurationArgs(
            file_system_id=fs[0], transit_encryption="ENABLED",
            authorization_config=aws.ecs.TaskDefinitionVolumeEfsVolumeConfigurationAuthorizationConfigArgs(
                access_point_id=fs[1], iam="ENABLED"))
        out.append(aws.ecs.TaskDefinitionVolumeArgs(name=f"mount-{m.role}", efs_volume_configuration=efs))
    return out
