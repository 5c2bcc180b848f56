"""The records of the service catalogue: how one service runs, whatever runs it.

A `ServiceSpec` says everything a platform needs to run a service as a container or a unit:
the image and the user it runs as, command, working directory, the ports it listens on, env as
plain values plus secret references, mounts with the owner they must have, config files with
their content, health checks and what they answer in each state the service goes through, and
what it must start after. Compose files, local containers, ECS tasks, Cloud Run and Container
Apps revisions, Fly machines and on-prem units read these records; none rewrites them.
Pure data; no Pulumi.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from .layout import Service

_REF = re.compile(r"\$\{([a-z0-9-]+)\}")


def secret_refs(template: str) -> list[str]:
    """The plan secrets a `${name}` template names."""
    return _REF.findall(template)


def fill(template: str, values: Mapping[str, str]) -> str:
    """A template with each `${name}` replaced by `values[name]` (where the platform resolves it)."""
    return _REF.sub(lambda m: values[m.group(1)], template)


@dataclass(frozen=True, slots=True)
class Probe:
    """One check, run inside the container (exec form). `http` says the same check as an HTTP
    GET (port, path) for platforms whose probes speak HTTP (Cloud Run, Container Apps, Fly)."""

    command: tuple[str, ...]
    http: tuple[int, str] | None = None
    interval_s: int = 10
    timeout_s: int = 5
    retries: int = 5
    start_period_s: int = 30


class State(StrEnum):
    """States a service really goes through, for which the catalogue says what its probes answer."""

    BOOTING = "booting"  # started, not serving yet (reactor-server migrates before it binds)
    UNINITIALISED = "uninitialised"  # OpenBao before `operator init`
    SEALED = "sealed"  # OpenBao after a restart, before it is unsealed
    STANDBY = "standby"  # an OpenBao raft follower
    READY = "ready"


@dataclass(frozen=True, slots=True)
class Expect:
    state: State
    healthy: bool  # what `Health.check` answers
    ready: bool  # what `Health.ready` answers


@dataclass(frozen=True, slots=True)
class Health:
    """`check` is the container's own health check: it passes in every state the service goes
    through while nothing is wrong (a sealed OpenBao is not broken), so no platform restarts it in
    a loop. `ready` is stricter (the service can serve its clients); those that depend on it wait
    for `ready`. `expect` says, per state, what each answers; the boot rehearsal verifies it."""

    check: Probe
    ready: Probe | None = None
    expect: tuple[Expect, ...] = ()

    @property
    def readiness(self) -> Probe:
        return self.ready or self.check


@dataclass(frozen=True, slots=True)
class Mount:
    """A volume the service keeps data on: `role` names it (`<container>-<role>`), `path` is where
    it is mounted, `owner` the uid:gid the service runs as, which must own it."""

    role: str
    path: str
    owner: str
    mode: str = "0700"


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A config file the service reads (never a secret value): `path` inside the container.
    `source_url`: published elsewhere (a managed database's CA bundle), fetched over HTTPS
    where the service starts; `content` is then empty."""

    path: str
    content: str
    mode: str = "0644"
    source_url: str | None = None

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class Condition(StrEnum):
    STARTED = "started"
    HEALTHY = "healthy"  # its `Health.check` passes
    READY = "ready"  # its `Health.ready` passes


@dataclass(frozen=True, slots=True)
class SecretFile:
    """A file whose content is a plan secret (a TLS private key): written where the service
    starts from the platform's secret store, readable only by `owner`; never in a config."""

    path: str
    secret: str
    owner: str
    mode: str = "0400"

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Need:
    service: Service
    condition: Condition = Condition.HEALTHY


@dataclass(frozen=True, slots=True)
class Sidecar:
    """A helper process that runs in its service's network namespace, from the service's image:
    it sees the service's loopback. `publish` is a port published on the host's loopback only
    (where only the node's operators reach it); it listens on `listens`."""

    name: str
    command: tuple[str, ...]  # the whole command line (the image's entrypoint is replaced)
    listens: int
    publish: int | None = None


@dataclass(frozen=True, slots=True)
class Prestart:
    """A one-shot step that must succeed before each start of its service, from its own image:
    idempotent by contract (it runs on every start, on every replica). Platforms without a
    one-host init (initdb.d) run it: an init container, a job."""

    name: str
    image: str
    command: tuple[str, ...]  # the whole command line
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: Mapping[str, str] = field(default_factory=dict)  # var -> template over plan secrets
    stdin: str | None = None  # a script it reads on standard input (no secret inside)


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    service: Service
    image: str
    user: str  # "uid:gid" the service's process runs as (the image's own user)
    health: Health
    command: tuple[str, ...] | None = None  # arguments after the image's entrypoint; None: its default
    working_dir: str | None = None
    listens: tuple[int, ...] = ()  # ports it listens on, on every interface of its container
    env: Mapping[str, str] = field(default_factory=dict)  # plain values
    secret_env: Mapping[str, str] = field(default_factory=dict)  # var -> template over plan secrets
    mounts: tuple[Mount, ...] = ()
    files: tuple[ConfigFile, ...] = ()
    secret_files: tuple[SecretFile, ...] = ()
    needs: tuple[Need, ...] = ()
    stop_grace_s: int = 10
    # needs the node's cloud identity at start (an auto-unseal KMS); nothing else may reach it
    cloud_identity: bool = False
    sidecars: tuple[Sidecar, ...] = ()
    prestart: tuple[Prestart, ...] = ()

    @property
    def stateful(self) -> bool:
        return bool(self.mounts)

    def secrets(self) -> list[str]:
        """The plan secrets this service's environment is built from."""
        templates = [*self.secret_env.values(), *(t for p in self.prestart for t in p.secret_env.values())]
        return sorted({name for t in templates for name in secret_refs(t)} | {f.secret for f in self.secret_files})
