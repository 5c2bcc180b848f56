"""`reactor-infra images build|list`, and the image check `up` makes before anything starts.

The docker client is run as a program (`docker build`, `docker push`, `docker image inspect`),
never through an SDK, and nothing here imports Pulumi. What to build, with which arguments and
tags, is decided by the pure `images` module (imported inside the commands, so registering them
costs the other commands nothing); this module only runs it and reports.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .cli import JsonOpt, StackOpt, TokenArg
from .errors import OperationError, UserError

if TYPE_CHECKING:
    from .images import Build

PushOpt = Annotated[
    str | None,
    typer.Option("--push", help="also tag each image REGISTRY/<name>:<tag> and push it there "
                                "(e.g. ghcr.io/acme, <account>.dkr.ecr.<region>.amazonaws.com/reactor)",
                 metavar="REGISTRY", show_default=False),
]
PlatformOpt = Annotated[
    str | None,
    typer.Option("--platform", help="build for this platform, e.g. linux/amd64 (default: the engine's own)",
                 show_default=False),
]

INSTALL_DOCKER = "install Docker (https://docs.docker.com/engine/install/)"


def source_of(token: str | None, stack: Path | None, plan) -> str:
    """How the user named the plan, for the commands we print: the stack file, else the token."""
    if stack is not None:
        return (f"{token} " if token else "") + f"--stack {stack}"
    return plan.topology.token


# --- running docker ------------------------------------------------------------------------------

def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _said(result: subprocess.CompletedProcess[str]) -> str:
    """docker's error: the last line on stderr, else on stdout."""
    return _last_line(result.stderr if result.stderr.strip() else result.stdout)


def _require_client(why: str = "") -> None:
    if shutil.which("docker") is None:
        raise OperationError(f"no docker client on PATH{why}; {INSTALL_DOCKER}")


def _run_quiet(argv: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        raise OperationError(f"no Docker engine answers ({' '.join(argv[:3])} got no answer in 120 s); "
                             f"start it, or set DOCKER_HOST") from None


def require_engine() -> None:
    """The docker client and an engine that answers, or one OperationError line saying which."""
    _require_client()
    result = _run_quiet(["docker", "info", "--format", "{{.ServerVersion}}"])
    if result.returncode != 0:
        raise OperationError(f"no Docker engine answers (docker info: {_said(result)}); "
                             f"start it, or set DOCKER_HOST")


def _stream(argv: list[str]) -> tuple[int, str]:
    """Run docker, showing its output on stderr as it comes; (exit code, its last line)."""
    from .cli import err

    tail: collections.deque[str] = collections.deque(maxlen=50)
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace") as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line)
            err.print(f"  {line.rstrip()}", style="dim", markup=False, highlight=False)
        code = proc.wait()
    return code, _last_line("".join(tail))


def _describe(build: Build) -> str:
    from . import images

    if build.service is images.S.CADDY:
        return "Caddy " + images.CADDY_VERSION + " with " + ", ".join(
            f"caddy-dns/{module} {version}" for _, module, version in images.CADDY_DNS_MODULES)
    features = f", features: {', '.join(build.features)}" if build.features else ""
    return f"reactor-cloud@{images.REACTOR_COMMIT[:7]}{features}"


# --- images build --------------------------------------------------------------------------------

def build_command(token: TokenArg = None, stack: StackOpt = None, push: PushOpt = None,
                  platform: PlatformOpt = None) -> None:
    """Build the images the topology needs with docker (and push them with --push REGISTRY);
    print the reactor-infra:images lines for the stack file."""
    from . import images
    from .cli import err, load_plan

    plan = load_plan(token, stack)  # bad input first: token, stack file, then the options
    registry = images.check_registry(push) if push is not None else None
    platform = images.check_platform(platform) if platform is not None else None
    builds = images.required_builds(plan)
    context = images.images_dir()
    require_engine()
    total = len(builds)
    for i, build in enumerate(builds, 1):
        err.print(f"[{i}/{total}] building {build.name} ({_describe(build)}) as {build.ref}",
                  style="bold", markup=False, highlight=False)
        code, last = _stream(images.build_argv(build, context, registry, platform))
        if code != 0:
            raise OperationError(f"docker build of {build.name} ({build.ref}) failed: {last}")
    if registry:
        for i, build in enumerate(builds, 1):
            err.print(f"[{i}/{total}] pushing {build.ref_in(registry)}", style="bold", markup=False,
                      highlight=False)
            code, last = _stream(images.push_argv(build, registry))
            if code != 0:
                raise OperationError(f"docker push of {build.name} ({build.ref_in(registry)}) failed: {last}")
        err.print(f"built and pushed {total} image{'s' * (total != 1)}; paste these lines under `config:` "
                  f"in the stack file:", markup=False, highlight=False)
    else:
        err.print(f"built {total} image{'s' * (total != 1)} on this Docker host; @local runs these tags as they "
                  f"are, a cloud cannot pull them: add --push REGISTRY. The stack's lines:",
                  markup=False, highlight=False)
    sys.stdout.write(images.stack_snippet(builds, registry))


# --- images list ---------------------------------------------------------------------------------

def image_rows(plan) -> list[dict]:
    """One row per service of the plan: its image, where that comes from (stack, build, default
    upstream), whether it is an unbuilt default, and the build that makes its default."""
    from dataclasses import fields

    from . import images
    from .settings import Images

    defaults = {f.name: f.default for f in fields(Images)}
    rows = []
    for service in dict.fromkeys(plan.services):
        key = service.value.replace("-", "_")
        ref = images.resolve(plan, service)
        build = images.default_build(plan, service)
        set_in_stack = getattr(plan.settings.images, key) not in (None, defaults[key])
        source = "stack" if set_in_stack else ("build" if build else "upstream")
        row = {"service": service.value, "setting": f"images.{key}", "image": ref, "source": source,
               "unbuilt": images.is_unbuilt(ref)}
        if build is not None:
            row["build"] = {"dockerfile": f"images/{build.directory}/Dockerfile", "args": dict(build.args),
                            "features": list(build.features), "tag": build.ref}
        rows.append(row)
    return rows


def list_command(token: TokenArg = None, stack: StackOpt = None, as_json: JsonOpt = False) -> None:
    """List the image each service of the topology runs, where it comes from, and which are unbuilt."""
    from . import images
    from .cli import err, load_plan, out, print_json

    plan = load_plan(token, stack)
    rows = image_rows(plan)
    if as_json:
        print_json({"topology": plan.topology.token, "commit": images.REACTOR_COMMIT, "images": rows})
        return
    width = max(len(r["service"]) for r in rows)
    for r in rows:
        what = r["source"] + (", unbuilt" if r["unbuilt"] else "")
        if r.get("build") and r["build"]["features"]:
            what += f", features: {', '.join(r['build']['features'])}"
        out.print(f"{r['service']:<{width}}  {r['image']}  ({what})", markup=False, highlight=False)
    if any(r["unbuilt"] for r in rows):
        remote = plan.topology.platform.value != "local"
        err.print(f"build the unbuilt ones: {images.build_command(source_of(token, stack, plan), remote)}",
                  markup=False, highlight=False)


# --- the check `up` makes ------------------------------------------------------------------------

def unbuilt_notes(plan, source: str) -> list[str]:
    """One line per unbuilt image with the command that builds it (validate prints these)."""
    from . import images

    remote = plan.topology.platform.value != "local"
    command = images.build_command(source, remote)
    then = " and set images.{key} in the stack file" if remote else " (@local runs the local tag)"
    lines = []
    for service, ref, features in images.unbuilt(plan):
        key = service.value.replace("-", "_")
        with_features = f" (features: {', '.join(features)})" if features else ""
        lines.append(f"images.{key} is unbuilt: {ref}{with_features}; build it with "
                     f"'{command}'{then.format(key=key)}")
    return lines


def _on_this_host(ref: str) -> bool:
    result = _run_quiet(["docker", "image", "inspect", "--format", "{{.Id}}", ref])
    if result.returncode == 0:
        return True
    if "no such image" in (result.stderr + result.stdout).lower():
        return False
    raise OperationError(f"no Docker engine answers (docker image inspect: {_said(result)}); "
                         f"@local runs every service on it: start it, or set DOCKER_HOST")


def ensure_runnable(plan, source: str, command: str = "up") -> None:
    """Refuse (UserError, one line) when the plan would run an image that cannot be had: on a
    cloud any unbuilt default (no registry serves reactor-infra.invalid/); on @local an unbuilt
    default that is not on this Docker host. Without docker on @local: OperationError."""
    from . import images

    missing = images.unbuilt(plan)
    if not missing:
        return
    platform = plan.topology.platform.value
    if platform != "local":
        keys = [f"images.{s.value.replace('-', '_')}" for s, _, _ in missing]
        which = ", ".join(f"{key} is {ref}" for key, (_, ref, _) in zip(keys, missing))
        raise UserError(f"{command}: @{platform} cannot pull unbuilt images ({which}); push "
                        f"{'it' if len(keys) == 1 else 'them'} with "
                        f"'{images.build_command(source, True)}' and set {' and '.join(keys)} in the stack file")
    _require_client(": @local runs every service on this host's Docker engine")
    absent = [ref for _, ref, _ in missing if not _on_this_host(ref)]
    if absent:
        raise UserError(f"{command}: not built on this Docker host: {', '.join(absent)}; build "
                        f"{'it' if len(absent) == 1 else 'them'} with '{images.build_command(source, False)}'")


def register(app: typer.Typer) -> None:
    from .cli import user_errors

    sub = typer.Typer(name="images", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                      rich_markup_mode=None,
                      help="The images a topology runs: build reactor-server, gateway-server and the DNS "
                           "Caddy from images/ (and push them), or list them.")
    sub.command("build")(user_errors(build_command))
    sub.command("list")(user_errors(list_command))
    app.add_typer(sub, name="images")
