"""InternalCa: the install's private certificate authority, for TLS between machines
(`plan.internal_tls`): OpenBao's API and raft, NATS clients and routes.

A CA key and self-signed CA certificate (10 years), then per machine tier that serves TLS
(`plan.tls_tiers()`) a key and a certificate the CA signs (2 years, renewed by the next `up`
within its last 30 days), valid for every name the tier answers to: `<tier>.internal` (the
router's name for a clustered OpenBao), each machine's `<tier>-<n>.internal`, their fixed
private addresses, and the machine's own loopback. Certificates are public and reach configs
as late values; each private key is a Plan secret (`tls-key-<tier>`) the platform issues: kept
in SSM like the others, written on its own tier's machines only, readable by the service's user.

pulumi-tls rather than ACM Private CA: a private CA there is billed monthly per CA and region
(short-lived or general-purpose mode) and issues nothing OpenBao or NATS could not verify
against a CA file; the CA key lives in the stack's (encrypted) state, which already holds every
generated secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_tls as tls

from reactor_infra.layout import Plan
from reactor_infra.plan import tls_key_secret

from .component import AwsComponent

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


class InternalCa(AwsComponent):
    """`ca_pem` (Output[str]); `certs[tier]` (Output[str], PEM); `keys[secret name]` (secret Output)."""

    def __init__(self, name: str, args: InternalCaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, plan = name, args.plan
        child = pulumi.ResourceOptions(parent=self)
        ca_key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
        self.ca = tls.SelfSignedCert(
            f"{name}-cert", private_key_pem=ca_key.private_key_pem, is_ca_certificate=True,
            validity_period_hours=CA_HOURS, early_renewal_hours=RENEW_HOURS,
            allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{plan.name_prefix} internal CA",
                                                  organization="reactor-infra"),
            opts=child)
        self.ca_pem: pulumi.Output[str] = self.ca.cert_pem
        self.certs: dict[str, pulumi.Output[str]] = {}
        self.keys: dict[str, pulumi.Output[str]] = {}
        for tier, (names, addresses) in args.tiers.items():
            key = tls.PrivateKey(f"{name}-{tier}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
            request = tls.CertRequest(
                f"{name}-{tier}-request", private_key_pem=key.private_key_pem,
                subject=tls.CertRequestSubjectArgs(common_name=f"{tier}.{args.domain}", organization="reactor-infra"),
                dns_names=[f"{n}.{args.domain}" for n in names] + ["localhost"],
                ip_addresses=[*addresses, "127.0.0.1"], opts=child)
            cert = tls.LocallySignedCert(
                f"{name}-{tier}-cert", cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=ca_key.private_key_pem, ca_cert_pem=self.ca.cert_pem,
                validity_period_hours=CERT_HOURS, early_renewal_hours=RENEW_HOURS,
                # servers to their clients, and NATS routes both ways (mutual TLS)
                allowed_uses=["digital_signature", "key_encipherment", "server_auth", "client_auth"],
                opts=child)
            self.certs[tier] = cert.cert_pem
            self.keys[tls_key_secret(tier)] = pulumi.Output.secret(key.private_key_pem)
        self.register_outputs({"ca": self.ca_pem})
