"""FlySettings: what a stack may set under `extras.fly` (each key optional; defaults in words)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from reactor_infra import database_url

_ORG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# the Pulumi config key (secret) holding the external database's admin password
ADMIN_PASSWORD_KEY = "databaseAdminPassword"


class FlySettings(BaseModel):
    """`extras.fly` in a stack file, e.g. `reactor-infra:extras: {fly: {org: acme, database_url: ...}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the Fly organization the apps belong to; default `personal`
    org: str = "personal"
    # sizes >= 3: the Postgres the install uses, as `postgres://ADMIN@HOST:PORT/DB?sslmode=MODE` with
    # no password (set it as the Pulumi secret `reactor-infra:databaseAdminPassword`); the admin role
    # needs CREATEROLE and CREATEDB. A Fly Managed Postgres cluster's URL (`fly mpg`) or any external
    # one. None: refused for sizes >= 3 (size 2 runs Postgres on a volume)
    database_url: str | None = None
    # the 6PN network the install's apps share, apart from the organization's other apps;
    # none: one named after the stack
    network: str | None = None
    # volume size in GB for each stateful machine; none: the tier's sizing
    volume_gb: int | None = None

    @field_validator("org")
    @classmethod
    def _org(cls, value: str) -> str:
        if not _ORG.match(value):
            raise ValueError(f"{value!r} is not a Fly organization slug (lowercase letters, digits, -)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        return None if value is None else database_url.checked(value, f"reactor-infra:{ADMIN_PASSWORD_KEY}")

    @field_validator("volume_gb")
    @classmethod
    def _volume(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 500:
            raise ValueError("a Fly volume holds 1 to 500 GB")
        return value
