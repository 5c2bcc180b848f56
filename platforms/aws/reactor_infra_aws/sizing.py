"""From the Plan's sizing (vCPU / memory) to an EC2 instance type."""

from __future__ import annotations

from reactor_infra.layout import Sizing

# (type, vCPU, memory GiB), cheapest first for the same shape. Burstable t3 up to 2 vCPU;
# from 4 vCPU a compute-optimised type gives the exact 4 / 8 shape the "active" preset asks for.
INSTANCE_TYPES: tuple[tuple[str, float, float], ...] = (
    ("t3.micro", 2, 1),
    ("t3.small", 2, 2),
    ("t3.medium", 2, 4),
    ("t3.large", 2, 8),
    ("c6i.xlarge", 4, 8),
    ("m6i.xlarge", 4, 16),
    ("c6i.2xlarge", 8, 16),
    ("m6i.2xlarge", 8, 32),
    ("m6i.4xlarge", 16, 64),
)


def smallest_fitting(table: tuple[tuple[str, float, float], ...], sizing: Sizing) -> str | None:
    """The first (smallest) entry of a (name, vCPU, memory) table with at least what is asked."""
    return next((name for name, vcpu, memory in table if vcpu >= sizing.vcpu and memory >= sizing.memory_gb), None)


def instance_type_for(sizing: Sizing) -> str:
    """The smallest listed type with at least the vCPUs and memory asked for."""
    found = smallest_fitting(INSTANCE_TYPES, sizing)
    if found is None:
        raise ValueError(f"no EC2 instance type listed for {sizing}; set extras.aws.instance_type")
    return found
