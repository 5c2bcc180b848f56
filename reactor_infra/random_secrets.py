"""The Plan's generated secrets as pulumi-random resources, one way for every platform.

Each `Secret.generator` maps to one resource: "token" and "password" are letters and
digits (safe inside a postgres:// URL), "letters" letters only (read by nats.conf as a bare word), "base64-32" is 32 random bytes in base64 (the
runtime's AES-256-GCM keys), "hex-64" is 32 random bytes in hex (the embedded vault's
master key). "init" secrets are not generated: OpenBao issues them at init. Values are
Pulumi secrets end to end. Part of the Pulumi layer: never imported by the core commands.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

from .layout import Secret, SecretGenerator as G

TOKEN_LENGTH = 48
PASSWORD_LENGTH = 32


def generate(resource_name: str, secret: Secret, opts: pulumi.ResourceOptions | None = None) -> pulumi.Output[str]:
    """One pulumi-random resource named `resource_name` for `secret`; its value as a secret."""
    opts = opts or pulumi.ResourceOptions()
    if secret.generator is G.TOKEN:
        value = random.RandomPassword(resource_name, length=TOKEN_LENGTH, special=False, opts=opts).result
    elif secret.generator is G.PASSWORD:
        value = random.RandomPassword(resource_name, length=PASSWORD_LENGTH, special=False, opts=opts).result
    elif secret.generator is G.LETTERS:
        value = random.RandomPassword(resource_name, length=PASSWORD_LENGTH, special=False, numeric=False,
                                      opts=opts).result
    elif secret.generator is G.BASE64_32:
        value = random.RandomBytes(resource_name, length=32, opts=opts).base64
    elif secret.generator is G.HEX_64:
        hidden = pulumi.ResourceOptions(additional_secret_outputs=["hex", "b64Std", "b64Url", "dec"])
        value = random.RandomId(resource_name, byte_length=32, opts=pulumi.ResourceOptions.merge(opts, hidden)).hex
    else:
        raise ValueError(f"secret {secret.name}: generator '{secret.generator}' makes no random value")
    return pulumi.Output.secret(value)
