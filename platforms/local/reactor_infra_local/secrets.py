"""Secrets: one pulumi_random resource per generated secret the Plan lists.

Each value leaves this component as a Pulumi secret (`Output.secret`), so renders show
`[secret]` and state keeps it encrypted. `init` secrets (OpenBao's token and unseal
keys) only exist after `bao operator init`; Pulumi cannot produce them. On local they
are handled by a documented manual step (see README.md in this package): the OpenBao
token reaches reactor-server through the stack's secret config
`reactor-infra-local:openbaoToken`, the unseal keys never enter Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from reactor_infra import random_secrets
from reactor_infra.plan import Plan, Secret

from .component import LocalComponent



# Stack config (namespace `reactor-infra-local`, set with `pulumi config set --secret`) that
# carries an `init` secret once the operator has produced it.
CONFIG_NAMESPACE = "reactor-infra-local"
INIT_CONFIG_KEYS = {"openbao-token": "openbaoToken"}



@dataclass(frozen=True)
class SecretsArgs:
    plan: Plan  # the secrets to generate come from `plan.secrets`


class Secrets(LocalComponent):
    """Generates every secret of the Plan; `values[name]` is a secret Output (or None for an
    `init` secret the operator has not supplied yet)."""

    values: dict[str, pulumi.Output[str] | None]

    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        # secret material belongs to the vault tier (graph.py `component`)
        super().__init__(name, "vault", opts)
        self._name = name
        self.values = {}
        for secret in args.plan.secrets:
            self.values[secret.name] = self._create(secret)
        self.register_outputs({})

    def _create(self, secret: Secret) -> pulumi.Output[str] | None:
        if secret.generator == "init":
            key = INIT_CONFIG_KEYS.get(secret.name)
            if key is None:
                return None  # e.g. OpenBao unseal keys: kept by the operator, never in Pulumi
            return pulumi.Config(CONFIG_NAMESPACE).get_secret(key)
        return random_secrets.generate(f"{self._name}-{secret.name}", secret,
                                       pulumi.ResourceOptions(parent=self))
