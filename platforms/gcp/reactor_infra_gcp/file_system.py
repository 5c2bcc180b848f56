"""FileSystem: a Filestore instance the machines of a tier share (Caddy's certificates, where
several Caddy replicas answer ACME challenges and on-demand TLS behind one load balancer).

Basic HDD, 1 TiB (Filestore's smallest): NFSv3 over Private Service Access, mounted at boot
(nfsd 2049, mountd 2050: the firewall's file-system rule opens exactly those). Basic tiers take
no customer-managed key (Google-managed encryption at rest, also for editions E and C: the
README says so); deletion protection for E and C.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import FILE_SYSTEM, Plan

from .component import GcpComponent
from .naming import labels, physical_name

TIER = str(FILE_SYSTEM)
SHARE = "reactor"
CAPACITY_GB = 1024


@dataclass(frozen=True)
class FileSystemArgs:
    plan: Plan
    zone: str  # Basic tiers are zonal
    network: pulumi.Input[str]  # the VPC's name... its id
    depends_on: tuple[pulumi.Resource, ...] = ()  # Private Service Access


class FileSystem(GcpComponent):
    """`address` (Output[str]): the NFS server; `share`: the export's name."""

    def __init__(self, name: str, args: FileSystemArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        self.share = SHARE
        self.instance = gcp.filestore.Instance(
            f"{name}-instance", name=physical_name(plan, TIER, "files"), location=args.zone, tier="BASIC_HDD",
            file_shares=gcp.filestore.InstanceFileSharesArgs(name=SHARE, capacity_gb=CAPACITY_GB),
            networks=[gcp.filestore.InstanceNetworkArgs(network=args.network, modes=["MODE_IPV4"],
                                                        connect_mode="PRIVATE_SERVICE_ACCESS")],
            deletion_protection_enabled=plan.policy.protect, labels=labels(plan, TIER),
            opts=pulumi.ResourceOptions(parent=self, protect=plan.policy.protect, depends_on=list(args.depends_on)))
        self.address: pulumi.Output[str] = self.instance.networks.apply(lambda n: n[0]["ip_addresses"][0]
                                                                        if isinstance(n[0], dict) else n[0].ip_addresses[0])
        self.register_outputs({"address": self.address})
