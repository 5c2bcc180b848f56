"""The Fly recipe: walk the Plan's tiers and make each one's app, secrets and machines.

In order: the secrets (generated once; the operator's database password and DNS token come
from the stack's config), then per tier its app in the install's 6PN network, every machine's
spec from the catalogue (one machine per service replica, per region of the tier), the app's
secrets (exactly those its machines read), and the machines with their volumes. The managed
database is the operator's (a URL in the stack): a one-shot machine per region of the app tier
creates Reactor's roles and database there, and sets their passwords again at each update.
Which tier runs where is the Plan's; this file maps tiers to Fly apps and services to machines
(`places`), and says which machines Fly's proxy fronts (the ingress's 80/443 passed through to
Caddy, the vault router's :8200, an autoscaled tier's private port).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pulumi

from reactor_infra import catalogue, database_url, naming
from reactor_infra.kit import operator_secret
from reactor_infra.layout import (
    HTTP,
    HTTPS,
    VAULT_API,
    DatabaseHosting,
    Plan,
    SecretGenerator,
    Service,
    TierPlan,
)
from reactor_infra.platforms import Deployment
from reactor_infra.reactor_toml import render_reactor_toml
from reactor_infra.service_spec import Prestart, ServiceSpec

from . import places
from .app import FlyApp, FlyAppArgs
from .machine import FlyMachine, FlyMachineArgs
from .machine_config import env_secret, file_secret, machine_config, step_config
from .secrets import AppSecrets, Secrets, SecretsArgs
from .settings import ADMIN_PASSWORD_KEY, FlySettings

S = Service
NAMESPACE = "reactor-infra-fly"  # the stack config namespace of the operator's secrets
DNS_TOKEN_KEY = "cloudflareApiToken"
STEP = "db-roles"
VOLUME_NAME_MAX = 30


@dataclass
class Planned:
    """One machine to make: its spec (or one-shot step), where, and what Fly's proxy sends it."""

    key: str  # the component's name
    app: str  # the app's key (places.app_key)
    machine_name: str
    region: str
    group: str
    spec: ServiceSpec | None = None
    step: Prestart | None = None
    services: list[dict[str, Any]] = field(default_factory=list)
    secret_names: dict[str, str] = field(default_factory=dict)


def database_address(url: str | None) -> places.Database | None:
    """(host, port, sslmode) of the operator's database URL (sslmode `require` when it names none)."""
    return None if url is None else database_url.address(url)


class Recipe:
    def __init__(self, plan: Plan, extras: FlySettings):
        self.plan, self.extras, self.org = plan, extras, extras.org
        self.network = extras.network or naming.prefix(plan)

    def run(self) -> Deployment:
        plan = self.plan
        managed = plan.database.hosting is DatabaseHosting.MANAGED
        # a missing database_url is refused before: plan.deployment_problems (validate, render, up)
        self.database = database_address(self.extras.database_url) if managed else None
        self.secrets = Secrets("secrets", SecretsArgs(plan=plan, issued=self._issued()))
        self.apps: dict[str, FlyApp] = {}
        for tier in plan.tiers:
            if tier.services:
                self._tier(tier)
        return self._deployment()

    def _issued(self) -> dict[str, pulumi.Output[str]]:
        plan, issued = self.plan, {}
        for secret in plan.secrets:
            if secret.generator is not SecretGenerator.PLATFORM:
                continue
            if secret.name == "database-admin-password":
                issued[secret.name] = operator_secret(
                    NAMESPACE, ADMIN_PASSWORD_KEY, "the password of extras.fly.database_url's admin role")
            else:  # the DNS-01 credential (edition C): the operator's Cloudflare token
                issued[secret.name] = operator_secret(
                    NAMESPACE, DNS_TOKEN_KEY,
                    f"a Cloudflare API token that may edit {plan.settings.domain}'s zone (DNS-01 for *.{plan.settings.domain})")
        return issued

    # --- one tier -------------------------------------------------------------------------------

    def _tier(self, tier: TierPlan) -> None:
        """The tier's app (and a routed OpenBao's own app in a public tier, `places.app_key`)."""
        planned = self._planned(tier)
        for key in sorted({p.app for p in planned}, key=lambda k: (k != tier.name.value, k)):
            self._app(tier, key, [p for p in planned if p.app == key])

    def _app(self, tier: TierPlan, key: str, planned: list[Planned]) -> None:
        plan = self.plan
        routed = places.routed(plan)
        router = routed is not None and routed.name == tier.name and any(
            p.spec is not None and p.spec.service is S.OPENBAO for p in planned)
        home = key == tier.name.value
        app = FlyApp(key, tier.name.value, FlyAppArgs(
            plan=plan, app_name=places.app_name(plan, key, self.org), org=self.org, network=self.network,
            public=home and tier.name == plan.ingress.tier, flycast=router or (home and places.via_proxy(tier))))
        self.apps[key] = app
        env: dict[str, str] = {}
        files: dict[str, str] = {}
        for p in planned:
            spec_env = p.spec.secret_env if p.spec else p.step.secret_env
            for var, template in spec_env.items():
                name = p.secret_names[var]
                if env.setdefault(name, template) != template:
                    raise ValueError(f"fly: app secret {name} would hold two values ({p.key})")
            for f in p.spec.secret_files if p.spec else ():
                files[file_secret(f)] = f.secret
        app_secrets = self.secrets.for_app(key, app.name, env, files)
        made: dict[str, FlyMachine] = {}
        for p in planned:
            after = [app.app, *app_secrets.resources]
            if p.spec is not None and p.spec.prestart:
                after += [made[q.key] for q in planned if q.step is not None and q.region == p.region]
            made[p.key] = self._machine(tier, app, p, app_secrets, after)

    def _planned(self, tier: TierPlan) -> list[Planned]:
        plan = self.plan
        out: list[Planned] = []
        for region in tier.regions:
            suffix = "" if region == plan.primary_region else f"-{region}"
            for service in tier.services:
                for i in range(tier.replicas.max):
                    group = places.group(tier, service, i)
                    spec = catalogue.spec(plan, service, places.placement(
                        plan, tier, service, i, self.org, region, self.database))
                    index = "" if places.clustered(tier, service) or tier.replicas.max == 1 else f"-{i}"
                    key = f"{tier.name.value}-{group}{index}{suffix}"
                    # per process group: a clustered node's route variables name its own peers
                    names = {var: env_secret(group, var, t, region if suffix else "")
                             for var, t in spec.secret_env.items()}
                    if i == 0:  # a step runs before its service's machines start (they wait for it)
                        out += [self._step(tier, step, region, suffix) for step in spec.prestart]
                    out.append(Planned(key=key, app=places.app_key(plan, tier, service), machine_name=f"{group}{index}{suffix}", region=region, group=group,
                                       spec=spec, services=self._proxied(tier, spec), secret_names=names))
        return out

    def _step(self, tier: TierPlan, step: Prestart, region: str, suffix: str) -> Planned:
        step = replace(step, env={**step.env, **self._admin_connection()})
        names = {var: env_secret(step.name, var, t, region if suffix else "") for var, t in step.secret_env.items()}
        return Planned(key=f"{tier.name.value}-{step.name}{suffix}", app=tier.name.value, machine_name=f"{step.name}{suffix}",
                       region=region, group=step.name, step=step, secret_names=names)

    def _admin_connection(self) -> dict[str, str]:
        """The operator's database, as the roles step connects to it (the URL's user, port, db)."""
        return database_url.admin_connection(self.extras.database_url or "")

    def _proxied(self, tier: TierPlan, spec: ServiceSpec) -> list[dict[str, Any]]:
        """What Fly's proxy sends this machine: the ingress's 80/443 as TCP to Caddy (it terminates
        TLS); the vault router's :8200 to the active OpenBao only; an autoscaled tier's port on
        its Flycast address (the proxy starts and stops its machines)."""
        plan = self.plan
        scale = {}
        if tier.replicas.autoscaled:
            scale = {"autostart": True, "autostop": "stop", "min_machines_running": tier.replicas.min}
        if tier.name == plan.ingress.tier and spec.service is S.CADDY:
            return [{"protocol": "tcp", "internal_port": port, "ports": [{"port": port}], **scale}
                    for port in (HTTPS, HTTP)]
        routed = places.routed(plan)
        if spec.service is S.OPENBAO and routed is not None and routed.name == tier.name:
            active = {"type": "http", "port": VAULT_API, "method": "GET", "path": "/v1/sys/health", "protocol": "http",
                      "interval": "5s", "timeout": "2s", "grace_period": "30s"}
            return [{"protocol": "tcp", "internal_port": VAULT_API, "ports": [{"port": VAULT_API}],
                     "checks": [active]}]
        if places.via_proxy(tier) and spec.listens:
            port = spec.listens[0]
            return [{"protocol": "tcp", "internal_port": port, "ports": [{"port": port}], **scale}]
        return []

    def _machine(self, tier: TierPlan, app: FlyApp, p: Planned, app_secrets: AppSecrets,
                 after: list[pulumi.Resource]) -> FlyMachine:
        plan = self.plan
        meta = {"reactor_stack": plan.stack, "reactor_tier": tier.name.value}
        if p.step is not None:
            def config(_volume, p=p):
                return step_config(p.step, p.group, p.secret_names, meta)
            volume_gb = None
        else:
            def config(volume, p=p):
                return machine_config(p.spec, tier.sizing, p.group, p.secret_names, volume=volume,
                                      services=p.services, metadata=meta)
            volume_gb = (self.extras.volume_gb or (tier.sizing.disk_gb if tier.sizing else 1)) if p.spec.stateful else None
        return FlyMachine(p.key, tier.name.value, FlyMachineArgs(
            plan=plan, app_name=app.name, machine_name=p.machine_name, region=p.region, config=config,
            volume_gb=volume_gb, volume_name=_volume_name(p.machine_name) if volume_gb else None,
            secrets_version=app_secrets.version, depends_on=after))

    # --- outputs -------------------------------------------------------------------------------

    def _deployment(self) -> Deployment:
        plan = self.plan
        ep = places.endpoints(plan, self.org, plan.primary_region, self.database)
        ingress = self.apps[plan.ingress.tier.value]
        endpoints: dict[str, pulumi.Input[Any]] = {
            "public_url": ep.public_url, "region": plan.primary_region, "network": self.network,
            "apps": {t: a.name for t, a in sorted(self.apps.items())},
            "ipv6": ingress.public_ips[0].ip, "ipv4": ingress.public_ips[1].ip}
        return Deployment(public_url=ep.public_url, reactor_toml=render_reactor_toml(plan, ep), endpoints=endpoints)


def _volume_name(machine: str) -> str:
    """Its machine's name (`caddy-1-ord` -> `caddy_1_ord_data`): unique in the app, so an operator
    sees which machine a volume belongs to (Fly allows letters, digits and underscores, 30 at most)."""
    return f"{machine.replace('-', '_')}_data"[:VOLUME_NAME_MAX]
