"""The real-run path up to the CLI boundary, the engine commands of the CLI, and doctor.

No Pulumi CLI can be installed here: these tests prove that every real command stops
with one actionable message when it is missing, and that what happens before the CLI
(passphrase, backend, stack naming, --yes) is right."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from tools import built_images_stack

from reactor_infra import engine
from reactor_infra.errors import OperationError, PulumiMissingError, UserError
from reactor_infra.token import parse


@pytest.fixture
def no_pulumi(monkeypatch, tmp_path):
    """A PATH without a pulumi binary and a private data directory."""
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable))
    monkeypatch.setenv("REACTOR_INFRA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    return tmp_path


def cli(*args: str, home) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": os.path.dirname(sys.executable), "REACTOR_INFRA_HOME": str(home)}
    env.pop("PULUMI_CONFIG_PASSPHRASE", None)
    return subprocess.run([sys.executable, "-m", "reactor_infra", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_up_without_the_cli_raises_one_actionable_error(no_pulumi):
    with pytest.raises(PulumiMissingError) as info:
        engine.up(parse("O2@aws"))
    (line,) = info.value.lines()
    assert "https://www.pulumi.com/docs/install/" in line and "--offline" in line
    assert not (no_pulumi / "home" / "state").exists(), "nothing is half-applied"


@pytest.mark.parametrize("command", [["up", "O2@aws", "--yes"], ["preview", "O2@aws"], ["refresh", "O2@aws", "-y"],
                                     ["outputs", "O2@aws"], ["destroy", "O2@aws", "--yes"]])
def test_real_commands_exit_1_with_one_line_and_no_traceback_without_the_cli(command, tmp_path):
    if command[0] == "up":  # up refuses unbuilt images before the CLI check: give it pushed ones
        command = ["up", "--stack", str(built_images_stack(tmp_path, command[1])), *command[2:]]
    result = cli(*command, home=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the Pulumi CLI is not installed")
    assert "Traceback" not in result.stderr


def test_destroy_refuses_without_yes(tmp_path):
    result = cli("destroy", "O2@aws", home=tmp_path)
    assert result.returncode == 2 and "add --yes" in result.stderr
    with pytest.raises(UserError, match="--yes"):
        engine.destroy(parse("O2@aws"), yes=False)


def test_bad_token_beats_the_missing_cli(tmp_path):
    result = cli("up", "E7@mars", home=tmp_path)
    assert result.returncode == 2 and "size: '7'" in result.stderr


def test_passphrase_is_created_once_with_0600(no_pulumi):
    first, where = engine.ensure_passphrase()
    path = engine.passphrase_file()
    assert where == str(path) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert engine.ensure_passphrase()[0] == first and len(first) >= 32


def test_passphrase_from_the_environment_wins(no_pulumi, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "from-env")
    assert engine.ensure_passphrase() == ("from-env", "$PULUMI_CONFIG_PASSPHRASE")
    assert not engine.passphrase_file().exists()


def test_a_passphrase_file_others_can_read_is_refused(no_pulumi):
    engine.ensure_passphrase()
    engine.passphrase_file().chmod(0o644)
    with pytest.raises(Exception, match="chmod 600"):
        engine.ensure_passphrase()


def test_stack_is_named_from_the_token_and_state_is_local(no_pulumi):
    t = engine.target(parse("E5+ha@aws"))
    assert t.stack_name == "e5-ha-aws"
    assert t.backend_url == (no_pulumi / "home" / "state").as_uri()
    assert engine.target(parse("E5+ha@aws"), stack_name="acme-prod").stack_name == "acme-prod"


def test_doctor_reports_every_check_without_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "do-not-print-me")
    env = {**os.environ, "PATH": os.path.dirname(sys.executable), "REACTOR_INFRA_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "reactor_infra", "doctor"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0
    for name in ("pulumi CLI", "state backend", "passphrase", "platforms", "aws credentials", "docker"):
        assert name in result.stdout
    assert "do-not-print-me" not in result.stdout + result.stderr


def test_offline_preview_lists_creates_by_tier_and_counts(tmp_path):
    result = cli("preview", "O2@aws", "--offline", home=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Previewing O2@aws (stack o2-aws) offline" in out
    assert "\nnode\n" in out and "  + aws:ec2/instance:Instance" in out
    assert "Resources by type:" in out and out.rstrip().endswith("to create")


def test_render_json_from_the_cli_matches_the_contract(tmp_path):
    result = cli("render", "O2@aws", "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["topology"] == "O2@aws" and doc["resources"]
    assert {"urn", "type", "name", "parent", "component", "inputs", "dependencies", "protect",
            "secret_inputs"} <= set(doc["resources"][0])


def test_render_with_the_default_token(tmp_path):
    result = cli("render", "--tree", home=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("O2@aws (stack o2-aws)")


def test_render_rejects_two_views(tmp_path):
    assert cli("render", "O2@aws", "--json", "--tree", home=tmp_path).returncode == 2


FAKE_CLI = """#!/bin/sh
# A stand-in that records how it was called and refuses to act: it is not an engine.
echo "$* | backend=$PULUMI_BACKEND_URL | passphrase=${PULUMI_CONFIG_PASSPHRASE:+set}" >> "$FAKE_PULUMI_LOG"
if [ "$1" = "version" ]; then echo "v3.272.0"; exit 0; fi
echo "error: this stand-in only records its arguments" >&2
exit 255
"""


def test_the_real_path_reaches_the_cli_with_a_local_backend_and_passphrase(no_pulumi, monkeypatch):
    """Up to the CLI boundary: a recording stand-in (never an engine) on PATH shows what the
    Automation API asks of the CLI; its refusal comes back as one OperationError line."""
    bindir = no_pulumi / "bin"
    bindir.mkdir()
    (bindir / "pulumi").write_text(FAKE_CLI)
    (bindir / "pulumi").chmod(0o755)
    log = no_pulumi / "calls.log"
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(log))
    with pytest.raises(OperationError) as info:
        engine.up(parse("E5+ha@aws"))
    assert info.value.lines() == ["pulumi failed: error: this stand-in only records its arguments"]
    calls = log.read_text().splitlines()
    state = (no_pulumi / "home" / "state").as_uri()
    assert calls[0].startswith("version ")
    assert f"stack select --stack e5-ha-aws | backend={state} | passphrase=set" in calls[1]
    assert stat.S_IMODE(engine.passphrase_file().stat().st_mode) == 0o600


@pytest.mark.parametrize("kind, says", [("ConcurrentUpdateError", "another update is running"),
                                        ("StackNotFoundError", "does not exist in this backend"),
                                        ("CommandError", "pulumi failed: error: boom")])
def test_cli_failures_become_one_operation_error_line(kind, says):
    from pulumi.automation import errors
    from pulumi.automation._cmd import CommandResult

    err = getattr(errors, kind)(CommandResult(stdout="", stderr="error: boom\n", code=255))
    with pytest.raises(OperationError, match=says):
        engine._guard(lambda: (_ for _ in ()).throw(err))


def test_render_of_a_stack_file_is_what_pulumi_up_on_that_stack_would_run(tmp_path):
    from pathlib import Path

    from reactor_infra.render import render_stack_file

    path = Path(__file__).parent.parent / "stacks" / "Pulumi.o2-aws.yaml"
    result = cli("render", "--stack", str(path), "--json", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_stack_file(path).to_json()
