"""Identity: the service account a tier's machines run as, and exactly what it may do: read the
secrets its services use, add the first versions of OpenBao's init secrets (the machine that
initialises OpenBao), encrypt and decrypt with the seal key (OpenBao's gcpckms needs
cryptoKeys.get too: Cloud KMS Viewer on that key), write DNS-01 challenge records in the
domain's zone (Caddy's googleclouddns, edition C). No project-wide role and no default
Compute Engine service account (checkov CKV_GCP_30); no key is ever made for it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import account_id

SECRET_READER = "roles/secretmanager.secretAccessor"
SECRET_WRITER = "roles/secretmanager.secretVersionAdder"
SEAL_ROLES = ("roles/cloudkms.cryptoKeyEncrypterDecrypter", "roles/cloudkms.viewer")
DNS_WRITER = "roles/dns.admin"


@dataclass(frozen=True)
class IdentityArgs:
    plan: Plan
    tier: str
    reads: Mapping[str, pulumi.Input[str]]  # plan secret -> the Secret Manager secret's id
    writes: Mapping[str, pulumi.Input[str]] = None  # init secrets the tier's first boot adds versions to
    seal_key: pulumi.Input[str] | None = None  # OpenBao's gcpckms key
    dns_zone: str | None = None  # the Cloud DNS zone Caddy's DNS-01 writes to


class Identity(GcpComponent):
    """`account` (serviceaccount.Account); `email`; `member` (`serviceAccount:<email>`)."""

    def __init__(self, name: str, args: IdentityArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        self.account = gcp.serviceaccount.Account(
            f"{name}-account", account_id=account_id(plan, args.tier),
            display_name=f"{plan.stack}: {args.tier} machines", opts=child)
        self.email = self.account.email
        self.member = self.account.email.apply(lambda e: f"serviceAccount:{e}")
        self.grants: list[pulumi.Resource] = []
        for secret, secret_ref in sorted(args.reads.items()):
            self.grants.append(gcp.secretmanager.SecretIamMember(
                f"{name}-reads-{secret}", secret_id=secret_ref, role=SECRET_READER, member=self.member, opts=child))
        for secret, secret_ref in sorted((args.writes or {}).items()):
            self.grants.append(gcp.secretmanager.SecretIamMember(
                f"{name}-writes-{secret}", secret_id=secret_ref, role=SECRET_WRITER, member=self.member, opts=child))
        if args.seal_key is not None:
            for role in SEAL_ROLES:
                self.grants.append(gcp.kms.CryptoKeyIAMMember(
                    f"{name}-seal-{role.rsplit('.', 1)[-1].lower()}", crypto_key_id=args.seal_key, role=role,
                    member=self.member, opts=child))
        if args.dns_zone:
            self.grants.append(gcp.dns.DnsManagedZoneIamMember(
                f"{name}-dns-challenge", managed_zone=args.dns_zone, role=DNS_WRITER, member=self.member, opts=child))
        self.register_outputs({"email": self.email})


def reads_of(used: Sequence[str], names: Mapping[str, pulumi.Input[str]]) -> dict[str, pulumi.Input[str]]:
    return {s: names[s] for s in used if s in names}
