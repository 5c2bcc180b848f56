"""Certificate: the certificate of the Application Load Balancer (where the Plan ends TLS there).

- With `settings.domain`: an ACM certificate for the domain (and `*.<domain>` when the edition
  serves tenants at `{ref}.<domain>`), proved by DNS: ACM's validation CNAME written into the
  domain's Route53 zone, and a `CertificateValidation` that waits until ACM issues it. ACM renews
  it for as long as the record stays. The domain and its wildcard share one validation record, so
  there is one record per distinct name once `*.` is taken off (known before anything exists).
- Without a domain: nobody can prove a name to a public CA, so the program makes a self-signed
  certificate for `<stack>.reactor.invalid` (RSA 2048, one year, renewed by the first `up` in its
  last 30 days) and imports it into ACM. Browsers and clients do not trust it (the Plan says so in
  its notes); the load balancer still speaks only HTTPS. The private key is a Pulumi secret from
  the moment `tls.PrivateKey` makes it to ACM's import, and never appears in a render.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_tls as tls

from reactor_infra.layout import Plan
from reactor_infra.naming import cut, prefix

from .component import AwsComponent
from .naming import physical_name, tags

TIER = "network"
VALIDATION_TTL = 60
SELF_SIGNED_DOMAIN = "reactor.invalid"  # RFC 2606: never resolves, never a real name
SELF_SIGNED_HOURS = 365 * 24
SELF_SIGNED_EARLY_RENEWAL_HOURS = 30 * 24
DNS_LABEL_MAX = 63


@dataclass(frozen=True)
class CertificateArgs:
    plan: Plan  # settings.domain (none: self-signed) and policy.multi_tenant (the wildcard name)
    # the Route53 public zone of plan.settings.domain; None without a domain
    zone_id: pulumi.Input[str] | None


class Certificate(AwsComponent):
    """`arn`: the certificate the HTTPS listener serves (issued and validated, or imported)."""

    def __init__(self, name: str, args: CertificateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._plan = name, args.plan
        domain = args.plan.settings.domain
        if domain and args.zone_id is None:
            raise ValueError("Certificate: a domain needs its Route53 zone (zone_id) for DNS validation")
        self.arn: pulumi.Output[str] = (self._create_validated(domain, args.zone_id) if domain
                                        else self._create_self_signed())
        self.register_outputs({"arn": self.arn})

    def _tags(self) -> dict[str, str]:
        return tags(self._plan, TIER, physical_name(self._plan, TIER, "certificate"))

    def _create_validated(self, domain: str, zone_id: pulumi.Input[str]) -> pulumi.Output[str]:
        names = [domain, f"*.{domain}"] if self._plan.policy.multi_tenant else [domain]
        certificate = aws.acm.Certificate(
            f"{self._name}-acm",
            domain_name=domain,
            subject_alternative_names=names[1:] or None,
            validation_method="DNS",
            key_algorithm="RSA_2048",
            tags=self._tags(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        validated = list(dict.fromkeys(n.removeprefix("*.") for n in names))
        records = [self._create_validation_record(certificate, index, name, zone_id)
                   for index, name in enumerate(validated)]
        validation = aws.acm.CertificateValidation(
            f"{self._name}-validation",
            certificate_arn=certificate.arn,
            validation_record_fqdns=[r.fqdn for r in records],
            opts=pulumi.ResourceOptions(parent=self),
        )
        return validation.certificate_arn

    def _create_validation_record(self, certificate: aws.acm.Certificate, index: int, name: str,
                                  zone_id: pulumi.Input[str]) -> aws.route53.Record:
        option = certificate.domain_validation_options.apply(
            lambda options: next(o for o in options if o.domain_name == name))
        return aws.route53.Record(
            f"{self._name}-validation-{index}",
            zone_id=zone_id,
            name=option.apply(lambda o: o.resource_record_name),
            type=option.apply(lambda o: o.resource_record_type),
            records=[option.apply(lambda o: o.resource_record_value)],
            ttl=VALIDATION_TTL,
            # a previous install (or a second certificate) of the same name wrote the same record
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_self_signed(self) -> pulumi.Output[str]:
        host = f"{cut(prefix(self._plan), DNS_LABEL_MAX)}.{SELF_SIGNED_DOMAIN}"
        key = tls.PrivateKey(
            f"{self._name}-key",
            algorithm="RSA",
            rsa_bits=2048,
            opts=pulumi.ResourceOptions(parent=self),
        )
        cert = tls.SelfSignedCert(
            f"{self._name}-self-signed",
            private_key_pem=key.private_key_pem,
            subject=tls.SelfSignedCertSubjectArgs(common_name=host, organization="Reactor"),
            dns_names=[host],
            validity_period_hours=SELF_SIGNED_HOURS,
            early_renewal_hours=SELF_SIGNED_EARLY_RENEWAL_HOURS,
            allowed_uses=["server_auth", "digital_signature", "key_encipherment"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        imported = aws.acm.Certificate(
            f"{self._name}-imported",
            private_key=key.private_key_pem,
            certificate_body=cert.cert_pem,
            tags=self._tags(),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return imported.arn
