"""The on-prem recipe: the inventory checked against the Plan, the Plan's secrets generated once,
then every host in start order (database, OpenBao, NATS, pooler, app, gateway), each replica
after the one before it is healthy: a change rolls through a tier one host at a time, so a tier
with replicas keeps serving.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from reactor_infra import host_files, inventory
from reactor_infra.errors import SettingsError
from reactor_infra.inventory import Host as InventoryHost
from reactor_infra.inventory import OnpremExtras
from reactor_infra.kit import OFFLINE
from reactor_infra.layout import Plan, Service
from reactor_infra.node_boot import COMPOSE_DIR
from reactor_infra.platforms import Deployment

from .host import Host, HostArgs
from .secrets import Secrets, SecretsArgs

OFFLINE_KEY = "offline render: real runs read the key file"


class Recipe:
    def __init__(self, plan: Plan, extras: OnpremExtras):
        self.plan, self.extras = plan, extras

    def run(self) -> Deployment:
        plan, extras = self.plan, self.extras
        problems = inventory.problems(plan, extras)
        if problems:
            raise SettingsError("stack settings", problems)
        secrets = Secrets("secrets", SecretsArgs(plan=plan))
        values = {k: v for k, v in secrets.values.items() if v is not None}
        after: list[pulumi.Resource] = []
        toml = None
        for files in host_files.onprem_hosts(plan, extras):
            assert files.host is not None
            host = Host(files.name, HostArgs(files=files, staging=self._staging(files.name),
                                             secrets={s: values[s] for s in files.secrets},
                                             private_key=self._key(files.name, files.host), after=after))
            after = [host.health]
            toml = toml or files.files.get(f"{COMPOSE_DIR}/Reactor.toml", (None, None))[1]
        public = host_files.late_values(plan, extras)[host_files.machine_places.PUBLIC_HOST]
        return Deployment(
            public_url=f"https://{public}", reactor_toml=toml,
            # what the render's secret connections hide, for review: who, where, which host key
            endpoints={name: f"{h.user}@{h.address}:{h.port} {inventory.fingerprint(h.host_key)}"
                       for name, h in extras.hosts.items()})

    def _staging(self, host: str) -> Path:
        """Where a host's directory is written before the copy: the user's cache, per install."""
        import platformdirs

        root = Path(platformdirs.user_cache_dir("reactor-infra")) / "onprem"
        return root / self.plan.settings.project_name / self.plan.stack / host

    def _key(self, name: str, host: InventoryHost) -> pulumi.Output[str] | None:
        """The SSH key's content as a secret (the agent when the inventory says so). An offline
        render reads no file: its stand-in is not a key."""
        if not host.key:
            return None
        if OFFLINE.get():
            return pulumi.Output.secret(OFFLINE_KEY)
        path = Path(host.key).expanduser()
        try:
            return pulumi.Output.secret(path.read_text())
        except OSError as err:
            raise SettingsError("stack settings", [
                f"extras.onprem.hosts.{name}.key: {path} cannot be read ({err.strerror})"]) from None


__all__ = ["Recipe", "Service"]
