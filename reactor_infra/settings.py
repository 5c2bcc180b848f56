"""Stack settings: everything about an install that the token does not say.

A stack file (`stacks/Pulumi.<stack>.yaml`) holds them under the `reactor-infra:`
config namespace, next to the token:

    config:
      reactor-infra:token: E5+ha@aws
      reactor-infra:domain: api.example.com
      reactor-infra:regions: [eu-west-1, eu-central-1]
      reactor-infra:images:
        reactor_server: ghcr.io/reactor-cloud/reactor:1.4.2

Every key is optional with a sensible default. An unknown or mistyped key is
rejected with its name and the allowed keys (`SettingsError`, exit code 2).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import SettingsError, UserError, shorten
from .token import Platform, Topology, parse

CONFIG_NAMESPACE = "reactor-infra"

SizingPreset = Literal["dev", "staging", "small", "active"]

# Default regions per platform: the first is the primary; +mr uses the first two.
DEFAULT_REGIONS: dict[Platform, tuple[str, ...]] = {
    Platform.LOCAL: ("local",),
    Platform.ONPREM: ("site-1",),
    Platform.AWS: ("us-east-1", "us-west-2"),
    Platform.GCP: ("us-central1", "us-east1"),
    Platform.AZURE: ("eastus", "westus2"),
    Platform.FLY: ("iad", "ord"),
}

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Images(_Strict):
    """Container image for every service. All configurable; v1 publishes no reactor image, so
    pin your own build (with the `openbao` feature when the vault is OpenBao)."""

    reactor_server: str = "ghcr.io/reactor-cloud/reactor:1.0.0"
    gateway_server: str = "ghcr.io/reactor-cloud/reactor-gateway-server:1.0.0"
    postgres: str = "postgres:16"
    openbao: str = "openbao/openbao:2.2.0"
    nats: str = "nats:2.10"
    caddy: str = "caddy:2"
    pgbouncer: str = "edoburu/pgbouncer:v1.24.1-p0"
    supavisor: str = "supabase/supavisor:2.5.1"

    @field_validator("*")
    @classmethod
    def _image_ref(cls, v: str) -> str:
        if not v or any(ch.isspace() for ch in v) or v.endswith(":"):
            raise ValueError(f"'{shorten(v)}' is not an image reference such as 'postgres:16'")
        return v


class StackSettings(_Strict):
    """What a stack may set besides the token (each key optional)."""

    project_name: str = Field("reactor", description="project name; used in physical names and Reactor.toml [project] name")
    domain: str | None = Field(None, description="public domain for the API (TLS certificate, DNS record); none: the platform's address")
    acme_email: str | None = Field(None, description="contact for Let's Encrypt; none: certificates without a contact")
    regions: tuple[str, ...] | None = Field(None, description="regions, the first primary; none: the platform's defaults")
    sizing: SizingPreset | None = Field(None, description="dev | staging | small | active; none: chosen from edition and size")
    pooler: Literal["pgbouncer", "supavisor"] = Field("pgbouncer", description="connection pooler from size 6")
    vault_seal: Literal["shamir", "awskms", "gcpckms", "azurekeyvault"] | None = Field(
        None, description="OpenBao seal; none: the cloud's KMS, shamir on local/onprem")
    images: Images = Field(default_factory=Images, description="image reference per service")
    extras: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="per-platform settings, keyed by platform name (checked by the platform)")

    @field_validator("project_name")
    @classmethod
    def _project_name(cls, v: str) -> str:
        if not _LABEL.match(v) or len(v) > 24:
            raise ValueError(f"'{shorten(v)}' must be 1-24 lowercase letters, digits or '-'")
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str | None) -> str | None:
        if v is not None and not _DOMAIN.match(v):
            raise ValueError(f"'{shorten(v)}' is not a lowercase DNS name such as 'api.example.com'")
        return v

    @field_validator("regions", mode="before")
    @classmethod
    def _regions(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if v is not None and (not v or not all(isinstance(r, str) and r for r in v)):
            raise ValueError("must be a list of region names such as ['us-east-1', 'us-west-2']")
        if v is not None and len(set(v)) != len(v):
            raise ValueError("lists a region twice")
        return v

    def regions_for(self, topology: Topology) -> tuple[str, ...]:
        """The regions this install uses: one, or two with +mr."""
        regions = self.regions or DEFAULT_REGIONS[topology.platform]
        if topology.mr:
            if len(regions) < 2:
                raise SettingsError("stack settings", [
                    f"regions: +mr needs at least two regions, given {list(regions)}"])
            return tuple(regions[:2]) if self.regions is None else tuple(regions)
        return (regions[0],)


def _allowed(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    return Images if loc and loc[0] == "images" else StackSettings


def _format_validation(err: ValidationError) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(e["loc"])
        key = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden":
            allowed = _allowed(_model_at(loc))
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(f"unknown key '{shorten(key)}'{hint}; allowed: {', '.join(allowed)}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {msg}")
    return problems


def load_settings(values: dict[str, Any] | None, source: str = "stack settings") -> StackSettings:
    """Validate a plain mapping (keys without the namespace) into StackSettings."""
    try:
        return StackSettings.model_validate(values or {})
    except ValidationError as err:
        raise SettingsError(source, _format_validation(err)) from None


class StackFile(BaseModel):
    """A parsed `Pulumi.<stack>.yaml`: the token, our settings and the other namespaces' config."""

    model_config = ConfigDict(frozen=True)

    name: str
    topology: Topology
    settings: StackSettings
    other_config: dict[str, Any] = {}


def read_stack_file(path: str | Path, token: str | None = None) -> StackFile:
    """Read a stack file; `token` (from the command line) wins over the file's token if both are given."""
    import yaml  # only the stack-file path needs it

    path = Path(path)
    source = f"stack file {path}"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise UserError(f"{source}: not found") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{source}: not valid YAML{where}") from None
    if not isinstance(doc, dict):
        raise UserError(f"{source}: expected a mapping with a 'config:' key")
    config = doc.get("config") or {}
    if not isinstance(config, dict):
        raise UserError(f"{source}: 'config:' must be a mapping of 'namespace:key: value'")
    ours: dict[str, Any] = {}
    other: dict[str, Any] = {}
    for key, value in config.items():
        ns, sep, name = str(key).partition(":")
        if sep and ns == CONFIG_NAMESPACE:
            ours[name] = value
        else:
            other[str(key)] = value
    file_token = ours.pop("token", None)
    chosen = token or file_token
    if not chosen:
        raise UserError(f"{source}: no token; set '{CONFIG_NAMESPACE}:token: <token>' or pass one")
    settings = load_settings(ours, source)
    stack_name = path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    return StackFile(name=stack_name, topology=parse(str(chosen)), settings=settings, other_config=other)
