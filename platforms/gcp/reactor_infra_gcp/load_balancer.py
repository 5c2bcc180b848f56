"""LoadBalancer: the global external Application Load Balancer in front of the app tier where it
terminates TLS (size 3): the only way in from the internet.

- HTTPS on 443 with the Certificate's managed (or self-signed) certificate and a TLS 1.2+
  policy; HTTP on 80 only redirects to HTTPS (same address).
- The admin surface never reaches reactor-server: the URL map sends `/_admin`, `/_cloud` and
  `/_ops` (and everything under them) to a redirect to `/`, before any backend is chosen; for
  editions E and C a Cloud Armor policy also refuses them (403, the lower-cased, URL-decoded
  path) and applies Google's preconfigured WAF rules (SQL injection, XSS, LFI, RCE).
- The backend service sends to the app machines on :8000 (health-checked on /health), with a
  one-hour timeout for WebSockets and server-sent events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.catalogue import ADMIN_PREFIXES
from reactor_infra.layout import LOAD_BALANCER, REACTOR, Plan

from .component import GcpComponent
from .naming import labels, physical_name

TIER = str(LOAD_BALANCER)
ADMIN_PATHS = ADMIN_PREFIXES
ADMIN_EXPRESSION = "request.path.lower().urlDecode().matches('^/+_(admin|cloud|ops)([/?;]|$)')"
WAF_RULES = ("sqli-v33-stable", "xss-v33-stable", "lfi-v33-stable", "rce-v33-stable")
STREAM_TIMEOUT_S = 3600


@dataclass(frozen=True)
class LoadBalancerArgs:
    plan: Plan
    address: pulumi.Input[str]  # the global address (Address, made before the machines)
    backends: Sequence[pulumi.Input[str]]  # the app tier's instance groups
    certificate_map: pulumi.Input[str] | None = None
    ssl_certificates: Sequence[pulumi.Input[str]] = ()


class LoadBalancer(GcpComponent):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        self._plan, self._name = plan, name
        check = gcp.compute.HealthCheck(
            f"{name}-health", name=self._n("health"), check_interval_sec=10, timeout_sec=5,
            http_health_check=gcp.compute.HealthCheckHttpHealthCheckArgs(port=REACTOR, request_path="/health"),
            opts=child)
        policy = self._armor(child) if plan.policy.protect else None
        backend = gcp.compute.BackendService(
            f"{name}-backend", name=self._n("app"), load_balancing_scheme="EXTERNAL_MANAGED", protocol="HTTP",
            port_name="http", timeout_sec=STREAM_TIMEOUT_S, health_checks=check.id,
            security_policy=policy.self_link if policy else None,
            backends=[gcp.compute.BackendServiceBackendArgs(group=g, balancing_mode="UTILIZATION",
                                                            capacity_scaler=1.0) for g in args.backends],
            log_config=gcp.compute.BackendServiceLogConfigArgs(enable=True, sample_rate=1.0), opts=child)
        urls = gcp.compute.URLMap(
            f"{name}-urls", name=self._n("urls"), default_service=backend.id,
            host_rules=[gcp.compute.URLMapHostRuleArgs(hosts=["*"], path_matcher="reactor")],
            path_matchers=[gcp.compute.URLMapPathMatcherArgs(
                name="reactor", default_service=backend.id,
                path_rules=[gcp.compute.URLMapPathMatcherPathRuleArgs(
                    paths=[p for base in ADMIN_PATHS for p in (base, f"{base}/*")],
                    url_redirect=gcp.compute.URLMapPathMatcherPathRuleUrlRedirectArgs(
                        path_redirect="/", strip_query=True, redirect_response_code="FOUND"))])],
            opts=child)
        tls_policy = gcp.compute.SSLPolicy(f"{name}-tls", name=self._n("tls"), profile="MODERN",
                                           min_tls_version="TLS_1_2", opts=child)
        https = gcp.compute.TargetHttpsProxy(
            f"{name}-https", name=self._n("https"), url_map=urls.id, ssl_policy=tls_policy.id,
            certificate_map=args.certificate_map, ssl_certificates=list(args.ssl_certificates) or None, opts=child)
        gcp.compute.GlobalForwardingRule(
            f"{name}-443", name=self._n("https"), target=https.id, ip_address=args.address, port_range="443",
            ip_protocol="TCP", load_balancing_scheme="EXTERNAL_MANAGED", labels=labels(plan, TIER), opts=child)
        redirect = gcp.compute.URLMap(
            f"{name}-redirect", name=self._n("redirect"),
            default_url_redirect=gcp.compute.URLMapDefaultUrlRedirectArgs(
                https_redirect=True, strip_query=False, redirect_response_code="MOVED_PERMANENTLY_DEFAULT"),
            opts=child)
        http = gcp.compute.TargetHttpProxy(f"{name}-http", name=self._n("http"), url_map=redirect.id, opts=child)
        gcp.compute.GlobalForwardingRule(
            f"{name}-80", name=self._n("http"), target=http.id, ip_address=args.address, port_range="80",
            ip_protocol="TCP", load_balancing_scheme="EXTERNAL_MANAGED", labels=labels(plan, TIER), opts=child)
        self.register_outputs({})

    def _n(self, role: str) -> str:
        return physical_name(self._plan, "lb", role)

    def _armor(self, child: pulumi.ResourceOptions) -> gcp.compute.SecurityPolicy:
        rules = [gcp.compute.SecurityPolicyRuleArgs(
            priority=1000, action="deny(403)", description="the admin surface is never public",
            match=gcp.compute.SecurityPolicyRuleMatchArgs(
                expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(expression=ADMIN_EXPRESSION)))]
        rules += [gcp.compute.SecurityPolicyRuleArgs(
            priority=2000 + i, action="deny(403)", description=f"Google's preconfigured WAF rule {rule}",
            match=gcp.compute.SecurityPolicyRuleMatchArgs(
                expr=gcp.compute.SecurityPolicyRuleMatchExprArgs(expression=f"evaluatePreconfiguredWaf('{rule}')")))
            for i, rule in enumerate(WAF_RULES)]
        rules.append(gcp.compute.SecurityPolicyRuleArgs(
            priority=2147483647, action="allow", description="everything else",
            match=gcp.compute.SecurityPolicyRuleMatchArgs(
                versioned_expr="SRC_IPS_V1",
                config=gcp.compute.SecurityPolicyRuleMatchConfigArgs(src_ip_ranges=["*"]))))
        return gcp.compute.SecurityPolicy(f"{self._name}-armor", name=self._n("armor"), type="CLOUD_ARMOR",
                                          rules=rules, opts=child)

