"""`reactor-infra admin`: the operators' way to reactor-server's admin API, never the internet.

reactor-server answers /_admin only to loopback peers and the edge refuses those paths. Each
node runs an admin forwarder in reactor-server's network namespace behind a port published on
the host's loopback only (`catalogue.ADMIN_PORT`); this command opens the way to it from the
operator's machine as the platform allows (an SSM port forward on AWS; on one Docker host the
port is already there) and says how to read the admin token, which is still required. It
prints no secret. Deploying a bundle: `curl -H "Authorization: Bearer $TOKEN" -F
bundle=@deploy.tar.zst http://127.0.0.1:<port>/_admin/deploy`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli import StackOpt, TokenArg, err, load_plan, out, user_errors
from .errors import OperationError, UserError


def admin_command(
    token: TokenArg = None,
    stack: StackOpt = None,
    port: Annotated[int, typer.Option("--port", help="local port to open the admin API on")] = 9901,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would run, open nothing")] = False,
) -> None:
    """Open the admin API of a stack on this machine's loopback (SSM port forward on AWS)."""
    from .platforms import load

    if not 1024 <= port <= 65535:
        raise UserError(f"--port {port}: choose a port between 1024 and 65535")
    plan = load_plan(token, stack)
    access = load(plan.topology.platform.value).admin_access(plan, port)
    url = f"http://127.0.0.1:{port}"
    out.print(f"admin API of stack {plan.stack}: {url}/_admin/version", markup=False)
    out.print(f"the admin token (needed on every call): {access.token_hint}", markup=False)
    out.print(f'deploy a bundle: curl -H "Authorization: Bearer $TOKEN" -F bundle=@deploy.tar.zst '
              f"{url}/_admin/deploy", markup=False)
    if access.command is None:
        return
    out.print(f"opening: {' '.join(access.command)}", markup=False)
    if dry_run:
        return
    for tool in access.needs:
        if not _on_path(tool.split()[0]):
            raise OperationError(f"'{tool.split()[0]}' is not installed; {tool.split(' ', 1)[1] if ' ' in tool else ''}"
                                 .rstrip("; "))
    err.print("keep this running while you call the admin API; Ctrl-C closes it", style="dim", markup=False)
    sys.stdout.flush()
    try:
        done = subprocess.run(access.command, check=False)
    except KeyboardInterrupt:
        return
    if done.returncode not in (0, 130):
        raise OperationError(f"the port forward ended with exit code {done.returncode} (see its message above)")


def _on_path(program: str) -> bool:
    return any((Path(d) / program).is_file() for d in os.environ.get("PATH", "").split(os.pathsep) if d)


def register(app: typer.Typer) -> None:
    app.command("admin")(user_errors(admin_command))
