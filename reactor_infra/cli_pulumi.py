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
    from .changes import StepCollector, preview_lines

    kwargs = _target(token, stack, backend)
    _where(kwargs)
    with engine.open_session(**kwargs) as session, _busy(f"previewing stack {kwargs['stack_name']}…"):
        collector = StepCollector()
        summary = session.preview("up", collector.on_event, save_plan=False)
    _print_lines(preview_lines(collector.steps))
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


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="apply after the preview without asking "
                                                          "(required without a terminal)")]
AllowDataLossOpt = Annotated[bool, typer.Option(
    "--allow-data-loss", help="also apply replaces and deletes of stateful or protected resources "
                              "(databases, volumes, buckets, keys, generated secrets); move their data first")]

# what each command does to the stack, for the refusal without a terminal
DOES = {"up": "changes the resources of", "refresh": "rewrites the state of",
        "destroy": "tears down every resource of"}


def _terminal() -> bool:
    """Whether a person can be asked: stdin to answer on, stderr to show the preview on."""
    return sys.stdin.isatty() and sys.stderr.isatty()


def _where(kwargs: dict) -> None:
    """Say which stack in which backend a command works on (never a credential in the URL)."""
    from . import engine
    from .cli import err

    t = engine.target(kwargs["topology"], kwargs["settings"], kwargs["stack_name"], kwargs["backend_url"])
    err.print(f"stack {t.stack_name} ({t.topology}) in {engine.shown_backend(t.backend_url)}",
              style="bold", markup=False, highlight=False)


def _busy(message: str):
    """A spinner on a terminal; one line otherwise."""
    import contextlib

    from .cli import err

    if sys.stderr.isatty():
        return err.status(message)
    err.print(message, markup=False, highlight=False)
    return contextlib.nullcontext()


def _print_lines(lines: list[str]) -> None:
    from .cli import err

    for line in lines:
        style = "yellow" if line.startswith(("Data-loss", "  !")) else None
        err.print(line, style=style, markup=False, highlight=False)


def _confirm(command: str, stack_name: str) -> bool:
    """Ask on the terminal. destroy wants the stack's name typed, the others y/yes."""
    from .cli import err

    try:
        if command == "destroy":
            answer = err.input(f"Type the stack name '{stack_name}' to destroy every resource in it: ", markup=False)
            return answer.strip() == stack_name
        answer = err.input(f"Do you want to perform this {command} on stack '{stack_name}'? [y/N] ", markup=False)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def _safe_run(command: str, token: str | None, stack: Path | None, backend: str | None,
              yes: bool, allow_data_loss: bool) -> dict:
    """up, destroy and refresh, in this order: (a) bad input; for up, images that cannot be had
    (an unbuilt default on a cloud, or on @local one missing from the Docker host: exit 2); then
    no terminal and no --yes: refuse (exit 2) before anything starts; (b) the Pulumi CLI (exit 1 with how to install
    it); (c) the preview, shown by tier with data-loss risks first; (d) the data-loss gate
    (exit 2 naming each resource, unless --allow-data-loss); (e) the question, unless --yes;
    (f) the run with live progress. Returns up's outputs."""
    from . import engine, progress
    from .changes import StepCollector, data_loss_risks, gate, has_changes, preview_lines
    from .errors import OperationError, UserError

    kwargs = _target(token, stack, backend, check_cli=False)  # bad input first
    name = kwargs["stack_name"]
    if command == "up":
        _ensure_images(token, stack, kwargs)
    interactive = _terminal()
    if not yes and not interactive:
        raise UserError(f"{command} {DOES[command]} stack '{name}' and there is no terminal to confirm on; "
                        f"add --yes to confirm")
    engine.pulumi_cli()
    _where(kwargs)
    with engine.open_session(**kwargs) as session:
        collector = StepCollector()
        with _busy(f"previewing {command} of stack {name}…"):
            session.preview(command, collector.on_event)
        steps = collector.steps
        _print_lines(preview_lines(steps, data_loss_risks(steps), command))
        if not has_changes(steps):
            return session.outputs() if command == "up" else {}
        gate(command, steps, allow_data_loss)
        if not yes and not _confirm(command, name):
            raise OperationError(f"{command} of stack '{name}' not confirmed; nothing was changed")
        from .cli import err

        state = progress.RunState(command, name, progress.expected_operations(steps))
        view = progress.display(state, live=interactive, console=err)
        try:
            with view:
                outputs = session.apply(command, view.on_event)
        except OperationError as failed:  # the resource, its tier and the provider's message
            view.finish()
            raise progress.RunFailed(state.error_lines() or failed.lines()) from None
        view.finish()
        return outputs


def _ensure_images(token: str | None, stack: Path | None, kwargs: dict) -> None:
    """Refuse an up whose images cannot be had, before the CLI, the state or a question."""
    from .cli_images import ensure_runnable, source_of
    from .plan import build_plan

    plan = build_plan(kwargs["topology"], kwargs["settings"], stack=kwargs["stack_name"])
    ensure_runnable(plan, source_of(token, stack, plan))


def up_command(token: TokenArg = None, stack: StackOpt = None, backend: BackendOpt = None,
               yes: YesOpt = False, allow_data_loss: AllowDataLossOpt = False) -> None:
    """Preview, ask, then create or update the stack for real (needs the Pulumi CLI)."""
    outputs = _safe_run("up", token, stack, backend, yes, allow_data_loss)
    print(json.dumps(outputs, indent=2, sort_keys=True))


def refresh_command(token: TokenArg = None, stack: StackOpt = None, backend: BackendOpt = None,
                    yes: YesOpt = False, allow_data_loss: AllowDataLossOpt = False) -> None:
    """Preview, ask, then read the real state of every resource into the stack."""
    _safe_run("refresh", token, stack, backend, yes, allow_data_loss)


def destroy_command(token: TokenArg = None, stack: StackOpt = None, backend: BackendOpt = None,
                    yes: YesOpt = False, allow_data_loss: AllowDataLossOpt = False) -> None:
    """Preview, ask (or --yes), then delete every resource of the stack."""
    _safe_run("destroy", token, stack, backend, yes, allow_data_loss)


def outputs_command(token: TokenArg = None, stack: StackOpt = None, backend: BackendOpt = None) -> None:
    """Print the stack's outputs (secrets as [secret]); stderr says which stack in which backend."""
    from . import engine

    kwargs = _target(token, stack, backend)
    _where(kwargs)
    print(json.dumps(engine.outputs(**kwargs), indent=2, sort_keys=True))


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
