"""`reactor-infra bundle` (an air-gapped install's files) and `reactor-infra inventory` (an example
on-prem inventory to edit). Neither imports Pulumi: a bundle is files, written by `bundle`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .cli import StackOpt, TokenArg

OutOpt = Annotated[Path, typer.Option("--out", "-o", help="directory to write the bundle into (new, empty, or an "
                                                          "earlier bundle of the same stack: its secrets are kept)",
                                      show_default=False)]


def register(app: typer.Typer) -> None:
    from .cli import load_plan, user_errors

    @app.command()
    @user_errors
    def bundle(out: OutOpt, token: TokenArg = None, stack: StackOpt = None) -> None:
        """Write an install bundle for an @onprem or @local token: per-host files and install
        scripts, images to carry, generated secrets (0600, never printed), a README."""
        from . import bundle as bundles

        plan = load_plan(token, stack)
        result = bundles.build(plan, out, progress=lambda line: typer.echo(f"  {line}", err=True))
        typer.echo(f"bundle of {plan.topology} (stack {plan.stack}) in {result.out}: {len(result.hosts)} "
                   f"host{'s' * (len(result.hosts) != 1)}, {len(result.images)} images, "
                   f"{result.secrets_generated} secrets generated, {result.secrets_kept} kept")
        kinds = {s.name: s.generator.value for s in plan.secrets}
        for name in result.to_fill:
            if kinds[name] == "platform":
                typer.echo(f"  before the install: write the operator's value into secrets/{name}, then run this "
                           "command again (it keeps every secret and hands it to the hosts that need it)")
            else:
                typer.echo(f"  {name}: made by OpenBao's init on the first OpenBao host (README: first boot)")
        typer.echo(f"  next: {result.out / 'README.md'}")

    @app.command()
    @user_errors
    def inventory(token: TokenArg = None, stack: StackOpt = None) -> None:
        """Print an example stack file for an @onprem token: its hosts (documentation addresses,
        stand-in host keys to replace) and which tiers they serve."""
        import yaml

        from . import inventory as inv
        from .errors import UserError

        plan = load_plan(token, stack)
        if plan.topology.platform.value != "onprem":
            raise UserError(f"an inventory is for @onprem tokens (given {plan.topology})")
        doc = {"config": {"reactor-infra:token": str(plan.topology),
                          "reactor-infra:extras": {"onprem": inv.example(plan)}}}
        sys.stdout.write(f"# An example inventory for {plan.topology}: replace the addresses, users, keys and each\n"
                         "# host_key (ssh-keyscan -t ed25519 HOST, checked on the host's console) before a run.\n")
        sys.stdout.write(yaml.safe_dump(doc, sort_keys=False, width=200))
