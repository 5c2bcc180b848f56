"""DnsChallenge: the credential Caddy proves the tenants' wildcard name with (DNS-01, Route53).

Edition C serves every tenant at `{ref}.<domain>`: one wildcard certificate, issued by ACME's
DNS-01 challenge, which means writing a TXT record `_acme-challenge.<domain>` in the domain's
hosted zone. An IAM user whose only right is exactly that (that name, that type, that zone),
and its access key, which the Secrets component keeps as the Plan's `dns-challenge-*` secrets
and the node hands to Caddy at boot. A key rather than the instance role: Caddy faces the
internet and must never hold the role that reads every secret of the node (its container has
no way to the metadata service at all).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan

from .component import AwsComponent
from .naming import IAM_ROLE_MAX, physical_name, tags

TIER = "edge"


@dataclass(frozen=True)
class DnsChallengeArgs:
    plan: Plan  # the domain, names and tags
    zone_id: pulumi.Input[str]  # the Route53 hosted zone that holds the domain


def challenge_policy(zone_id: str, domain: str) -> dict:
    """Write only `_acme-challenge.<domain>` TXT records in one zone; read what the caddy-dns
    route53 module needs to find the zone and wait for the change."""
    record = f"_acme-challenge.{domain}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "WriteTheChallengeRecordOnly", "Effect": "Allow",
             "Action": "route53:ChangeResourceRecordSets",
             "Resource": f"arn:aws:route53:::hostedzone/{zone_id}",
             "Condition": {
                 "ForAllValues:StringEquals": {
                     "route53:ChangeResourceRecordSetsNormalizedRecordNames": [record],
                     "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}}},
            {"Sid": "ReadTheZone", "Effect": "Allow", "Action": "route53:ListResourceRecordSets",
             "Resource": f"arn:aws:route53:::hostedzone/{zone_id}"},
            {"Sid": "WaitForTheChange", "Effect": "Allow", "Action": "route53:GetChange",
             "Resource": "arn:aws:route53:::change/*"},
            {"Sid": "FindTheZone", "Effect": "Allow", "Action": "route53:ListHostedZonesByName", "Resource": "*"},
        ],
    }


class DnsChallenge(AwsComponent):
    """`values[secret name]`: the access key's id and secret, as the Plan's PLATFORM secrets."""

    def __init__(self, name: str, args: DnsChallengeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan = args.plan
        domain = plan.settings.domain
        if not domain:
            raise ValueError("DnsChallenge needs settings.domain")
        user_name = physical_name(plan, TIER, "dns-challenge", IAM_ROLE_MAX)
        self.user = aws.iam.User(f"{name}-user", name=user_name, tags=tags(plan, TIER, user_name),
                                 opts=pulumi.ResourceOptions(parent=self))
        aws.iam.UserPolicy(
            f"{name}-policy", user=self.user.name, name=physical_name(plan, TIER, "dns-challenge-records", 128),
            policy=pulumi.Output.from_input(args.zone_id).apply(
                lambda zone: pulumi.Output.json_dumps(challenge_policy(zone, domain))),
            opts=pulumi.ResourceOptions(parent=self))
        self.key = aws.iam.AccessKey(f"{name}-key", user=self.user.name,
                                     opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["id"]))
        challenge = plan.traits.dns_challenge
        assert challenge is not None
        values = {"AWS_ACCESS_KEY_ID": self.key.id, "AWS_SECRET_ACCESS_KEY": self.key.secret}
        self.values = {secret: pulumi.Output.secret(values[var]) for var, secret in challenge.env}
        self.register_outputs({"user": self.user.name})
