"""Offline render answers for the fly-machines provider: ids, addresses and versions that look
like Fly's (machine ids of 14 hex, volume ids `vol_…`, IPs in the documentation ranges), derived
from a hash of each resource's type and name so renders stay byte-identical."""

from __future__ import annotations

from typing import Any

from reactor_infra.mocks import digest

PREFIX = "fly-machines:"


def resource_state(typ: str, name: str, state: dict[str, Any], region: str) -> tuple[str, dict[str, Any]] | None:
    if not typ.startswith((PREFIX, "pulumi:providers:fly-machines")):
        return None
    seed = f"{typ}/{name}"
    kind = typ.rsplit(":", 1)[-1]
    if kind == "App":
        return state.get("name") or name, state
    if kind == "Machine":
        state.setdefault("privateIp", f"fdaa:0:1:a7b:{digest(seed, length=4)}::2")
        state.setdefault("state", "started")
        return digest(seed, length=14), state
    if kind == "Volume":
        state.setdefault("zone", digest(seed + "/zone", length=4))
        return f"vol_{digest(seed, length=16)}", state
    if kind == "AppIPAssignment":
        n = int(digest(seed, length=4), 16)
        ip = {"v6": f"2001:db8:{n:x}::1", "v4": f"198.51.100.{n % 254 + 1}", "shared_v4": f"203.0.113.{n % 254 + 1}",
              "private_v6": f"fdaa:0:1:0:{n:x}::2"}.get(state.get("type", ""), "192.0.2.1")
        state.setdefault("ip", ip)
        return ip, state
    if kind in ("Secrets", "Secret"):
        state.setdefault("version", 1)
        return digest(seed, length=12), state
    return digest(seed, length=12), state
