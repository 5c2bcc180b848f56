"""The Pulumi program: token + settings -> Plan -> platform -> exports.

The same `run()` serves the offline render (under the mock engine), the Automation API
(inline program) and `pulumi up -s <stack>` on this repository (`main()`, reading the
stack's `reactor-infra:*` config).
"""

from __future__ import annotations

from typing import Any

import pulumi

from .errors import SettingsError
from .layout import Plan
from .plan import build_plan, ensure_deployable
from .platforms import Platform, for_topology
from .settings import CONFIG_NAMESPACE, StackSettings, allowed_keys, load_settings
from .token import Topology, parse


def run(topology: Topology, settings: StackSettings | None = None, platform: Platform | None = None) -> Plan:
    """Build the plan, let the platform create its resources, export what users need."""
    plan = ensure_deployable(build_plan(topology, settings, stack=pulumi.get_stack()))
    platform = platform or for_topology(topology)
    deployment = platform.deploy(plan)
    pulumi.export("token", topology.token)
    pulumi.export("public_url", deployment.public_url)
    pulumi.export("endpoints", dict(deployment.endpoints))
    pulumi.export("reactor_toml", deployment.reactor_toml)
    return plan


def settings_from_config(config: dict[str, Any]) -> tuple[Topology, StackSettings]:
    """`reactor-infra:*` config values (namespace stripped) -> token and settings."""
    values = dict(config)
    token = values.pop("token", None)
    if not token:
        raise SettingsError("stack config", [f"'{CONFIG_NAMESPACE}:token' is required (e.g. O2@aws)"])
    return parse(str(token)), load_settings(values, "stack config")


def _stack_config() -> dict[str, Any]:
    import json

    config = pulumi.Config(CONFIG_NAMESPACE)
    values: dict[str, Any] = {}
    keys = ["token", *allowed_keys(StackSettings)]
    for key in keys:
        raw = config.get(key)
        if raw is None:
            continue
        try:
            values[key] = json.loads(raw) if raw[:1] in "[{" else raw
        except ValueError:
            values[key] = raw
    unknown = _unknown_config_keys(keys)
    if unknown:
        raise SettingsError("stack config", [
            f"unknown key '{CONFIG_NAMESPACE}:{k}'; allowed: {', '.join(keys)}" for k in unknown])
    return values


def _unknown_config_keys(known: list[str]) -> list[str]:
    from pulumi.runtime.config import CONFIG

    prefix = CONFIG_NAMESPACE + ":"
    return sorted(k[len(prefix):] for k in CONFIG.get() if k.startswith(prefix) and k[len(prefix):] not in known)


def main(platform: Platform | None = None) -> None:
    """Entry point of the Pulumi project (`__main__.py`); `platform` is for offline renders
    that inject one."""
    topology, settings = settings_from_config(_stack_config())
    run(topology, settings, platform)
