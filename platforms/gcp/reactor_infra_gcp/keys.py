"""Keys: Cloud KMS in one location: a key ring, the data key (customer-managed encryption for
editions E and C: disks, Cloud SQL, Secret Manager, the bucket) with the service agents that
use it, and OpenBao's seal key (gcpckms) where OpenBao runs.

Keys rotate every 90 days (checkov CKV_GCP_43). KMS keys and key rings are never deleted by
Google (their versions are destroyed after a grace period): with our deterministic names, a
stack destroyed and brought up again must import its key ring (the README says how).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import labels, physical_name

TIER = "vault"
ROTATION = "7776000s"  # 90 days
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass(frozen=True)
class KeysArgs:
    plan: Plan
    location: str  # a region, or a multi-region (`us`) for a dual-region bucket's key
    data_key: bool = False  # the customer-managed data key (editions E and C)
    seal_key: bool = False  # OpenBao's gcpckms key
    # service agents (emails) that encrypt with the data key: Compute Engine, Cloud SQL, ...
    agents: Sequence[pulumi.Input[str]] = ()


class Keys(GcpComponent):
    """`ring`; `data` and `seal` (CryptoKey or None); `ring_name`, `seal_name` for the seal stanza."""

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        protect = pulumi.ResourceOptions(parent=self, protect=plan.policy.protect)
        self.ring_name = physical_name(plan, "keys", args.location)
        self.ring = gcp.kms.KeyRing(f"{name}-ring", name=self.ring_name, location=args.location, opts=protect)
        self.data = self.seal = None
        self.seal_name = None
        grants = []
        if args.data_key:
            self.data = self._key(plan, name, "data", protect)
            grants = [gcp.kms.CryptoKeyIAMMember(
                f"{name}-data-agent-{i}", crypto_key_id=self.data.id, role=ENCRYPTER,
                member=pulumi.Output.concat("serviceAccount:", agent), opts=pulumi.ResourceOptions(parent=self))
                for i, agent in enumerate(args.agents)]
        if args.seal_key:
            self.seal_name = "openbao-seal"
            self.seal = self._key(plan, name, self.seal_name, protect)
        self.grants = grants
        self.register_outputs({"ring": self.ring.id})

    def _key(self, plan: Plan, name: str, role: str, opts: pulumi.ResourceOptions) -> gcp.kms.CryptoKey:
        return gcp.kms.CryptoKey(
            f"{name}-{role}", name=role, key_ring=self.ring.id, purpose="ENCRYPT_DECRYPT",
            rotation_period=ROTATION, destroy_scheduled_duration="2592000s",  # 30 days to undo
            labels=labels(plan, TIER), opts=opts)
