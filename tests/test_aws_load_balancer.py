"""The aws ingress components on their own, under the render's mocks: the public load balancer
(an ALB where the Plan ends TLS there, an NLB passing TLS through to Caddy otherwise), the
internal router in front of clustered OpenBao, and the ALB's certificate (ACM with a domain,
self-signed and imported without one)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest
from componentkit import render_components, resources_of

from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import parse
from reactor_infra_aws.certificate import Certificate, CertificateArgs
from reactor_infra_aws.load_balancer import LoadBalancer, LoadBalancerArgs
from reactor_infra_aws.router import VaultRouter, VaultRouterArgs

LB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER = "aws:lb/listener:Listener"
RULE = "aws:lb/listenerRule:ListenerRule"
ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
ACM = "aws:acm/certificate:Certificate"
VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
RECORD = "aws:route53/record:Record"
PRIVATE_KEY = "tls:index/privateKey:PrivateKey"
SELF_SIGNED = "tls:index/selfSignedCert:SelfSignedCert"
SECRET = "[secret]"
DOMAIN = "api.example.com"
CERT_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/test"
SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]


def _plan(token: str, domain: str | None = None):
    return build_plan(parse(token), load_settings({"domain": domain} if domain else {}))


def _opts() -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(providers={"aws": aws.Provider("aws-us-east-1", region="us-east-1")})


def _load_balancer(token: str, certificate_arn: str | None = None, target_type: str = "ip", suffix: str = ""):
    plan = _plan(token)
    holder = {}

    def body():
        holder["lb"] = LoadBalancer("ingress", LoadBalancerArgs(
            plan=plan, region="us-east-1", vpc_id="vpc-1", subnet_ids=SUBNETS, security_group_id="sg-lb",
            target_type=target_type, certificate_arn=certificate_arn, suffix=suffix), _opts())

    return render_components(body, token=token), holder


def _by_port(graph, type_: str) -> dict[int, dict]:
    return {r["inputs"]["port"]: r for r in resources_of(graph, type_)}


# --- the ALB: TLS ends at the load balancer (size 3) -------------------------------------


@pytest.fixture(scope="module")
def alb():
    graph, _ = _load_balancer("O3@aws", certificate_arn=CERT_ARN)
    return graph


def test_size_3_gets_an_internet_facing_application_load_balancer(alb):
    [lb] = resources_of(alb, LB)
    inputs = lb["inputs"]
    assert inputs["loadBalancerType"] == "application"
    assert inputs["internal"] is False
    assert inputs["subnets"] == SUBNETS
    assert inputs["securityGroups"] == ["sg-lb"]
    assert inputs["dropInvalidHeaderFields"] is True
    assert inputs["idleTimeout"] >= 60


def test_alb_https_listener_serves_the_certificate_with_tls_1_2_or_1_3(alb):
    https = _by_port(alb, LISTENER)[443]["inputs"]
    assert https["protocol"] == "HTTPS"
    assert https["certificateArn"] == CERT_ARN
    assert https["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    [action] = https["defaultActions"]
    [group] = resources_of(alb, TARGET_GROUP)
    assert action["type"] == "forward"
    assert action["targetGroupArn"].startswith("arn:aws:elasticloadbalancing:us-east-1:")
    assert group["inputs"]["name"] in action["targetGroupArn"]


def test_alb_http_listener_only_redirects_to_https(alb):
    http = _by_port(alb, LISTENER)[80]["inputs"]
    assert http["protocol"] == "HTTP"
    assert "certificateArn" not in http
    [action] = http["defaultActions"]
    assert action["type"] == "redirect"
    assert "targetGroupArn" not in action
    assert action["redirect"] == {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}
    assert set(_by_port(alb, LISTENER)) == {443, 80}


def test_alb_answers_404_for_the_admin_paths_before_forwarding(alb):
    [rule] = resources_of(alb, RULE)
    inputs = rule["inputs"]
    assert inputs["priority"] == 1
    https_urn = _by_port(alb, LISTENER)[443]["urn"]
    assert https_urn in rule["dependencies"]
    [condition] = inputs["conditions"]
    assert sorted(condition["pathPattern"]["values"]) == ["/_admin*", "/_cloud*", "/_ops*"]
    [action] = inputs["actions"]
    assert action["type"] == "fixed-response"
    assert action["fixedResponse"]["statusCode"] == "404"


def test_alb_target_group_is_reactor_server_http_8000_checked_on_health(alb):
    [group] = resources_of(alb, TARGET_GROUP)
    inputs = group["inputs"]
    assert (inputs["port"], inputs["protocol"], inputs["targetType"]) == (8000, "HTTP", "ip")
    check = inputs["healthCheck"]
    assert (check["protocol"], check["path"], check["matcher"]) == ("HTTP", "/health", "200")
    assert inputs["deregistrationDelay"] == 30


def test_alb_needs_a_certificate():
    with pytest.raises(Exception, match="certificate_arn"):
        _load_balancer("O3@aws", certificate_arn=None)


# --- the NLB: Caddy terminates TLS (sizes 4+) ---------------------------------------------


@pytest.fixture(scope="module")
def nlb():
    return _load_balancer("E5+ha@aws", target_type="instance")


def test_caddy_tiers_get_a_network_load_balancer_with_its_security_group(nlb):
    graph, holder = nlb
    [lb] = resources_of(graph, LB)
    inputs = lb["inputs"]
    assert inputs["loadBalancerType"] == "network"
    assert inputs["internal"] is False
    assert inputs["securityGroups"] == ["sg-lb"]
    assert inputs["enableCrossZoneLoadBalancing"] is True
    assert inputs["subnets"] == SUBNETS
    assert holder["lb"].kind == "network"
    assert set(holder["lb"].target_groups) == {443, 80}


def test_nlb_passes_tcp_443_and_80_through_and_forwards_nothing_over_http(nlb):
    graph, _ = nlb
    listeners = _by_port(graph, LISTENER)
    assert set(listeners) == {443, 80}
    assert {r["inputs"]["protocol"] for r in listeners.values()} == {"TCP"}
    assert not any("certificateArn" in r["inputs"] for r in listeners.values())
    assert resources_of(graph, RULE) == []
    groups = _by_port(graph, TARGET_GROUP)
    for port, listener in listeners.items():
        [action] = listener["inputs"]["defaultActions"]
        assert groups[port]["inputs"]["name"] in action["targetGroupArn"]


def test_nlb_target_groups_keep_the_client_address_and_check_tcp(nlb):
    graph, _ = nlb
    for port, group in _by_port(graph, TARGET_GROUP).items():
        inputs = group["inputs"]
        assert (inputs["protocol"], inputs["targetType"]) == ("TCP", "instance")
        assert inputs["preserveClientIp"] == "true"
        assert inputs["healthCheck"]["protocol"] == "TCP"
        assert inputs["healthCheck"]["port"] == "traffic-port"


def test_nlb_refuses_a_certificate():
    with pytest.raises(Exception, match="Caddy"):
        _load_balancer("E5+ha@aws", certificate_arn=CERT_ARN)


# --- both ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "protected", "cert"), [
    ("O3@aws", False, CERT_ARN), ("E3@aws", True, CERT_ARN), ("O4@aws", False, None), ("E5+ha@aws", True, None)])
def test_deletion_protection_follows_the_edition(token, protected, cert):
    graph, _ = _load_balancer(token, certificate_arn=cert)
    [lb] = resources_of(graph, LB)
    assert lb["inputs"]["enableDeletionProtection"] is protected


def test_names_fit_elb_limits_and_differ_in_a_second_region():
    plan_token = "E6+ha+mr@aws"
    graph, holder = _load_balancer(plan_token, suffix="-us-west-2")
    names = [r["inputs"]["name"] for r in resources_of(graph, LB) + resources_of(graph, TARGET_GROUP)]
    primary, _ = _load_balancer(plan_token)
    primary_names = [r["inputs"]["name"] for r in resources_of(primary, LB) + resources_of(primary, TARGET_GROUP)]
    for name in names + primary_names:
        assert len(name) <= 32 and all(c.isalnum() or c == "-" for c in name), name
        assert not name.startswith("-") and not name.endswith("-")
    assert not set(names) & set(primary_names)
    assert len(set(names)) == len(names)


def test_dns_name_and_zone_id_come_from_the_load_balancer(nlb):
    graph, _ = nlb
    [lb] = resources_of(graph, LB)
    outputs = graph.outputs_of(lb["urn"])
    assert outputs["dnsName"].endswith(".elb.us-east-1.amazonaws.com")
    assert outputs["zoneId"]


def test_target_type_is_checked():
    with pytest.raises(Exception, match="target_type"):
        _load_balancer("E5+ha@aws", target_type="lambda")


# --- the router in front of clustered OpenBao ------------------------------------------------


@pytest.mark.parametrize(("token", "tier", "tls", "protocol", "protected"), [
    ("E5+ha@aws", "infra", True, "HTTPS", True), ("O6@aws", "vault", False, "HTTP", False)])
def test_router_sends_8200_to_the_active_openbao_only(token, tier, tls, protocol, protected):
    plan = _plan(token)

    def body():
        VaultRouter("vault-router", VaultRouterArgs(
            plan=plan, tier=tier, vpc_id="vpc-1", subnet_ids=SUBNETS, security_group_id="sg-router", tls=tls,
            instance_ids=["i-1", "i-2", "i-3"]), _opts())

    graph = render_components(body, token=token)
    [lb] = resources_of(graph, LB)
    assert lb["inputs"]["loadBalancerType"] == "network"
    assert lb["inputs"]["internal"] is True
    assert lb["inputs"]["securityGroups"] == ["sg-router"]
    assert lb["inputs"]["enableCrossZoneLoadBalancing"] is True
    assert lb["inputs"]["enableDeletionProtection"] is protected
    assert lb["component"] == tier
    [group] = resources_of(graph, TARGET_GROUP)
    inputs = group["inputs"]
    assert (inputs["port"], inputs["protocol"], inputs["targetType"]) == (8200, "TCP", "instance")
    check = inputs["healthCheck"]
    assert (check["protocol"], check["path"], check["matcher"], check["interval"]) == (
        protocol, "/v1/sys/health", "200", 10)
    [listener] = resources_of(graph, LISTENER)
    assert (listener["inputs"]["port"], listener["inputs"]["protocol"]) == (8200, "TCP")
    attachments = resources_of(graph, ATTACHMENT)
    assert sorted(a["inputs"]["targetId"] for a in attachments) == ["i-1", "i-2", "i-3"]
    assert {a["inputs"]["port"] for a in attachments} == {8200}


# --- the ALB's certificate --------------------------------------------------------------------


def _certificate(token: str, domain: str | None):
    plan = _plan(token, domain)

    def body():
        Certificate("certificate", CertificateArgs(plan=plan, zone_id="ZONE1" if domain else None), _opts())

    return render_components(body, token=token)


def test_with_a_domain_acm_issues_a_dns_validated_certificate():
    graph = _certificate("O3@aws", DOMAIN)
    [cert] = resources_of(graph, ACM)
    assert cert["inputs"]["domainName"] == DOMAIN
    assert cert["inputs"]["validationMethod"] == "DNS"
    assert "subjectAlternativeNames" not in cert["inputs"]
    [record] = resources_of(graph, RECORD)
    assert record["inputs"]["zoneId"] == "ZONE1"
    assert record["inputs"]["type"] == "CNAME"
    assert record["inputs"]["name"].endswith(f".{DOMAIN}.")
    assert record["inputs"]["allowOverwrite"] is True
    [validation] = resources_of(graph, VALIDATION)
    assert validation["inputs"]["validationRecordFqdns"] == [record["inputs"]["name"]]
    assert resources_of(graph, PRIVATE_KEY) == []


def test_edition_c_certificate_covers_the_tenant_wildcard_with_one_validation_record():
    graph = _certificate("C3@aws", DOMAIN)
    [cert] = resources_of(graph, ACM)
    assert cert["inputs"]["subjectAlternativeNames"] == [f"*.{DOMAIN}"]
    assert len(resources_of(graph, RECORD)) == 1


def test_without_a_domain_a_self_signed_certificate_is_imported():
    graph = _certificate("O3@aws", None)
    [key] = resources_of(graph, PRIVATE_KEY)
    assert (key["inputs"]["algorithm"], key["inputs"]["rsaBits"]) == ("RSA", 2048)
    [cert] = resources_of(graph, SELF_SIGNED)
    assert cert["inputs"]["dnsNames"] == ["o3-aws.reactor.invalid"]
    assert cert["inputs"]["validityPeriodHours"] == 8760
    assert cert["inputs"]["earlyRenewalHours"] == 720
    assert sorted(cert["inputs"]["allowedUses"]) == ["digital_signature", "key_encipherment", "server_auth"]
    [imported] = resources_of(graph, ACM)
    assert "domainName" not in imported["inputs"]
    assert imported["inputs"]["certificateBody"].startswith("-----BEGIN CERTIFICATE-----")
    assert resources_of(graph, RECORD) == [] and resources_of(graph, VALIDATION) == []


def test_the_self_signed_private_key_stays_secret():
    graph = _certificate("O3@aws", None)
    [key] = resources_of(graph, PRIVATE_KEY)
    pem = graph.outputs_of(key["urn"])["privateKeyPem"]
    assert "PRIVATE KEY" in pem
    [imported] = resources_of(graph, ACM)
    assert imported["inputs"]["privateKey"] == SECRET and "privateKey" in imported["secret_inputs"]
    [cert] = resources_of(graph, SELF_SIGNED)
    assert cert["inputs"]["privateKeyPem"] == SECRET
    rendered = graph.to_json()
    body_line = pem.splitlines()[1]
    assert pem not in rendered and body_line not in rendered
    assert body_line not in json.dumps(graph.to_dict()) + graph.tree()


def test_renders_are_byte_identical():
    assert _certificate("O3@aws", None).to_json() == _certificate("O3@aws", None).to_json()
    assert _load_balancer("O3@aws", CERT_ARN)[0].to_json() == _load_balancer("O3@aws", CERT_ARN)[0].to_json()
