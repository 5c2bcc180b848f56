"""CLI commands that need the Pulumi engine: render, preview, up, destroy, refresh, outputs,
doctor. Pulumi is imported inside the commands only, so the core commands stay light."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_TOKEN = "O2@aws"

TokenArg = Annotated[
    str | None,
    typer.Argument(help=f"topology token (default: the --stack file's, else {DEFAULT_TOKEN})", show_default=False),
]
StackOpt = Annotated[
    Path | None,
    typer.Option("--stack", "-s", help="stack file stacks/Pulumi.<name>.yaml: settings, and the stack name",
                 show_default=False),
]
BackendOpt = Annotated[
    str | None,
    typer.Option("--backend", help="Pulumi backend URL (default: a file backend in your data directory)",
                 show_default=False),
]


def _resolve(token: str | None, stack: Path | None):
    """(topology, settings, stack name) from a token and/or a stack file."""
    from .settings import read_stack_file
    from .token import parse

    if stack is not None:
        stack_file = read_stack_file(stack, token)
        return stack_file.topology, stack_file.settings, stack_file.name
    topology = parse(token or DEFAULT_TOKEN)
    return topology, None, topology.slug


def _status(message: str) -> None:
    """Progress on stderr when a person is watching; nothing when piped."""
    if sys.stderr.isatty():
        from .cli import err

        err.print(message, style="dim", markup=False)


def _render(token: str | None, stack: Path | None):
    from .render import render

    topology, settings, name = _resolve(token, stack)
    _status(f"rendering {topology} (stack {name}) under the mock engine…")
    if stack is not None:  # exactly as `pulumi up -s <stack>` runs it: program.main on the config
        return render(token, stack_file=stack)
    return render(topology, settings, stack=name)


def render_command(
    token: TokenArg = None,
    stack: StackOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="the render contract (DESIGN §5)")] = False,
    tree: Annotated[bool, typer.Option("--tree", help="resources grouped by Reactor tier")] = False,
    mermaid: Annotated[bool, typer.Option("--mermaid", help="a Mermaid flowchart")] = False,
) -> None:
    """Render the resource graph offline (no CLI, no credentials): JSON, tree or Mermaid."""
    if sum((as_json, tree, mermaid)) > 1:
        raise typer.BadParameter("choose one of --json, --tree, --mermaid")
    graph = _render(token, stack)
    if mermaid:
        sys.stdout.write(graph.mermaid())
    elif tree:
        sys.stdout.write(graph.tree())
    else:
        sys.stdout.write(graph.to_json())


def _offline_preview(token: str | None, stack: Path | None) -> None:
    from .cli import out

    graph = _render(token, stack)
    out.print(f"Previewing {graph.topology} (stack {graph.stack}) offline: no state, so every resource "
              "is a create", markup=False)
    for component, members in sorted(graph.by_component().items(), key=lambda kv: (kv[0] is None, kv[0] or "")):
        out.print("")
        out.print(component or "providers", style="bold", markup=False)
        for r in members:
            protect = "  [protect]" if r.protect else ""
            out.print(f"  + {r.type:<58} {r.name}{protect}", style="green", markup=False)
    out.print("")
    out.print("Resources by type:", style="bold", markup=False)
    for type_, n in graph.type_counts():
        out.print(f"  {n:>4}  {type_}", markup=False)
    out.print(f"\n  + {len(graph.resources)} to create", style="bold green", markup=False)


def preview_command(
    token: TokenArg = None,
    stack: StackOpt = None,
    offline: Annotated[bool, typer.Option("--offline", help="no CLI, no state: a plan from the mock render")] = False,
    backend: BackendOpt = None,
) -> None:
    """Preview the changes (with --offline: what would be created, by tier and type)."""
    if offline:
        _offline_preview(token, stack)
        return
    from . import engine

    summary = engine.preview(**_target(token, stack, backend), on_output=_stream)
    print(json.dumps(summary, sort_keys=True))


def _target(token: str | None, stack: Path | None, backend: str | None, check_cli: bool = True) -> dict:
    """The engine's keyword arguments; the stack file's other namespaces become stack config."""
    from . import engine
    from .settings import read_stack_file

    topology, settings, name = _resolve(token, stack)
    config = read_stack_file(stack, token).other_config if stack is not None else {}
    if check_cli:
        engine.pulumi_cli()  # bad input first, then the missing CLI alone
    return {"topology": topology, "settings": settings, "stack_name": name, "backend_url": backend,
            "config": dict(config)}


def _stream(line: str) -> None:
    sys.stdout.write(line if line.endswith("\n") else line + "\n")
    sys.stdout.flush()


def up_command(token: TokenArg = None, stack: StackOpt = None, backend: BackendOpt = None) -> None:
    """Create or update the stack for real (needs the Pulumi CLI and cloud credentials)."""
    from . import engine

    outputs = engine.up(**_target(token, stack, backend), on_output=_stream)
    print(json.dumps(outputs, indent=2, sort_keys=True))


def refresh_command(token: TokenArg = None, stack: StackOpt = None, backend: BackendOpt = None) -> None:
    """Read the real state of every resource into the stack."""
    from . import engine

    engine.refresh(**_target(token, stack, backend), on_output=_stream)


def destroy_command(
    token: TokenArg = None,
    stack: StackOpt = None,
    backend: BackendOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="confirm: delete every resource of the stack")] = False,
) -> None:
    """Delete every resource of the stack (only with --yes)."""
    from . import engine

    # refuse before anything else, CLI or not
    engine.destroy(**_target(token, stack, backend, check_cli=yes), yes=yes, on_output=_stream)


def outputs_command(token: TokenArg = None, stack: StackOpt = None, backend: BackendOpt = None) -> None:
    """Print the stack's outputs (secrets as [secret])."""
    from . import engine

    print(json.dumps(engine.outputs(**_target(token, stack, backend)), indent=2, sort_keys=True))


def doctor_command() -> None:
    """Check what a real run needs: Pulumi CLI, state backend, passphrase, credentials, Docker."""
    from . import engine
    from .cli import out

    checks = engine.doctor()
    for check in checks:
        mark, style = ("ok", "green") if check.ok else ("--", "yellow")
        out.print(f"{mark:>3}  {check.name:<16} {check.detail}", style=style, markup=False)
    if not all(c.ok for c in checks):
        out.print("offline commands (explain, render, preview --offline) work without the rest",
                  markup=False)


def register(app: typer.Typer) -> None:
    from .cli import user_errors

    for name, fn in (("render", render_command), ("preview", preview_command), ("up", up_command),
                     ("refresh", refresh_command), ("destroy", destroy_command),
                     ("outputs", outputs_command), ("doctor", doctor_command)):
        app.command(name)(user_errors(fn))
