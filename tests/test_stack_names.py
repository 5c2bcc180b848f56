"""Physical names start with the Pulumi stack's name, never the token (DESIGN §4), so a stack
that moves to another token (E4@local -> E5@local) keeps its volumes and their data."""

from reactor_infra.plan import build_plan
from reactor_infra.render import render
from reactor_infra.token import parse


def test_plan_stack_name_defaults_to_the_token_slug():
    assert build_plan(parse("E4@local")).stack == "e4-local"
    assert build_plan(parse("E4@local"), stack="acme-prod").stack == "acme-prod"


def test_physical_names_follow_the_stack_not_the_token():
    graph = render("E5@local", stack="acme-prod")
    volume = next(r for r in graph.resources if r.name == "database-postgres-data")
    assert volume.inputs["name"] == "acme-prod-database-postgres-data"


def test_a_stack_keeps_its_data_volume_name_when_its_token_changes():
    names = [next(r.inputs["name"] for r in render(token, stack="acme").resources
                  if r.name == "database-postgres-data") for token in ("E4@local", "E5@local")]
    assert names[0] == names[1] == "acme-database-postgres-data"
