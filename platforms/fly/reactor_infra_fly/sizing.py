"""Fly guest sizes from the Plan's sizing.

Fly's CPU kinds: `shared` (256 MB to 2 GB of memory per CPU, bursts on a shared core) and
`performance` (2 to 8 GB per CPU, dedicated). A tier asking for 2 vCPUs or more, or for more
memory than 2 GB per CPU, gets performance CPUs; the rest shared ones. Memory is the sizing's,
rounded up to 256 MB and kept within the kind's range.
"""

from __future__ import annotations

import math
from typing import Any

from reactor_infra.layout import Sizing

# kind -> (least, most) MB of memory per CPU
MEMORY_PER_CPU = {"shared": (256, 2048), "performance": (2048, 8192)}
STEP_MB = 256
ONE_SHOT = Sizing(1, 0.25, 1)  # a step (the database roles): the smallest machine


def guest(sizing: Sizing | None) -> dict[str, Any]:
    sizing = sizing or ONE_SHOT
    cpus = max(1, math.ceil(sizing.vcpu))
    wanted = math.ceil(sizing.memory_gb * 1024 / STEP_MB) * STEP_MB
    kind = "performance" if cpus >= 2 or wanted > MEMORY_PER_CPU["shared"][1] * cpus else "shared"
    least, most = MEMORY_PER_CPU[kind]
    return {"cpu_kind": kind, "cpus": cpus, "memory_mb": min(max(wanted, least * cpus), most * cpus)}
