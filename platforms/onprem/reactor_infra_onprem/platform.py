"""OnpremPlatform: sizes 2-6 (+ha) on the operator's own machines, over SSH (pulumi-command).

Why pulumi-command and not Ansible or a bundle pushed by hand: the run stays one Pulumi program
(preview, diff on pull requests, state, secrets encrypted in state) and needs nothing on the
hosts but sshd, Docker with its compose plugin, and systemd; what runs there is exactly the
files `reactor-infra bundle` writes for an air-gapped install (`reactor_infra.host_files`), so
both ways install the same thing.
"""

from __future__ import annotations

import shutil
from typing import ClassVar

from reactor_infra import inventory
from reactor_infra.errors import UserError
from reactor_infra.layout import Plan, Service
from reactor_infra.platforms import AdminAccess, Check, RecipePlatform
from reactor_infra.token import Modifier

from . import mocks
from .recipe import Recipe


class OnpremPlatform(RecipePlatform):
    name: ClassVar[str] = "onprem"
    package: ClassVar[str] = "reactor-infra-onprem"
    sizes: ClassVar[frozenset[int]] = frozenset({2, 3, 4, 5, 6})
    modifiers: ClassVar[frozenset] = frozenset({Modifier.HA})
    settings_model = inventory.OnpremExtras
    recipe = Recipe
    mocks = mocks

    def doctor(self) -> list[Check]:
        ssh = shutil.which("ssh")
        return [Check("ssh", bool(ssh), ssh or "no ssh client on PATH: `reactor-infra admin` and the README's steps use it "
                      "(the run itself speaks SSH through pulumi-command)")]

    def admin_access(self, plan: Plan, local_port: int) -> AdminAccess:
        """An SSH tunnel to the first reactor-server host's admin forwarder (127.0.0.1:9901 there),
        checking the host's key against the inventory (a known_hosts file of that one line)."""
        extras = inventory.load(plan)
        tier = plan.tier_of(Service.REACTOR_SERVER)
        hosts = inventory.hosts_of(plan, extras, tier) if tier else []
        if not hosts:
            raise UserError(f"extras.onprem.tiers.{tier.name.value if tier else 'app'}: no host to reach the admin API on")
        name, host = hosts[0]
        known = f"~/.ssh/reactor-{plan.stack}-known_hosts"
        command = ["ssh", "-N", "-L", f"{local_port}:127.0.0.1:9901", "-p", str(host.port),
                   "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
                   *(["-i", host.key] if host.key else []), f"{host.user}@{host.address}"]
        return AdminAccess(command=command, needs=(f"ssh, and {known} holding: {host.known_hosts_line()}",),
                           token_hint=f"ssh {host.user}@{host.address} {host.sudo}cat /etc/reactor/secrets/admin-token")

    def conformance(self):
        from .conformance import OnpremReadings

        return OnpremReadings()
