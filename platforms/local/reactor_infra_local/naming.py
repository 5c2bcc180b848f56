"""Names for the local platform: component type tokens and deterministic physical names."""

from __future__ import annotations

from reactor_infra.plan import Plan




def physical_name(plan: Plan, tier: str, role: str) -> str:
    """`<stack>-<tier>-<role>`: a Docker object name (container, network, volume)."""
    return f"{plan.stack_name}-{tier}-{role}"
