"""The service catalogue: one description of how each service runs, read by every platform.

These check plain values that renders hide (a container's whole env shows as [secret] when one
variable is secret): where each service listens, where it connects, which secrets it takes.
"""

from __future__ import annotations

import pytest
from tools import node_specs

from reactor_infra import catalogue
from reactor_infra.layout import INTERNET, Service
from reactor_infra.plan import build_plan
from reactor_infra.reactor_toml import default_endpoints
from reactor_infra.service_spec import Condition, State, secret_refs
from reactor_infra.token import parse, valid_topologies

ALL = list(valid_topologies())


def every_spec():
    """(plan, spec) for every service of every valid token, placed by tier DNS names."""
    for topo in ALL:
        plan = build_plan(topo)
        placement = catalogue.Placement(
            endpoints=default_endpoints(plan), hosts={s: f"{s}.internal" for s in plan.services},
            site_address="api.example.com")
        for spec in catalogue.specs(plan, placement).values():
            yield plan, spec


SPECS = list(every_spec())


def test_every_service_of_every_plan_has_a_spec_with_a_health_check():
    seen = {(p.topology.token, s.service) for p, s in SPECS}
    assert seen == {(t.token, s) for t in ALL for s in build_plan(t).services}
    for _, spec in SPECS:
        assert spec.health.check.command, spec.service


def test_reactor_server_listens_on_every_interface_of_its_container():
    """Size 1 publishes 127.0.0.1:8000 on the host; inside its container the server must listen
    on all interfaces or nothing (not even the published port) reaches it; on Fly's IPv6-only
    private network, every IPv6 (and IPv4) interface."""
    for plan, spec in SPECS:
        if spec.service is Service.REACTOR_SERVER:
            wanted = "[::]:8000" if plan.topology.platform.value == "fly" else "0.0.0.0:8000"
            assert spec.env["REACTOR_SERVER__BIND"] == wanted, plan.topology


def test_gateway_server_connects_to_postgres_directly_never_through_the_pooler():
    """It LISTENs on a Postgres channel: that needs a session of its own on the server."""
    checked = 0
    for plan, spec in SPECS:
        if spec.service is Service.GATEWAY_SERVER:
            ep = default_endpoints(plan)
            url = spec.secret_env["DATABASE_URL"]
            assert f"@{ep.database_host}:{ep.database_port}/" in url, (plan.topology, url)
            checked += plan.pooler is not None
    assert checked, "some plans with a pooler run a gateway-server"


def test_reactor_server_reaches_data_through_the_pooler_unless_it_creates_tenants():
    for plan, spec in SPECS:
        if spec.service is Service.REACTOR_SERVER:
            ep = default_endpoints(plan)
            url = spec.secret_env["REACTOR_DATABASE__URL"]
            if plan.pooler is not None and not plan.policy.multi_tenant:
                assert f"@{ep.pooler_host}:{ep.pooler_port}/" in url, (plan.topology, url)
            else:
                assert f"@{ep.database_host}:{ep.database_port}/" in url, (plan.topology, url)


def test_secret_environments_name_only_the_plans_secrets_and_hold_no_value():
    for plan, spec in SPECS:
        names = {s.name for s in plan.secrets}
        for var, template in spec.secret_env.items():
            refs = secret_refs(template)
            assert refs and set(refs) <= names, (plan.topology, spec.service, var)
        for var, value in spec.env.items():
            assert "${" not in value, (spec.service, var)


def test_each_mount_is_owned_by_the_user_its_image_runs_as():
    for _, spec in SPECS:
        for mount in spec.mounts:
            assert mount.owner == catalogue.IMAGE_USERS[spec.service] == spec.user


def test_openbao_keeps_raft_in_a_directory_its_image_creates_and_owns():
    """A fresh volume mounted where the image has no directory is root-owned; bao runs as
    openbao (100:1000) and raft could not create its files."""
    for plan, spec in SPECS:
        if spec.service is Service.OPENBAO:
            (mount,) = spec.mounts
            assert mount.path == "/openbao/file" and mount.owner == "100:1000"
            (hcl,) = [f for f in spec.files if f.name == "openbao.hcl"]
            assert 'path    = "/openbao/file"' in hcl.content
            assert spec.command == ("server",)


def test_openbao_is_healthy_while_uninitialised_or_sealed_and_ready_only_when_active():
    plan = build_plan(parse("O2@aws"))
    spec = node_specs(plan)[Service.OPENBAO]
    expect = {e.state: (e.healthy, e.ready) for e in spec.health.expect}
    assert expect == {State.UNINITIALISED: (True, False), State.SEALED: (True, False),
                      State.STANDBY: (True, False), State.READY: (True, True)}
    assert "uninitcode=200&sealedcode=200&standbyok=true" in spec.health.check.command[-1]
    assert spec.health.ready.command[-1].endswith("/v1/sys/health")
    server = node_specs(plan)[Service.REACTOR_SERVER]
    assert any(n.service is Service.OPENBAO and n.condition is Condition.READY for n in server.needs)


def test_only_openbao_with_a_kms_seal_needs_the_nodes_cloud_identity():
    for plan, spec in SPECS:
        wants = spec.service is Service.OPENBAO and plan.vault_seal.automatic
        assert spec.cloud_identity is wants, (plan.topology, spec.service)


def test_only_the_ingress_caddy_the_size_1_server_and_what_other_machines_reach_are_published():
    for topo in ALL:
        plan = build_plan(topo)
        published = {s: catalogue.published(plan, s) for s in plan.services if catalogue.published(plan, s)}
        if plan.ingress.tier is None:
            assert published == {Service.REACTOR_SERVER: (("127.0.0.1", 8000),)}
            continue
        wanted: dict[Service, set[int]] = {}
        if plan.tier_of(Service.CADDY) and plan.tier_of(Service.CADDY).name == plan.ingress.tier:
            wanted[Service.CADDY] = {link.port for link in plan.links if link.source == INTERNET}
        for link in plan.links:  # a link from another machine reaches a container through its host's port
            tier = plan.tier_of(link.target_service) if link.target_service else None
            on_machine = (tier is not None and topo.size >= 3 and not plan.traits.one_host
                          and tier.name.value not in plan.traits.container_tiers)
            if on_machine and link.source != INTERNET:
                wanted.setdefault(link.target_service, set()).add(link.port)
        assert published == {s: tuple(("0.0.0.0", p) for p in sorted(ports)) for s, ports in wanted.items() if ports}, topo


def test_a_gcp_app_machine_publishes_8000_for_the_gateway_on_another_machine():
    plan = build_plan(parse("E5@gcp"))
    assert catalogue.published(plan, Service.REACTOR_SERVER) == (("0.0.0.0", 8000),)
    assert catalogue.published(plan, Service.NATS) == (("0.0.0.0", 4222),)
    assert catalogue.published(plan, Service.OPENBAO) == (("0.0.0.0", 8200),)
    assert catalogue.published(build_plan(parse("E5@aws")), Service.REACTOR_SERVER) == ()  # an ECS task: no host port


@pytest.mark.parametrize("token", ["O2@aws", "E6@aws", "C6+ha@aws"])
def test_start_order_puts_each_service_after_what_it_needs(token):
    plan = build_plan(parse(token))
    placement = catalogue.Placement(default_endpoints(plan), {s: str(s) for s in plan.services}, "x.example.com")
    order = list(catalogue.specs(plan, placement))
    for i, service in enumerate(order):
        for need in catalogue.spec(plan, service, placement).needs:
            if need.service in order:
                assert order.index(need.service) < i, (service, need.service)
