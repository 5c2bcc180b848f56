"""The install's private certificate authority, for TLS between machines (`plan.internal_tls`):
OpenBao's API and raft, NATS clients and routes, the pooler.

A CA key and self-signed CA certificate (10 years), then per tier that serves TLS
(`plan.tls_tiers()`) a key and a certificate the CA signs (2 years, renewed by the next `up`
within its last 30 days), valid for every name the tier answers to (the names the platform
gives: the tier's private name or its router's, each machine's), their fixed private addresses,
and the machine's own loopback. Certificates are public and reach configs as late values; each
private key is a Plan secret (`tls-key-<tier>`) the platform issues: kept in its secret store
like the others, written on its own tier's machines only, readable by the service's user.

pulumi-tls rather than a cloud's private CA service (ACM Private CA, CA Service): those are
billed monthly per CA and issue nothing OpenBao or NATS could not verify against a CA file;
the CA key lives in the stack's (encrypted) state, which already holds every generated secret.
A platform's `InternalCa` component calls `issue_internal_ca` from its constructor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from ..layout import Plan
from ..plan import tls_key_secret

TIER = "vault"
CA_HOURS = 10 * 365 * 24
CERT_HOURS = 2 * 365 * 24
RENEW_HOURS = 30 * 24


@dataclass(frozen=True)
class InternalCaArgs:
    plan: Plan
    # tier -> (the names its certificate covers (without the domain), its fixed private addresses)
    tiers: Mapping[str, tuple[Sequence[str], Sequence[str]]]
    domain: str = "internal"  # the private namespace's domain


@dataclass
class IssuedCa:
    ca_pem: pulumi.Output[str]
    certs: dict[str, pulumi.Output[str]]  # tier -> certificate (PEM)
    keys: dict[str, pulumi.Output[str]]  # secret name (`tls-key-<tier>`) -> private key (a secret)


def issue_internal_ca(parent: pulumi.Resource, name: str, args: InternalCaArgs) -> IssuedCa:
    plan = args.plan
    child = pulumi.ResourceOptions(parent=parent)
    ca_key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
    ca = tls.SelfSignedCert(
        f"{name}-cert", private_key_pem=ca_key.private_key_pem, is_ca_certificate=True,
        validity_period_hours=CA_HOURS, early_renewal_hours=RENEW_HOURS,
        allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
        subject=tls.SelfSignedCertSubjectArgs(common_name=f"{plan.name_prefix} internal CA",
                                              organization="reactor-infra"),
        opts=child)
    issued = IssuedCa(ca_pem=ca.cert_pem, certs={}, keys={})
    for tier, (names, addresses) in args.tiers.items():
        key = tls.PrivateKey(f"{name}-{tier}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        request = tls.CertRequest(
            f"{name}-{tier}-request", private_key_pem=key.private_key_pem,
            subject=tls.CertRequestSubjectArgs(common_name=f"{tier}.{args.domain}", organization="reactor-infra"),
            dns_names=[f"{n}.{args.domain}" for n in names] + ["localhost"],
            ip_addresses=[*addresses, "127.0.0.1"], opts=child)
        cert = tls.LocallySignedCert(
            f"{name}-{tier}-cert", cert_request_pem=request.cert_request_pem,
            ca_private_key_pem=ca_key.private_key_pem, ca_cert_pem=ca.cert_pem,
            validity_period_hours=CERT_HOURS, early_renewal_hours=RENEW_HOURS,
            # servers to their clients, and NATS routes both ways (mutual TLS)
            allowed_uses=["digital_signature", "key_encipherment", "server_auth", "client_auth"],
            opts=child)
        issued.certs[tier] = cert.cert_pem
        issued.keys[tls_key_secret(tier)] = pulumi.Output.secret(key.private_key_pem)
    return issued


class InternalCaComponent:
    """Mixin for a platform's `InternalCa` component (before its platform base:
    `class InternalCa(InternalCaComponent, AwsComponent)`): `ca_pem` (Output[str]),
    `certs[tier]` (PEM), `keys[secret name]` (secret Outputs)."""

    def __init__(self, name: str, args: InternalCaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)  # type: ignore[call-arg]
        issued = issue_internal_ca(self, name, args)  # type: ignore[arg-type]
        self.ca_pem, self.certs, self.keys = issued.ca_pem, issued.certs, issued.keys
        self.register_outputs({"ca": self.ca_pem})  # type: ignore[attr-defined]
