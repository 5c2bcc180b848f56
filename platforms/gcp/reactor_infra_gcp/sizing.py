"""From the Plan's sizing (vCPU / memory) to a Compute Engine machine type and a Cloud SQL tier."""

from __future__ import annotations

from reactor_infra.layout import Sizing

# (type, vCPU, memory GiB), cheapest first for the same shape: e2 shared-core and standard.
MACHINE_TYPES: tuple[tuple[str, float, float], ...] = (
    ("e2-small", 2, 2),
    ("e2-medium", 2, 4),
    ("e2-standard-2", 2, 8),
    ("e2-standard-4", 4, 16),
    ("e2-highcpu-8", 8, 8),
    ("e2-standard-8", 8, 32),
    ("e2-standard-16", 16, 64),
)


def machine_type_for(sizing: Sizing) -> str:
    found = next((name for name, vcpu, memory in MACHINE_TYPES
                  if vcpu >= sizing.vcpu and memory >= sizing.memory_gb), None)
    if found is None:
        raise ValueError(f"no Compute Engine machine type listed for {sizing}; set extras.gcp.machine_type")
    return found


def sql_tier_for(sizing: Sizing, edition: str) -> str:
    """Enterprise: a custom machine (`db-custom-<vCPU>-<MiB>`, memory a multiple of 256 MiB and at
    least 0.9 GiB per vCPU). Enterprise Plus takes only its predefined performance-optimised
    shapes (`db-perf-optimized-N-<vCPU>`, 8 GiB per vCPU, from 2 vCPU)."""
    vcpu = max(1, int(sizing.vcpu))
    if edition == "ENTERPRISE_PLUS":
        return f"db-perf-optimized-N-{max(2, 2 ** (vcpu - 1).bit_length())}"
    memory_mb = max(int(sizing.memory_gb * 1024), int(0.9 * 1024 * vcpu))
    return f"db-custom-{vcpu}-{-(-memory_mb // 256) * 256}"
