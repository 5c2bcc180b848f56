"""From the Plan's sizing (vCPU / memory) to an Azure VM size and a PostgreSQL flexible server SKU."""

from __future__ import annotations

from reactor_infra.layout import Sizing

# (size, vCPU, memory GiB), cheapest first for the same shape. D*s_v5 and B*s_v2 attach data
# disks over SCSI (/dev/disk/azure/scsi1/lun0) and support encryption at host; v6 sizes are
# NVMe-only.
VM_SIZES: tuple[tuple[str, float, float], ...] = (
    ("Standard_B2ls_v2", 2, 4),
    ("Standard_B2s_v2", 2, 8),
    ("Standard_D2s_v5", 2, 8),
    ("Standard_D4s_v5", 4, 16),
    ("Standard_F8s_v2", 8, 16),
    ("Standard_D8s_v5", 8, 32),
    ("Standard_D16s_v5", 16, 64),
)


def vm_size_for(sizing: Sizing) -> str:
    found = next((name for name, vcpu, memory in VM_SIZES if vcpu >= sizing.vcpu and memory >= sizing.memory_gb), None)
    if found is None:
        raise ValueError(f"no Azure VM size listed for {sizing}; set extras.azure.vm_size")
    return found


def database_sku_for(sizing: Sizing, burstable: bool) -> tuple[str, str]:
    """(SKU name, tier). Burstable (B1ms, B2s) has no high availability and no PgBouncer; the
    General Purpose tier's D-series v5 (4 GiB per vCPU) from 2 vCPU."""
    if burstable:
        return ("Standard_B1ms", "Burstable") if sizing.vcpu <= 1 else ("Standard_B2s", "Burstable")
    vcpu = max(2, 2 ** (max(1, int(sizing.vcpu)) - 1).bit_length())
    return f"Standard_D{vcpu}ds_v5", "GeneralPurpose"
