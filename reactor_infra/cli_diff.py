"""`reactor-infra diff`: what a change does to the infrastructure, for a terminal or a PR comment.

Three sources, one report:
- `diff A B`: two tokens or stack files rendered offline (one install moving from A to B);
- `diff --base REF [--head REF]`: every stack in stacks/ that the change between two git
  revisions touches, each revision rendered with its own code (diff_git);
- `diff --from-preview FILE`: what `pulumi preview --json` printed (preview).
Exit 0 when it ran, changes or not; with --exit-code, 3 when there are changes (like
`git diff --exit-code`); 2 for bad input; 1 when a stack could not be rendered.
"""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from .errors import OperationError, UserError

CHANGES_EXIT = 3


class Format(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    JSON = "json"


def _is_file(arg: str) -> bool:
    return arg.endswith((".yaml", ".yml")) or "/" in arg or Path(arg).is_file()


def _specs(a: str, b: str) -> tuple[dict, dict, str]:
    """Both sides as render specs of one stack: a token beside a stack file is rendered as that
    stack file with the token (its settings and stack name); two tokens share A's stack name."""
    from .settings import read_stack_file
    from .token import parse

    a_file, b_file = _is_file(a), _is_file(b)
    if a_file and b_file:
        return {"file": a}, {"file": b}, read_stack_file(a).name
    if a_file:
        return {"file": a}, {"file": a, "token": b}, read_stack_file(a, b).name
    if b_file:
        return {"file": b, "token": a}, {"file": b}, read_stack_file(b, a).name
    stack = parse(a).slug
    parse(b)  # both tokens are checked before anything renders
    return {"token": a, "stack": stack}, {"token": b, "stack": stack}, stack


def diff_pair(a: str, b: str):
    from .diff import diff_renders
    from .diff_worker import render_one

    old_spec, new_spec, stack = _specs(a, b)
    old = render_one(old_spec, catch=False)
    new = render_one(new_spec, catch=False)
    return [diff_renders(old["graph"], new["graph"], stack=stack, before=a, after=b,
                         old_topology=old["plan"], new_topology=new["plan"])]


def _read_preview(path: Path) -> tuple[str, str]:
    if str(path) == "-":
        return sys.stdin.read(), "stdin"
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except FileNotFoundError:
        raise UserError(f"--from-preview {path}: not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"--from-preview {path}: cannot read it ({type(err).__name__})") from None


def diff_command(
    a: Annotated[str | None, typer.Argument(help="old side: a token (E4@aws) or a stack file", show_default=False)] = None,
    b: Annotated[str | None, typer.Argument(help="new side: a token or a stack file", show_default=False)] = None,
    base: Annotated[str | None, typer.Option("--base", help="git revision to compare from: every stack in stacks/ "
                                                            "whose file or code changed", show_default=False)] = None,
    head: Annotated[str | None, typer.Option("--head", help="git revision to compare to (default HEAD)",
                                             show_default=False)] = None,
    from_preview: Annotated[list[Path] | None, typer.Option("--from-preview", help="report what `pulumi preview "
                                                            "--json` printed (a file, or - for stdin); repeat it for "
                                                            "several stacks", show_default=False)] = None,
    fmt: Annotated[Format, typer.Option("--format", help="text, markdown (a PR comment) or json",
                                        case_sensitive=False)] = Format.TEXT,
    exit_code: Annotated[bool, typer.Option("--exit-code", help=f"exit {CHANGES_EXIT} when there are changes")] = False,
    comment_id: Annotated[str, typer.Option("--comment-id", help="markdown: the hidden marker CI finds the comment "
                                                                 "by (one comment per id)")] = "reactor-infra-diff",
) -> None:
    """Diff the infrastructure: two tokens or stack files, two git revisions, or a real preview."""
    from .diff_report import has_changes, json_report, markdown_report, text_report

    if head is not None and base is None:
        raise UserError("--head needs --base")
    modes = sum((a is not None or b is not None, base is not None, bool(from_preview)))
    if modes != 1:
        raise UserError("give A and B (tokens or stack files), or --base REF [--head REF], or --from-preview FILE")
    if a is not None or b is not None:
        if a is None or b is None:
            raise UserError("diff needs two sides: A and B (tokens or stack files)")
        diffs = diff_pair(a, b)
    elif base is not None:
        from .diff_git import diff_revisions

        diffs = diff_revisions(base, head, Path.cwd())
    else:
        from .preview import diff_preview

        if sum(str(p) == "-" for p in from_preview) > 1:  # type: ignore[union-attr]
            raise UserError("--from-preview reads stdin (-) once")
        diffs = [diff_preview(*_read_preview(p)) for p in from_preview]  # type: ignore[union-attr]
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", comment_id):
        raise UserError(f"--comment-id {comment_id[:40]!r}: letters, digits, '.', '_' and '-' only")
    if fmt is Format.MARKDOWN:
        title = "reactor-infra preview" if from_preview else "reactor-infra diff"
        report = markdown_report(diffs, marker=f"<!-- {comment_id} -->", title=title)
    else:
        report = {Format.TEXT: text_report, Format.JSON: json_report}[fmt](diffs)
    sys.stdout.write(report)
    sys.stdout.flush()
    failed = [d for d in diffs if d.error]
    if failed:
        raise OperationError(f"{len(failed)} stack(s) could not be rendered: " + "; ".join(
            f"{d.stack}: {d.error}" for d in failed)[:600])
    if exit_code and has_changes(diffs):
        raise typer.Exit(CHANGES_EXIT)


def register(app: typer.Typer) -> None:
    from .cli import user_errors

    app.command("diff")(user_errors(diff_command))
