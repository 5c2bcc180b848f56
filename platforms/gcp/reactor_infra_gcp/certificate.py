"""Certificate: what the global load balancer (size 3) answers TLS with.

With a domain: a Google-managed certificate from Certificate Manager, proved by DNS
authorization (a CNAME the program writes into the domain's Cloud DNS zone when it has one):
it covers the domain and, for edition C, `*.<domain>` (tenants at {ref}.<domain>; classic
managed certificates cannot be wildcards). Without a domain: a self-signed certificate the
program makes (pulumi-tls), which browsers and clients do not trust (the Plan's note says so);
its private key stays a Pulumi secret.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp
import pulumi_tls as tls

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import labels, physical_name

TIER = "edge"


@dataclass(frozen=True)
class CertificateArgs:
    plan: Plan
    host: pulumi.Input[str]  # without a domain: the address the self-signed certificate is for


class Certificate(GcpComponent):
    """`certificate_map` (Output[str], for the HTTPS proxy) or `ssl_certificates` (list);
    `authorization` ((name, type, data) of the DNS record to write) or None."""

    def __init__(self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        self.certificate_map = None
        self.ssl_certificates: list[pulumi.Output[str]] = []
        self.authorization = None
        domain = plan.settings.domain
        if domain:
            auth = gcp.certificatemanager.DnsAuthorization(
                f"{name}-authorization", name=physical_name(plan, TIER, "dns-authorization"), domain=domain,
                labels=labels(plan, TIER), opts=child)
            self.authorization = auth.dns_resource_records.apply(
                lambda r: (r[0]["name"], r[0]["type"], r[0]["data"]) if isinstance(r[0], dict)
                else (r[0].name, r[0].type, r[0].data))
            names = [domain] + ([f"*.{domain}"] if plan.policy.multi_tenant else [])
            cert = gcp.certificatemanager.Certificate(
                f"{name}-managed", name=physical_name(plan, TIER, "certificate"), labels=labels(plan, TIER),
                managed=gcp.certificatemanager.CertificateManagedArgs(domains=names, dns_authorizations=[auth.id]),
                opts=child)
            cmap = gcp.certificatemanager.CertificateMap(
                f"{name}-map", name=physical_name(plan, TIER, "certificates"), labels=labels(plan, TIER), opts=child)
            for i, host in enumerate(names):
                gcp.certificatemanager.CertificateMapEntry(
                    f"{name}-entry-{i}", name=physical_name(plan, TIER, f"certificate-{i}"), map=cmap.name,
                    hostname=host, certificates=[cert.id], labels=labels(plan, TIER), opts=child)
            self.certificate_map = cmap.id.apply(lambda i: f"//certificatemanager.googleapis.com/{i}")
        else:
            key = tls.PrivateKey(f"{name}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child)
            cert = tls.SelfSignedCert(
                f"{name}-self-signed", private_key_pem=key.private_key_pem, validity_period_hours=2 * 365 * 24,
                early_renewal_hours=30 * 24, allowed_uses=["digital_signature", "key_encipherment", "server_auth"],
                subject=tls.SelfSignedCertSubjectArgs(common_name=plan.name_prefix, organization="reactor-infra"),
                ip_addresses=[args.host], opts=child)
            ssl = gcp.compute.SSLCertificate(
                f"{name}-ssl", name_prefix=f"{physical_name(plan, TIER, 'self-signed', 50)}-",
                certificate=cert.cert_pem, private_key=pulumi.Output.secret(key.private_key_pem),
                opts=pulumi.ResourceOptions(parent=self))
            self.ssl_certificates = [ssl.id]
        self.register_outputs({})
