"""AwsPlatform: size 2 of `@aws` (one EC2 node running the single-node compose project).

The recipe, all in the Plan's primary region through one explicit provider: keys (OpenBao's
seal key; a customer-managed data key where the edition asks for one), the network, one
security group per machine tier from the Plan's links, the secrets in SSM Parameter Store,
the node's instance role, its Elastic IP, the node itself (instance, encrypted data volume,
cloud-init user data) and, when the stack has a domain, its Route53 record.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pulumi
import pulumi_aws as aws

from reactor_infra.layout import Plan, SecretGenerator
from reactor_infra.catalogue import ADMIN_PORT
from reactor_infra.platforms import AdminAccess, Check, Deployment, Platform
from reactor_infra.reactor_toml import default_endpoints, render_reactor_toml

from . import mocks, userdata
from .address import Address, AddressArgs
from .dns import Dns, DnsArgs, zone_id_for
from .dns_challenge import DnsChallenge, DnsChallengeArgs
from .firewall import Firewall, FirewallArgs
from .instance_role import InstanceRole, InstanceRoleArgs
from .keys import Keys, KeysArgs
from .naming import default_tags, parameter_name
from .network import Network, NetworkArgs
from .node import Node, NodeArgs
from .secrets import PLACEHOLDER, Secrets, SecretsArgs
from .settings import AwsSettings
from .sizing import instance_type_for


class AwsPlatform(Platform):
    name: ClassVar[str] = "aws"
    package: ClassVar[str] = "reactor-infra-aws"
    sizes: ClassVar[frozenset[int]] = frozenset({2})
    modifiers: ClassVar[frozenset] = frozenset()
    settings_model: ClassVar[type[AwsSettings]] = AwsSettings

    def deploy(self, plan: Plan) -> Deployment:
        extras = self.extras(plan)
        assert isinstance(extras, AwsSettings)
        return _AwsDeployment(plan, extras).run()

    def mock_resource(self, typ, name, inputs, region):
        return mocks.resource_state(typ, name, inputs, region)

    def mock_call(self, token, args, region):
        return mocks.call_result(token, args, region)

    def doctor(self) -> list[Check]:
        return [_credentials()]

    def admin_access(self, plan: Plan, local_port: int) -> AdminAccess:
        """An SSM port forward from here to the node's loopback admin port: no inbound port, no
        SSH; who may open it is who may ssm:StartSession on that instance."""
        region, tier = plan.primary_region, plan.app_tier.name.value
        find = shlex.join(["aws", "ec2", "describe-instances", "--region", region, "--filters",
                           f"Name=tag:reactor:stack,Values={plan.stack}", f"Name=tag:reactor:tier,Values={tier}",
                           "Name=instance-state-name,Values=running",
                           "--query", "Reservations[0].Instances[0].InstanceId", "--output", "text"])
        forward = shlex.join(["aws", "ssm", "start-session", "--region", region,
                              "--document-name", "AWS-StartPortForwardingSession", "--parameters",
                              f'{{"portNumber":["{ADMIN_PORT}"],"localPortNumber":["{local_port}"]}}'])
        return AdminAccess(
            command=["sh", "-c", f"instance=$({find}) || exit 1; case $instance in i-*) ;; *) echo "
                                  f"'no running node of stack {plan.stack} in {region} (tag reactor:stack)' >&2; "
                                  f'exit 1;; esac; exec {forward} --target "$instance"'],
            token_hint=shlex.join(["aws", "ssm", "get-parameter", "--region", region, "--with-decryption",
                                   "--name", parameter_name(plan, "admin-token"),
                                   "--query", "Parameter.Value", "--output", "text"]),
            needs=("aws install the AWS CLI v2 (https://docs.aws.amazon.com/cli/)",
                   "session-manager-plugin install the Session Manager plugin (https://docs.aws.amazon.com/"
                   "systems-manager/latest/userguide/session-manager-working-with-install-plugin.html)"))

    def conformance(self):
        from .conformance import AwsReadings

        return AwsReadings()


def _credentials() -> Check:
    """Where the AWS SDK would find credentials (never their values)."""
    env = ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if any(os.environ.get(v) for v in env):
        return Check("aws credentials", True, "from the environment")
    if (Path.home() / ".aws" / "credentials").exists() or (Path.home() / ".aws" / "config").exists():
        return Check("aws credentials", True, "~/.aws")
    return Check("aws credentials", False, "none found (AWS_PROFILE, AWS_ACCESS_KEY_ID or ~/.aws)")


class _AwsDeployment:
    """One run of `deploy` at size 2."""

    def __init__(self, plan: Plan, extras: AwsSettings):
        if plan.topology.size != 2 or plan.ingress.tier is None:
            raise ValueError(f"aws builds size 2 so far (given {plan.topology})")
        self.plan = plan
        self.extras = extras
        self.tier = plan.tier(plan.ingress.tier)  # the node tier: every service on one box
        assert self.tier is not None and self.tier.sizing is not None
        self.zone = extras.zone(plan.primary_region)

    def run(self) -> Deployment:
        plan, extras, tier = self.plan, self.extras, self.tier
        region = plan.primary_region
        provider = aws.Provider(f"aws-{region}", region=region,
                                default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(plan)))
        opts = pulumi.ResourceOptions(providers={"aws": provider})

        keys = Keys("keys", KeysArgs(plan=plan), opts)
        data_key = keys.data.arn if keys.data else None
        network = Network("network", NetworkArgs(
            plan=plan, vpc_cidr=extras.vpc_cidr, subnet_cidr=extras.subnet_cidr(),
            availability_zone=self.zone), opts)
        firewall = Firewall("firewall", FirewallArgs(plan=plan, vpc_id=network.vpc.id), opts)
        domain = plan.settings.domain
        zone_id = zone_id_for(domain, extras.hosted_zone_id, provider) if domain else None
        issued = {}
        if any(s.generator is SecretGenerator.PLATFORM for s in plan.secrets):
            issued = DnsChallenge("dns-challenge", DnsChallengeArgs(plan=plan, zone_id=zone_id), opts).values
        secrets = Secrets("secrets", SecretsArgs(plan=plan, kms_key=keys.data, issued=issued), opts)
        identity = InstanceRole(f"{tier.name}-identity", InstanceRoleArgs(
            plan=plan, tier=tier.name.value,
            parameter_arns=[p.arn for p in secrets.parameters.values()],
            # OpenBao's first boot on the node stores its recovery keys and reactor-server's token
            written_parameters=[parameter_name(plan, s.name) for s in plan.secrets
                                if s.generator is SecretGenerator.INIT] if userdata.bootstraps_openbao(plan) else [],
            data_key_arn=data_key,
            seal_key_arn=keys.seal.arn if keys.seal else None), opts)
        address = Address(f"{tier.name}-address", AddressArgs(plan=plan, tier=tier.name.value), opts)

        # with a domain the config is known before anything exists; without one it waits for the address
        endpoints = (pulumi.Output.from_input(self._endpoints(None)) if plan.settings.domain
                     else address.public_ip.apply(self._endpoints))
        reactor_toml = endpoints.apply(lambda ep: render_reactor_toml(plan, ep))
        user_data = endpoints.apply(
            lambda ep: userdata.cloud_config(plan, userdata.NodeFiles(
                endpoints=ep, site_address=self._site_address(ep),
                parameters=dict(secrets.names), placeholder=PLACEHOLDER,
                seal_alias=keys.seal_alias, data_key_alias=keys.data_alias)))
        ami = aws.ssm.get_parameter_output(
            name=extras.ami_ssm_parameter, opts=pulumi.InvokeOutputOptions(provider=provider))

        Node(tier.name.value, NodeArgs(
            plan=plan, tier=tier.name.value,
            instance_type=extras.instance_type or instance_type_for(tier.sizing),
            ami=ami.insecure_value,
            subnet_id=network.subnet.id,
            availability_zone=self.zone,
            security_group_ids=[firewall.groups[tier.name.value].id],
            address_allocation_id=address.allocation_id,
            instance_profile=identity.profile.name,
            user_data=user_data,
            data_volume_gb=tier.sizing.disk_gb,
            root_volume_gb=extras.root_volume_gb,
            kms_key=keys.data,
            key_name=extras.key_name,
            containers_need_identity=userdata.needs_cloud_identity(plan),
            # the role must be able to read the parameters (and the seal key) when it boots
            depends_on=[secrets, identity, keys]), opts)
        if plan.settings.domain:
            Dns("dns", DnsArgs(plan=plan, address=address.public_ip, zone_id=zone_id), opts)

        return Deployment(
            public_url=endpoints.apply(lambda ep: ep.public_url),
            reactor_toml=reactor_toml,
            endpoints={
                "public_url": endpoints.apply(lambda ep: ep.public_url),
                "public_ip": address.public_ip,
                "region": region,
                "secrets": parameter_name(plan, ""),
            },
        )

    def _endpoints(self, public_ip: str | None):
        """Compose service names inside the node; the public host is the domain, else the
        Elastic IP (an offline render has no address yet: the placeholder host)."""
        ep = default_endpoints(self.plan)
        if self.plan.settings.domain or not public_ip:
            return ep
        return replace(ep, public_url=f"https://{public_ip}", base_domain=public_ip)

    def _site_address(self, ep) -> str:
        return ep.base_domain
