"""FrontDoor: size 3's way in: Azure Front Door (Standard; Premium with its WAF for editions E
and C) terminating TLS and sending to the app tier's public balancer in each region (:8000,
health-probed on /health), HTTP only redirecting to HTTPS.

Front Door's own host (`<endpoint>.azurefd.net`, with Microsoft's certificate) serves without a
domain; with one, a custom domain with a managed certificate (TLS 1.2 minimum), validated by a
TXT record (made in `dns_zone` when given); edition C's tenants at `*.<domain>` with the
operator's certificate from a Key Vault (`extras.azure.wildcard_certificate`: Front Door's
managed certificates cover no wildcard), read by Front Door's own identity. `/_admin`, `/_cloud` and `/_ops` never reach an
origin: a rule redirects them before any routing (on the lower-cased, URL-decoded path, any
number of leading slashes), and for E and C the WAF blocks them too, beside Microsoft's default
rule set and bot manager rules. The origins accept only Front Door's back ends (the firewall's
AzureFrontDoor.Backend rule); reactor-server answers its admin API only to a loopback peer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_azure_native as az

from reactor_infra.catalogue import ADMIN_PREFIXES
from reactor_infra.layout import REACTOR, Plan

from .component import AzureComponent
from .naming import physical_name, tags
from .roles import SECRETS_USER, grant

TIER = "load-balancer"
ADMIN_PATH = "^/*(" + "|".join(p.strip("/") for p in ADMIN_PREFIXES) + ")(/|$)"
ADMIN_URI = "^https?://[^/]+/+(" + "|".join(p.strip("/") for p in ADMIN_PREFIXES) + ")(/|\\?|$)"


@dataclass(frozen=True)
class FrontDoorArgs:
    plan: Plan
    resource_group: pulumi.Input[str]
    origins: Sequence[tuple[str, pulumi.Input[str]]]  # (region, its balancer's public address)
    waf: bool  # editions E and C: Premium with the WAF
    subscription: pulumi.Input[str] = ""
    wildcard_certificate: str | None = None  # edition C: the Key Vault secret with *.<domain>'s certificate


def waf_name(plan: Plan) -> str:
    """WAF policy names are letters and digits only, starting with a letter: the physical name
    without its '-' (`e5haazurewafpolicy`)."""
    name = "".join(c for c in physical_name(plan, "waf", "policy", 128) if c.isalnum())
    return name if name[0].isalpha() else f"waf{name}"


class FrontDoor(AzureComponent):
    """`endpoint`; `host` (Front Door's own host name); `domains` (custom domain resources)."""

    def __init__(self, name: str, args: FrontDoorArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child, rg = args.plan, pulumi.ResourceOptions(parent=self), args.resource_group
        sku = "Premium_AzureFrontDoor" if args.waf else "Standard_AzureFrontDoor"
        wildcard = args.wildcard_certificate if plan.policy.multi_tenant and plan.settings.domain else None
        self.profile = az.cdn.Profile(
            f"{name}-profile", profile_name=physical_name(plan, "front-door", "profile"), resource_group_name=rg,
            location="global", sku={"name": sku}, origin_response_timeout_seconds=240, tags=tags(plan, TIER),
            # its own identity reads the tenants' wildcard certificate from the operator's vault
            identity={"type": "SystemAssigned"} if wildcard else None, opts=child)
        profile = self.profile.name
        self.endpoint = az.cdn.AFDEndpoint(
            f"{name}-endpoint", endpoint_name=physical_name(plan, "fd", "endpoint", 46), profile_name=profile,
            resource_group_name=rg, location="global", enabled_state="Enabled", tags=tags(plan, TIER), opts=child)
        self.host = self.endpoint.host_name
        group = az.cdn.AFDOriginGroup(
            f"{name}-origins", origin_group_name="app", profile_name=profile, resource_group_name=rg,
            session_affinity_state="Disabled",
            health_probe_settings={"probe_path": "/health", "probe_protocol": "Http", "probe_request_type": "GET",
                                   "probe_interval_in_seconds": 30},
            load_balancing_settings={"sample_size": 4, "successful_samples_required": 3,
                                     "additional_latency_in_milliseconds": 50}, opts=child)
        origins = [az.cdn.AFDOrigin(
            f"{name}-origin-{region}", origin_name=region, origin_group_name=group.name, profile_name=profile,
            resource_group_name=rg, host_name=address, http_port=REACTOR, https_port=443, priority=1 + i, weight=1000,
            enabled_state="Enabled", enforce_certificate_name_check=False, opts=child)
            for i, (region, address) in enumerate(args.origins)]
        rules = az.cdn.RuleSet(f"{name}-rules", rule_set_name="adminpaths", profile_name=profile,
                               resource_group_name=rg, opts=child)
        admin = az.cdn.Rule(
            f"{name}-admin-paths", rule_name="closeadmin", rule_set_name=rules.name, profile_name=profile,
            resource_group_name=rg, order=1, match_processing_behavior="Stop",
            # conditions are a union of types: typed arguments, so their keys reach Azure in its casing
            conditions=[az.cdn.DeliveryRuleUrlPathConditionArgs(name="UrlPath", parameters=az.cdn.UrlPathMatchConditionParametersArgs(
                type_name="DeliveryRuleUrlPathMatchConditionParameters", operator="RegEx", match_values=[ADMIN_PATH],
                transforms=["Lowercase", "UrlDecode"], negate_condition=False))],
            actions=[{"name": "UrlRedirect", "parameters": {
                "type_name": "DeliveryRuleUrlRedirectActionParameters", "redirect_type": "Found",
                "destination_protocol": "Https", "custom_path": "/"}}], opts=child)
        self.domains: list[az.cdn.AFDCustomDomain] = []
        self.hosts: list[str] = []  # each custom domain's host name
        domain = plan.settings.domain
        if domain:
            self.domains.append(az.cdn.AFDCustomDomain(
                f"{name}-domain", custom_domain_name=physical_name(plan, "fd", "domain"), profile_name=profile,
                resource_group_name=rg, host_name=domain,
                tls_settings={"certificate_type": "ManagedCertificate", "minimum_tls_version": "TLS12"}, opts=child))
            self.hosts.append(domain)
        if wildcard:
            self.domains.append(self._wildcard(name, args, profile, wildcard))
            self.hosts.append(f"*.{domain}")
        az.cdn.Route(
            f"{name}-route", route_name="app", endpoint_name=self.endpoint.name, profile_name=profile,
            resource_group_name=rg, origin_group={"id": group.id}, patterns_to_match=["/*"],
            supported_protocols=["Http", "Https"], https_redirect="Enabled", forwarding_protocol="HttpOnly",
            link_to_default_domain="Enabled", custom_domains=[{"id": d.id} for d in self.domains] or None,
            rule_sets=[{"id": rules.id}], enabled_state="Enabled",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*origins, admin]))
        if args.waf:
            self._waf(name, args, profile)
        self.register_outputs({"host": self.host})

    def _wildcard(self, name: str, args: FrontDoorArgs, profile: pulumi.Input[str], secret_id: str):
        """`*.<domain>` (edition C's tenants) with the operator's certificate: Front Door's
        identity may read that one secret (Key Vault Secrets User on it)."""
        plan, child, rg = args.plan, pulumi.ResourceOptions(parent=self), args.resource_group
        reader = grant(f"{name}-reads-certificate", plan=plan, subscription=args.subscription, role=SECRETS_USER,
                       principal=self.profile.identity.apply(lambda i: i.principal_id if i else ""), scope=secret_id,
                       opts=child)
        secret = az.cdn.Secret(
            f"{name}-wildcard-certificate", secret_name="wildcard", profile_name=profile, resource_group_name=rg,
            parameters=az.cdn.CustomerCertificateParametersArgs(type="CustomerCertificate",
                                                                 secret_source={"id": secret_id}, use_latest_version=True),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[reader]))
        return az.cdn.AFDCustomDomain(
            f"{name}-wildcard", custom_domain_name=physical_name(plan, "fd", "wildcard"), profile_name=profile,
            resource_group_name=rg, host_name=f"*.{plan.settings.domain}",
            tls_settings={"certificate_type": "CustomerCertificate", "minimum_tls_version": "TLS12",
                          "secret": {"id": secret.id}}, opts=child)

    def _waf(self, name: str, args: FrontDoorArgs, profile: pulumi.Input[str]) -> None:
        plan, child, rg = args.plan, pulumi.ResourceOptions(parent=self), args.resource_group
        policy = az.frontdoor.Policy(
            f"{name}-waf", policy_name=waf_name(plan), resource_group_name=rg, location="global",
            sku={"name": "Premium_AzureFrontDoor"},
            policy_settings={"enabled_state": "Enabled", "mode": "Prevention"},
            custom_rules={"rules": [{
                "name": "DenyAdminPaths", "priority": 1, "rule_type": "MatchRule", "action": "Block",
                "enabled_state": "Enabled",
                "match_conditions": [{"match_variable": "RequestUri", "operator": "RegEx", "match_value": [ADMIN_URI],
                                      "transforms": ["Lowercase", "UrlDecode"], "negate_condition": False}]}]},
            managed_rules={"managed_rule_sets": [
                {"rule_set_type": "Microsoft_DefaultRuleSet", "rule_set_version": "2.1", "rule_set_action": "Block"},
                {"rule_set_type": "Microsoft_BotManagerRuleSet", "rule_set_version": "1.1"}]},
            tags=tags(plan, TIER), opts=child)
        az.cdn.SecurityPolicy(
            f"{name}-security", security_policy_name="waf", profile_name=profile, resource_group_name=rg,
            parameters={"type": "WebApplicationFirewall", "waf_policy": {"id": policy.id},
                        "associations": [{"domains": [{"id": self.endpoint.id}, *[{"id": d.id} for d in self.domains]],
                                          "patterns_to_match": ["/*"]}]}, opts=child)
