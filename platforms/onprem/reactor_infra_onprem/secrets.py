"""Secrets: every secret the Plan lists, generated once (the kit's SecretFlow). There is no
secret store on the operator's machines: each host keeps the values its services read as 0600
files, written over SSH from the standard input of a command (`host.py`), never a command line.

Two kinds come from the operator, as stack secrets (`pulumi config set --secret`):
- `reactor-infra-onprem:databaseAdminPassword`: the admin role of `extras.onprem.database_url`
  (size >= 3 with the operator's database);
- `reactor-infra-onprem:openbaoToken`: reactor-server's OpenBao token, issued by the Shamir init
  step after the first `up` (README: first boot). Until it is set the hosts keep a placeholder
  and reactor-server is not waited for.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from reactor_infra.host_files import PLACEHOLDER
from reactor_infra.kit import SecretFlow, operator_secret
from reactor_infra.layout import Plan, Secret, SecretGenerator

from .component import OnpremComponent

CONFIG_NAMESPACE = "reactor-infra-onprem"
INIT_CONFIG_KEYS = {"openbao-token": "openbaoToken"}
ADMIN_PASSWORD_KEY = "databaseAdminPassword"


@dataclass(frozen=True)
class SecretsArgs:
    plan: Plan  # the secrets to generate come from `plan.secrets`


class Secrets(OnpremComponent, SecretFlow):
    """`values[name]`: a secret Output; an `init` secret not given yet is the placeholder."""

    config_namespace = CONFIG_NAMESPACE
    init_config_keys = INIT_CONFIG_KEYS

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, "vault", opts)  # secret material belongs to the vault tier
        self._name = name
        plan = args.plan
        issued = {s.name: operator_secret(CONFIG_NAMESPACE, ADMIN_PASSWORD_KEY,
                                          "the password of extras.onprem.database_url's admin role")
                  for s in plan.secrets if s.generator is SecretGenerator.PLATFORM and s.name == "database-admin-password"}
        self.create_secrets(plan, issued)
        self.register_outputs({})

    def reserve(self, plan: Plan, secret: Secret) -> pulumi.Output[str] | None:
        given = self.init_given(secret.name)
        return given if given is not None else pulumi.Output.secret(PLACEHOLDER)
