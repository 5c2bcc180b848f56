"""The secret flow every platform shares: generate each Plan secret once, hand it to the
platform's store, and keep `init` secrets (issued by OpenBao at init) as slots.

A platform's Secrets component mixes `SecretFlow` in and says only where values go:
`store(secret, value)` (an SSM parameter, a Secret Manager version, nothing on one Docker host
where containers get the values directly) and `reserve(secret)` for an `init` secret (a slot
the first boot fills, or None). Values are pulumi-random resources wrapped as Pulumi secrets:
renders show `[secret]`, state keeps them encrypted. Generated values are protected where the
edition protects state: a new data key orphans what the old one encrypted.
"""

from __future__ import annotations

from typing import ClassVar

import pulumi

from .. import random_secrets
from ..layout import Plan, Secret, SecretGenerator


class SecretFlow:
    """Mixin for a platform's Secrets component (a `Component` with a `_name`)."""

    values: dict[str, pulumi.Output[str] | None]
    # where an operator gives an `init` secret once it exists: `<namespace>:<key>` of the stack's
    # config (a Pulumi secret), e.g. reactor-server's OpenBao token after the Shamir init
    config_namespace: ClassVar[str] = ""
    init_config_keys: ClassVar[dict[str, str]] = {}

    def create_secrets(self, plan: Plan, issued: dict[str, pulumi.Output[str]] | None = None
                       ) -> dict[str, pulumi.Output[str] | None]:
        """`issued`: the values of the plan's PLATFORM secrets, made by the platform (an access
        key); stored like generated ones."""
        self.values = {}
        issued = issued or {}
        for secret in plan.secrets:
            if secret.generator is SecretGenerator.INIT:
                self.values[secret.name] = self.reserve(plan, secret)
                continue
            if secret.generator is SecretGenerator.PLATFORM:
                if secret.name not in issued:
                    raise ValueError(f"the platform issued no value for the secret {secret.name}")
                value = pulumi.Output.secret(issued[secret.name])
                self.store(plan, secret, value)
                self.values[secret.name] = value
                continue
            value = random_secrets.generate(
                f"{self._name}-{secret.name}", secret,  # type: ignore[attr-defined]
                pulumi.ResourceOptions(parent=self, protect=plan.policy.protect))  # type: ignore[arg-type]
            self.store(plan, secret, value)
            self.values[secret.name] = value
        return self.values

    def store(self, plan: Plan, secret: Secret, value: pulumi.Output[str]) -> None:
        """Keep a generated value in the platform's secret store (default: nowhere)."""

    def reserve(self, plan: Plan, secret: Secret) -> pulumi.Output[str] | None:
        """A slot for an `init` secret; None when the platform has no place for it."""
        return None

    def init_given(self, name: str) -> pulumi.Output[str] | None:
        """The operator's value of an `init` secret from the stack's config, or None (not yet)."""
        key = self.init_config_keys.get(name)
        return pulumi.Config(self.config_namespace).get_secret(key) if key else None
