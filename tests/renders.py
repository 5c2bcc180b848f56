"""Offline renders shared by the test modules of one process: each token (with its settings and
stack name) renders once per process, whoever asks first. Edition C cannot be deployed without a
domain (tenants live at {ref}.<domain>), so a C token asked for without settings renders with
the domain `C_DOMAIN`."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from reactor_infra.graph import ResourceGraph
from reactor_infra.render import render
from reactor_infra.settings import load_settings


C_DOMAIN = "api.example.com"


# @fly from size 3 uses the operator's Postgres (extras.fly.database_url; its password is a
# stack config secret an offline render does not need)
FLY_DATABASE_URL = "postgres://reactor_admin@db.example.com:5432/postgres?sslmode=verify-full"


# @gcp edition C proves *.<domain> by DNS-01 in the domain's Cloud DNS zone (its name)
GCP_DNS_ZONE = "example-com"


# @azure edition C proves *.<domain> by DNS-01 in the domain's Azure DNS zone; at size 3 Front
# Door serves the tenants with the operator's wildcard certificate from a Key Vault
AZURE_DNS_ZONE = "example.com"
AZURE_WILDCARD_CERTIFICATE = ("/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/certificates/"
                              "providers/Microsoft.KeyVault/vaults/acme-certificates/secrets/wildcard-api-example-com")


def default_settings(token: str) -> dict[str, Any] | None:
    settings: dict[str, Any] = {"domain": C_DOMAIN} if token.startswith("C") else {}
    if token.endswith("@fly") and not token[1:].startswith("2"):
        settings["extras"] = {"fly": {"database_url": FLY_DATABASE_URL}}
    if token.endswith("@gcp") and token.startswith("C"):
        settings["extras"] = {"gcp": {"dns_zone": GCP_DNS_ZONE}}
    if token.endswith("@azure") and token.startswith("C"):
        settings["extras"] = {"azure": {"dns_zone": AZURE_DNS_ZONE, **(
            {"wildcard_certificate": AZURE_WILDCARD_CERTIFICATE} if token[1:].startswith("3") else {})}}
    if token.endswith("@onprem"):
        settings["extras"] = {"onprem": onprem_inventory(token)}
    return settings or None


def onprem_inventory(token: str) -> dict[str, Any]:
    """The example inventory `reactor-infra inventory TOKEN` prints (documentation addresses)."""
    from reactor_infra.inventory import example
    from reactor_infra.plan import build_plan
    from reactor_infra.token import parse

    return example(build_plan(parse(token)))


@lru_cache(maxsize=None)
def _render(token: str, settings_json: str, stack: str | None) -> tuple[ResourceGraph, str]:
    settings = load_settings(json.loads(settings_json)) if settings_json != "null" else None
    graph = render(token, settings, stack=stack)
    return graph, graph.to_json()


def rendered(token: str, settings: dict[str, Any] | None = None, stack: str | None = None) -> ResourceGraph:
    return _render(token, json.dumps(settings or default_settings(token), sort_keys=True), stack)[0]


def rendered_json(token: str, settings: dict[str, Any] | None = None, stack: str | None = None) -> str:
    return _render(token, json.dumps(settings or default_settings(token), sort_keys=True), stack)[1]


def resources(token: str, type_: str | None = None, settings: dict[str, Any] | None = None) -> list[dict]:
    doc = json.loads(rendered_json(token, settings))
    return [r for r in doc["resources"] if type_ is None or r["type"] == type_]
