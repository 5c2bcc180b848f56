"""compose.yaml of one node, read from the catalogue, checked by docker-compose's own parser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from tools import node_specs, run, write

from reactor_infra import compose
from reactor_infra.layout import Plan, Service
from reactor_infra.plan import build_plan
from reactor_infra.settings import StackSettings
from reactor_infra.token import parse, valid_topologies

DOMAIN = StackSettings(domain="api.example.com", acme_email="ops@example.com")


def single_node_plans() -> list[Plan]:
    return [build_plan(topo, DOMAIN) for topo in valid_topologies() if topo.size <= 2]


def compose_of(p: Plan) -> str:
    return compose.compose_yaml(p, node_specs(p))


def compose_files() -> list[Plan]:
    """One plan per distinct compose body: files that differ only in their header check alike."""
    by_body: dict[str, Plan] = {}
    for p in single_node_plans():
        by_body.setdefault(re.sub(r"(?m)^#.*\n", "", compose_of(p)), p)
    return list(by_body.values())


def _compose_config(tmp_path: Path, p: Plan, text: str | None = None) -> tuple[bool, str]:
    specs = node_specs(p)
    for name, content in compose.config_files(specs).items():
        write(tmp_path, name, content)
    secrets = tmp_path / "secrets"
    for name in compose.env_files(specs):
        write(secrets, name, "")
    text = (text or compose.compose_yaml(p, specs)).replace(f"{compose.DEFAULT_SECRETS_DIR}/", f"{secrets}/")
    path = write(tmp_path, "compose.yaml", text)
    result = run(["docker-compose", "-f", str(path), "config", "-q"], cwd=tmp_path)
    return result.ok, result.output


@pytest.mark.tools
@pytest.mark.parametrize("p", compose_files(), ids=lambda p: p.topology.token)
def test_docker_compose_accepts_each_single_node_file(tmp_path, p):
    ok, output = _compose_config(tmp_path, p)
    assert ok, output


@pytest.mark.tools
def test_docker_compose_rejects_a_broken_file(tmp_path):
    p = plan("O2@aws")
    broken = compose_of(p).replace("condition: service_healthy", "condition: when_it_feels_like_it", 1)
    ok, output = _compose_config(tmp_path, p, broken)
    assert not ok and "when_it_feels_like_it" in output


def plan(token: str) -> Plan:
    return build_plan(parse(token), DOMAIN)


def _services(p: Plan) -> dict:
    return yaml.safe_load(compose_of(p))["services"]


def test_size_1_publishes_reactor_on_loopback_only():
    for p in (q for q in single_node_plans() if q.topology.size == 1):
        services = _services(p)
        assert services["reactor-server"]["ports"] == ["127.0.0.1:8000:8000", "127.0.0.1:9901:9901"]
        assert [n for n, s in services.items() if "ports" in s] == ["reactor-server"]


def test_size_2_publishes_only_caddy_on_80_and_443_to_the_world():
    for p in (q for q in single_node_plans() if q.topology.size == 2):
        services = _services(p)
        ports = {n: s["ports"] for n, s in services.items() if "ports" in s}
        assert ports == {"caddy": ["80:80", "443:443"], "reactor-server": ["127.0.0.1:9901:9901"]}
        assert set(services) - {"openbao-ready", "reactor-server-admin"} == {str(s) for s in p.app_tier.services}


def test_the_admin_forwarder_turns_the_hosts_loopback_into_reactor_servers_loopback():
    """/_admin answers only loopback peers: the forwarder in reactor-server's namespace accepts
    connections from the bridge's gateway (the host's published loopback port) and no one else."""
    services = _services(plan("O2@aws"))
    admin = services["reactor-server-admin"]
    assert admin["network_mode"] == "service:reactor-server"
    assert admin["entrypoint"] == ["socat", f"TCP-LISTEN:9901,fork,reuseaddr,range={compose.NODE_GATEWAY}/32",
                                   "TCP:127.0.0.1:8000"]
    assert "127.0.0.1:9901:9901" in services["reactor-server"]["ports"]


def test_only_openbao_gets_a_fixed_address_for_the_metadata_guard():
    p = plan("O2@aws")
    services = _services(p)
    assert compose.identity_addresses(node_specs(p)) == {Service.OPENBAO: "172.30.0.10"}
    assert services["openbao"]["networks"] == {"default": {"ipv4_address": "172.30.0.10"}}
    assert not any("networks" in s for n, s in services.items() if n != "openbao")
    doc = yaml.safe_load(compose_of(p))
    assert doc["networks"]["default"]["ipam"]["config"] == [{"subnet": "172.30.0.0/24", "gateway": "172.30.0.1"}]
    assert compose.identity_addresses(node_specs(plan("O1@local"))) == {}


def test_every_dependency_waited_for_has_a_healthcheck():
    for p in single_node_plans():
        services = _services(p)
        for name, service in services.items():
            if name.endswith(("-ready", "-admin")):
                continue
            assert service["healthcheck"]["test"][0] == "CMD", name
            for dep, cond in service.get("depends_on", {}).items():
                if cond["condition"] == "service_healthy":
                    assert "healthcheck" in services[dep], dep


def test_reactor_server_waits_for_an_unsealed_openbao_without_a_restart_loop():
    services = _services(plan("O2@aws"))
    assert services["reactor-server"]["depends_on"]["openbao-ready"] == {"condition": "service_completed_successfully"}
    waiter = services["openbao-ready"]
    assert waiter["network_mode"] == "service:openbao" and waiter["restart"] == "no"
    assert "until wget -q -O /dev/null http://127.0.0.1:8200/v1/sys/health;" in waiter["entrypoint"][2]
    # OpenBao's own check passes while uninitialised or sealed, so nothing restarts meanwhile
    assert "uninitcode=200&sealedcode=200" in services["openbao"]["healthcheck"]["test"][-1]


def test_reactor_toml_is_mounted_in_the_working_directory_and_secrets_come_from_env_files():
    p = plan("O2@aws")
    server = _services(p)["reactor-server"]
    assert f"./Reactor.toml:{server['working_dir']}/Reactor.toml:ro" in server["volumes"]
    assert server["env_file"] == [f"{compose.DEFAULT_SECRETS_DIR}/reactor-server.env"]
    envs = compose.env_files(node_specs(p))
    assert envs["reactor-server.env"]["REACTOR_DATABASE__URL"] == "postgres://reactor:${database-password}@postgres:5432/reactor"
    # the image's superuser gets its own password; the roles script reads the reactor role's
    assert envs["postgres.env"] == {"POSTGRES_PASSWORD": "${database-admin-password}",
                                    "REACTOR_DB_PASSWORD": "${database-password}"}
    assert "./reactor-roles.sh:/docker-entrypoint-initdb.d/reactor-roles.sh:ro" in _services(p)["postgres"]["volumes"]


def test_openbao_keeps_raft_data_where_its_image_gives_it_ownership():
    services = _services(plan("O2@aws"))
    assert "openbao-data:/openbao/file" in services["openbao"]["volumes"]


def test_gateway_server_runs_apart_from_caddys_admin_api():
    """gateway-server's sync would replace the Caddyfile: it gets its own network namespace, where
    its CADDY_ADMIN_ADDR (localhost:2019) reaches no Caddy; Caddy asks it /ask by name."""
    p = plan("C2@aws")
    services = _services(p)
    gateway = services["gateway-server"]
    assert "network_mode" not in gateway
    assert gateway["environment"]["GATEWAY_LISTEN_ADDR"] == "0.0.0.0:9000"
    assert gateway["environment"]["WILDCARD_DOMAIN"] == "*.api.example.com"
    caddyfile = compose.config_files(node_specs(p))["Caddyfile"]
    assert "ask http://gateway-server:9000/ask" in caddyfile


def test_config_files_and_env_files_are_named_once():
    for p in single_node_plans():
        specs = node_specs(p)
        files = compose.config_files(specs)
        assert "Reactor.toml" in files and "compose.yaml" not in files
        assert set(compose.env_files(specs)) == {f"{s}.env" for s, spec in specs.items() if spec.secret_env}
