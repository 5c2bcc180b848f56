"""The Pulumi project's program: `pulumi up -s <stack>` on this repository runs the same
program as `reactor-infra up`, reading the token and settings from stacks/Pulumi.<stack>.yaml."""

from reactor_infra.program import main

main()
