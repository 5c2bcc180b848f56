"""Secrets: every secret the Plan lists, generated once (the kit's SecretFlow), and set as Fly
app secrets where machines read them.

Fly keeps secrets per app and gives a machine those it names (`processes[].secrets`, with
`ignore_app_secrets`: a machine sees only its own service's). `for_app` sets one app's secrets
in one `Secrets` resource: a variable that is a whole Plan secret gets that secret's name
(`ADMIN_TOKEN`); one that wraps secrets (`postgres://reactor:${database-password}@...`) gets a
secret of its own holding the filled template (`REACTOR_SERVER_REACTOR_DATABASE__URL`); a secret
file gets its base64 content (Fly writes files from secrets that way). The resource's `version`
is what each machine of the app must run with (`min_secrets_version`), so a changed value
restarts the machines that read it.

`init` secrets exist only after OpenBao's init (reactor-server's token): the app gets a
`Secret` holding a placeholder that the operator's first-boot step replaces (`fly secrets set`);
Pulumi ignores later changes to its value. The provider does not mark secret values as secret:
every value here is wrapped in `Output.secret`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_fly_machines as fly

from reactor_infra.kit import SecretFlow
from reactor_infra.layout import Plan, Secret, SecretGenerator
from reactor_infra.service_spec import fill, secret_refs

from .component import FlyComponent
from .machine_config import secret_name

TIER = "vault"
# The value of an `init` secret until the operator's first boot sets it.
PLACEHOLDER = "set-after-openbao-init"


@dataclass(frozen=True)
class SecretsArgs:
    plan: Plan  # the secrets come from `plan.secrets`; protect from `plan.policy`
    # values of the Plan's PLATFORM secrets (the operator's database password, the DNS-01 token)
    issued: Mapping[str, pulumi.Output[str]] | None = None


@dataclass(frozen=True)
class AppSecrets:
    """What one app's machines read: `version` for `min_secrets_version`, `resources` to wait on."""

    version: pulumi.Output[int] | None
    resources: tuple[pulumi.Resource, ...]


class Secrets(FlyComponent, SecretFlow):
    def __init__(self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        self._name, self._plan = name, args.plan
        self.create_secrets(args.plan, dict(args.issued or {}))
        self.register_outputs({})

    def for_app(self, app_key: str, app_name: pulumi.Input[str], env: Mapping[str, str],
                files: Mapping[str, str] = {}) -> AppSecrets:
        """Set an app's secrets. `env`: Fly secret name -> template over Plan secrets;
        `files`: Fly secret name -> the Plan secret whose value a file holds (base64)."""
        plan = self._plan
        values: dict[str, pulumi.Input[str]] = {}
        waits: list[pulumi.Resource] = []
        for fly_name, template in sorted(env.items()):
            refs = secret_refs(template)
            init = [r for r in refs if plan.secret(r).generator is SecretGenerator.INIT]
            if init:
                waits.append(self._reserved(app_key, app_name, fly_name, plan.secret(init[0])))
                continue
            parts = {r: self.values[r] for r in refs}
            values[fly_name] = pulumi.Output.secret(pulumi.Output.all(parts).apply(lambda p, t=template: fill(t, p[0])))
        for fly_name, secret in sorted(files.items()):
            values[fly_name] = pulumi.Output.secret(
                self.values[secret].apply(lambda v: base64.b64encode(v.encode()).decode()))
        if not values:
            return AppSecrets(None, tuple(waits))
        bulk = fly.apps.v1.Secrets(f"{self._name}-{app_key}", app_name=app_name, values=values,
                                   opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["values"]))
        return AppSecrets(bulk.version, (bulk, *waits))

    def _reserved(self, app_key: str, app_name: pulumi.Input[str], fly_name: str, secret: Secret) -> pulumi.Resource:
        return fly.apps.v1.Secret(
            f"{self._name}-{app_key}-{secret.name}", app_name=app_name, secret_name=fly_name,
            value=pulumi.Output.secret(PLACEHOLDER),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["value"], additional_secret_outputs=["value"]))


def fly_name_of(secret: str) -> str:
    return secret_name(secret)
