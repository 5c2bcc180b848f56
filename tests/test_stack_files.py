"""Every example stack file in stacks/ parses: a valid token and settings with no unknown key."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor_infra.settings import read_stack_file
from reactor_infra.token import parse

STACK_DIR = Path(__file__).parent.parent / "stacks"
STACKS = sorted(STACK_DIR.glob("Pulumi.*.yaml"))


def test_there_are_example_stacks():
    assert STACKS, "stacks/ ships example stack files"


@pytest.mark.parametrize("path", STACKS, ids=[p.name for p in STACKS])
def test_stack_file_parses(path):
    stack = read_stack_file(path)
    assert stack.name == path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    assert stack.topology.token  # a valid token, or read_stack_file raised



def _physical_names(graph) -> set[str]:
    from reactor_infra.platforms import load

    return set(load(parse(graph.topology).platform.value).conformance().physical_names(graph))


def test_two_installs_of_one_token_share_no_physical_name():
    from reactor_infra.render import render_stack_file

    acme = render_stack_file(STACK_DIR / "Pulumi.acme-prod.yaml")
    globex = render_stack_file(STACK_DIR / "Pulumi.globex-prod.yaml")
    assert acme.topology == globex.topology == "O2@aws"
    a, b = _physical_names(acme), _physical_names(globex)
    assert a and b and not (a & b), sorted(a & b)


def test_renaming_a_stack_file_renames_physical_names_and_nothing_else(tmp_path):
    from reactor_infra.render import render_stack_file

    source = STACK_DIR / "Pulumi.acme-prod.yaml"
    renamed = tmp_path / "Pulumi.initech-eu.yaml"
    renamed.write_text(source.read_text())
    before, after = render_stack_file(source), render_stack_file(renamed)
    assert _physical_names(before) != _physical_names(after)
    assert before.to_json().replace("acme-prod", "initech-eu") == after.to_json()


def test_name_prefix_overrides_the_stack_in_physical_names(tmp_path):
    from reactor_infra.render import render_stack_file

    path = tmp_path / "Pulumi.acme-prod.yaml"
    path.write_text((STACK_DIR / "Pulumi.acme-prod.yaml").read_text() + "  reactor-infra:name_prefix: acme\n")
    names = _physical_names(render_stack_file(path))
    assert names and all("acme-prod" not in n and "acme" in n for n in names)
