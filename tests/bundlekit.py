"""Shared by the test_bundle_* modules: the install bundle (`reactor-infra bundle`) of every
@onprem and @local token, built once per process (`every_bundle`, whoever asks first), with
each host's reactor-fetch-secrets run once; views of its hosts and files; checking each distinct
file once; the secret values a host's containers get; the PostgreSQL and iptables labs.

Secret values are read from the bundle and compared in memory; no helper here prints one."""

from __future__ import annotations

import hashlib
import os
import re
import secrets as random
import shutil
import string
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml
from test_postgres_real import Cluster, _owner, pg_workdir
from tools import missing, require

from reactor_infra import bundle, host_files, inventory, node_boot
from reactor_infra.layout import Plan, SecretGenerator
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

ONPREM = [t.token for t in valid_topologies(Platform.ONPREM)]
LOCAL = [t.token for t in valid_topologies(Platform.LOCAL)]
TOKENS = ONPREM + LOCAL
PLACEHOLDER = host_files.PLACEHOLDER
COMPOSE = f"{node_boot.COMPOSE_DIR}/compose.yaml"


# --- the bundles ----------------------------------------------------------------------------------


@cache
def plan_of(token: str) -> Plan:
    """The plan a bundle is built from: @onprem with the example inventory (`reactor-infra
    inventory TOKEN`), @local with no settings."""
    topology = parse(token)
    if topology.platform is Platform.ONPREM:
        return build_plan(topology, load_settings({"extras": {"onprem": inventory.example(build_plan(topology))}}))
    return build_plan(topology)


@cache
def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@dataclass(frozen=True)
class Host:
    """One host directory of a bundle: what is copied to the host."""

    token: str
    name: str
    dir: Path

    def __str__(self) -> str:
        return f"{self.token} {self.name}"

    def path(self, placed: str) -> Path:
        """The bundled file that install.sh places at `placed`."""
        return self.dir / "files" / placed.lstrip("/")

    def text(self, placed: str) -> str:
        return self.path(placed).read_text()

    def has(self, placed: str) -> bool:
        return self.path(placed).is_file()

    @property
    def compose(self) -> dict[str, Any]:
        return _yaml(self.path(COMPOSE))

    @property
    def project(self) -> Path:
        return self.path(node_boot.COMPOSE_DIR)

    def units(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted(self.path(host_files.UNITS_DIR).iterdir())}

    def secrets(self) -> dict[str, str]:
        return {p.name: p.read_text().rstrip("\n") for p in sorted((self.dir / "secrets").iterdir())}


@dataclass(frozen=True)
class Built:
    token: str
    out: Path
    result: bundle.Bundle

    @property
    def plan(self) -> Plan:
        return plan_of(self.token)

    @property
    def hosts(self) -> list[Host]:
        return [Host(self.token, h.name, self.out / "hosts" / h.name) for h in self.result.hosts]

    def secrets(self) -> dict[str, str]:
        return {p.name: p.read_text().rstrip("\n") for p in sorted((self.out / "secrets").iterdir())}

    def values(self) -> set[str]:
        """Every secret value of the bundle that is one (not a placeholder still to write)."""
        found = set(self.secrets().values()) | {v for h in self.hosts for v in h.secrets().values()}
        return found - {PLACEHOLDER}


@dataclass(frozen=True)
class File:
    """One file of a bundle that is not a secret."""

    built: Built
    relative: str  # path inside the bundle

    def __str__(self) -> str:
        return f"{self.built.token}:{self.relative}"

    @property
    def path(self) -> Path:
        return self.built.out / self.relative

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def host(self) -> Host | None:
        parts = Path(self.relative).parts
        return Host(self.built.token, parts[1], self.built.out / "hosts" / parts[1]) if parts[0] == "hosts" else None

    def text(self) -> str:
        return self.path.read_text()


@lru_cache(maxsize=None)
def every_bundle(base: Path) -> dict[str, Built]:
    """The bundle of every token, built once per process below `base` (pytest's basetemp), and
    every host's fetch step run once (most checks read its env). Read it, never change it: each
    test module of the process (one xdist worker) gets the same bundles."""
    root = Path(tempfile.mkdtemp(prefix="bundles-", dir=base))
    built = {t: Built(t, root / parse(t).slug, bundle.build(plan_of(t), root / parse(t).slug)) for t in TOKENS}
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(fetch_run, [h.dir for b in built.values() for h in b.hosts]))
    return built


def every_file(bundles: dict[str, Built]) -> list[File]:
    return [File(b, p.relative_to(b.out).as_posix()) for b in bundles.values() for p in sorted(b.out.rglob("*"))
            if p.is_file() and "secrets" not in p.relative_to(b.out).parts]


def named(bundles: dict[str, Built], *names: str) -> list[File]:
    found = [f for f in every_file(bundles) if f.name in names]
    assert found, f"no {names} in any bundle"
    return found


def every_host(bundles: dict[str, Built]) -> list[Host]:
    return [h for b in bundles.values() for h in b.hosts]


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777


def operators_copy(host: Host, tmp: Path) -> Host:
    """A copy of the host dir where the operator wrote their own secrets (those the bundle
    leaves as the placeholder and the stack's operator provides), as the README says."""
    copy = Host(host.token, host.name, tmp / host.name)
    shutil.copytree(host.dir, copy.dir)
    kinds = {s.name: s.generator for s in plan_of(host.token).secrets}
    for name, value in copy.secrets().items():
        if value == PLACEHOLDER and kinds[name] is SecretGenerator.PLATFORM:
            (copy.dir / "secrets" / name).write_text(new_password() + "\n")
    return copy


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def new_password() -> str:
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(32))


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`reactor-infra ARGS` as a process."""
    return subprocess.run([sys.executable, "-m", "reactor_infra", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ, "NO_COLOR": "1"})


# --- checking once per distinct file ---------------------------------------------------------------


def uncommented(text: str) -> str:
    """The text without its comment lines: what a config reader acts on."""
    return re.sub(r"(?m)^[ \t]*#.*\n", "", text)


def addressless(text: str) -> str:
    """The text without its comment lines and with every IPv4 address the same: compose files of
    hosts that differ only in the inventory's addresses read alike."""
    return re.sub(r"\b\d{1,3}(\.\d{1,3}){3}\b", "0.0.0.0", uncommented(text))


def script_body(text: str) -> str:
    """A script without comment lines, but with its shebang and shellcheck directives."""
    return re.sub(r"(?m)^[ \t]*#(?!!|\s*shellcheck\b).*\n", "", text)


def check_each(items: Iterable[tuple[str, str, Any]], check: Callable[[Any], str], workers: int = 2) -> list[str]:
    """`check(payload)` (its problem, '' when none) once per distinct key, two at a time; the
    problems, each with every file that shows it. items: (label, key, payload)."""
    labels: dict[str, list[str]] = {}
    payloads: dict[str, Any] = {}
    for label, key, payload in items:
        labels.setdefault(key, []).append(label)
        payloads.setdefault(key, payload)
    assert labels, "nothing to check"
    keys = list(labels)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        answers = dict(zip(keys, pool.map(check, [payloads[k] for k in keys])))
    problems: dict[str, list[str]] = {}
    for key in keys:
        if answers[key]:
            problems.setdefault(answers[key], []).extend(labels[key])
    return [f"{shown(found)}:\n{problem}" for problem, found in problems.items()]


def shown(labels: list[str], most: int = 6) -> str:
    return ", ".join(labels[:most]) + (f" and {len(labels) - most} more" if len(labels) > most else "")


# --- what a host's reactor-fetch-secrets writes ----------------------------------------------------


def fetch_secrets(host_dir: Path, run_dir: Path) -> subprocess.CompletedProcess[str]:
    """The host's own reactor-fetch-secrets, reading the host's bundled secrets/ (what install.sh
    keeps in SECRETS_STORE) and writing into `run_dir` (reactor.service's /run/reactor). Its retry
    pause is cut to nothing: a missing secret fails at once instead of after a minute."""
    text = (host_dir / "files" / node_boot.FETCH_SCRIPT.lstrip("/")).read_text()
    text = (text.replace(host_files.SECRETS_STORE, str(host_dir / "secrets"))
            .replace(node_boot.SECRETS_DIR, str(run_dir)).replace("sleep 5", "sleep 0"))
    script = run_dir.parent / "reactor-fetch-secrets"
    script.write_text(text)
    return subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})


def _parse_env(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


@dataclass(frozen=True)
class Fetch:
    """What one run of a host's fetch step did."""

    returncode: int
    printed: str  # stdout and stderr
    run_mode: int  # of the directory it writes into
    written: dict[str, tuple[int, dict[str, str]]]  # name -> (mode, variables) of what it left there


@cache
def fetch_run(host_dir: Path) -> Fetch:
    """The host's fetch step, run once per host for the whole process."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        done = fetch_secrets(host_dir, run_dir)
        written = {p.name: (mode_of(p), _parse_env(p.read_text()) if p.is_file() else {})
                   for p in sorted(run_dir.iterdir())} if run_dir.exists() else {}
        return Fetch(done.returncode, done.stdout + done.stderr, mode_of(run_dir) if run_dir.exists() else 0,
                     written)


def fetched(host_dir: Path) -> dict[str, dict[str, str]]:
    """env file name -> its variables, as the host's fetch step writes them."""
    run = fetch_run(host_dir)
    assert run.returncode == 0, f"{host_dir}: reactor-fetch-secrets failed:\n{run.printed[-800:]}"
    return {name: env for name, (_, env) in run.written.items()}


def service_env(host: Host, service: str) -> dict[str, str]:
    """What the service's container gets: its compose environment and its env files."""
    spec = host.compose["services"][service]
    env = {k: str(v) for k, v in (spec.get("environment") or {}).items()}
    files = fetched(host.dir)
    for path in spec.get("env_file") or []:
        env |= files[Path(path).name]
    return env


def redacted(text: str, values: Iterable[str]) -> str:
    """`text` with every secret value among `values` (the long ones) blanked: for problem reports."""
    for value in sorted(values, key=len, reverse=True):
        if len(value) >= 16:
            text = text.replace(value, "<redacted>")
    return text


def env_file_names(host: Host) -> set[str]:
    return {Path(p).name for s in host.compose["services"].values() for p in s.get("env_file") or []}


def secret_values_in(out: Path) -> set[str]:
    """Every value in a secrets/ directory below `out` that is one (not the placeholder)."""
    return {p.read_text().rstrip("\n") for p in out.rglob("*") if p.is_file() and p.parent.name == "secrets"} - {
        PLACEHOLDER}


# --- the PostgreSQL lab ---------------------------------------------------------------------------


@contextmanager
def pg_lab() -> Iterator[Path]:
    """test_postgres_real's work directory (a copy of PostgreSQL 16 the postgres OS user can
    run); every server started below it is stopped afterwards."""
    with pg_workdir("reactor-bundle-pg-") as root:
        try:
            yield root
        finally:
            for data in root.glob("*/data"):
                if (data / "postmaster.pid").exists():
                    subprocess.run([root / "server" / "bin" / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                                   capture_output=True, timeout=60, check=False,
                                   **({"user": _owner()[0], "group": _owner()[1]} if os.geteuid() == 0 else {}))


def pg_cluster(work: Path, name: str, token: str) -> Cluster:
    """A cluster's directories below the lab, owned by the postgres OS user."""
    root = work / name
    root.mkdir()
    os.chmod(root, 0o755)
    for sub in ("data", "sock", "log"):
        (root / sub).mkdir()
        shutil.chown(root / sub, *_owner())
    return Cluster(root, token, passwords={})


def database_urls(hosts: Iterable[Host]) -> list[tuple[str, str, str, str]]:
    """(where, user, password, database) of every postgres:// URL the hosts' containers get."""
    out = []
    for host in hosts:
        for file, env in fetched(host.dir).items():
            for var, value in env.items():
                if re.match(r"postgres(ql)?://", value):
                    url = urlsplit(value)
                    out.append((f"{host} {file} {var}", unquote(url.username or ""), unquote(url.password or ""),
                                url.path.lstrip("/")))
    return out


def failed_logins(c: Cluster, urls: list[tuple[str, str, str, str]]) -> list[str]:
    """The URLs whose user cannot log in with its password (names only, never a value)."""
    failed = []
    for where, user, password, db in urls:
        out = c.psql(user, password, "SELECT current_user || '@' || current_database();", db=db)
        if out.output.strip() != f"{user}@{db}":
            failed.append(f"{where}: {user}@{db} cannot log in: "
                          f"{out.output.replace(password, '<redacted>').strip()[-300:]}")
    return failed


# --- the iptables lab -----------------------------------------------------------------------------


@cache
def iptables_restore() -> str:
    """iptables-restore, once it shows it can test a ruleset here (CAP_NET_ADMIN)."""
    path = require("iptables-restore")
    probe = subprocess.run([path, "--test"], input="*filter\nCOMMIT\n", capture_output=True, text=True,
                           timeout=30, check=False)
    if probe.returncode != 0:
        missing(f"iptables-restore --test cannot run here ({probe.stderr.strip()[:200]}): it needs CAP_NET_ADMIN")
    return path
