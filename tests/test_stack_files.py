"""Every example stack file in stacks/ parses: a valid token and settings with no unknown key."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor_infra.settings import read_stack_file

STACKS = sorted((Path(__file__).parent.parent / "stacks").glob("Pulumi.*.yaml"))


def test_there_are_example_stacks():
    assert STACKS, "stacks/ ships example stack files"


@pytest.mark.parametrize("path", STACKS, ids=[p.name for p in STACKS])
def test_stack_file_parses(path):
    stack = read_stack_file(path)
    assert stack.name == path.name.removeprefix("Pulumi.").removesuffix(".yaml")
    assert stack.topology.token  # a valid token, or read_stack_file raised

