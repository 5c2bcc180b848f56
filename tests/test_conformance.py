"""The conformance suite: every installed platform, every token it builds, the same properties.

A new platform gets these tests by registering its plugin and answering `conformance()`: links
become exactly the rules, egress only where the Plan says, protection by edition, no generated
secret value in any view, a health check for every service, unique physical names carrying the
stack's prefix. The controls at the end break one property at a time in a real render and show
the check catches it.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from renders import default_settings, rendered

from reactor_infra.conformance import Granularity, expected_rules, generated_values, problems
from reactor_infra.graph import ResourceGraph
from reactor_infra.layout import Service
from reactor_infra.plan import build_plan
from reactor_infra.platforms import available, load
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies


def built_tokens() -> list[str]:
    tokens = []
    for name in sorted(available()):
        platform = load(name)
        tokens += [t.token for t in valid_topologies(Platform(name)) if not platform.unsupported(t)]
    return tokens


TOKENS = built_tokens()


def test_every_installed_platform_is_under_the_suite():
    assert {parse(t).platform.value for t in TOKENS} == set(available())


@pytest.mark.parametrize("token", TOKENS)
def test_render_conforms_to_the_plan(token):
    topology = parse(token)
    readings = load(topology.platform.value).conformance()
    settings = load_settings(default_settings(token)) if default_settings(token) else None
    assert problems(build_plan(topology, settings), rendered(token), readings) == []


# --- controls: each property, broken on purpose, is caught -----------------------------------


def _doctored(graph: ResourceGraph, type_: str, change) -> ResourceGraph:
    """The graph with the first resource of `type_` (matching `change`'s filter) changed."""
    resources = list(graph.resources)
    for i, r in enumerate(resources):
        if r.type == type_:
            new = change(r)
            if new is not None:
                resources[i] = new
                return replace(graph, resources=tuple(resources))
    raise AssertionError(f"no {type_} to doctor")


def _inputs(r, **changes):
    return replace(r, inputs={**r.inputs, **changes})


def _check(token: str, graph: ResourceGraph) -> list[str]:
    topology = parse(token)
    return problems(build_plan(topology), graph, load(topology.platform.value).conformance())


def test_a_tier_rule_opened_to_the_world_is_caught():
    graph = rendered("O2@aws")
    ingress = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
    bad = _doctored(graph, ingress, lambda r: _inputs(r, fromPort=8200, toPort=8200))
    assert any("rule without a link" in p and "8200" in p for p in _check("O2@aws", bad))


def test_egress_the_plan_does_not_allow_is_caught():
    graph = rendered("E6@local")

    def join_public(r):
        if any(lab["value"] == "postgres" for lab in r.inputs["labels"] if lab["label"] == "reactor-infra.service"):
            nets = [*r.inputs["networksAdvanced"], {"name": "e6-local-network-public"}]
            return _inputs(r, networksAdvanced=nets)
        return None

    bad = _doctored(graph, "docker:index/container:Container", join_public)
    assert "egress the plan does not allow: postgres" in _check("E6@local", bad)


def test_an_unprotected_stateful_resource_is_caught():
    graph = rendered("E2@aws")
    bad = _doctored(graph, "aws:ebs/volume:Volume", lambda r: replace(r, protect=False))
    assert any(p.startswith("stateful aws:ebs/volume:Volume") for p in _check("E2@aws", bad))


def test_a_generated_secret_value_in_a_view_is_caught():
    graph = rendered("O2@local")
    value = generated_values(graph)[0]
    bad = _doctored(graph, "docker:index/container:Container",
                    lambda r: _inputs(r, workingDir=f"/srv/{value}"))
    assert "a generated secret value appears in the json view" in _check("O2@local", bad)


def test_a_missing_health_check_is_caught():
    graph = rendered("O3@local")

    def drop(r):
        if any(lab["value"] == "postgres" for lab in r.inputs["labels"] if lab["label"] == "reactor-infra.service"):
            return _inputs(r, healthcheck=None)
        return None

    bad = _doctored(graph, "docker:index/container:Container", drop)
    assert f"no health check for {Service.POSTGRES}" in _check("O3@local", bad)


def test_a_name_without_the_stack_is_caught():
    graph = rendered("O2@aws")
    bad = _doctored(graph, "aws:iam/role:Role", lambda r: _inputs(r, name="reactor-node-role"))
    assert "physical name without the stack's prefix: reactor-node-role (Role, us-east-1)" in _check("O2@aws", bad)


def test_a_world_port_beyond_the_platform_api_is_caught():
    graph = rendered("E6@aws")
    bad = _doctored(graph, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
                    lambda r: _inputs(r, fromPort=5432, toPort=5432) if r.name.endswith("-to-platform-api") else None)
    assert any(p.startswith("egress to the world on :5432 from") for p in _check("E6@aws", bad))


def test_two_services_of_one_region_with_one_name_are_caught():
    graph = rendered("E5@aws")
    bad = _doctored(graph, "aws:ecs/service:Service", lambda r: _inputs(r, name="e5-aws-app-reactor-server"))
    assert "physical name used twice: e5-aws-app-reactor-server (Service, us-east-1)" in _check("E5@aws", bad)


def test_expected_rules_are_tier_ports_for_firewalls_and_service_pairs_for_bridges():
    plan = build_plan(parse("E4@local"))
    pairs = expected_rules(plan, Granularity.SERVICE_PAIR)
    assert ("caddy", "reactor-server", None) in {(r.source, r.target, r.port) for r in pairs}
    assert not any({r.source, r.target} == {"caddy", "openbao"} for r in pairs)
    tiers = expected_rules(build_plan(parse("E4@aws")), Granularity.TIER_PORT)
    assert ("app", "infra", 8200) in {(r.source, r.target, r.port) for r in tiers}
