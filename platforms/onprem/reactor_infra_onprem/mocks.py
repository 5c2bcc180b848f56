"""Offline render answers for pulumi-command (no SSH: a stable id per resource, no output)."""

from __future__ import annotations

from typing import Any

from reactor_infra.mocks import digest


def resource_state(typ: str, name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]] | None:
    if not typ.startswith("command:"):
        return None
    state = dict(inputs)
    if typ == "command:remote:Command":
        state.update(stdout="", stderr="")
    return digest(f"{typ}/{name}", length=16), state


def call_result(token: str, args: dict[str, Any], region: str) -> dict[str, Any] | None:
    return None
