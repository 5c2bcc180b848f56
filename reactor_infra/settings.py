"""Stack settings: everything about an install that the token does not say.

A stack file (`stacks/Pulumi.<stack>.yaml`) holds them under the `reactor-infra:`
config namespace, next to the token:

    config:
      reactor-infra:token: E5+ha@aws
      reactor-infra:domain: api.example.com
      reactor-infra:regions: [eu-west-1, eu-central-1]
      reactor-infra:images:
        reactor_server: ghcr.io/acme/reactor-server:v1-4747219-openbao

Every key is optional with a sensible default. An unknown or mistyped key is
rejected with its name and the allowed keys (`SettingsError`, exit code 2).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .errors import SettingsError, UserError, shorten
from .token import Edition, Platform, Topology, parse
from .traits import traits

# Settings are frozen dataclasses, validated by pydantic (`load_settings`) only when a stack
# file or mapping is read: importing pydantic's BaseModel costs ~45 ms, and `explain TOKEN`
# without a stack file must start within 1.5x of `import pydantic, typer` (benchmarks/).
# `extra="forbid"` makes pydantic name every unknown key.
_FORBID = {"extra": "forbid"}

CONFIG_NAMESPACE = "reactor-infra"

SizingPreset = Literal["dev", "staging", "small", "active"]


_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,22}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ValueError(f"{key}: {message}")


@dataclass(frozen=True)
class Images:
    """Container image for every service; each may be overridden. Reactor v1 publishes no image
    (ghcr.io/reactor-cloud/reactor is the v2 runtime), so reactor-server, gateway-server and, for
    edition C, Caddy default to a build (images/, `reactor-infra images build`) whose tag lies
    under the never-resolvable registry reactor-infra.invalid/ until the stack names a pushed one."""

    __pydantic_config__ = _FORBID

    # none: the build this topology needs (images/reactor-server, with the `openbao` feature
    # when the vault is OpenBao), tagged reactor-infra.invalid/reactor-server:v1-<commit>[-openbao]
    reactor_server: str | None = None
    # none: the build this topology needs (images/gateway-server),
    # tagged reactor-infra.invalid/reactor-gateway-server:v1-<commit>
    gateway_server: str | None = None
    postgres: str = "postgres:16"
    # 2.6: the last line with the cloud KMS seals built in (2.7 moved them to plugins); the tests
    # run the same version's real binary on every rendered openbao.hcl
    openbao: str = "openbao/openbao:2.6.2"
    nats: str = "nats:2.10-alpine"  # the alpine image has wget for the /healthz probe
    # none: the build this topology needs: caddy:2.11, or for edition C (DNS-01 wildcard TLS) the
    # Caddy with the Route 53 and Cloudflare DNS modules (images/caddy)
    caddy: str | None = None
    pgbouncer: str = "edoburu/pgbouncer:v1.24.1-p0"
    supavisor: str = "supabase/supavisor:2.5.1"

    def __post_init__(self) -> None:
        for f in fields(self):
            ref = getattr(self, f.name)
            if ref is None and f.default is None:
                continue
            _check(isinstance(ref, str) and bool(ref) and not any(c.isspace() for c in ref)
                   and not ref.endswith(":"),
                   f"images.{f.name}", f"'{shorten(str(ref))}' is not an image reference such as 'postgres:16'")


# The v2 runtime's images: another config (env only; [admin] and [vault] ignored) and no `doctor`,
# so it cannot run the Reactor.toml this project writes.
V2_RUNTIME_IMAGE = "ghcr.io/reactor-cloud/reactor"


@dataclass(frozen=True)
class StackSettings:
    """What a stack may set besides the token (each key optional; defaults in words below)."""

    __pydantic_config__ = _FORBID

    # project name, in Reactor.toml [project] and the node's compose project; default "reactor"
    project_name: str = "reactor"
    # what every physical name starts with (`<prefix>-<tier>-<role>`); default the stack's name,
    # so two installs of one token in one account never collide
    name_prefix: str | None = None
    # public domain for the API (TLS certificate, DNS record); none: the platform's address
    domain: str | None = None
    # contact for Let's Encrypt; none: certificates without a contact address
    acme_email: str | None = None
    # regions, the first primary; none: the platform's defaults (traits.default_regions)
    regions: tuple[str, ...] | None = None
    # dev | staging | small | active; none: chosen from edition and size
    sizing: SizingPreset | None = None
    # connection pooler from size 6; default pgbouncer (transaction mode)
    pooler: Literal["pgbouncer", "supavisor"] = "pgbouncer"
    # OpenBao seal; none: the cloud's KMS, shamir on local and onprem
    vault_seal: Literal["shamir", "awskms", "gcpckms", "azurekeyvault"] | None = None
    # image reference per service; default the Images defaults (our builds for the three we build)
    images: Images = field(default_factory=Images)
    # per-platform settings keyed by platform name, checked by that platform; default none
    extras: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(isinstance(self.project_name, str) and bool(_LABEL.match(self.project_name)), "project_name",
               f"'{shorten(str(self.project_name))}' must be 1-24 lowercase letters, digits or '-'")
        if self.name_prefix is not None:
            _check(isinstance(self.name_prefix, str) and bool(_LABEL.match(self.name_prefix)), "name_prefix",
                   f"'{shorten(str(self.name_prefix))}' must be 1-24 lowercase letters, digits or '-'")
        if self.domain is not None:
            _check(bool(_DOMAIN.match(self.domain)), "domain",
                   f"'{shorten(self.domain)}' is not a lowercase DNS name such as 'api.example.com'")
        if isinstance(self.regions, str):  # one region may be written as text
            object.__setattr__(self, "regions", (self.regions,))
        elif self.regions is not None:
            object.__setattr__(self, "regions", tuple(self.regions))
            _check(bool(self.regions) and all(isinstance(r, str) and r for r in self.regions), "regions",
                   "must be a list of region names such as [us-east-1, us-west-2]")
            _check(len(self.regions) < 2 or self.regions[1] != self.regions[0], "regions",
                   f"the second region '{shorten(self.regions[0])}' is the first (primary) again; "
                   "a second region must differ from the primary")
            twice = next((r for i, r in enumerate(self.regions) if r in self.regions[:i]), None)
            _check(twice is None, "regions",
                   f"'{shorten(str(twice))}' is listed twice; list each region once, the primary first")
        unknown = sorted(set(self.extras) - {p.value for p in Platform})
        _check(not unknown, "extras", f"unknown platform {unknown}; allowed: {', '.join(p.value for p in Platform)}")

    def problems_for(self, topology: Topology) -> list[str]:
        """What cannot work with this token, one line each naming the key, the value and what
        is allowed: the regions (how many the token uses, names the platform has; a static
        list, no network call) and, for E and C, images without a tag or digest."""
        problems = []
        uses = regions_used(topology)
        if len(self.regions or traits(topology.platform).default_regions) < uses:
            problems.append(f"regions: +mr needs two regions (the primary and a second), "
                            f"given [{', '.join(shorten(r) for r in self.regions or ())}]")
        if self.regions is not None:
            if len(self.regions) > uses:
                extra = ", ".join(f"'{shorten(r)}'" for r in self.regions[uses:])
                problems.append(
                    f"regions: {topology.token} uses {uses} region{'s' if uses > 1 else ''} "
                    f"({'the primary and a second with +mr' if topology.mr else 'add +mr for a second'}), "
                    f"given {len(self.regions)}; remove {extra}")
            known = traits(topology.platform).regions
            if known is not None:
                for region in self.regions:
                    if region not in known:
                        close = difflib.get_close_matches(region, sorted(known), n=1)
                        hint = f"did you mean '{close[0]}'? " if close else ""
                        problems.append(f"regions: '{shorten(region)}' is not a region of @{topology.platform.value}; "
                                        f"{hint}allowed: {', '.join(sorted(known))}")
        server = self.images.reactor_server
        if server is not None and server.partition("@")[0].rsplit(":", 1)[0] == V2_RUNTIME_IMAGE:
            problems.append(
                f"images.reactor_server: '{shorten(server)}' is the v2 runtime, which cannot read the "
                f"Reactor.toml written here (it ignores [admin] and [vault], has no `doctor`); build v1 with "
                f"'reactor-infra images build', or leave images.reactor_server out")
        if topology.edition in PINNED_EDITIONS:
            for f in fields(self.images):
                ref = getattr(self.images, f.name)
                if ref is not None and not image_is_pinned(ref):
                    problems.append(
                        f"images.{f.name}: '{shorten(ref)}' has no tag or digest; edition "
                        f"{topology.edition.value} runs only pinned images, such as '{shorten(ref)}:1.4.2' "
                        f"or '{shorten(ref)}@sha256:<digest>'")
        return problems

    def ensure_workable(self, topology: Topology, source: str = "stack settings") -> None:
        """Raise SettingsError with every problem of `problems_for` (one line each)."""
        problems = self.problems_for(topology)
        if problems:
            raise SettingsError(source, problems)

    def regions_for(self, topology: Topology) -> tuple[str, ...]:
        """The regions this install uses: one, or two with +mr. The Plan asks this first, so
        settings that cannot work with the token are refused here for every caller."""
        self.ensure_workable(topology)
        regions = self.regions or traits(topology.platform).default_regions
        return tuple(regions[:regions_used(topology)])


# Editions that run customers' production: every image must name a tag or a digest, so a
# redeploy never silently pulls a different build.
PINNED_EDITIONS = frozenset({Edition.ENTERPRISE, Edition.COMMERCIAL})


def regions_used(topology: Topology) -> int:
    """How many regions a token uses: two with +mr, else one."""
    return 2 if topology.mr else 1


def image_is_pinned(ref: str) -> bool:
    """Whether an image reference names a tag (`name:tag`) or a digest (`name@sha256:...`).
    A registry port (`registry:5000/name`) is not a tag: only the last path part counts."""
    name, at, digest = ref.partition("@")
    if at:
        algorithm, colon, value = digest.partition(":")
        return bool(algorithm and colon and value)
    return ":" in name.rsplit("/", 1)[-1]


def allowed_keys(model: type) -> list[str]:
    return [f.name for f in fields(model)]


def _model_at(loc: tuple[Any, ...]) -> type:
    return Images if loc and loc[0] == "images" else StackSettings


def _format_validation(err: Any) -> list[str]:
    problems = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not isinstance(p, int) or len(e["loc"]) == 1)
        key = ".".join(str(p) for p in loc)
        if e["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            allowed = allowed_keys(_model_at(loc))
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            problems.append(f"unknown key '{shorten(key)}'{hint}; allowed: {', '.join(allowed)}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {msg}" if key else msg)
    return problems


def load_settings(values: dict[str, Any] | None, source: str = "stack settings") -> StackSettings:
    """Validate a plain mapping (keys without the namespace) into StackSettings."""
    from pydantic import TypeAdapter, ValidationError

    if values is not None and not isinstance(values, dict):
        raise SettingsError(source, ["settings must be a mapping of key: value"])
    values = dict(values or {})
    if isinstance(values.get("regions"), str):  # one region may be written as text
        values["regions"] = [values["regions"]]
    try:
        return TypeAdapter(StackSettings).validate_python(values)
    except ValidationError as err:
        raise SettingsError(source, _format_validation(err)) from None


@dataclass(frozen=True)
class StackFile:
    """A parsed `Pulumi.<stack>.yaml`: the token, our settings and the other namespaces' config."""

    name: str
    topology: Topology
    settings: StackSettings
    other_config: dict[str, Any] = field(default_factory=dict)


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
    topology = parse(str(chosen))
    settings.ensure_workable(topology, source)  # bad input first: before any engine or CLI
    stack_name = stack_name_of(path)
    return StackFile(name=stack_name, topology=topology, settings=settings, other_config=other)


def stack_name_of(path: str | Path) -> str:
    """The Pulumi stack a stack file is for: `stacks/Pulumi.acme-prod.yaml` -> `acme-prod`."""
    return Path(path).name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
