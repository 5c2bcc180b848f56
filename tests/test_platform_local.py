"""The local platform over every valid `@local` token, through the offline mock render.

Snapshots guard the whole graph (logical names are a contract); the semantic tests below
say what must hold whatever the snapshot: loopback only at size 1, only Caddy's 80/443
beyond, one container per planned service, no secret value in any render, a health check
on every container, Reactor.toml where reactor-server reads it.
"""

from __future__ import annotations

import json

import pytest

from reactor_infra.layout import INTERNET, Service
from reactor_infra.plan import build_plan
from reactor_infra.token import Platform, parse, valid_topologies

from reactor_infra.platforms import load
from renders import rendered, rendered_json, resources

LOCAL = [t.token for t in valid_topologies(Platform.LOCAL)]


# --- the plugin ---------------------------------------------------------------------------------


def test_local_plugin_is_registered_under_its_name():
    platform = load("local")
    assert (platform.name, platform.package) == ("local", "reactor-infra-local")
    assert platform.sizes == frozenset(range(1, 7))


@pytest.mark.parametrize("token", LOCAL)
def test_plugin_builds_every_valid_local_token(token):
    assert load("local").unsupported(parse(token)) == []


CONTAINER = "docker:index/container:Container"
NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
IMAGE = "docker:index/remoteImage:RemoteImage"
SECRET = "[secret]"


def _labels(container: dict) -> dict[str, str]:
    return {lab["label"]: lab["value"] for lab in container["inputs"].get("labels", [])}


def containers(token: str) -> dict[str, dict]:
    """The containers of planned services by their Docker name (sidecars apart)."""
    return {r["inputs"]["name"]: r for r in resources(token, CONTAINER) if "reactor-infra.service" in _labels(r)}


def sidecars(token: str) -> dict[str, dict]:
    return {r["inputs"]["name"]: r for r in resources(token, CONTAINER) if "reactor-infra.sidecar" in _labels(r)}


def planned(token: str) -> list[tuple[str, str]]:
    plan = build_plan(parse(token))
    return [(t.name.value, s.value) for t in plan.tiers for s in t.services]


def published(container: dict) -> list[dict]:
    """Ports published beyond the host's loopback."""
    return [p for p in container["inputs"].get("ports") or [] if p.get("ip") != "127.0.0.1"]


def loopback_published(container: dict) -> list[int]:
    return sorted(p["external"] for p in container["inputs"].get("ports") or [] if p.get("ip") == "127.0.0.1")


# --- the matrix -----------------------------------------------------------------------


def test_local_builds_every_valid_local_token():
    assert LOCAL == [f"{e}{s}@local" for e in "OE" for s in range(1, 7)] or sorted(LOCAL) == sorted(
        f"{e}{s}@local" for e in "OE" for s in range(1, 7))


@pytest.mark.parametrize("token", LOCAL)
def test_render_matches_snapshot(token, snapshot):
    assert json.loads(rendered_json(token)) == snapshot


# --- exposure --------------------------------------------------------------------------


@pytest.mark.parametrize("token", [t for t in LOCAL if t[1] == "1"])
def test_size_1_publishes_nothing_beyond_loopback(token):
    assert not [p for c in containers(token).values() for p in published(c)]
    (server,) = [c for n, c in containers(token).items() if n.endswith("-reactor-server")]
    assert loopback_published(server) == [8000, 9901]
    graph = rendered(token)
    assert graph.has_resource(CONTAINER, ports=[{"internal": 8000, "external": 8000, "ip": "127.0.0.1"},
                                                {"internal": 9901, "external": 9901, "ip": "127.0.0.1"}])


@pytest.mark.parametrize("token", LOCAL)
def test_postgres_is_never_published(token):
    for name, c in containers(token).items():
        if name.endswith("-postgres"):
            assert not published(c), name


@pytest.mark.parametrize("token", [t for t in LOCAL if t[1] != "1"])
def test_from_size_2_only_caddy_publishes_and_only_80_and_443(token):
    plan = build_plan(parse(token))
    publishers = {name for name, c in containers(token).items() if published(c)}
    assert publishers == {f"{plan.stack}-{plan.ingress.tier}-caddy"}
    (caddy,) = [containers(token)[n] for n in publishers]
    assert sorted(p["external"] for p in published(caddy)) == [80, 443]
    assert sorted(p["internal"] for p in published(caddy)) == [80, 443]
    internet_ports = sorted(link.port for link in plan.links if link.source == INTERNET)
    assert internet_ports == [80, 443]


@pytest.mark.parametrize("token", LOCAL)
def test_flow_networks_are_internal_and_the_public_bridge_keeps_containers_apart(token):
    plan = build_plan(parse(token))
    public = f"{plan.stack}-network-public"
    for net in resources(token, NETWORK):
        is_public = net["inputs"]["name"] == public
        assert net["inputs"]["internal"] is not is_public
        if is_public:
            assert net["inputs"]["options"] == {"com.docker.network.bridge.enable_icc": "false"}


@pytest.mark.parametrize("token", ["E4@local", "O6@local"])
def test_each_flow_network_joins_exactly_its_two_services(token):
    """E4@local used to put NATS and OpenBao on the database network and Caddy beside OpenBao."""
    plan = build_plan(parse(token))
    members: dict[str, set[str]] = {}
    for name, c in containers(token).items():
        for net in c["inputs"].get("networksAdvanced") or []:
            service = next(lab["value"] for lab in c["inputs"]["labels"] if lab["label"] == "reactor-infra.service")
            members.setdefault(net["name"], set()).add(service)
    flows = {frozenset((str(f.source_service), str(f.target_service))) for f in plan.flows}
    for net, services in members.items():
        if not net.endswith("-public"):
            assert frozenset(services) in flows, (net, services)
    caddy_nets = {n["name"] for n in containers(token)[f"{plan.stack}-infra-caddy" if token == "E4@local"
                                                         else f"{plan.stack}-edge-caddy"]["inputs"]["networksAdvanced"]}
    assert not any("openbao" in n for n in caddy_nets)


# --- inventory ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", LOCAL)
def test_one_container_per_planned_service(token):
    plan = build_plan(parse(token))
    expected = {f"{plan.stack}-{t}-{s}" for t, s in planned(token)}
    assert set(containers(token)) == expected
    assert rendered(token).count_of(CONTAINER) == len(planned(token)) + len(sidecars(token))
    assert len(sidecars(token)) == 1  # the admin forwarder
    assert rendered(token).count_of(IMAGE) == len(planned(token))


@pytest.mark.parametrize("token", LOCAL)
def test_the_admin_forwarder_shares_reactor_servers_namespace_and_only_loopback_reaches_it(token):
    (server,) = [c for n, c in containers(token).items() if n.endswith("-reactor-server")]
    (admin,) = sidecars(token).values()
    assert admin["inputs"]["entrypoints"][:2] == ["socat", "TCP-LISTEN:9901,fork,reuseaddr"]
    assert admin["inputs"]["entrypoints"][2] == "TCP:127.0.0.1:8000"
    assert server["urn"] in admin["dependencies"]
    assert 9901 in loopback_published(server)


@pytest.mark.parametrize("token", LOCAL)
def test_every_container_has_a_healthcheck(token):
    for name, c in containers(token).items():
        tests = (c["inputs"].get("healthcheck") or {}).get("tests")
        assert tests and tests[0] in ("CMD", "CMD-SHELL"), name


@pytest.mark.parametrize("token", LOCAL)
def test_stateful_services_keep_data_on_named_volumes(token):
    plan = build_plan(parse(token))
    volumes = {r["inputs"]["name"] for r in resources(token, VOLUME)}
    for tier, service in planned(token):
        if service in ("postgres", "openbao", "nats"):
            assert f"{plan.stack}-{tier}-{service}-data" in volumes


@pytest.mark.parametrize("token", LOCAL)
def test_stateful_volumes_are_protected_in_edition_e(token):
    for volume in resources(token, VOLUME):
        assert bool(volume.get("protect")) is token.startswith("E"), volume["name"]


@pytest.mark.parametrize("token", LOCAL)
def test_reactor_toml_is_uploaded_to_reactor_servers_working_dir(token):
    (server,) = [c for n, c in containers(token).items() if n.endswith("-reactor-server")]
    workdir = server["inputs"]["workingDir"]
    files = [u["file"] for u in server["inputs"].get("uploads") or []]
    assert f"{workdir}/Reactor.toml" in files


@pytest.mark.parametrize("token", [t for t in LOCAL if t[1] != "1"])
def test_config_files_are_uploaded(token):
    plan = build_plan(parse(token))
    uploads = {s: [u["file"] for u in containers(token)[f"{plan.stack}-{t}-{s}"]["inputs"].get("uploads") or []]
               for t, s in planned(token)}
    assert "/etc/caddy/Caddyfile" in uploads["caddy"]
    if "openbao" in uploads:
        assert "/openbao/config/openbao.hcl" in uploads["openbao"]
    if "nats" in uploads:
        assert "/etc/nats/nats.conf" in uploads["nats"]
    assert "/docker-entrypoint-initdb.d/reactor-roles.sh" in uploads["postgres"]


@pytest.mark.parametrize("token", LOCAL)
def test_containers_start_after_what_they_talk_to(token):
    plan = build_plan(parse(token))
    urn_of = {r["inputs"]["name"]: r["urn"] for r in resources(token, CONTAINER)}
    (server,) = [c for n, c in containers(token).items() if n.endswith("-reactor-server")]
    db = plan.pooler.kind if plan.pooler else "postgres"
    (db_name,) = [n for n in urn_of if n.endswith(f"-{db}")]
    assert urn_of[db_name] in server["dependencies"]


# --- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", LOCAL)
def test_container_env_is_secret(token):
    for name, c in containers(token).items():
        env = c["inputs"].get("envs")
        if env is not None:
            assert env == SECRET, name
            assert "envs" in c.get("secret_inputs", []), name


@pytest.mark.parametrize("token", LOCAL)
def test_every_generated_plan_secret_has_a_random_resource(token):
    plan = build_plan(parse(token))
    names = {r["name"] for r in resources(token) if r["type"].startswith("random:")}
    for secret in plan.secrets:
        if secret.generator != "init":
            assert f"secrets-{secret.name}" in names


@pytest.mark.parametrize("token", LOCAL)
def test_only_the_services_the_plan_lets_call_out_reach_the_ordinary_bridge(token):
    plan = build_plan(parse(token))
    public = f"{plan.stack}-network-public"
    for name, c in containers(token).items():
        nets = {n["name"] for n in c["inputs"].get("networksAdvanced", [])}
        service = next(s for s in Service if name.endswith("-" + s.value))
        calls_out = service in plan.egress_services and c["inputs"].get("networkMode") is None
        assert (public in nets) is (calls_out or bool(published(c))), name
    # postgres, NATS, the pooler (and OpenBao with a shamir seal) never reach the internet
    assert any(s not in plan.egress_services for t in plan.tiers for s in t.services)
