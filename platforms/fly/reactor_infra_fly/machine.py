"""FlyMachine: one machine of a tier (one service replica, or a one-shot step), with its volume.

A stateful service's machine mounts a Fly volume of its own (`<tier>_<group>`, in the machine's
region, encrypted, daily snapshots kept by the edition's backup days; Fly volumes are never
shared and live on one host). Several volumes of a service are placed on different hosts
(`require_unique_zone`), so the replicas of a cluster do not share a host. The machine's config
is `machine_config`'s; it waits for the app's secrets and runs with at least their version, so
a new secret value restarts it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_fly_machines as fly

from reactor_infra.layout import Plan

from .component import FlyComponent

VOLUME_NAME_MAX = 30  # Fly volume names: letters, digits and underscores, 30 at most


@dataclass(frozen=True)
class FlyMachineArgs:
    plan: Plan  # protect and backup days from plan.policy
    app_name: pulumi.Input[str]  # the tier's Fly app
    machine_name: str  # unique within the app (`<group>-<region>`)
    region: str  # Fly region code
    # the machine's config, given its volume's id (None without a volume): machine_config's
    config: Callable[[str | None], dict[str, Any]]
    volume_gb: int | None = None  # a volume of this size for the machine; default none (stateless)
    volume_name: str | None = None  # the volume's name (places.volume_name); needed with volume_gb
    secrets_version: pulumi.Input[int] | None = None  # the app's secrets version to run with; default any
    depends_on: Sequence[pulumi.Resource] = ()  # what must exist first (the app, its secrets); default none


class FlyMachine(FlyComponent):
    """`machine` is the resource; `volume` its volume, if any."""

    def __init__(self, name: str, tier: str, args: FlyMachineArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, tier, opts)
        plan = args.plan
        self.volume = None
        if args.volume_gb:
            self.volume = fly.apps.v1.Volume(
                f"{name}-volume", app_name=args.app_name, name=args.volume_name, region=args.region,
                size_gb=args.volume_gb, encrypted=True, require_unique_zone=True,
                auto_backup_enabled=True, snapshot_retention=min(plan.policy.backup_retention_days, 60),
                opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect, depends_on=list(args.depends_on)))
        volume_id = self.volume.id if self.volume is not None else None
        config = pulumi.Output.from_input(volume_id).apply(args.config) if volume_id is not None else args.config(None)
        self.machine = fly.apps.v1.Machine(
            f"{name}-machine", app_name=args.app_name, name=args.machine_name, region=args.region,
            config=config, min_secrets_version=args.secrets_version,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)))
        self.register_outputs({"region": args.region})
