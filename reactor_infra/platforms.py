"""Platform plugins: the interface and the registry (entry-point group `reactor_infra.platforms`).

A platform is its own installable package (`platforms/<name>/`) that names its cloud
SDK. It registers an instance of a `Platform` subclass under its name:

    [project.entry-points."reactor_infra.platforms"]
    aws = "reactor_infra_aws:platform"

The core never imports a platform package directly, so it installs and runs alone and
says which package to install when a platform is missing. Loading the entry point is
the first moment a cloud SDK may be imported; `explain`, `matrix` and `config` never do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from .errors import PlatformMissingError, SettingsError, UserError
from .token import Modifier, Topology

if TYPE_CHECKING:
    from .layout import Plan

ENTRY_POINT_GROUP = "reactor_infra.platforms"


class NoExtras(BaseModel):
    """A platform without settings of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class Check:
    """One `doctor` finding: what was checked, whether it is ready, and the detail."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class AdminAccess:
    """How an operator reaches a stack's admin API from their machine: `command` opens the way
    (None when the port is already on this machine), `needs` the tools it uses (with how to get
    them), `token_hint` how to read the admin token (a command; never the token itself)."""

    command: list[str] | None
    token_hint: str
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Deployment:
    """What `Platform.deploy` hands back to the program; values may be Pulumi Outputs."""

    public_url: Any
    reactor_toml: Any  # the rendered Reactor.toml (no secret values in it)
    endpoints: Mapping[str, Any] = field(default_factory=dict)


class Platform(ABC):
    """Turns a Plan into Pulumi resources. It never re-decides the layout: if it needs a
    fact, the Plan grows it."""

    name: ClassVar[str]
    package: ClassVar[str]  # the distribution to install, e.g. reactor-infra-aws
    sizes: ClassVar[frozenset[int]]
    modifiers: ClassVar[frozenset[Modifier]] = frozenset()
    settings_model: ClassVar[type[BaseModel]] = NoExtras

    def unsupported(self, topology: Topology) -> list[str]:
        """Why this platform (as built so far) cannot deploy the topology; empty if it can."""
        problems = []
        if topology.size not in self.sizes:
            built = ", ".join(str(s) for s in sorted(self.sizes))
            problems.append(f"@{self.name} builds sizes {built} so far (given {topology.size})")
        missing = [m for m in topology.modifiers if m not in self.modifiers]
        if missing:
            allowed = ", ".join("+" + m for m in sorted(self.modifiers)) or "none"
            given = "".join("+" + m for m in missing)
            problems.append(f"@{self.name} does not build {given} yet; modifiers built: {allowed}")
        return problems

    def extras(self, plan: Plan) -> BaseModel:
        """This platform's settings from the stack's `extras.<name>`, validated."""
        return validated_extras(self.name, self.settings_model, plan.settings.extras.get(self.name, {}))

    @abstractmethod
    def deploy(self, plan: Plan) -> Deployment:
        """Create the Pulumi resources for the plan (inside a running Pulumi program)."""

    # --- hooks: what the core asks of each platform, so adding one edits no core file -----

    def mock_resource(self, typ: str, name: str, inputs: dict[str, Any],
                      region: str) -> tuple[str, dict[str, Any]] | None:
        """The offline render's (id, outputs) for one of this platform's resource types, or
        None to let the core answer (pulumi-random, a generic fallback)."""
        return None

    def mock_call(self, token: str, args: dict[str, Any], region: str) -> dict[str, Any] | None:
        """The offline render's answer to one of this platform's data-source calls, or None."""
        return None

    def doctor(self) -> list[Check]:
        """What a real run on this platform needs (credentials, a daemon), checked without
        changing anything and without printing a secret."""
        return []

    def admin_access(self, plan: Plan, local_port: int) -> AdminAccess:
        """How `reactor-infra admin` reaches this stack's admin forwarder from here."""
        raise UserError(f"@{self.name} has no admin path yet")

    def conformance(self) -> Any:
        """How to read this platform's renders for the conformance suite
        (a `reactor_infra.conformance.Readings`)."""
        raise NotImplementedError(f"platform {self.name} has no conformance readings")


class RecipePlatform(Platform):
    """A platform whose `deploy` is a recipe over the Plan's regions and tiers and whose offline
    answers live in one module: `recipe(plan, extras).run()` makes the resources and returns
    the Deployment; `mocks.resource_state` / `mocks.call_result` answer the mock engine."""

    # a cloud ladder builds every size and modifier the token grammar allows on a cloud
    sizes: ClassVar[frozenset[int]] = frozenset({2, 3, 4, 5, 6, 10})
    modifiers: ClassVar[frozenset[Modifier]] = frozenset({Modifier.HA, Modifier.MR, Modifier.AS})
    recipe: ClassVar[Any]  # the Recipe class: Recipe(plan, extras).run() -> Deployment
    mocks: ClassVar[Any]  # the module: resource_state(typ, name, inputs, region), call_result(token, args, region)

    def deploy(self, plan: Plan) -> Deployment:
        return self.recipe(plan, self.extras(plan)).run()

    def mock_resource(self, typ, name, inputs, region):
        return self.mocks.resource_state(typ, name, inputs, region)

    def mock_call(self, token, args, region):
        answer = getattr(self.mocks, "call_result", None)
        return answer(token, args, region) if answer else None


def validated_extras(name: str, model: type[BaseModel], values: Any) -> Any:
    """`extras.<name>` validated by `model`: SettingsError with one line per problem, naming its key."""
    try:
        return model.model_validate(values)
    except ValidationError as err:
        allowed = ", ".join(model.model_fields) or "none"
        problems = []
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"])
            if e["type"] == "extra_forbidden":
                problems.append(f"unknown key 'extras.{name}.{key}'; allowed: {allowed}")
            else:
                where = f"extras.{name}.{key}" if key else f"extras.{name}"
                problems.append(f"{where}: {e['msg'].removeprefix('Value error, ')}")
        raise SettingsError("stack settings", problems) from None


def _package_for(name: str) -> str:
    return f"reactor-infra-{name}"


def available() -> dict[str, str]:
    """Installed platform names -> their entry point value (nothing imported)."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def load(name: str) -> Platform:
    """Load an installed platform plugin, or say which package to install."""
    eps = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    if name not in eps:
        pkg = _package_for(name)
        installed = ", ".join(sorted(eps)) or "none"
        raise PlatformMissingError(
            f"platform '{name}' is not installed (installed: {installed}); "
            f"install it with: pip install '{pkg}'  (in this repository: uv sync --extra {name})")
    try:
        platform = eps[name].load()
    except ImportError as err:
        raise PlatformMissingError(
            f"platform '{name}' is installed but cannot be imported ({err}); "
            f"reinstall it with: pip install --force-reinstall '{_package_for(name)}'") from None
    if not isinstance(platform, Platform):
        raise PlatformMissingError(f"entry point '{name}' in {ENTRY_POINT_GROUP} is not a Platform")
    return platform


def for_topology(topology: Topology) -> Platform:
    """The platform plugin for a topology, checked that it can build it."""
    platform = load(topology.platform.value)
    problems = platform.unsupported(topology)
    if problems:
        raise UserError(f"{topology}: " + "; ".join(problems))
    return platform
