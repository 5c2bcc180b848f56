"""Offline render answers for the docker provider (ids, image digests, container addresses),
derived from a hash of each resource's type and name. Used through `LocalPlatform.mock_resource`."""

from __future__ import annotations

from typing import Any

from reactor_infra.mocks import digest, fake_ip

def resource_state(typ: str, name: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(id, state) for a docker resource; None for types of other packages."""
    if not typ.startswith("docker:"):
        return None
    seed = f"{typ}/{name}"
    full = digest(seed, length=64)
    if typ == "docker:index/remoteImage:RemoteImage":
        ref = state.get("name", name)
        state.update(imageId=f"sha256:{full}", repoDigest=f"{str(ref).split(':')[0]}@sha256:{full}")
        return f"sha256:{full}{ref}", state
    if typ == "docker:index/network:Network":
        return full, state
    if typ == "docker:index/volume:Volume":
        state.setdefault("mountpoint", f"/var/lib/docker/volumes/{state.get('name', name)}/_data")
        return str(state.get("name", name)), state
    if typ == "docker:index/container:Container":
        state.setdefault("hostname", full[:12])
        state.setdefault("networkDatas", [{"ipAddress": fake_ip(seed, public=False)}])
    return full, state
