"""The onprem platform through the offline mock render: the operator's machines, named in the
stack's inventory (`extras.onprem`), each reached over SSH by pulumi-command: its directory
copied (`<host>-files`), its secrets written from a command's standard input (`<host>-secrets`),
`install.sh` run (`<host>-install`), then `health.sh` (`<host>-health`); host after host in start
order, a tier's replicas one at a time.

What must hold whatever the snapshot: the plugin claims sizes 2-6 and +ha; a bad inventory is
refused in one line per problem naming the host or tier, by `validate` and `render` alike (exit
2, no traceback); each host receives exactly its tier's files, with its own firewall from the
Plan's links, published ports bound to its inventory address, private names resolved to
inventory addresses; the connection verifies the inventory's host key; no secret reaches a
command line, a file or the render; the offline render reads no key file.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from matrix import every
from renders import default_settings, onprem_inventory, rendered, rendered_json
from tools import write

from reactor_infra import inventory
from reactor_infra.errors import SettingsError
from reactor_infra.host_files import PLACEHOLDER, SECRETS_STORE
from reactor_infra.layout import Service
from reactor_infra.plan import build_plan, deployment_problems
from reactor_infra.platforms import load
from reactor_infra.render import render as render_graph
from reactor_infra.settings import load_settings
from reactor_infra.token import Modifier, Platform, parse, valid_topologies

TOKENS = [str(t) for t in valid_topologies(Platform.ONPREM)]
COPY = "command:remote:CopyToRemote"
COMMAND = "command:remote:Command"
ROOT = Path(__file__).parent.parent


def _archive(token: str, host: str, settings=None) -> dict[str, str]:
    doc = json.loads(rendered_json(token, settings))
    copy = next(r for r in doc["resources"] if r["type"] == COPY and r["name"] == f"{host}-files")
    return copy["inputs"]["source"]["archive"]


def _resources(token: str, settings=None) -> list[dict]:
    return json.loads(rendered_json(token, settings))["resources"]


def _problems(token: str, onprem: dict) -> list[str]:
    return deployment_problems(build_plan(parse(token), load_settings({"extras": {"onprem": onprem}})))


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reactor_infra", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


# --- the plugin ---------------------------------------------------------------------------------


def test_onprem_plugin_claims_sizes_2_to_6_and_ha_only():
    platform = load("onprem")
    assert platform.sizes == frozenset({2, 3, 4, 5, 6}) and platform.modifiers == frozenset({Modifier.HA})
    assert len(TOKENS) == 18 and all(not platform.unsupported(parse(t)) for t in TOKENS)


def test_every_example_inventory_passes_its_own_checks():
    every(TOKENS, lambda t: _check_clean(t))


def _check_clean(token: str) -> None:
    assert _problems(token, onprem_inventory(token)) == [], token


# --- bad inventories: one line each, naming the host or tier --------------------------------------


def _broken(token: str, change) -> dict:
    inv = json.loads(json.dumps(onprem_inventory(token)))
    change(inv)
    return inv


BAD = [
    ("E5@onprem", lambda i: i["tiers"]["app"].__setitem__(1, "app-9"), "extras.onprem.tiers.app: unknown host 'app-9'"),
    ("E5@onprem", lambda i: i["tiers"].pop("infra"), "extras.onprem.tiers.infra: no host serves the infra tier"),
    ("E4+ha@onprem", lambda i: i["tiers"]["infra"].pop(), "extras.onprem.tiers.infra: E4+ha@onprem runs 3 infra nodes (+ha); give exactly 3 hosts (given 2)"),
    ("E5@onprem", lambda i: i["hosts"]["app-2"].__setitem__("address", i["hosts"]["app-1"]["address"]),
     "extras.onprem.hosts.app-2: address 10.20.1.11:22 is also host app-1's"),
    ("E5@onprem", lambda i: i["hosts"]["edge-1"].pop("host_key"),
     "extras.onprem.hosts.edge-1: host_key is required: the host's public key"),
    ("E5@onprem", lambda i: i["hosts"]["edge-1"].__setitem__("host_key", "SHA256:mBNT/gFlMmQCgkqVVsjyYKZFu0l0iTSae4APDWHSncs"),
     "extras.onprem.hosts.edge-1.host_key: a fingerprint cannot be checked"),
    ("E5@onprem", lambda i: i["hosts"]["edge-1"].__setitem__("host_key", "ssh-dss AAAAB3NzaC1kc3M="),
     "extras.onprem.hosts.edge-1.host_key: key type 'ssh-dss' is not one of"),
    ("E5@onprem", lambda i: i["tiers"]["edge"].__setitem__(0, "app-1"),
     "extras.onprem.hosts.app-1: serves app and edge; one host serves one tier"),
    ("E5@onprem", lambda i: i["hosts"].__setitem__("spare", dict(i["hosts"]["app-1"], address="10.20.9.9")),
     "extras.onprem.hosts.spare: serves no tier"),
    ("E5@onprem", lambda i: i["tiers"].__setitem__("nats", ["app-1"]), "extras.onprem.tiers.nats: E5@onprem has no nats tier on hosts"),
    ("E5@onprem", lambda i: i.pop("shared_filesystem"), "extras.onprem.shared_filesystem: the app and edge nodes of E5@onprem share files"),
    ("E5@onprem", lambda i: i.__setitem__("shared_filesystem", "nfs-server"), "extras.onprem.shared_filesystem: 'nfs-server' is not an NFS export"),
    ("E6+ha@onprem", lambda i: i.pop("database_url"), "extras.onprem.database_url: E6+ha@onprem keeps its data in a primary/standby Postgres pair"),
    ("E4+ha@onprem", lambda i: i.pop("database_url"), "extras.onprem.database_url: E4+ha@onprem keeps its data"),
    ("E6+ha@onprem", lambda i: i.__setitem__("database_url", "postgres://admin:hunter22@db.example.internal/postgres"),
     "extras.onprem.database_url: holds a password"),
    ("E2@onprem", lambda i: i["hosts"]["node-1"].pop("key"), "extras.onprem.hosts.node-1: give key (a private key file) or agent: true"),
    ("E2@onprem", lambda i: i["hosts"]["node-1"].__setitem__("user", "Root Admin"), "extras.onprem.hosts.node-1.user: 'Root Admin' is not a user name"),
    ("E2@onprem", lambda i: i.__setitem__("hostz", {}), "unknown key 'extras.onprem.hostz'; allowed: hosts, tiers, database_url, shared_filesystem"),
]


@pytest.mark.parametrize("token, change, says", BAD, ids=[b[2].split(":")[0] + "-" + str(i) for i, b in enumerate(BAD)])
def test_a_bad_inventory_is_refused_in_one_line_naming_the_host_or_tier(token, change, says):
    problems = _problems(token, _broken(token, change))
    assert any(says in p for p in problems), problems
    assert all("\n" not in p for p in problems)


def test_ha_without_the_operators_database_is_one_line_not_a_call_for_database_hosts():
    problems = _problems("E4+ha@onprem", _broken("E4+ha@onprem", lambda i: i.pop("database_url")))
    assert len(problems) == 1 and problems[0].startswith("extras.onprem.database_url:"), problems


def test_the_cli_refuses_a_bad_inventory_in_one_line_per_problem_and_exit_2(tmp_path):
    inv = _broken("E5@onprem", lambda i: (i["tiers"]["app"].__setitem__(1, "app-9"), i["hosts"]["edge-1"].pop("host_key")))
    doc = {"config": {"reactor-infra:token": "E5@onprem", "reactor-infra:extras": {"onprem": inv}}}
    path = write(tmp_path, "Pulumi.site.yaml", yaml.safe_dump(doc))
    for command in ("validate", "render"):
        result = cli(ROOT, command, "--stack", str(path))
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert "extras.onprem.hosts.edge-1: host_key is required" in lines[0] and "Traceback" not in result.stderr


def test_validate_names_every_missing_tier_of_an_empty_inventory(tmp_path):
    result = cli(ROOT, "validate", "E6@onprem")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    for tier in ("app", "edge", "nats", "vault", "pooler", "database"):
        assert f"extras.onprem.tiers.{tier}: no host serves the {tier} tier" in result.stderr


def test_the_inventory_command_prints_a_stack_file_that_validates(tmp_path):
    result = cli(ROOT, "inventory", "E6+ha@onprem")
    assert result.returncode == 0, result.stderr
    path = write(tmp_path, "Pulumi.site.yaml", result.stdout)
    checked = cli(ROOT, "validate", "--stack", str(path))
    assert checked.returncode == 0 and checked.stdout.strip() == "E6+ha@onprem", checked.stderr
    assert cli(ROOT, "inventory", "E5@aws").returncode == 2


# --- what each host gets --------------------------------------------------------------------------


def test_every_host_of_the_inventory_is_copied_installed_and_health_checked_in_that_order():
    def check(token: str) -> None:
        resources = _resources(token)
        hosts = onprem_inventory(token)["hosts"]
        by_name = {r["name"]: r for r in resources}
        for host in hosts:
            files, secrets = by_name[f"{host}-files"], by_name[f"{host}-secrets"]
            install, health = by_name[f"{host}-install"], by_name[f"{host}-health"]
            assert files["type"] == COPY and secrets["type"] == install["type"] == health["type"] == COMMAND
            assert {files["urn"], secrets["urn"]} <= set(install["dependencies"]), host
            assert install["urn"] in health["dependencies"], host
            assert "/reactor-install/install.sh --for=" in install["inputs"]["create"], host
            assert "triggers" not in install["inputs"]  # a replacement would run its delete: the service stopped
            assert health["inputs"]["create"].endswith("/reactor-install/health.sh"), host
            assert secrets["inputs"]["stdin"] == "[secret]" and "connection" in secrets["secret_inputs"]
        assert len([r for r in resources if r["type"] == COPY]) == len(hosts)
    every(TOKENS, check)


def test_hosts_roll_one_at_a_time_in_start_order():
    resources = _resources("E6+ha@onprem")
    health = {r["name"].removesuffix("-health"): r["urn"] for r in resources if r["name"].endswith("-health")}
    order = []
    for r in resources:
        if r["type"] == COPY:
            before = [h for h, urn in health.items() if urn in r["dependencies"]]
            order.append((r["name"].removesuffix("-files"), before))
    first = [h for h, before in order if not before]
    assert first == ["vault-1"]  # the database is the operator's here: OpenBao starts first
    chain = {before[0]: host for host, before in order if before}
    sequence = [first[0]]
    while sequence[-1] in chain:
        sequence.append(chain[sequence[-1]])
    assert len(sequence) == len(order)  # one chain through every host
    tiers = [h.rsplit("-", 1)[0] for h in sequence]
    assert tiers.index("vault") < tiers.index("app") and tiers.index("nats") < tiers.index("app")
    assert tiers.index("pooler") < tiers.index("app") < tiers.index("edge")
    assert tiers == sorted(tiers, key=tiers.index)  # a tier's hosts are consecutive


def test_each_host_receives_its_tiers_files_and_nothing_of_another_tier():
    archive = _archive("E6@onprem", "nats-1")
    assert "files/opt/reactor/nats.conf" in archive and "files/opt/reactor/Reactor.toml" not in archive
    compose = yaml.safe_load(archive["files/opt/reactor/compose.yaml"])
    assert set(compose["services"]) == {"nats"}
    app = yaml.safe_load(_archive("E6@onprem", "app-1")["files/opt/reactor/compose.yaml"])
    assert {"reactor-server", "reactor-server-admin"} <= set(app["services"]) and "nats" not in app["services"]


def test_published_ports_bind_the_hosts_inventory_address_and_only_links_reach_them():
    def check(token: str) -> None:
        inv = onprem_inventory(token)
        for host, spec in inv["hosts"].items():
            archive = _archive(token, host)
            compose = yaml.safe_load(archive["files/opt/reactor/compose.yaml"])
            firewall = archive["files/opt/reactor/firewall.rules"]
            for service in compose["services"].values():
                for port in service.get("ports", []):
                    address, published, _ = str(port).split(":")
                    assert address in (spec["address"], "127.0.0.1"), (host, port)
                    if address != "127.0.0.1" and published not in ("80", "443"):
                        assert f"--ctorigdstport {published} --ctdir ORIGINAL -m comment" in firewall, (host, port)
    every(TOKENS, check)


def test_the_firewall_lets_exactly_the_source_tiers_hosts_reach_a_port():
    inv = onprem_inventory("E5@onprem")
    firewall = _archive("E5@onprem", "app-1")["files/opt/reactor/firewall.rules"]
    edges = {inv["hosts"][h]["address"] for h in inv["tiers"]["edge"]}
    allowed = {line.split(" -s ")[1].split("/")[0] for line in firewall.splitlines() if "--ctorigdstport 8000" in line and "RETURN" in line}
    assert allowed == edges
    assert firewall.count("-j DROP") == 1  # 8000, for everyone else


def test_private_names_resolve_to_inventory_addresses_in_every_container():
    inv = onprem_inventory("E6+ha@onprem")
    compose = yaml.safe_load(_archive("E6+ha@onprem", "app-1")["files/opt/reactor/compose.yaml"])
    hosts = compose["services"]["reactor-server"]["extra_hosts"]
    for name in inv["tiers"]["nats"]:
        index = int(name.rsplit("-", 1)[1]) - 1
        assert f"nats-{index}.reactor.internal:{inv['hosts'][name]['address']}" in hosts
    toml = tomllib.loads(_archive("E6+ha@onprem", "app-1")["files/opt/reactor/Reactor.toml"])
    names = {h.split(":")[0] for h in hosts}
    for server in toml["cloud"]["realtime"]["nats"]["servers"] + [toml["vault"]["address"]]:
        assert server.split("//")[1].split(":")[0] in names, server


def test_the_operators_database_url_is_where_reactor_toml_and_the_roles_step_go():
    archive = _archive("E6+ha@onprem", "app-1")
    compose = yaml.safe_load(archive["files/opt/reactor/compose.yaml"])
    roles = compose["services"]["reactor-server-db-roles"]["environment"]
    assert roles["PGHOST"] == "pg-writer.example.internal" and roles["PGUSER"] == "reactor_admin"
    assert roles["PGSSLMODE"] == "verify-full"
    assert "database.reactor.internal" not in archive["files/opt/reactor/compose.yaml"]


def test_the_connection_verifies_the_inventorys_host_key(monkeypatch):
    from pulumi_command import remote

    seen = []
    original = remote.ConnectionArgs.__init__

    def spy(self, **kwargs):
        seen.append(kwargs)
        original(self, **kwargs)

    monkeypatch.setattr(remote.ConnectionArgs, "__init__", spy)
    settings = load_settings(default_settings("E3@onprem"))
    render_graph("E3@onprem", settings)
    inv = onprem_inventory("E3@onprem")
    assert {k["host"] for k in seen} == {h["address"] for h in inv["hosts"].values()}
    for kwargs in seen:
        host = next(h for h in inv["hosts"].values() if h["address"] == kwargs["host"])
        assert kwargs["host_key"] == host["host_key"] and kwargs["user"] == host["user"] and kwargs["port"] == 22


def test_an_offline_render_reads_no_key_file(tmp_path):
    inv = onprem_inventory("E2@onprem")
    inv["hosts"]["node-1"]["key"] = str(tmp_path / "no-such-key")
    graph = render_graph("E2@onprem", load_settings({"extras": {"onprem": inv}}))
    assert any(r.type == COPY for r in graph.resources)


def test_no_secret_value_reaches_a_command_line_or_a_file():
    def check(token: str) -> None:
        for r in _resources(token):
            if r["type"] == COMMAND:
                assert "stdin" not in r["inputs"] or r["inputs"]["stdin"] == "[secret]"
                assert SECRETS_STORE not in r["inputs"]["create"] or "read -r name value" in r["inputs"]["create"]
    every(TOKENS, check)


def test_reactor_server_waits_for_openbaos_token_without_failing_the_run():
    health = _archive("E5@onprem", "app-1")["health.sh"]
    assert PLACEHOLDER in health and "not waited for" in health


def test_admin_access_is_an_ssh_tunnel_that_checks_the_host_key():
    plan = build_plan(parse("E5@onprem"), load_settings(default_settings("E5@onprem")))
    access = load("onprem").admin_access(plan, 9901)
    assert access.command[:4] == ["ssh", "-N", "-L", "9901:127.0.0.1:9901"]
    assert "StrictHostKeyChecking=yes" in access.command
    assert "admin-token" in access.token_hint and inventory.example_host_key("app-1") in access.needs[0]


def test_the_recipe_refuses_a_bad_inventory_even_without_validate():
    inv = _broken("E3@onprem", lambda i: i["tiers"]["app"].__setitem__(0, "ghost"))
    with pytest.raises(SettingsError) as err:
        render_graph("E3@onprem", load_settings({"extras": {"onprem": inv}}))
    assert "extras.onprem.tiers.app: unknown host 'ghost'" in str(err.value)


def test_renders_are_identical_across_two_renders():
    settings = default_settings("E6+ha@onprem")
    a = render_graph("E6+ha@onprem", load_settings(settings)).to_json()
    assert a == rendered("E6+ha@onprem").to_json()


def test_the_shipped_onprem_stacks_validate():
    for path in sorted((ROOT / "stacks").glob("Pulumi.*onprem.yaml")):
        result = cli(ROOT, "validate", "--stack", str(path))
        assert result.returncode == 0, (path.name, result.stderr)


def test_size_2_keeps_postgres_on_the_node_and_refuses_a_database_url():
    inv = onprem_inventory("E2@onprem") | {"database_url": inventory.EXAMPLE_DATABASE_URL}
    assert any("keeps Postgres on its own node" in p for p in _problems("E2@onprem", inv))
    assert Service.POSTGRES in build_plan(parse("E2@onprem")).app_tier.services


def test_the_shipped_inventories_are_the_examples_every_snapshot_renders_with():
    """stacks/Pulumi.*onprem.yaml hold what `reactor-infra inventory` prints for their token: the
    same example (tests/renders.py) every @onprem snapshot and test renders with."""
    from reactor_infra.settings import read_stack_file

    paths = sorted((ROOT / "stacks").glob("Pulumi.*onprem.yaml"))
    assert len(paths) >= 3
    for path in paths:
        stack = read_stack_file(path)
        assert stack.settings.extras["onprem"] == onprem_inventory(str(stack.topology)), path.name
