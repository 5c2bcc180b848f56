"""Secrets: every secret the Plan lists, generated once (the kit's SecretFlow); the containers
get the values directly, so there is no store.

`init` secrets (OpenBao's token and unseal keys) only exist after `bao operator init`. On local
they are handled by a documented manual step (see README.md in this package): the OpenBao token
reaches reactor-server through the stack's secret config `reactor-infra-local:openbaoToken`, the
unseal keys never enter Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from reactor_infra.kit import SecretFlow
from reactor_infra.layout import Plan, Secret

from .component import LocalComponent

# Stack config (namespace `reactor-infra-local`, set with `pulumi config set --secret`) that
# carries an `init` secret once the operator has produced it.
CONFIG_NAMESPACE = "reactor-infra-local"
INIT_CONFIG_KEYS = {"openbao-token": "openbaoToken"}


@dataclass(frozen=True)
class SecretsArgs:
    plan: Plan  # the secrets to generate come from `plan.secrets`


class Secrets(LocalComponent, SecretFlow):
    """`values[name]` is a secret Output (or None for an `init` secret not supplied yet)."""

    config_namespace = CONFIG_NAMESPACE
    init_config_keys = INIT_CONFIG_KEYS

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, "vault", opts)  # secret material belongs to the vault tier
        self._name = name
        self.create_secrets(args.plan)
        self.register_outputs({})

    def reserve(self, plan: Plan, secret: Secret) -> pulumi.Output[str] | None:
        return self.init_given(secret.name)
