"""`python -m reactor_infra` works the same as the `reactor-infra` command."""

from .cli import main

main()
