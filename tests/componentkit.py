"""Render a few components on their own, under the same mocks as a whole render: for tests of
one platform component (its resources and their inputs) before a token wires it in."""

from __future__ import annotations

import contextvars
import json
from collections.abc import Callable
from typing import Any

from reactor_infra.graph import ResourceGraph
from reactor_infra.platforms import load
from reactor_infra.render import _run_in_context
from reactor_infra.token import parse


def render_components(body: Callable[[], Any], token: str = "E5+ha@aws", region: str = "us-east-1",
                      stack: str = "test") -> ResourceGraph:
    """Run `body` (which makes components) as a Pulumi program under the platform's mocks."""
    topology = parse(token)
    platform = load(topology.platform.value)
    return contextvars.copy_context().run(_run_in_context, topology, stack, region, body, {}, platform)


def resources_of(graph: ResourceGraph, type_: str | None = None) -> list[dict[str, Any]]:
    doc = json.loads(graph.to_json())
    return [r for r in doc["resources"] if type_ is None or r["type"] == type_]
