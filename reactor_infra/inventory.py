"""The on-prem inventory: the machines an operator hands over (SSH), and which serve which tier.

It lives in the stack settings, `reactor-infra:extras: {onprem: {...}}`:

    hosts:
      app-1: {address: 10.0.1.11, user: deploy, key: ~/.ssh/reactor, host_key: "ssh-ed25519 AAAA..."}
    tiers:
      app: [app-1, app-2]          # in replica order: the first is replica 0
    database_url: postgres://...   # size >= 3: the operator's Postgres (required with +ha)
    shared_filesystem: nfs.example.internal:/export/reactor   # what several nodes share

Pure (pydantic, no Pulumi): `reactor-infra bundle` and the `onprem` platform read the same model,
and `problems(plan)` checks it against the Plan with one line per problem, naming the host or
tier. A host's key is required: nothing connects to a host whose key the inventory does not name
(no trust on first use), and a mismatch is refused by the SSH client (`known_hosts_line`).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from . import database_url
from .layout import DatabaseHosting, FILE_SYSTEM, Plan, TierPlan

HOST_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
DNS_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.I)
USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")
NFS = re.compile(r"^(?P<server>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(?P<path>/[A-Za-z0-9._/-]*)$")


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        if DNS_NAME.match(value):
            return value.lower()
        raise ValueError(f"{value!r} is neither an IP address nor a DNS name") from None


def parse_host_key(value: str) -> tuple[str, bytes]:
    """('ssh-ed25519', key blob) from an OpenSSH public key line; ValueError naming what is wrong."""
    parts = value.split()
    if len(parts) < 2:
        if value.startswith(("SHA256:", "MD5:")):
            raise ValueError("a fingerprint cannot be checked by the SSH client of the run: give the host's public "
                             "key itself (`ssh-keyscan -t ed25519 HOST`, compared with `ssh-keygen -lf "
                             "/etc/ssh/ssh_host_ed25519_key.pub` on the host's console)")
        raise ValueError("give the host's public key as one line 'ssh-ed25519 AAAA...'")
    kind, blob64 = parts[0], parts[1]
    if kind == "ssh-rsa":  # pulumi-command then offers only the SHA-1 signature OpenSSH >= 8.8 refuses
        raise ValueError("an ssh-rsa key cannot be verified by the run's SSH client (it signs with SHA-1, which "
                         "OpenSSH refuses): give the host's ed25519 or ecdsa key (`ssh-keyscan -t ed25519 HOST`)")
    if kind not in HOST_KEY_TYPES:
        raise ValueError(f"key type {kind!r} is not one of {', '.join(HOST_KEY_TYPES)}")
    try:
        blob = base64.b64decode(blob64, validate=True)
    except ValueError:
        raise ValueError("the key is not base64") from None
    n = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
    if blob[4:4 + n].decode(errors="replace") != kind:
        raise ValueError(f"the key's data does not hold a {kind} key")
    return kind, blob


def fingerprint(host_key: str) -> str:
    """SHA256:... as `ssh-keygen -lf` prints it."""
    _, blob = parse_host_key(host_key)
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class Host(BaseModel):
    """One machine: how the run reaches it over SSH, and how the other hosts reach it (address)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    address: str  # the private address the other hosts and the run reach it by
    user: str = "root"  # the SSH user; not root: commands run through `sudo -n`
    port: int = Field(22, ge=1, le=65535)
    key: str | None = None  # a private key file on the machine that runs reactor-infra
    agent: bool = False  # or the SSH agent (SSH_AUTH_SOCK)
    host_key: str | None = None  # the host's public key: required, never trusted on first use
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return _address(value)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        if not USER.match(value):
            raise ValueError(f"{value!r} is not a user name (lower case letters, digits, _ and -)")
        return value

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        kind, blob = parse_host_key(value.strip())
        return f"{kind} {base64.b64encode(blob).decode()}"  # without a comment: the comment is no identity

    @model_validator(mode="after")
    def _credentials(self) -> Host:
        if not self.host_key:
            raise ValueError("host_key is required: the host's public key ('ssh-ed25519 AAAA...'); "
                             "a host is never trusted on first use")
        if not self.key and not self.agent:
            raise ValueError("give key (a private key file) or agent: true (the SSH agent)")
        return self

    @property
    def sudo(self) -> str:
        """The prefix of a command that needs root on this host."""
        return "" if self.user == "root" else "sudo -n "

    def known_hosts_line(self) -> str:
        """This host's line for an SSH client's known_hosts file (`[addr]:port` off port 22)."""
        where = self.address if self.port == 22 else f"[{self.address}]:{self.port}"
        return f"{where} {self.host_key}"


class OnpremExtras(BaseModel):
    """`extras.onprem`: the inventory, and what the operator runs besides (database, NFS)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hosts: dict[str, Host] = Field(default_factory=dict)
    # tier -> its hosts, in replica order (the first initialises a clustered service)
    tiers: dict[str, list[str]] = Field(default_factory=dict)
    # size >= 3: the operator's Postgres (an admin role with CREATEROLE and CREATEDB); required with +ha
    database_url: str | None = None
    # `server:/export`: the NFS export several nodes of a tier share (Caddy's certificates, blobs)
    shared_filesystem: str | None = None

    @field_validator("hosts")
    @classmethod
    def _host_names(cls, value: dict[str, Host]) -> dict[str, Host]:
        bad = [n for n in value if not HOST_NAME.match(n)]
        if bad:
            raise ValueError(f"host name {bad[0]!r}: lower case letters, digits and '-', starting with a letter")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return None if value is None else database_url.checked(value, "reactor-infra-onprem:databaseAdminPassword")

    @field_validator("shared_filesystem")
    @classmethod
    def _nfs(cls, value: str | None) -> str | None:
        if value is not None and not NFS.match(value):
            raise ValueError(f"{value!r} is not an NFS export 'server:/path'")
        return value


def load(plan: Plan) -> OnpremExtras:
    """`extras.onprem` of the plan's stack, validated field by field (SettingsError, one line each)."""
    from .platforms import validated_extras

    return validated_extras("onprem", OnpremExtras, plan.settings.extras.get("onprem") or {})


def machine_tiers(plan: Plan) -> list[TierPlan]:
    """The tiers that run on hosts (the operator's database has none)."""
    return [t for t in plan.tiers if t.services]


def problems(plan: Plan, extras: OnpremExtras) -> list[str]:
    """What is wrong with the inventory for this plan: one line per problem, naming the host or tier."""
    out: list[str] = []
    tiers = {t.name.value: t for t in machine_tiers(plan)}
    if plan.topology.ha and plan.database.hosting is not DatabaseHosting.MANAGED:
        tiers.pop("database", None)  # +ha's data is the operator's pair: `deployment_problems` asks for its URL
    names = ", ".join(tiers)
    for tier, hosts in extras.tiers.items():
        if tier not in tiers:
            out.append(f"extras.onprem.tiers.{tier}: {plan.topology} has no {tier} tier on hosts; its tiers: {names}")
            continue
        for host in hosts:
            if host not in extras.hosts:
                known = ", ".join(extras.hosts) or "none"
                out.append(f"extras.onprem.tiers.{tier}: unknown host {host!r}; hosts: {known}")
        want = tiers[tier].replicas.max
        if len(hosts) != want:
            why = " (+ha)" if plan.topology.ha and want > 1 else ""
            out.append(f"extras.onprem.tiers.{tier}: {plan.topology} runs {want} {tier} node{'s' * (want > 1)}{why}; "
                       f"give exactly {want} host{'s' * (want > 1)} (given {len(hosts)})")
        if len(set(hosts)) != len(hosts):
            out.append(f"extras.onprem.tiers.{tier}: a host is listed twice")
    for tier in tiers:
        if tier not in extras.tiers:
            out.append(f"extras.onprem.tiers.{tier}: no host serves the {tier} tier "
                       f"({plan.topology} needs {tiers[tier].replicas.max})")
    served: dict[str, list[str]] = {}
    for tier, hosts in extras.tiers.items():
        for host in hosts:
            served.setdefault(host, []).append(tier)
    for host, its in served.items():
        if len(set(its)) > 1:
            out.append(f"extras.onprem.hosts.{host}: serves {' and '.join(sorted(set(its)))}; one host serves one tier "
                       "(each tier's ports and firewall rules are its own)")
    for host in extras.hosts:
        if host not in served:
            out.append(f"extras.onprem.hosts.{host}: serves no tier; name it under extras.onprem.tiers or remove it")
    seen: dict[tuple[str, int], str] = {}
    for name, host in extras.hosts.items():
        if (host.address, host.port) in seen:
            out.append(f"extras.onprem.hosts.{name}: address {host.address}:{host.port} is also host "
                       f"{seen[(host.address, host.port)]}'s")
        seen.setdefault((host.address, host.port), name)
    if any(link.target == FILE_SYSTEM for link in plan.links) and not extras.shared_filesystem:
        sharing = sorted({link.source.value if hasattr(link.source, "value") else str(link.source)
                          for link in plan.links if link.target == FILE_SYSTEM})
        out.append(f"extras.onprem.shared_filesystem: the {' and '.join(sharing)} nodes of {plan.topology} share "
                   "files (Caddy's certificates, blobs); give an NFS export 'server:/path'")
    if extras.database_url and plan.database.hosting is not DatabaseHosting.MANAGED:
        out.append(f"extras.onprem.database_url: {plan.topology} keeps Postgres on its own node (size 2); "
                   "remove the URL")
    return out


def hosts_of(plan: Plan, extras: OnpremExtras, tier: TierPlan) -> list[tuple[str, Host]]:
    """(name, host) of a tier's replicas, in order."""
    return [(n, extras.hosts[n]) for n in extras.tiers.get(tier.name.value, [])]


# --- an example to start from ------------------------------------------------------------------

EXAMPLE_DATABASE_URL = "postgres://reactor_admin@pg-writer.example.internal:5432/postgres?sslmode=verify-full"
EXAMPLE_NFS = "nfs.example.internal:/export/reactor"


def example_host_key(name: str) -> str:
    """A well-formed stand-in key for an example host (32 bytes from its name): replace it with
    the host's real key before a run; no SSH server will ever show it."""
    kind = b"ssh-ed25519"
    point = hashlib.sha256(f"reactor-infra example host {name}".encode()).digest()
    blob = len(kind).to_bytes(4, "big") + kind + len(point).to_bytes(4, "big") + point
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


def example(plan: Plan) -> dict[str, Any]:
    """`extras.onprem` for a plan, with documentation addresses (10.20.<tier>.<host>) and
    stand-in host keys: what `reactor-infra inventory TOKEN` prints, the shipped examples in
    stacks/, and the renders of the snapshot tests. Deterministic."""
    if plan.topology.ha and plan.database.hosting is not DatabaseHosting.MANAGED:
        from dataclasses import replace

        from .plan import build_plan  # +ha keeps its data in the operator's pair: the plan without a database host

        extras = {**plan.settings.extras, "onprem": {"database_url": EXAMPLE_DATABASE_URL}}
        plan = build_plan(plan.topology, replace(plan.settings, extras=extras), plan.stack)
    hosts: dict[str, dict[str, Any]] = {}
    tiers: dict[str, list[str]] = {}
    for number, tier in enumerate(machine_tiers(plan), start=1):
        names = [f"{tier.name.value}-{i + 1}" for i in range(tier.replicas.max)]
        tiers[tier.name.value] = names
        for i, name in enumerate(names):
            hosts[name] = {"address": f"10.20.{number}.{11 + i}", "user": "reactor", "key": "~/.ssh/reactor_onprem",
                           "host_key": example_host_key(name), "labels": {"rack": f"r{i % 2 + 1}"}}
    out: dict[str, Any] = {"hosts": hosts, "tiers": tiers}
    if plan.topology.ha:
        out["database_url"] = EXAMPLE_DATABASE_URL
    if any(link.target == FILE_SYSTEM for link in plan.links):
        out["shared_filesystem"] = EXAMPLE_NFS
    return out
