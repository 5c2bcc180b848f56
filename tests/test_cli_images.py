"""`images build|list`, `validate` and `up` on images, as a user meets them: real processes, exit
codes, one-line errors.

There is no Docker engine here. Where docker is called, a *recording stand-in* takes the docker
client's place on PATH: a shell script that logs each call's arguments and exits 0, or fails on
purpose with an error line as docker prints one. It builds nothing and is not an engine; it shows
which docker commands reactor-infra runs, in which order, and what it does when one fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from reactor_infra.images import REACTOR_COMMIT

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = ROOT / "images"
SEP = "\x1f"

STAND_IN = r"""#!/bin/sh
# Recording stand-in for the docker client (tests only): NOT an engine, builds nothing.
# Logs its arguments (one call per line, unit-separated); fails when the call contains
# $DOCKER_FAIL_ON, printing $DOCKER_SAYS as docker's last line; `image inspect` of a ref listed
# in $DOCKER_MISSING answers "No such image" as docker does.
for arg in "$@"; do printf '%s\037' "$arg"; done >> "$DOCKER_LOG"
echo >> "$DOCKER_LOG"
if [ -n "$DOCKER_FAIL_ON" ]; then
    case "$*" in *"$DOCKER_FAIL_ON"*) echo "#1 [internal] load build definition"; echo "$DOCKER_SAYS" >&2; exit 1;; esac
fi
if [ "$1 $2" = "image inspect" ]; then
    for last; do :; done
    case " $DOCKER_MISSING " in *" $last "*) echo "Error response from daemon: No such image: $last" >&2; exit 1;; esac
    echo "sha256:0123"; exit 0
fi
echo "#1 DONE 0.1s"
exit 0
"""

PULUMI_RECORDER = """#!/bin/sh
# Records that it was called; answers nothing (not an engine).
echo "$*" >> "$PULUMI_LOG"
exit 255
"""


def env_for(tmp_path: Path, docker: bool = True, pulumi: bool = False, **extra: str) -> dict[str, str]:
    """PATH: the interpreter's bin (no docker, no pulumi there) and, if asked, the stand-ins."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    if docker:
        (bindir / "docker").write_text(STAND_IN)
        (bindir / "docker").chmod(0o755)
    if pulumi:
        (bindir / "pulumi").write_text(PULUMI_RECORDER)
        (bindir / "pulumi").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.path.dirname(sys.executable)}",
           "DOCKER_LOG": str(tmp_path / "docker.log"), "PULUMI_LOG": str(tmp_path / "pulumi.log"),
           "REACTOR_INFRA_HOME": str(tmp_path / "home"), **extra}
    env.pop("CI", None)
    env.pop("PULUMI_CONFIG_PASSPHRASE", None)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reactor_infra", *args], capture_output=True, text=True,
                          timeout=120, env=env, stdin=subprocess.DEVNULL)


def docker_calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "docker.log"
    return [line.split(SEP)[:-1] for line in log.read_text().splitlines()] if log.exists() else []


def build(context: str, *args: str) -> list[str]:
    return ["build", *args, str(CONTEXT / context)]


INFO = ["info", "--format", "{{.ServerVersion}}"]
SERVER_ARGS = ("--build-arg", f"REACTOR_COMMIT={REACTOR_COMMIT}", "--build-arg", "FEATURES=openbao")
GATEWAY_ARGS = ("--build-arg", f"REACTOR_COMMIT={REACTOR_COMMIT}")
CADDY_ARGS = ("--build-arg", "CADDY_DNS_ROUTE53=v1.6.2", "--build-arg", "CADDY_DNS_CLOUDFLARE=v0.2.4",
              "--build-arg", "CADDY_DNS_GOOGLECLOUDDNS=v1.1.0", "--build-arg", "CADDY_DNS_AZURE=v0.6.0")
SERVER = "reactor-server:v1-4747219-openbao"
GATEWAY = "reactor-gateway-server:v1-4747219"
CADDY = "caddy-dns:2.11-route53-v1.6.2-cloudflare-v0.2.4-googleclouddns-v1.1.0-azure-v0.6.0"


def stack(tmp_path: Path, token: str, **images: str) -> Path:
    """A stack file named for the token's slug (so the stack keeps the name `up TOKEN` gives it)."""
    from reactor_infra.token import parse

    path = tmp_path / f"Pulumi.{parse(token).slug}.yaml"
    config = {"reactor-infra:token": token, "reactor-infra:images": images}
    if token.startswith("C"):  # edition C serves its tenants under a domain: it is required
        config["reactor-infra:domain"] = "api.example.com"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


# --- images build ---------------------------------------------------------------------------------

def test_build_runs_one_docker_build_per_required_image_with_its_args_and_tag(tmp_path):
    result = run(["images", "build", "E5+ha@aws"], env_for(tmp_path))
    assert result.returncode == 0, result.stderr
    assert docker_calls(tmp_path) == [
        INFO,
        build("reactor-server", *SERVER_ARGS, "--tag", f"reactor-infra.invalid/{SERVER}"),
        build("gateway-server", *GATEWAY_ARGS, "--tag", f"reactor-infra.invalid/{GATEWAY}"),
    ]
    err = result.stderr.splitlines()
    assert err[0] == (f"[1/2] building reactor-server (reactor-cloud@4747219, features: openbao) as "
                      f"reactor-infra.invalid/{SERVER}")
    assert "  #1 DONE 0.1s" in err, "docker's own progress is shown as it comes"
    assert "a cloud cannot pull them: add --push REGISTRY" in err[-1]
    assert yaml.safe_load("config:\n" + result.stdout)["config"]["reactor-infra:images"] == {
        "reactor_server": f"reactor-infra.invalid/{SERVER}", "gateway_server": f"reactor-infra.invalid/{GATEWAY}"}


def test_build_with_push_tags_for_the_registry_builds_all_then_pushes_in_order(tmp_path):
    env = env_for(tmp_path)
    result = run(["images", "build", "C4@aws", "--push", "ghcr.io/acme/", "--platform", "linux/amd64"], env)
    assert result.returncode == 0, result.stderr
    assert docker_calls(tmp_path) == [
        INFO,
        build("reactor-server", *SERVER_ARGS, "--tag", f"reactor-infra.invalid/{SERVER}",
              "--tag", f"ghcr.io/acme/{SERVER}", "--platform", "linux/amd64"),
        build("gateway-server", *GATEWAY_ARGS, "--tag", f"reactor-infra.invalid/{GATEWAY}",
              "--tag", f"ghcr.io/acme/{GATEWAY}", "--platform", "linux/amd64"),
        build("caddy", *CADDY_ARGS, "--tag", f"reactor-infra.invalid/{CADDY}", "--tag", f"ghcr.io/acme/{CADDY}",
              "--platform", "linux/amd64"),
        ["push", f"ghcr.io/acme/{SERVER}"], ["push", f"ghcr.io/acme/{GATEWAY}"], ["push", f"ghcr.io/acme/{CADDY}"],
    ]
    # the printed lines make a stack that validate and up accept as built
    snippet = yaml.safe_load("config:\n" + result.stdout)["config"]["reactor-infra:images"]
    assert snippet == {"reactor_server": f"ghcr.io/acme/{SERVER}", "gateway_server": f"ghcr.io/acme/{GATEWAY}",
                       "caddy": f"ghcr.io/acme/{CADDY}"}
    path = stack(tmp_path, "C4@aws", **snippet)
    checked = run(["validate", "--stack", str(path)], env)
    assert checked.returncode == 0 and checked.stdout == "C4@aws\n" and checked.stderr == ""
    up = run(["up", "--stack", str(path), "--yes"], env)
    assert up.returncode == 1 and up.stderr.startswith("error: the Pulumi CLI is not installed"), up.stderr


def test_a_failed_build_exits_1_naming_the_image_and_dockers_last_line(tmp_path):
    says = "ERROR: failed to solve: process \"/bin/bash -o pipefail -c cargo build\" did not complete: exit code: 101"
    env = env_for(tmp_path, DOCKER_FAIL_ON=str(CONTEXT / "gateway-server"), DOCKER_SAYS=says)
    result = run(["images", "build", "E5@aws", "--push", "ghcr.io/acme"], env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (f"error: docker build of reactor-gateway-server "
                                              f"(reactor-infra.invalid/{GATEWAY}) failed: {says}")
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert [c[0] for c in docker_calls(tmp_path)] == ["info", "build", "build"], "nothing is pushed"


def test_a_failed_push_exits_1_and_pushes_nothing_after_it(tmp_path):
    says = "denied: requested access to the resource is denied"
    env = env_for(tmp_path, DOCKER_FAIL_ON=f"push ghcr.io/acme/{GATEWAY}", DOCKER_SAYS=says)
    result = run(["images", "build", "C4@aws", "--push", "ghcr.io/acme"], env)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (f"error: docker push of reactor-gateway-server "
                                              f"(ghcr.io/acme/{GATEWAY}) failed: {says}")
    assert [c[:2] for c in docker_calls(tmp_path)][-2:] == [["push", f"ghcr.io/acme/{SERVER}"],
                                                            ["push", f"ghcr.io/acme/{GATEWAY}"]]


def test_without_a_docker_client_build_exits_1_with_one_line(tmp_path):
    result = run(["images", "build", "O2@aws"], env_for(tmp_path, docker=False))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: no docker client on PATH; install Docker (https://docs.docker.com/engine/install/)"]


def test_without_an_engine_build_exits_1_before_any_build(tmp_path):
    says = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    result = run(["images", "build", "O2@aws"], env_for(tmp_path, DOCKER_FAIL_ON="info", DOCKER_SAYS=says))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: no Docker engine answers (docker info: {says}); start it, "
                                          f"or set DOCKER_HOST"]
    assert docker_calls(tmp_path) == [INFO]


@pytest.mark.parametrize("args, says", [
    (["E7@aws"], "size: '7'"),
    (["O2@aws", "--push", "https://ghcr.io/acme"], "--push: 'https://ghcr.io/acme' has a scheme"),
    (["O2@aws", "--push", "ghcr.io/acme:1"], "--push: 'ghcr.io/acme:1' is not a registry"),
    (["O2@aws", "--platform", "amd64"], "--platform: 'amd64' is not one platform"),
])
def test_bad_input_exits_2_before_docker_is_asked_anything(tmp_path, args, says):
    result = run(["images", "build", *args], env_for(tmp_path))
    assert result.returncode == 2 and says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert docker_calls(tmp_path) == []


# --- images list ----------------------------------------------------------------------------------

def test_list_says_what_each_service_runs_without_docker(tmp_path):
    import json

    path = stack(tmp_path, "E5@aws", reactor_server=f"ghcr.io/acme/{SERVER}")
    result = run(["images", "list", "--stack", str(path), "--json"], env_for(tmp_path, docker=False))
    assert result.returncode == 0, result.stderr
    rows = {r["service"]: r for r in json.loads(result.stdout)["images"]}
    assert rows["reactor-server"]["source"] == "stack" and not rows["reactor-server"]["unbuilt"]
    assert rows["gateway-server"] == {
        "service": "gateway-server", "setting": "images.gateway_server", "image": f"reactor-infra.invalid/{GATEWAY}",
        "source": "build", "unbuilt": True,
        "build": {"dockerfile": "images/gateway-server/Dockerfile", "args": {"REACTOR_COMMIT": REACTOR_COMMIT},
                  "features": [], "tag": f"reactor-infra.invalid/{GATEWAY}"}}
    assert rows["caddy"]["image"] == "caddy:2.11" and rows["caddy"]["source"] == "upstream"
    words = run(["images", "list", "--stack", str(path)], env_for(tmp_path, docker=False))
    assert f"build the unbuilt ones: reactor-infra images build --stack {path} --push REGISTRY" in words.stderr


@pytest.mark.parametrize("args", [["images", "list", "C4@aws"], ["images", "build", "C4@aws"],
                                  ["validate", "C4@aws"]])
def test_image_commands_never_import_pulumi(args, tmp_path):
    code = ("import sys\nfrom reactor_infra.cli import app\n"
            f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
            "print('IMPORTED', sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pulumi', 'pulumi_aws', 'pulumi_docker', 'docker')), file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env=env_for(tmp_path))
    assert "IMPORTED []" in result.stderr, result.stderr


# --- validate -------------------------------------------------------------------------------------

def test_validate_names_each_unbuilt_image_with_the_command_that_builds_it(tmp_path):
    result = run(["validate", "E5+ha@aws"], env_for(tmp_path))
    assert result.returncode == 0 and result.stdout == "E5+ha@aws\n"
    assert result.stderr.splitlines() == [
        f"warning: images.reactor_server is unbuilt: reactor-infra.invalid/{SERVER} (features: openbao); build it "
        f"with 'reactor-infra images build E5+ha@aws --push REGISTRY' and set images.reactor_server in the stack file",
        f"warning: images.gateway_server is unbuilt: reactor-infra.invalid/{GATEWAY}; build it with "
        f"'reactor-infra images build E5+ha@aws --push REGISTRY' and set images.gateway_server in the stack file"]
    assert docker_calls(tmp_path) == [], "validate never asks docker"


def test_validate_on_local_says_the_local_tag_is_run(tmp_path):
    result = run(["validate", "O1@local"], env_for(tmp_path))
    assert result.stderr.splitlines() == [
        "warning: images.reactor_server is unbuilt: reactor-infra.invalid/reactor-server:v1-4747219; build it with "
        "'reactor-infra images build O1@local' (@local runs the local tag)"]


# --- up -------------------------------------------------------------------------------------------

def test_up_on_a_cloud_refuses_unbuilt_images_before_anything_else(tmp_path):
    env = env_for(tmp_path, pulumi=True)
    result = run(["up", "C4@aws"], env)  # no terminal, no --yes: the images are said first
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: up: @aws cannot pull unbuilt images (images.reactor_server is reactor-infra.invalid/{SERVER}, "
        f"images.gateway_server is reactor-infra.invalid/{GATEWAY}, images.caddy is reactor-infra.invalid/{CADDY}); "
        f"push them with 'reactor-infra images build C4@aws --push REGISTRY' and set images.reactor_server and "
        f"images.gateway_server and images.caddy in the stack file"]
    assert not (tmp_path / "pulumi.log").exists(), "the Pulumi CLI was not even asked its version"
    assert docker_calls(tmp_path) == [] and not (tmp_path / "home").exists()


def test_up_with_a_stack_that_leaves_one_image_unbuilt_names_only_that_one(tmp_path):
    path = stack(tmp_path, "E5@aws", reactor_server=f"ghcr.io/acme/{SERVER}")
    result = run(["up", "--stack", str(path), "--yes"], env_for(tmp_path))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"(images.gateway_server is reactor-infra.invalid/{GATEWAY}); push it with 'reactor-infra images " \
           f"build --stack {path} --push REGISTRY'" in line and "reactor_server" not in line


def test_bad_input_comes_before_the_image_check(tmp_path):
    result = run(["up", "E5@amazon", "--yes"], env_for(tmp_path))
    assert result.returncode == 2 and "did you mean 'aws'?" in result.stderr and "images" not in result.stderr


def test_up_on_local_refuses_an_image_missing_from_the_docker_host(tmp_path):
    ref = f"reactor-infra.invalid/{SERVER}"
    result = run(["up", "O2@local", "--yes"], env_for(tmp_path, pulumi=True, DOCKER_MISSING=ref))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: up: not built on this Docker host: {ref}; build it with 'reactor-infra images build O2@local'"]
    assert docker_calls(tmp_path) == [["image", "inspect", "--format", "{{.Id}}", ref]]
    assert not (tmp_path / "pulumi.log").exists()


def test_up_on_local_with_the_image_built_goes_on_to_the_next_step(tmp_path):
    result = run(["up", "O2@local", "--yes"], env_for(tmp_path))
    assert result.returncode == 1 and result.stderr.startswith("error: the Pulumi CLI is not installed"), result.stderr
    assert docker_calls(tmp_path) == [["image", "inspect", "--format", "{{.Id}}", f"reactor-infra.invalid/{SERVER}"]]


def test_up_on_local_without_docker_says_so(tmp_path):
    result = run(["up", "O2@local", "--yes"], env_for(tmp_path, docker=False))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: no docker client on PATH: @local runs every service on this host's Docker engine; install Docker "
        "(https://docs.docker.com/engine/install/)"]


def test_up_on_local_without_an_engine_says_so(tmp_path):
    says = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"
    result = run(["up", "O2@local", "--yes"], env_for(tmp_path, DOCKER_FAIL_ON="image inspect", DOCKER_SAYS=says))
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"error: no Docker engine answers (docker image inspect: {says}); "
                                          f"@local runs every service on it: start it, or set DOCKER_HOST"]


def test_refresh_and_destroy_do_not_ask_for_images(tmp_path):
    result = run(["destroy", "O2@aws", "--yes"], env_for(tmp_path))
    assert result.returncode == 1 and result.stderr.startswith("error: the Pulumi CLI is not installed")
