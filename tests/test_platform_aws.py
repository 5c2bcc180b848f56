"""The aws platform (size 2: one EC2 node) through the offline mock render.

Snapshots guard the whole graph (logical names are a contract); the semantic tests say what
must hold whatever the snapshot: only the Plan's links are open (80/443 from anywhere, nothing
administrative), IMDSv2, encrypted volumes, SSM instead of SSH, protection by edition, no
secret value anywhere in a render, and user data that cloud-init accepts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml
from matrix import every

from reactor_infra.errors import SettingsError
from reactor_infra.layout import INTERNET
from reactor_infra.plan import build_plan
from reactor_infra.conformance import generated_values
from reactor_infra.platforms import Deployment, Platform, load
from reactor_infra.render import render as render_graph
from renders import rendered as _rendered
from renders import default_settings, rendered_json
from reactor_infra.settings import load_settings, read_stack_file
from reactor_infra.token import Modifier, parse, valid_topologies
from reactor_infra.token import Platform as Platform_

TOKENS = ["O2@aws", "E2@aws", "C2@aws"]
DOMAIN = "api.example.com"

INSTANCE = "aws:ec2/instance:Instance"
VOLUME = "aws:ebs/volume:Volume"
ATTACHMENT = "aws:ec2/volumeAttachment:VolumeAttachment"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
RECORD = "aws:route53/record:Record"
PARAMETER = "aws:ssm/parameter:Parameter"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACH_POLICY = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
PROFILE = "aws:iam/instanceProfile:InstanceProfile"
KMS_KEY = "aws:kms/key:Key"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
PROVIDER = "pulumi:providers:aws"
SECRET = "[secret]"
SSM_CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
ADMIN_PORTS = (22, 2019, 5432, 6543, 8000, 8200, 8201, 4222, 6222, 8222, 9000)


# --- the plugin, without a render --------------------------------------------------------


def test_aws_plugin_is_registered_under_its_name():
    platform = load("aws")
    assert (platform.name, platform.package) == ("aws", "reactor-infra-aws")
    assert platform.sizes == frozenset({2, 3, 4, 5, 6, 10})
    assert platform.modifiers == frozenset(Modifier)


def test_plugin_builds_every_valid_aws_token():
    tokens = list(valid_topologies(Platform_.AWS))
    assert len(tokens) == 87

    def builds(t):
        assert load("aws").unsupported(t) == []

    assert every(tokens, builds) == 87


def test_extras_have_defaults_said_in_the_model():
    extras = load("aws").extras(build_plan(parse("O2@aws")))
    assert extras.instance_type is None and extras.key_name is None and extras.hosted_zone_id is None
    assert extras.ami_ssm_parameter.startswith("/aws/service/")
    assert extras.subnet_cidr() == "10.42.0.0/24"


def test_unknown_or_bad_extras_are_named():
    settings = load_settings({"extras": {"aws": {"instanse_type": "t3.large", "vpc_cidr": "10.0.0.0/8"}}})
    with pytest.raises(SettingsError) as err:
        load("aws").extras(build_plan(parse("O2@aws"), settings))
    text = str(err.value)
    assert "extras.aws.instanse_type" in text and "instance_type" in text
    assert "vpc_cidr" in text


@pytest.mark.parametrize(("preset", "expected"), [("dev", "t3.micro"), ("small", "t3.medium"),
                                                  ("active", "c6i.xlarge")])
def test_instance_type_fits_the_plans_sizing(preset, expected):
    from reactor_infra_aws.sizing import instance_type_for

    plan = build_plan(parse("O2@aws"), load_settings({"sizing": preset}))
    assert instance_type_for(plan.tier("node").sizing) == expected


def test_example_stack_files_parse_and_their_extras_validate():
    from pathlib import Path

    stacks = Path(__file__).parent.parent / "stacks"
    for name, token in (("o2-aws", "O2@aws"), ("e2-aws", "E2@aws")):
        stack = read_stack_file(stacks / f"Pulumi.{name}.yaml")
        assert (stack.name, stack.topology.token) == (name, token)
        assert stack.other_config.get("aws:region") == stack.settings.regions[0]
        load("aws").extras(build_plan(stack.topology, stack.settings))  # raises if invalid


# --- through the offline render -------------------------------------------------------------


def rendered(token: str, settings: dict | None = None):
    """(graph, its JSON text), rendered once per token and settings for the whole process."""
    return _rendered(token, settings), rendered_json(token, settings)


def resources(token: str, type_: str | None = None, settings: dict | None = None) -> list[dict]:
    doc = json.loads(rendered(token, settings)[1])
    return [r for r in doc["resources"] if type_ is None or r["type"] == type_]


def one_in(graph, type_: str) -> dict:
    (found,) = graph.find(type_)
    return dict(found.inputs)


def one(token: str, type_: str) -> dict:
    (found,) = resources(token, type_)
    return found


def test_aws_renders_every_size_2_token():
    assert {t for t in TOKENS} <= {f"{e}2@aws" for e in "OEC"}


# --- exposure ----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", TOKENS)
def test_one_ingress_rule_per_link_into_the_node(token):
    plan = build_plan(parse(token))
    rules = resources(token, INGRESS)
    links = plan.links_into("node")
    assert len(rules) == len(links) == rendered(token)[0].count_of(INGRESS)
    assert sorted((r["inputs"]["fromPort"], r["inputs"]["toPort"]) for r in rules) == sorted(
        (link.port, link.port) for link in links)


@pytest.mark.parametrize("token", TOKENS)
def test_security_group_opens_only_80_and_443_to_the_world_and_nothing_else(token):
    graph = rendered(token)[0]
    for rule in resources(token, INGRESS):
        inputs = rule["inputs"]
        assert inputs.get("cidrIpv4") in ("0.0.0.0/0", None)
        assert inputs.get("cidrIpv6") in ("::/0", None)
        assert inputs["ipProtocol"] == "tcp"
        assert inputs["fromPort"] == inputs["toPort"] in (80, 443)
    assert graph.has_resource(INGRESS, cidrIpv4="0.0.0.0/0", fromPort=443, toPort=443)
    assert graph.has_resource(INGRESS, cidrIpv4="0.0.0.0/0", fromPort=80, toPort=80)
    plan = build_plan(parse(token))
    assert sorted(link.port for link in plan.links if link.source == INTERNET) == [80, 443]


@pytest.mark.parametrize("token", TOKENS)
def test_nothing_administrative_is_open_from_anywhere(token):
    for rule in resources(token, INGRESS):
        low, high = rule["inputs"]["fromPort"], rule["inputs"]["toPort"]
        assert not any(low <= port <= high for port in ADMIN_PORTS), rule["name"]
    for group in resources(token, SG):
        assert not group["inputs"].get("ingress"), "rules are separate resources, never inline"
        assert not group["inputs"].get("egress"), "rules are separate resources, never inline"


@pytest.mark.parametrize("token", TOKENS)
def test_the_node_calls_out_through_one_egress_rule(token):
    (rule,) = resources(token, EGRESS)
    assert rule["inputs"]["ipProtocol"] == "-1" and rule["inputs"]["cidrIpv4"] == "0.0.0.0/0"


@pytest.mark.parametrize("token", TOKENS)
def test_no_ssh_key_and_no_public_ip_but_the_elastic_ip(token):
    instance = one(token, INSTANCE)["inputs"]
    assert not instance.get("keyName")
    assert instance["associatePublicIpAddress"] is False
    graph = rendered(token)[0]
    assert graph.count_of(EIP) == 1 and graph.count_of(EIP_ASSOCIATION) == 1
    assert graph.has_resource(EIP, domain="vpc")


# --- the instance ---------------------------------------------------------------------------


@pytest.mark.parametrize("token", TOKENS)
def test_imdsv2_is_required_and_only_the_guarded_openbao_container_reaches_the_role(token):
    """The awskms seal needs the instance role inside OpenBao's container: hop limit 2, and the
    node's metadata guard lets only OpenBao's fixed address through (shamir: 1, no guard)."""
    graph = rendered(token)[0]
    assert graph.has_resource(INSTANCE, metadataOptions={"httpTokens": "required", "httpEndpoint": "enabled"})
    hops = one(token, INSTANCE)["inputs"]["metadataOptions"]["httpPutResponseHopLimit"]
    doc = yaml.safe_load(user_data_of(token))
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    guard = files.get("/usr/local/sbin/reactor-metadata-guard", "")
    assert hops == 2 and "-s 172.30.0.10/32 -j RETURN" in guard
    assert guard.count("-j RETURN") == 1
    unit = files["/etc/systemd/system/reactor.service"]
    assert "reactor-metadata-guard.service" in unit.split("After=", 1)[1].splitlines()[0]
    shamir = rendered(token, {**(default_settings(token) or {}), "vault_seal": "shamir"})[0]
    assert one_in(shamir, INSTANCE)["metadataOptions"]["httpPutResponseHopLimit"] == 1
    assert "reactor-metadata-guard" not in one_in(shamir, INSTANCE)["userData"]


def test_a_changed_config_replaces_the_node_and_keeps_its_data():
    """cloud-init runs once per instance: user data changes replace the instance (old one
    first, so the data volume can move), while the volume, address and keys stay."""
    instance = one("E2@aws", INSTANCE)
    assert instance["inputs"]["userDataReplaceOnChange"] is True
    assert instance["delete_before_replace"] is True and instance["protect"] is False
    assert not instance["inputs"].get("disableApiTermination")
    (attachment,) = resources("E2@aws", ATTACHMENT)
    assert attachment["delete_before_replace"] is True
    assert one("E2@aws", VOLUME)["protect"] is True


@pytest.mark.parametrize("token", TOKENS)
def test_root_and_data_volumes_are_encrypted(token):
    plan = build_plan(parse(token))
    assert rendered(token)[0].has_resource(INSTANCE, rootBlockDevice={"encrypted": True})
    (data,) = resources(token, VOLUME)
    assert data["inputs"]["encrypted"] is True
    assert data["inputs"]["size"] == plan.tier("node").sizing.disk_gb
    assert rendered(token)[0].count_of(ATTACHMENT) == 1
    cmk = plan.policy.customer_managed_keys
    data_keys = {r["urn"] for r in resources(token, KMS_KEY) if r["name"].endswith("-data")}
    assert bool(data_keys) is cmk
    for r, key_id in ((data, data["inputs"].get("kmsKeyId")),
                      (one(token, INSTANCE), one(token, INSTANCE)["inputs"]["rootBlockDevice"].get("kmsKeyId"))):
        # the key's ARN, or (when the mock gives no ARN) at least a dependency on the key
        assert (bool(key_id) or bool(data_keys & set(r.get("dependencies") or []))) is cmk, r["name"]


@pytest.mark.parametrize("token", TOKENS)
def test_instance_type_and_zone_follow_the_plan(token):
    instance = one(token, INSTANCE)["inputs"]
    assert instance["instanceType"] == "t3.medium"  # the "small" preset: 2 vCPU / 4 GB
    assert instance["availabilityZone"] == one(token, VOLUME)["inputs"]["availabilityZone"] == "us-east-1a"


@pytest.mark.parametrize("token", TOKENS)
def test_instance_profile_has_the_ssm_core_policy(token):
    graph = rendered(token)[0]
    assert graph.count_of(PROFILE) == 1
    assert graph.has_resource(ATTACH_POLICY, policyArn=SSM_CORE)
    role = one(token, ROLE)
    assume = json.loads(role["inputs"]["assumeRolePolicy"])
    assert assume["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}


@pytest.mark.parametrize("token", TOKENS)
def test_the_role_reads_exactly_its_own_parameters(token):
    policy = one(token, ROLE_POLICY)["inputs"]["policy"]
    if not isinstance(policy, str) or policy == SECRET:
        pytest.skip("the policy document is not known in this render")
    doc = json.loads(policy)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    read = by_sid["ReadOwnSecretParameters"]
    assert read["Action"] == ["ssm:GetParameter", "ssm:GetParameters"]
    assert "*" not in json.dumps(read["Resource"])
    assert len(read["Resource"]) == len(resources(token, PARAMETER))
    assert "OpenBaoAutoUnseal" in by_sid  # the plan's vault seal is awskms
    assert ("DecryptSecretParameters" in by_sid) is build_plan(parse(token)).policy.customer_managed_keys


@pytest.mark.parametrize("token", TOKENS)
def test_explicit_provider_in_the_plans_region(token):
    plan = build_plan(parse(token))
    assert rendered(token)[0].has_resource(PROVIDER, region=plan.primary_region)


# --- protection -----------------------------------------------------------------------------

STATEFUL = (VOLUME, KMS_KEY, PARAMETER, EIP)  # the instance is cattle (test above)


@pytest.mark.parametrize("token", TOKENS)
def test_editions_e_and_c_protect_stateful_resources_and_o_does_not(token):
    protect = build_plan(parse(token)).policy.protect  # E and C protect, O does not
    assert protect is (not token.startswith("O"))
    for type_ in STATEFUL:
        for r in resources(token, type_):
            assert bool(r.get("protect")) is protect, (type_, r["name"])
    assert one(token, INSTANCE)["protect"] is False  # cattle: replaced when its config changes
    assert bool(one(token, VOLUME)["inputs"].get("finalSnapshot")) is protect


@pytest.mark.parametrize("token", TOKENS)
def test_kms_keys_follow_the_plan(token):
    plan = build_plan(parse(token))
    expected = (plan.vault_seal == "awskms") + plan.policy.customer_managed_keys
    assert rendered(token)[0].count_of(KMS_KEY) == expected
    for key in resources(token, KMS_KEY):
        assert key["inputs"]["enableKeyRotation"] is True


# --- tags -----------------------------------------------------------------------------------


@pytest.mark.parametrize("token", TOKENS)
def test_every_taggable_resource_is_tagged(token):
    """The provider's default tags name the install on every taggable resource; each resource
    adds its own tier."""
    plan = build_plan(parse(token))
    (provider,) = resources(token, PROVIDER)
    defaults = json.loads(provider["inputs"]["defaultTags"])["tags"]
    assert defaults == {"reactor:stack": plan.stack, "reactor:token": token}
    taggable = (VPC, SUBNET, SG, INGRESS, EGRESS, INSTANCE, VOLUME, EIP, PARAMETER, ROLE, PROFILE, KMS_KEY,
                "aws:ec2/internetGateway:InternetGateway", "aws:ec2/routeTable:RouteTable")
    for r in resources(token):
        if r["type"] in taggable:
            assert r["provider"] == provider["urn"], r["name"]
            tags = r["inputs"].get("tags") or {}
            assert tags.get("reactor:tier"), r["name"]


# --- dns ------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", TOKENS)
def test_no_dns_record_without_a_domain(token):
    if token.startswith("C"):
        with pytest.raises(SettingsError, match="edition C serves each tenant"):
            render_graph(token)
        return
    assert rendered(token)[0].count_of(RECORD) == 0


def test_edition_c_answers_tenant_hosts_with_a_wildcard_record_and_a_dns_01_certificate():
    graph = rendered("C2@aws", {"domain": DOMAIN, "extras": {"aws": {"hosted_zone_id": "Z0123456789ABCDEFGHIJ"}}})[0]
    assert graph.has_resource(RECORD, name=f"*.{DOMAIN}", type="A", zoneId="Z0123456789ABCDEFGHIJ")
    user_data = one_in(graph, INSTANCE)["userData"]
    caddyfile = {f["path"]: f["content"] for f in yaml.safe_load(user_data)["write_files"]}["/opt/reactor/Caddyfile"]
    assert f"*.{DOMAIN} {{" in caddyfile and "dns route53" in caddyfile
    # Caddy's credential: an IAM user that may only write the challenge record, kept as secrets
    (policy,) = graph.find("aws:iam/userPolicy:UserPolicy")
    doc = json.loads(policy.inputs["policy"])
    (write,) = [s for s in doc["Statement"] if s["Action"] == "route53:ChangeResourceRecordSets"]
    assert write["Resource"] == "arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ"
    assert write["Condition"]["ForAllValues:StringEquals"] == {
        "route53:ChangeResourceRecordSetsNormalizedRecordNames": [f"_acme-challenge.{DOMAIN}"],
        "route53:ChangeResourceRecordSetsRecordTypes": ["TXT"]}
    params = {r.inputs["name"]: r for r in graph.find(PARAMETER)}
    assert params["/c2-aws/dns-challenge-secret"].inputs["value"] == SECRET
    assert "AWS_SECRET_ACCESS_KEY" in user_data  # written into caddy.env at boot, from SSM


def test_a_record_points_the_domain_at_the_elastic_ip():
    settings = {"domain": DOMAIN, "extras": {"aws": {"hosted_zone_id": "Z0123456789ABCDEFGHIJ"}}}
    graph = rendered("O2@aws", settings)[0]
    assert graph.count_of(RECORD) == 1
    assert graph.has_resource(RECORD, name=DOMAIN, type="A", zoneId="Z0123456789ABCDEFGHIJ")
    user_data = user_data_of("O2@aws", settings)
    assert f"{DOMAIN} {{" in user_data  # Caddy's site is the domain: a public ACME certificate


# --- secrets --------------------------------------------------------------------------------


def fake_values(token: str) -> list[str]:
    """The values the mock gave the random resources (kept in memory, never in a view)."""
    return generated_values(rendered(token)[0])


@pytest.mark.parametrize("token", TOKENS)
def test_every_generated_plan_secret_is_a_random_resource_and_a_secure_parameter(token):
    plan = build_plan(parse(token), load_settings(default_settings(token) or {}))
    randoms = {r["name"] for r in resources(token) if r["type"].startswith("random:")}
    params = {r["inputs"]["name"]: r for r in resources(token, PARAMETER)}
    for secret in plan.secrets:
        name = f"/{plan.stack}/{secret.name}"
        if secret.generator == "platform":  # issued by the platform (an access key), not generated
            assert name in params
        elif secret.generator != "init":
            assert f"secrets-{secret.name}" in randoms
            assert name in params
        elif secret.env is None:
            assert name not in params, "OpenBao's recovery keys never enter Pulumi"
    for p in params.values():
        assert p["inputs"]["type"] == "SecureString"


@pytest.mark.parametrize("token", TOKENS)
def test_secret_inputs_show_as_secret(token):
    params = resources(token, PARAMETER)
    assert params
    for p in params:
        assert p["inputs"]["value"] == SECRET
        assert "value" in p.get("secret_inputs", [])
    assert SECRET in rendered(token)[1]


@pytest.mark.parametrize("token", TOKENS)
def test_user_data_carries_no_secret_only_parameter_names(token):
    plan = build_plan(parse(token))
    text = user_data_of(token)
    values = fake_values(token)
    assert values, "the render generated secrets to look for"
    for value in values:
        assert value not in text
    assert "/run/reactor" in text and "--with-decryption" in text
    for secret in plan.secrets:
        if secret.generator != "init":
            assert f"/{plan.stack}/{secret.name}" in text


# --- user data ------------------------------------------------------------------------------


def user_data_of(token: str, settings: dict | None = None) -> str:
    (instance,) = resources(token, INSTANCE, settings)
    text = instance["inputs"].get("userData")
    if not isinstance(text, str) or not text.startswith("#cloud-config"):
        pytest.fail(f"user data is not a known #cloud-config document in the render: {str(text)[:80]!r}")
    return text


@pytest.mark.parametrize("token", TOKENS)
def test_user_data_runs_the_single_node_compose_project(token):
    import yaml

    doc = yaml.safe_load(user_data_of(token))
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    assert {"/opt/reactor/Reactor.toml", "/opt/reactor/Caddyfile", "/opt/reactor/compose.yaml",
            "/opt/reactor/openbao.hcl", "/etc/systemd/system/reactor.service"} <= set(files)
    compose = yaml.safe_load(files["/opt/reactor/compose.yaml"])
    assert {"reactor-server", "postgres", "openbao", "caddy"} <= set(compose["services"])
    assert "docker" in doc["packages"]
    assert 'seal "awskms"' in files["/opt/reactor/openbao.hcl"]
    assert "alias/" in files["/opt/reactor/openbao.hcl"]
    assert "ExecStartPre=/bin/sh /usr/local/sbin/reactor-fetch-secrets" in files["/etc/systemd/system/reactor.service"]


@pytest.mark.parametrize("token", TOKENS)
def test_user_data_is_valid_cloud_config(token, tmp_path):
    cloud_init = shutil.which("cloud-init")
    if cloud_init is None:
        message = "cloud-init not installed (apt-get install cloud-init)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must not skip config checks")
        pytest.skip(message)
    path = tmp_path / "user-data.yaml"
    path.write_text(user_data_of(token), encoding="utf-8")
    result = subprocess.run([cloud_init, "schema", "--config-file", str(path)], capture_output=True, text=True,
                            timeout=120, check=False, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                                                           "HOME": str(tmp_path), "LANG": "C.UTF-8"})
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("token", TOKENS)
def test_boot_scripts_are_valid_shell(token, tmp_path):
    import yaml

    doc = yaml.safe_load(user_data_of(token))
    for f in doc["write_files"]:
        if f["path"].startswith("/usr/local/sbin/"):
            path = tmp_path / f["path"].rsplit("/", 1)[1]
            path.write_text(f["content"], encoding="utf-8")
            result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
            assert result.returncode == 0, f"{f['path']}: {result.stderr}"


def test_fetch_secrets_writes_0600_env_files_from_ssm(tmp_path):
    """Run the boot step against a fake `aws` that answers by parameter name."""
    from reactor_infra import compose, node_boot
    from reactor_infra.reactor_toml import default_endpoints
    from reactor_infra_aws import userdata
    from reactor_infra_aws.naming import parameter_name
    from reactor_infra_aws.secrets import PLACEHOLDER

    plan = build_plan(parse("O2@aws"))
    names = {s.name: parameter_name(plan, s.name) for s in plan.secrets if s.generator != "init" or s.env}
    ep = default_endpoints(plan)
    files = node_boot.NodeFiles(userdata.cloud(plan), ep, ep.base_domain, names, PLACEHOLDER)
    envs = compose.env_files(node_boot.node_specs(plan, files))
    script = node_boot.fetch_secrets_script(plan, files, envs)
    out = tmp_path / "run"
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "aws"
    fake.write_text('#!/bin/sh\nwhile [ $# -gt 0 ]; do [ "$1" = --name ] && { shift; n=$1; }; shift; done\n'
                    f'case $n in */openbao-token) echo {PLACEHOLDER};; *) echo "v-${{n##*/}}";; esac\n')
    fake.chmod(0o755)
    path = tmp_path / "fetch.sh"
    path.write_text(script.replace(node_boot.SECRETS_DIR, str(out)))
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    result = subprocess.run(["sh", str(path)], capture_output=True, text=True, env=env, check=False)
    assert result.returncode == 0, result.stderr
    reactor_env = (out / "reactor-server.env").read_text()
    assert "REACTOR_ADMIN__TOKEN=v-admin-token\n" in reactor_env
    assert "REACTOR_DATABASE__URL=postgres://reactor:v-database-password@postgres:5432/reactor\n" in reactor_env
    assert "REACTOR_VAULT__TOKEN" not in reactor_env  # still the placeholder: not written
    assert (out / "postgres.env").read_text() == ("POSTGRES_PASSWORD=v-database-admin-password\n"
                                                  "REACTOR_DB_PASSWORD=v-database-password\n")
    for f in out.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("token", TOKENS)
def test_user_data_files_stay_readable_blocks(token):
    """An operator reading the user data sees each file as written, not one escaped line."""
    user_data = user_data_of(token)
    assert '  content: "' not in user_data
    assert "- path: /opt/reactor/Caddyfile\n" in user_data


# --- the firewall over every @aws plan, ahead of the rungs that use it ----------------------------


# --- first boot: OpenBao bootstraps itself, every boot script passes shellcheck ------------------


def test_first_boot_initialises_openbao_and_keeps_its_secrets_in_ssm():
    """With the awskms seal the node initialises OpenBao itself before reactor-server starts:
    secrets fetched, OpenBao up, bootstrap (its token and recovery keys into SSM), secrets
    fetched again (now with the token). The role may write exactly those two parameters."""
    files = {f["path"]: f["content"] for f in yaml.safe_load(user_data_of("E2@aws"))["write_files"]}
    unit = files["/etc/systemd/system/reactor.service"]
    steps = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith("ExecStartPre=")]
    assert steps[:4] == [
        "/bin/sh /usr/local/sbin/reactor-fetch-secrets",
        "/usr/bin/docker compose -p reactor -f /opt/reactor/compose.yaml up -d --wait openbao",
        "/bin/sh /usr/local/sbin/reactor-openbao-bootstrap",
        "/bin/sh /usr/local/sbin/reactor-fetch-secrets"]
    bootstrap = files["/usr/local/sbin/reactor-openbao-bootstrap"]
    assert '--name "/e2-aws/$1" --value "file://$2"' in bootstrap and "--key-id alias/e2-aws-vault-data" in bootstrap
    assert "exec -T -e BAO_TOKEN openbao bao" in bootstrap
    policy = json.loads(one("E2@aws", ROLE_POLICY)["inputs"]["policy"])
    (write,) = [s for s in policy["Statement"] if s["Action"] == "ssm:PutParameter"]
    assert sorted(r.rsplit(":parameter", 1)[1] for r in write["Resource"]) == ["/e2-aws/openbao-recovery",
                                                                               "/e2-aws/openbao-token"]
    shamir = yaml.safe_load(user_data_of("E2@aws", {"vault_seal": "shamir"}))
    assert "/usr/local/sbin/reactor-openbao-bootstrap" not in {f["path"] for f in shamir["write_files"]}


@pytest.mark.parametrize("token", TOKENS)
def test_every_boot_script_in_the_user_data_passes_shellcheck(token, tmp_path):
    from tools import shellcheck

    scripts = {f["path"]: f["content"] for f in yaml.safe_load(user_data_of(token))["write_files"]
               if f["path"].startswith("/usr/local/sbin/")}
    assert len(scripts) >= 3
    for path, text in scripts.items():
        script = tmp_path / path.rsplit("/", 1)[1]
        script.write_text(text)
        done = subprocess.run([shellcheck(), "--shell=sh", "--severity=warning", str(script)],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{path}: {done.stdout}"


# --- how a stack change reaches the node (issue: updates never reached an AWS node) ----------------


@pytest.mark.parametrize(("change", "replaces_node"), [
    ({"domain": "api.example.com"}, True),           # Caddy's site and Reactor.toml change: user data
    ({"acme_email": "ops@example.com"}, True),        # the Caddyfile changes: user data
    ({"images": {"postgres": "postgres:16.13"}}, True),  # compose.yaml changes: user data
    ({"extras": {"aws": {"root_volume_gb": 40}}}, False),  # the root disk grows in place
])
def test_what_each_stack_change_does_to_the_node(change, replaces_node):
    """A changed config reaches the node by a new instance (cloud-init runs once per instance);
    the data volume, address, keys and secrets stay in every case."""
    from reactor_infra.diff import Op, diff_renders

    before = json.loads(rendered("E2@aws", {"domain": "old.example.com"} if "domain" in change else None)[1])
    after = json.loads(rendered("E2@aws", change)[1])
    diff = diff_renders(before, after, stack="e2-aws", before="before", after="after")
    ops = {c.name: c.op for c in diff.changes}
    assert (ops.get("node-instance") is Op.REPLACE) is replaces_node, ops
    for kept in ("node-data", "node-address-eip", "keys-data", "keys-seal"):
        assert ops.get(kept) not in (Op.REPLACE, Op.DELETE), (kept, ops.get(kept))
    assert not diff.risks, [r.what for r in diff.risks]


def test_several_caddys_on_machines_share_their_certificates_on_efs():
    """At size 4 with +ha the NLB spreads over three infra machines, each running Caddy: an ACME
    challenge or an on-demand certificate must be found by whichever one answers, so Caddy's
    /data is one EFS access point they all mount (TLS, IAM); with one infra machine there is none."""
    import re

    settings = {"domain": "api.example.com"}
    shared = _rendered("E4+ha@aws", settings)
    (point,) = shared.find("aws:efs/accessPoint:AccessPoint")
    assert point.inputs["rootDirectory"]["path"] == "/caddy-data"
    point_id = shared.outputs_of(point.urn)["arn"].rsplit("/", 1)[-1]  # the id ends the ARN
    instances = shared.find("aws:ec2/instance:Instance")
    assert len(instances) == 3
    for instance in instances:
        data = yaml.safe_load(instance.inputs["userData"])
        files = {f["path"]: f["content"] for f in data["write_files"]}
        assert re.search(rf"efs _netdev,noresvport,tls,iam,accesspoint={point_id} ", files["/usr/local/sbin/reactor-prepare-node"])
        caddy = yaml.safe_load(files["/opt/reactor/compose.yaml"])["services"]["caddy"]
        assert "/mnt/reactor/caddy-data:/data" in caddy["volumes"]
    assert not _rendered("E4@aws", settings).find("aws:efs/fileSystem:FileSystem")
