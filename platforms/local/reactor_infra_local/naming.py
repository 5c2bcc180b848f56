"""Names for the local platform: Docker object names and labels from the core's naming."""

from __future__ import annotations

from reactor_infra import naming
from reactor_infra.layout import Plan

LABEL_PREFIX = "reactor-infra."


def physical_name(plan: Plan, tier: str, role: str) -> str:
    """`<stack>-<tier>-<role>`: a Docker object name (container, network, volume)."""
    return naming.physical_name(plan, tier, role)


def labels(plan: Plan, tier: str | None = None) -> dict[str, str]:
    """Docker labels that identify the install (and the tier)."""
    return {f"{LABEL_PREFIX}{k}": v for k, v in naming.labels(plan, tier).items()}
