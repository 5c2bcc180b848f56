"""The command line: thin typer commands over the library.

`explain`, `matrix`, `config` and `validate` never import Pulumi or a cloud SDK; the
engine commands (render, preview, up, ...) live in `cli_pulumi` and import Pulumi
only when they run. Every user mistake is one red line per problem and exit code 2,
a failed operation exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import gc
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from .errors import ReactorInfraError

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="reactor-infra",
    help="Provision the Reactor backend runtime from one topology token such as E5+ha@aws.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

TokenArg = Annotated[
    str | None,
    typer.Argument(help="topology token, e.g. E5+ha@aws (may be left out with --stack)", show_default=False),
]
StackOpt = Annotated[
    Path | None,
    typer.Option("--stack", "-s", help="stack file (stacks/Pulumi.<stack>.yaml) with settings", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable JSON on stdout")]


def fail(error: ReactorInfraError) -> None:
    """Print an error one problem per line, in red on a terminal, and exit with its code."""
    for line in error.lines():
        err.print(f"error: {line}", style="red", markup=False)
    raise typer.Exit(error.exit_code)


def user_errors(fn: F) -> F:
    """Turn ReactorInfraError into red lines and an exit code; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ReactorInfraError as e:
            fail(e)
        except KeyboardInterrupt:
            err.print("interrupted", style="red")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def load_plan(token: str | None, stack: Path | None):
    """Token + optional stack file -> Plan (the token on the command line wins)."""
    from .plan import build_plan
    from .settings import read_stack_file
    from .token import parse

    if stack is not None:
        stack_file = read_stack_file(stack, token)
        return build_plan(stack_file.topology, stack_file.settings, stack=stack_file.name)
    if not token:
        raise typer.BadParameter("give a TOKEN, or --stack FILE with reactor-infra:token in it")
    return build_plan(parse(token))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")


@app.command()
@user_errors
def explain(token: TokenArg = None, stack: StackOpt = None, as_json: JsonOpt = False) -> None:
    """Say what a token builds: tiers, services, replicas, links, secrets, policy."""
    from .explain import plan_in_words, plan_to_dict

    plan = load_plan(token, stack)
    state = state_of(stack) if stack is not None else None
    if as_json:
        print_json(plan_to_dict(plan) | ({"state": state} if state else {}))
        return
    sections = list(plan_in_words(plan))
    if state:
        sections.append(("State", [
            f"backend {state['backend']} (the default of up/preview/refresh/destroy/outputs; "
            "--backend chooses another)",
            f"stack {state['stack']} (from the file name Pulumi.{state['stack']}.yaml)"]))
    for i, (heading, lines) in enumerate(sections):
        out.print(heading, style="bold" if i else "bold cyan", markup=False)
        for line in lines:
            out.print(f"  {line}", markup=False)


def state_of(stack: Path) -> dict[str, str]:
    """Where a stack file's state lives: the backend a real run uses by default and the stack
    name, so an operator never runs against the wrong one. Imports no Pulumi."""
    from .engine import default_backend_url, shown_backend
    from .settings import stack_name_of

    return {"backend": shown_backend(default_backend_url()), "stack": stack_name_of(stack)}


@app.command()
@user_errors
def matrix(
    platform: Annotated[str | None, typer.Option("--platform", "-p", help="only this platform")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List every valid token, per platform (canonical forms)."""
    from .token import Platform, parse, valid_topologies

    if platform is not None:
        try:
            platforms = [Platform(platform)]
        except ValueError:
            parse(f"O2@{platform}")  # raises the platform problem with its "did you mean"
            raise
    else:
        platforms = list(Platform)
    table = {p.value: [t.token for t in valid_topologies(p)] for p in platforms}
    if as_json:
        print_json({"count": sum(map(len, table.values())), "platforms": table})
        return
    for name, tokens in table.items():
        out.print(f"{name} ({len(tokens)})", style="bold", markup=False)
        for size_row in _rows_by_size(tokens):
            out.print("  " + "  ".join(size_row), markup=False)
    out.print(f"{sum(map(len, table.values()))} valid tokens", markup=False)


def _rows_by_size(tokens: list[str]) -> list[list[str]]:
    from .token import parse

    rows: dict[int, list[str]] = {}
    for token in tokens:
        rows.setdefault(parse(token).size, []).append(token)
    return [rows[size] for size in sorted(rows)]


@app.command()
@user_errors
def config(token: TokenArg = None, stack: StackOpt = None) -> None:
    """Print the Reactor.toml for a token (offline endpoints; secrets by reference only)."""
    from .reactor_toml import render_reactor_toml

    sys.stdout.write(render_reactor_toml(load_plan(token, stack)))


@app.command()
@user_errors
def validate(token: TokenArg = None, stack: StackOpt = None) -> None:
    """Check a token (and stack file): exit 0 and print the canonical token, or exit 2.
    Images still unbuilt are named on stderr, each with the command that builds it."""
    from .cli_images import source_of, unbuilt_notes
    from .plan import ensure_deployable

    plan = ensure_deployable(load_plan(token, stack))
    out.print(plan.topology.token, markup=False)
    for line in unbuilt_notes(plan, source_of(token, stack, plan)):
        err.print(f"warning: {line}", style="yellow", markup=False, highlight=False)


def _register_image_commands() -> None:
    from . import cli_bundle, cli_images  # run the docker client / write files; import no Pulumi

    cli_images.register(app)
    cli_bundle.register(app)


_register_image_commands()


def _register_engine_commands() -> None:
    from . import cli_admin, cli_diff, cli_pulumi  # import no Pulumi at module level

    cli_pulumi.register(app)
    cli_diff.register(app)
    cli_admin.register(app)


try:
    _register_engine_commands()
except ImportError:  # pragma: no cover - only while the engine module is absent
    pass


def main() -> None:
    # One command per process, whose objects (a render's graph, the SDK's modules) live until it
    # exits: far fewer full collections, and none over the whole heap at exit, make a cold render
    # about a third faster for the same output (benchmarks/bench_aws.py).
    gc.set_threshold(100_000, 50, 100)
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":
    main()
