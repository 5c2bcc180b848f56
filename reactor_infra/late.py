"""Late-bound values: addresses that exist only once a resource does (a managed database's
host name, a load balancer's DNS name), written into config files that are rendered before.

The core renders every file from the Plan with a marker in place of such a value; a platform
binds the markers to its resources' outputs when it hands the text over (`bind`, inside an
`Output.apply`). Markers are host-shaped (`<name>.late.invalid`), so they pass every
renderer's checks, and `.invalid` never resolves: a file whose marker was left unbound fails
loudly instead of reaching someone else's host. Pure; no Pulumi.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

SUFFIX = ".late.invalid"
_MARKER = re.compile(r"([a-z0-9-]+)\.late\.invalid")


def marker(name: str) -> str:
    """The stand-in for the value `name` (lowercase letters, digits, hyphens)."""
    if not re.fullmatch(r"[a-z0-9-]+", name):
        raise ValueError(f"late value {name!r}: lowercase letters, digits and hyphens only")
    return f"{name}{SUFFIX}"


def names(text: str) -> set[str]:
    """The late values a text still waits for."""
    return set(_MARKER.findall(text))


def bind(text: str, values: Mapping[str, str]) -> str:
    """`text` with every marker replaced by its value; an unknown marker is an error."""
    missing = names(text) - set(values)
    if missing:
        raise ValueError(f"late values {sorted(missing)} were not bound")
    return _MARKER.sub(lambda m: values[m.group(1)], text)


def bind_spec(spec, values: Mapping[str, str]):
    """A ServiceSpec with every late marker bound: env, secret templates (their `${secret}`
    references stay), command, config files, prestart steps."""
    from dataclasses import replace

    def env(mapping: Mapping[str, str]) -> dict[str, str]:
        return {k: bind(v, values) for k, v in mapping.items()}

    return replace(
        spec,
        env=env(spec.env), secret_env=env(spec.secret_env),
        command=tuple(bind(c, values) for c in spec.command) if spec.command else spec.command,
        files=tuple(replace(f, content=bind(f.content, values)) for f in spec.files),
        prestart=tuple(replace(p, env=env(p.env), secret_env=env(p.secret_env),
                               stdin=bind(p.stdin, values) if p.stdin else p.stdin) for p in spec.prestart),
    )
