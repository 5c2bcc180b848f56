"""Secrets an operator gives (a database they run, a DNS provider's token): read from the stack's
Pulumi config as secrets, never generated and never in a stack settings value in plain text.

`operator_secret(namespace, key, what)` is the value of `<namespace>:<key>` as a Pulumi secret.
Missing in a real run (`up`, `preview`): one line naming the key, what it is and how to set it
(exit code 2). In an offline render there is nothing to read and nothing is sent anywhere: the
render records the input as `[secret]` (an empty stand-in, never a value that looks real).
"""

from __future__ import annotations

import contextvars

import pulumi

from ..errors import SettingsError

# set by the offline renderer while a program runs under its mock monitor
OFFLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("reactor_infra_offline", default=False)


def operator_secret(namespace: str, key: str, what: str) -> pulumi.Output[str]:
    value = pulumi.Config(namespace).get_secret(key)
    if value is not None:
        return pulumi.Output.secret(value)
    if OFFLINE.get():
        return pulumi.Output.secret("")
    raise SettingsError("stack config", [
        f"'{namespace}:{key}' is not set: {what}; set it with `pulumi config set --secret {namespace}:{key}`"])
