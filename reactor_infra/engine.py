"""The real run: the Pulumi Automation API driving the Pulumi CLI.

Defaults need no Pulumi Cloud account: state in a local file backend under the user's
data directory, secrets with the passphrase provider (from PULUMI_CONFIG_PASSPHRASE, or
created once and kept in a 0600 file beside the state). The stack is named from the
token unless given. Without a Pulumi CLI every command stops before doing anything, with
one message that says how to install it; this module never pretends to be the engine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import OperationError, PulumiMissingError, ReactorInfraError, UserError
from .platforms import Check
from .settings import StackSettings
from .token import Topology

PROJECT = "reactor-infra"
INSTALL_HINT = (
    "the Pulumi CLI is not installed (no 'pulumi' on PATH); install it from "
    "https://www.pulumi.com/docs/install/ (e.g. curl -fsSL https://get.pulumi.com | sh), "
    "or see the plan without it: reactor-infra preview TOKEN --offline"
)
PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"

Printer = Callable[[str], None]


def data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(os.environ.get("REACTOR_INFRA_HOME") or user_data_dir("reactor-infra"))


def default_backend_url() -> str:
    return (data_dir() / "state").as_uri()


_SECRET_QUERY_KEYS = ("password", "secret", "token", "key", "credential", "sig")


def shown_backend(url: str) -> str:
    """The backend URL as it may be printed: a password in it (postgres://user:pw@host) or a
    credential in its query (?sig=..., ?access_key=...) becomes ***."""
    from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = [(k, "***" if any(w in k.lower() for w in _SECRET_QUERY_KEYS) else v)
                 for k, v in parse_qsl(query, keep_blank_values=True)]
        query = urlencode(pairs, safe="/*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def pulumi_cli() -> str:
    """The Pulumi CLI's path, or PulumiMissingError with how to install it."""
    path = shutil.which("pulumi")
    if path is None:
        raise PulumiMissingError(INSTALL_HINT)
    return path


def passphrase_file() -> Path:
    return data_dir() / "passphrase"


def ensure_passphrase() -> tuple[str, str]:
    """(passphrase, where it came from). Created once with 0600 permissions if absent."""
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV], f"${PASSPHRASE_ENV}"
    path = passphrase_file()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise OperationError(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
    return path.read_text().strip(), str(path)


@dataclass(frozen=True)
class Target:
    topology: Topology
    settings: StackSettings | None
    stack_name: str
    backend_url: str


def target(topology: Topology, settings: StackSettings | None = None, stack_name: str | None = None,
           backend_url: str | None = None) -> Target:
    return Target(topology, settings, stack_name or topology.slug, backend_url or default_backend_url())


def _stack(t: Target, config: Mapping[str, Any] | None = None):
    """Create or select the stack through the Automation API (needs the CLI). `config` is
    the stack file's other namespaces (aws:region, docker:host), set on the stack."""
    pulumi_cli()
    try:
        from pulumi import automation as auto

        from . import program
    except ImportError as err:
        raise PulumiMissingError(f"the Pulumi SDK is not installed ({err}); install the platform's "
                                 f"package: pip install 'reactor-infra-{t.topology.platform}'") from None

    passphrase, _ = ensure_passphrase()
    if t.backend_url.startswith("file://"):
        Path(t.backend_url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    env = {"PULUMI_BACKEND_URL": t.backend_url, PASSPHRASE_ENV: passphrase}
    opts = auto.LocalWorkspaceOptions(
        env_vars=env,
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python",
                                              backend=auto.ProjectBackend(url=t.backend_url)),
    )
    try:
        stack = auto.create_or_select_stack(
            stack_name=t.stack_name, project_name=PROJECT,
            program=lambda: program.run(t.topology, t.settings), opts=opts)
        if config:
            stack.set_all_config({k: auto.ConfigValue(v if isinstance(v, str) else json.dumps(v))
                                  for k, v in config.items()})
        return stack
    except FileNotFoundError:  # the CLI vanished between the check and the call
        raise PulumiMissingError(INSTALL_HINT) from None
    except auto.errors.InvalidVersionError as err:
        raise OperationError(f"the Pulumi CLI is too old: {err}; upgrade it (pulumi version)") from None
    except auto.errors.CommandError as err:
        raise OperationError(_command_error(err)) from None


def _command_error(err: Exception) -> str:
    from pulumi.automation import errors

    kinds = {
        errors.ConcurrentUpdateError: "another update is running on this stack; wait for it, "
                                      "or run 'pulumi cancel' if it died",
        errors.StackNotFoundError: "the stack does not exist in this backend (check --stack and --backend)",
        errors.StackAlreadyExistsError: "the stack already exists",
        errors.CompilationError: "the program failed to compile",
    }
    for kind, text in kinds.items():
        if isinstance(err, kind):
            return f"pulumi: {text}"
    lines = [ln for ln in str(err).splitlines() if ln.strip()]
    tail = next((ln for ln in reversed(lines) if "error" in ln.lower()), lines[-1] if lines else "")
    tail = tail.strip().removeprefix("stderr:").strip()  # CommandError's own label
    return f"pulumi failed: {tail[:300]}"


def _guard(fn: Callable[[], Any]) -> Any:
    from pulumi.automation import errors

    try:
        return fn()
    except errors.CommandError as err:
        raise OperationError(_command_error(err)) from None


EventHandler = Callable[[Any], None]


def up(topology: Topology, settings: StackSettings | None = None, stack_name: str | None = None,
       backend_url: str | None = None, on_output: Printer = print, on_event: EventHandler | None = None,
       config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Create or update the stack; its outputs (secrets as [secret])."""
    stack = _stack(target(topology, settings, stack_name, backend_url), config)
    result = _guard(lambda: stack.up(on_output=on_output, on_event=on_event))
    return _shown_outputs(result.outputs)


def preview(topology: Topology, settings: StackSettings | None = None, stack_name: str | None = None,
            backend_url: str | None = None, on_output: Printer = print, on_event: EventHandler | None = None,
            config: Mapping[str, Any] | None = None) -> dict[str, int]:
    """What an up would change: counts by operation."""
    stack = _stack(target(topology, settings, stack_name, backend_url), config)
    result = _guard(lambda: stack.preview(on_output=on_output, on_event=on_event))
    return {str(getattr(k, "value", k)): v for k, v in (result.change_summary or {}).items()}


def refresh(topology: Topology, settings: StackSettings | None = None, stack_name: str | None = None,
            backend_url: str | None = None, on_output: Printer = print, on_event: EventHandler | None = None,
            config: Mapping[str, Any] | None = None) -> None:
    stack = _stack(target(topology, settings, stack_name, backend_url), config)
    _guard(lambda: stack.refresh(on_output=on_output, on_event=on_event))


def destroy(topology: Topology, settings: StackSettings | None = None, stack_name: str | None = None,
            backend_url: str | None = None, on_output: Printer = print, on_event: EventHandler | None = None,
            config: Mapping[str, Any] | None = None, *, yes: bool = False) -> None:
    """Delete every resource of the stack; refuses (UserError) unless `yes`, before anything else."""
    t = target(topology, settings, stack_name, backend_url)
    if not yes:
        raise UserError(f"destroy tears down every resource of stack '{t.stack_name}'; "
                        "add --yes to confirm")
    stack = _stack(t, config)
    _guard(lambda: stack.destroy(on_output=on_output, on_event=on_event))


def outputs(topology: Topology, settings: StackSettings | None = None, stack_name: str | None = None,
            backend_url: str | None = None, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    stack = _stack(target(topology, settings, stack_name, backend_url), config)
    return _shown_outputs(_guard(stack.outputs))


# --- preview, then apply --------------------------------------------------------------------

COMMANDS = ("up", "destroy", "refresh")


class Session:
    """One stack, opened once, for a run that previews, is judged and confirmed, then applies.

    `up` saves the preview's update plan and applies exactly that plan (`preview --save-plan`,
    `up --plan`): the engine then refuses any step the operator did not see and approve, so a
    replacement that appears between the preview and the update (a changed input, a provider's
    new diff) cannot slip past the data-loss gate. The cost: a program that creates resources
    inside `apply` cannot be planned (ours does not), and the flag is still marked experimental
    (hidden from --help, not gated). destroy and refresh take no plan: the engine has none
    for them, so their preview is a forecast of the same operation.
    """

    def __init__(self, stack: Any, target: Target) -> None:
        self.stack = stack
        self.target = target
        self._plan_dir: str | None = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._plan_dir is not None:
            shutil.rmtree(self._plan_dir, ignore_errors=True)
            self._plan_dir = None

    @property
    def plan_path(self) -> str:
        if self._plan_dir is None:
            import tempfile

            self._plan_dir = tempfile.mkdtemp(prefix="reactor-infra-plan-")  # 0700
        return os.path.join(self._plan_dir, "plan.json")

    def preview(self, command: str, on_event: EventHandler, save_plan: bool = True) -> dict[str, int]:
        """Run the preview of `command` (up, destroy or refresh), its steps to `on_event`;
        returns the engine's counts by operation. up's plan is kept for `apply` unless
        `save_plan` is False (a preview that will not be applied)."""
        if command == "up":
            plan = self.plan_path if save_plan else None
            result = _guard(lambda: self.stack.preview(on_event=on_event, plan=plan))
        elif command == "destroy":
            result = _guard(lambda: self.stack.preview_destroy(on_event=on_event))
        elif command == "refresh":
            result = _guard(lambda: self.stack.preview_refresh(on_event=on_event))
        else:
            raise ValueError(f"no preview for {command!r}; one of {COMMANDS}")
        return {str(getattr(k, "value", k)): v for k, v in (result.change_summary or {}).items()}

    def apply(self, command: str, on_event: EventHandler) -> dict[str, Any]:
        """Run `command` for real, its events to `on_event`; up returns the stack outputs
        (secrets as [secret])."""
        if command == "up":
            plan = os.path.join(self._plan_dir, "plan.json") if self._plan_dir else None
            result = _guard(lambda: self.stack.up(on_event=on_event, plan=plan))
            return _shown_outputs(result.outputs)
        if command == "destroy":
            _guard(lambda: self.stack.destroy(on_event=on_event))
        elif command == "refresh":
            _guard(lambda: self.stack.refresh(on_event=on_event))
        else:
            raise ValueError(f"cannot apply {command!r}; one of {COMMANDS}")
        return {}

    def outputs(self) -> dict[str, Any]:
        return _shown_outputs(_guard(self.stack.outputs))


def _shown_outputs(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: ("[secret]" if v.secret else v.value) for k, v in values.items()}


def open_session(topology: Topology, settings: StackSettings | None = None, stack_name: str | None = None,
                 backend_url: str | None = None, config: Mapping[str, Any] | None = None) -> Session:
    """Create or select the stack (needs the CLI: PulumiMissingError with the install hint)."""
    t = target(topology, settings, stack_name, backend_url)
    return Session(_stack(t, config), t)


# --- doctor ----------------------------------------------------------------------------------


def doctor() -> list[Check]:
    """What a real run needs, checked without changing anything (never prints a secret)."""
    from . import platforms

    checks = []
    cli = shutil.which("pulumi")
    if cli:
        version = run_first_line([cli, "version"]) or "unknown version"
        checks.append(Check("pulumi CLI", True, f"{cli} ({version})"))
    else:
        checks.append(Check("pulumi CLI", False, INSTALL_HINT))
    state = data_dir() / "state"
    writable = os.access(state if state.exists() else _existing_parent(state), os.W_OK)
    checks.append(Check("state backend", writable, f"{default_backend_url()} "
                                                  f"({'exists' if state.exists() else 'created on first use'})"))
    if os.environ.get(PASSPHRASE_ENV):
        checks.append(Check("passphrase", True, f"from ${PASSPHRASE_ENV}"))
    elif passphrase_file().exists():
        mode = passphrase_file().stat().st_mode & 0o777
        checks.append(Check("passphrase", not mode & 0o077, f"{passphrase_file()} (mode {mode:o})"))
    else:
        checks.append(Check("passphrase", True, f"created on first use in {passphrase_file()} (0600)"))
    installed = platforms.available()
    checks.append(Check("platforms", bool(installed), ", ".join(sorted(installed)) or "none installed"))
    for name in sorted(installed):
        try:
            checks.extend(platforms.load(name).doctor())
        except ReactorInfraError as err:
            checks.append(Check(f"platform {name}", False, str(err)))
    return checks


def run_first_line(cmd: list[str]) -> str | None:
    """The first line a command prints, or None when it is missing, fails or hangs."""
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None


def _existing_parent(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path
