"""Secrets: every secret the Plan lists, generated once (the kit's SecretFlow) and kept in SSM
Parameter Store.

Each generated secret is one SecureString parameter `/<stack>/<name>` (encrypted with the
customer-managed key when the edition has one). Values stay Pulumi secrets end to end; the node
reads them at boot with its instance role and never finds one in its user data.

`init` secrets only exist after OpenBao's init. The one reactor-server needs (its OpenBao token)
gets a parameter holding a placeholder that the node's first boot overwrites; Pulumi ignores
later changes to its value.

ECS injects only whole parameter values into a container's environment, so a variable whose
value wraps a secret (`postgres://reactor:${database-password}@host/reactor`) gets a parameter
of its own, `/<stack>/env/<service>/<VAR>`, holding the filled template (`env_parameter`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from reactor_infra import late
from reactor_infra.kit import SecretFlow
from reactor_infra.layout import Plan, Secret
from reactor_infra.service_spec import fill, secret_refs

from .component import AwsComponent
from .naming import parameter_name, tags

TIER = "vault"
# The value of an `init` parameter until the node's first boot sets it; the node skips it.
PLACEHOLDER = "set-after-openbao-init"


@dataclass(frozen=True)
class SecretsArgs:
    plan: Plan  # the secrets come from `plan.secrets`; protect from `plan.policy`
    # customer-managed KMS key for the SecureString parameters; none: the AWS-managed aws/ssm key
    kms_key: aws.kms.Key | None = None
    # values of the Plan's PLATFORM secrets, issued by other components (an access key); default none
    issued: dict[str, pulumi.Output[str]] | None = None


class Secrets(AwsComponent, SecretFlow):
    """`parameters[secret name]` is its `aws.ssm.Parameter`; `names[secret name]` its name."""

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._kms_key = name, args.kms_key
        self.parameters: dict[str, aws.ssm.Parameter] = {}
        self.names: dict[str, str] = {}
        self.create_secrets(args.plan, args.issued)
        self.register_outputs({"parameters": dict(self.names)})

    def env_parameter(self, plan: Plan, service: str, var: str, template: str,
                      late_values: dict[str, pulumi.Input[str]] | None = None) -> pulumi.Output[str]:
        """The ARN of the parameter that holds a container variable's whole value: the secret's own
        parameter when the template is just `${name}`, else one for the filled template (its late
        values bound, e.g. the database's address)."""
        refs = secret_refs(template)
        if len(refs) == 1 and template == f"${{{refs[0]}}}":
            return self.parameters[refs[0]].arn
        key = f"env/{service}/{var}"
        if key in self.parameters:
            return self.parameters[key].arn
        values = {r: self.values[r] for r in refs}
        if any(v is None for v in values.values()):
            raise ValueError(f"aws: {service} {var} wraps a secret that only exists after OpenBao's init")
        bound = dict(late_values or {})
        value = pulumi.Output.all(values, bound).apply(
            lambda vb: late.bind(fill(template, vb[0]), vb[1]))
        self._create_parameter(plan, Secret(key, secret_from(plan, refs), f"{var} of {service} (wraps a secret)"),
                               pulumi.Output.secret(value))
        return self.parameters[key].arn

    def store(self, plan: Plan, secret: Secret, value: pulumi.Output[str]) -> None:
        self._create_parameter(plan, secret, value)

    def reserve(self, plan: Plan, secret: Secret) -> pulumi.Output[str] | None:
        if not secret.env:
            return None  # e.g. OpenBao's recovery keys: never in Pulumi
        return self._create_parameter(plan, secret, pulumi.Output.secret(PLACEHOLDER), ignore_value=True)

    def _create_parameter(self, plan: Plan, secret: Secret, value: pulumi.Output[str], *,
                          ignore_value: bool = False) -> pulumi.Output[str]:
        name = parameter_name(plan, secret.name)
        self.names[secret.name] = name
        self.parameters[secret.name] = aws.ssm.Parameter(
            f"{self._name}-{secret.name.replace('/', '-')}-parameter",
            name=name,
            type="SecureString",
            value=value,
            key_id=self._kms_key.arn if self._kms_key else None,
            description=secret.purpose,
            tags=tags(plan, TIER),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=plan.policy.protect,
                ignore_changes=["value"] if ignore_value else None,
                depends_on=[self._kms_key] if self._kms_key else None,
            ),
        )
        return value


def secret_from(plan: Plan, refs: list[str]):
    """The generator a derived value is filed under: that of the first secret it wraps."""
    return plan.secret(refs[0]).generator
