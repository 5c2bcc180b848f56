"""up, destroy and refresh as an operator meets them: real processes, exit codes, one-line
refusals, the question on a terminal, the data-loss gate and live progress.

No Pulumi CLI can be installed here. The real path is run up to the CLI boundary (the install
hint); past it, a *replay* stand-in takes the CLI's place: it does not run the program or touch
any cloud, it answers the Automation API's calls and writes the hand-built event logs of
tests/fixtures/events into the `--event-log` file the SDK tails, exactly as the CLI would. It
tests what reactor-infra does with what an engine says, never the engine."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tools import built_images_stack

FIXTURES = Path(__file__).parent / "fixtures" / "events"
ANSI = re.compile(r"\x1b\[[0-9;?]*[a-zA-Z]|\x1b\][^\x07]*\x07|\r")

REPLAY_CLI = f"""#!{sys.executable}
# Replay stand-in for the Pulumi CLI (tests only): NOT an engine. It logs each call, and for a
# preview/up/destroy/refresh copies the event log named by $REPLAY_<OP> into the --event-log
# file; $REPLAY_<OP>_FAIL makes that call fail as the CLI does after a failed update.
import json, os, sys
args = [a for a in sys.argv[1:] if a != "--non-interactive"]  # the SDK's first word
with open(os.environ["REPLAY_LOG"], "a") as log:
    log.write(" ".join(args) + "\\n")
if args[:1] == ["version"]:
    print("v3.200.0"); sys.exit(0)
if args[:2] in (["stack", "select"], ["stack", "init"]):
    sys.exit(0)
if args[:2] == ["stack", "output"]:
    outputs = json.loads(os.environ.get("REPLAY_OUTPUTS", "{{}}"))
    secret = set(os.environ.get("REPLAY_SECRET_OUTPUTS", "").split(","))
    shown = "--show-secrets" in args
    print(json.dumps({{k: (v if shown or k not in secret else "[secret]") for k, v in outputs.items()}}))
    sys.exit(0)
if args[:2] == ["stack", "history"]:
    print(json.dumps([{{"kind": "update", "startTime": "2026-01-01T00:00:00.000Z", "message": "",
                       "environment": {{}}, "config": {{}}, "result": "succeeded",
                       "endTime": "2026-01-01T00:00:10.000Z", "resourceChanges": {{}}}}]))
    sys.exit(0)
op = args[0] + ("_preview" if "--preview-only" in args else "")
source = os.environ.get("REPLAY_" + op.upper())
if source is None:
    print(f"error: the replay has no events for {{op}}", file=sys.stderr); sys.exit(255)
if "--save-plan" in args:
    open(args[args.index("--save-plan") + 1], "w").write("{{}}")
with open(args[args.index("--event-log") + 1], "a") as events:
    events.write(open(source).read())
if os.environ.get("REPLAY_" + op.upper() + "_FAIL"):
    print("error: update failed", file=sys.stderr); sys.exit(255)
"""

RECORDING_CLI = """#!/bin/sh
# Records that it was called; answers nothing (not an engine).
echo "$*" >> "$REPLAY_LOG"
exit 255
"""


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


def env_with(tmp_path, cli: str | None = None, **extra: str) -> dict[str, str]:
    """A private data directory; PATH holds the interpreter's bin and, if given, a stand-in CLI."""
    path = os.path.dirname(sys.executable)
    if cli is not None:
        bindir = tmp_path / "bin"
        bindir.mkdir(exist_ok=True)
        (bindir / "pulumi").write_text(cli)
        (bindir / "pulumi").chmod(0o755)
        path = f"{bindir}{os.pathsep}{path}"
    env = {**os.environ, "PATH": path, "REACTOR_INFRA_HOME": str(tmp_path / "home"),
           "REPLAY_LOG": str(tmp_path / "calls.log"), "PULUMI_CONFIG_PASSPHRASE": "test-passphrase-not-shown",
           **extra}
    env.pop("CI", None)
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reactor_infra", *args], capture_output=True, text=True,
                          timeout=120, env=env, stdin=subprocess.DEVNULL)


def built(tmp_path, token: str) -> list[str]:
    """`--stack FILE` for the token with its images pushed: up refuses unbuilt images first."""
    return ["--stack", str(built_images_stack(tmp_path, token))]


def calls(tmp_path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def ops(tmp_path) -> list[str]:
    """The engine operations the stand-in was asked for (preview, up, destroy, ...)."""
    return [c.split()[0] + (" --preview-only" if "--preview-only" in c else "") for c in calls(tmp_path)
            if c.split()[0] in ("preview", "up", "destroy", "refresh")]


def on_terminal(args: list[str], env: dict[str, str], answer: str | None = None,
                timeout: float = 60) -> tuple[int, str, str]:
    """Run with stdin and stderr on a pseudo-terminal (stdout piped); type `answer` when asked.
    Returns (exit code, terminal text without colours, stdout)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "reactor_infra", *args], stdin=slave, stderr=slave,
                            stdout=subprocess.PIPE, env={**env, "TERM": "xterm", "COLUMNS": "200"}, text=True)
    os.close(slave)
    seen, answered, deadline = b"", False, time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
            if answer is not None and not answered and (b"[y/N]" in seen or b"to destroy every" in seen):
                os.write(master, answer.encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    else:
        proc.kill()
        pytest.fail(f"no end after {timeout}s; the terminal showed: {ANSI.sub('', seen.decode(errors='replace'))}")
    stdout = proc.stdout.read() if proc.stdout else ""
    code = proc.wait(timeout=10)
    os.close(master)
    return code, ANSI.sub("", seen.decode(errors="replace")), stdout


# --- (a) no terminal and no --yes: refused before anything ---------------------------------------

@pytest.mark.parametrize("command, says", [
    ("up", "up changes the resources of stack 'o2-aws' and there is no terminal to confirm on; add --yes to confirm"),
    ("refresh", "refresh rewrites the state of stack 'o2-aws' and there is no terminal to confirm on; add --yes "
                "to confirm"),
    ("destroy", "destroy tears down every resource of stack 'o2-aws' and there is no terminal to confirm on; "
                "add --yes to confirm"),
])
def test_without_a_terminal_and_without_yes_nothing_starts(tmp_path, command, says):
    result = run([command, *built(tmp_path, "O2@aws")], env_with(tmp_path, RECORDING_CLI))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {says}"] and result.stdout == ""
    assert calls(tmp_path) == [], "the Pulumi CLI was not even asked its version"
    assert not (tmp_path / "home").exists(), "no state directory, no passphrase"


def test_bad_input_is_said_before_the_missing_yes(tmp_path):
    result = run(["up", "E5@amazon"], env_with(tmp_path))
    assert result.returncode == 2 and "did you mean 'aws'?" in result.stderr and "--yes" not in result.stderr


# --- (b) the CLI check ------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["up", "refresh", "destroy"])
def test_with_yes_and_no_cli_exit_1_with_the_install_hint(tmp_path, command):
    result = run([command, *built(tmp_path, "O2@aws"), "--yes"], env_with(tmp_path))
    (line,) = result.stderr.splitlines()
    assert result.returncode == 1 and line.startswith("error: the Pulumi CLI is not installed")
    assert "https://www.pulumi.com/docs/install/" in line and not (tmp_path / "home").exists()


def test_on_a_terminal_without_yes_the_cli_check_comes_next(tmp_path):
    code, text, _ = on_terminal(["up", *built(tmp_path, "O2@aws")], env_with(tmp_path))
    assert code == 1 and "error: the Pulumi CLI is not installed" in text and "--yes" not in text


# --- (c)-(f) past the CLI, with the replay stand-in ------------------------------------------------

def replay(tmp_path, **events: str) -> dict[str, str]:
    """env for the replay stand-in; events: preview='preview_o2_aws.jsonl', up=..., up_fail='1'."""
    extra = {f"REPLAY_{k.upper()}": (str(FIXTURES / v) if v.endswith(".jsonl") else v) for k, v in events.items()}
    return env_with(tmp_path, REPLAY_CLI, **extra)


O2_OUTPUTS = {"REPLAY_OUTPUTS": json.dumps({"public_url": "https://203.0.113.10", "reactor_toml": "admin = 's3cr3t'"}),
              "REPLAY_SECRET_OUTPUTS": "reactor_toml"}


def test_up_with_yes_previews_by_tier_then_runs_the_plan_with_progress_lines(tmp_path):
    env = {**replay(tmp_path, preview="preview_o2_aws.jsonl", up="up_o2_aws_done.jsonl"), **O2_OUTPUTS}
    result = run(["up", *built(tmp_path, "O2@aws"), "--yes"], env)
    assert result.returncode == 0, result.stderr
    err = result.stderr.splitlines()
    state = (tmp_path / "home" / "state").as_uri()
    assert err[0] == f"stack o2-aws (O2@aws) in {state}"
    assert err[1] == "previewing up of stack o2-aws…"
    assert err[2:5] == ["network", f"  ~  update   {'aws:ec2/vpc:Vpc':<56} network-vpc  [tags]", ""]
    assert "Changes: 1 to create, 1 to update, 2 unchanged" in err
    assert "[   10s] created node-data (tier node, aws:ebs/volume:Volume) in 9s" in err
    assert err[-1] == "up o2-aws: done. Resources: 1 created, 2 updated, 2 unchanged. Duration: 10s"
    assert json.loads(result.stdout) == {"public_url": "https://203.0.113.10", "reactor_toml": "[secret]"}
    assert "s3cr3t" not in result.stdout + result.stderr and "test-passphrase" not in result.stderr
    preview_call, up_call = [c for c in calls(tmp_path) if c.split()[0] in ("preview", "up")]
    plan = preview_call.split("--save-plan ")[1].split()[0]
    assert f"--plan {plan}" in up_call, "up applies exactly the plan that was previewed"
    assert not Path(plan).exists(), "the plan (it holds encrypted secrets) is removed afterwards"


def test_preview_shows_the_changes_by_tier_and_prints_the_counts(tmp_path):
    result = run(["preview", "E2@aws"], replay(tmp_path, preview="preview_e2_aws.jsonl"))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"create": 1, "delete": 2, "replace": 3, "same": 6, "update": 1}
    assert "Data-loss risks (3): these replace or delete state" in result.stderr.splitlines()
    (call,) = [c for c in calls(tmp_path) if c.startswith("preview")]
    assert "--save-plan" not in call, "a preview that is not applied keeps no plan"


def test_up_refuses_data_loss_even_with_yes_and_never_runs(tmp_path):
    result = run(["up", *built(tmp_path, "E2@aws"), "--yes"], replay(tmp_path, preview="preview_e2_aws.jsonl"))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert [e.split(" (")[0] for e in errors[:3]] == [
        "error: refusing to up: it would replace node-data", "error: refusing to up: it would replace "
        "secrets-admin-token", "error: refusing to up: it would delete keys-seal"]
    assert errors[-1] == ("error: up would lose data in node-data (node), secrets-admin-token (vault), keys-seal "
                          "(vault); move the data first, then add --allow-data-loss")
    assert "Data-loss risks (3): these replace or delete state" in result.stderr  # shown before refusing
    assert ops(tmp_path) == ["preview"]


def test_an_allowed_up_that_fails_names_the_resource_its_tier_and_the_provider_message(tmp_path):
    env = replay(tmp_path, preview="preview_e2_aws.jsonl", up="up_e2_aws_failed.jsonl", up_fail="1")
    result = run(["up", *built(tmp_path, "E2@aws"), "--yes", "--allow-data-loss"], env)
    assert result.returncode == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: update node-instance (tier node, aws:ec2/instance:Instance) failed: ")
    assert last.endswith("api error IncorrectInstanceState: The instance 'i-0123456789abcdef0' is not in the "
                         "'stopped' state.: provider=aws@7.51.1")
    assert "up e2-aws: failed. Resources: 1 created, 3 replaced, 6 unchanged, 1 failed. Duration: 51s" \
        in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert ops(tmp_path) == ["preview", "up"]


def test_destroy_with_yes_still_needs_allow_data_loss_for_state(tmp_path):
    result = run(["destroy", "E2@aws", "--yes"], replay(tmp_path, destroy_preview="preview_destroy_e2_aws.jsonl"))
    assert result.returncode == 2
    assert "error: refusing to destroy: it would delete node-data (tier node, aws:ebs/volume:Volume; holds volume, " \
           "protected)" in result.stderr
    assert ops(tmp_path) == ["destroy --preview-only"]


def test_refresh_with_yes_asks_for_allow_data_loss_before_forgetting_a_vanished_volume(tmp_path):
    result = run(["refresh", "E2@aws", "-y"], replay(tmp_path, refresh_preview="preview_refresh_e2_aws.jsonl"))
    assert result.returncode == 2
    assert "error: refusing to refresh: it would drop node-data" in result.stderr
    assert ops(tmp_path) == ["refresh --preview-only"]


def test_up_with_no_changes_does_not_run_and_prints_the_outputs(tmp_path):
    env = {**replay(tmp_path, preview="preview_o2_aws_no_changes.jsonl"), **O2_OUTPUTS}
    result = run(["up", *built(tmp_path, "O2@aws"), "--yes"], env)
    assert result.returncode == 0, result.stderr
    assert "Changes: 3 unchanged" in result.stderr.splitlines()
    assert json.loads(result.stdout)["reactor_toml"] == "[secret]"
    assert ops(tmp_path) == ["preview"]


def test_on_a_terminal_up_asks_and_no_changes_nothing(tmp_path):
    env = replay(tmp_path, preview="preview_o2_aws.jsonl", up="up_o2_aws_done.jsonl")
    code, text, stdout = on_terminal(["up", *built(tmp_path, "O2@aws")], env, answer="n")
    assert code == 1, text
    assert "Do you want to perform this up on stack 'o2-aws'? [y/N]" in text
    assert "error: up of stack 'o2-aws' not confirmed; nothing was changed" in text
    assert ops(tmp_path) == ["preview"] and stdout == ""


def test_on_a_terminal_up_asks_and_yes_runs_with_the_live_view(tmp_path):
    env = {**replay(tmp_path, preview="preview_o2_aws.jsonl", up="up_o2_aws_done.jsonl"), **O2_OUTPUTS}
    code, text, stdout = on_terminal(["up", *built(tmp_path, "O2@aws")], env, answer="y")
    assert code == 0, text
    assert "created node-data (tier node, aws:ebs/volume:Volume) in 9s" in text
    assert "up o2-aws: done. Resources: 1 created, 2 updated, 2 unchanged. Duration: 10s" in text
    assert "[   10s]" not in text, "a terminal gets the live view, not CI lines"
    assert json.loads(stdout)["public_url"] == "https://203.0.113.10"
    assert ops(tmp_path) == ["preview", "up"]


def test_on_a_terminal_destroy_wants_the_stack_name_typed(tmp_path):
    env = replay(tmp_path, destroy_preview="preview_o2_aws.jsonl")
    code, text, _ = on_terminal(["destroy", "O2@aws"], env, answer="yes")
    assert code == 1 and "Type the stack name 'o2-aws' to destroy every resource in it:" in text
    assert "destroy of stack 'o2-aws' not confirmed; nothing was changed" in text
    assert ops(tmp_path) == ["destroy --preview-only"]


# --- item 4: where the state lives ----------------------------------------------------------------

def test_outputs_say_which_stack_in_which_backend_on_stderr(tmp_path):
    env = {**replay(tmp_path), **O2_OUTPUTS}
    result = run(["outputs", "O2@aws", "--backend", "postgres://ops:hunter2@db.internal/pulumi?sslmode=require"],
                 env)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == ["stack o2-aws (O2@aws) in postgres://ops:***@db.internal/pulumi?sslmode=require"]
    assert json.loads(result.stdout) == {"public_url": "https://203.0.113.10", "reactor_toml": "[secret]"}
    assert "hunter2" not in result.stderr + result.stdout


def test_explain_stack_says_where_the_state_lives_without_importing_pulumi(tmp_path):
    stack = tmp_path / "Pulumi.acme-prod.yaml"
    stack.write_text("config:\n  reactor-infra:token: E5+ha@aws\n")
    env = env_with(tmp_path)
    state = (tmp_path / "home" / "state").as_uri()
    data = json.loads(run(["explain", "--stack", str(stack), "--json"], env).stdout)
    assert data["state"] == {"backend": state, "stack": "acme-prod"}
    words = run(["explain", "--stack", str(stack)], env).stdout.splitlines()
    assert words[-3:] == ["State", f"  backend {state} (the default of up/preview/refresh/destroy/outputs; "
                                   "--backend chooses another)",
                          "  stack acme-prod (from the file name Pulumi.acme-prod.yaml)"]
    code = ("import sys\nfrom reactor_infra.cli import app\n"
            f"try:\n    app(['explain', '--stack', {str(stack)!r}])\nexcept SystemExit:\n    pass\n"
            "print('IMPORTED', sorted(m for m in sys.modules if m.split('.')[0] == 'pulumi'), file=sys.stderr)\n")
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert "IMPORTED []" in probe.stderr and "State" in probe.stdout


def test_explain_without_stack_has_no_state():
    result = subprocess.run([sys.executable, "-m", "reactor_infra", "explain", "O2@aws", "--json"],
                            capture_output=True, text=True, timeout=60)
    assert "state" not in json.loads(result.stdout)


@pytest.mark.parametrize("url, shown", [
    ("file:///home/ops/.local/share/reactor-infra/state", "file:///home/ops/.local/share/reactor-infra/state"),
    ("s3://acme-pulumi-state?region=eu-west-1", "s3://acme-pulumi-state?region=eu-west-1"),
    ("postgres://ops:hunter2@db:5432/pulumi", "postgres://ops:***@db:5432/pulumi"),
    ("azblob://state?storage_account=acme&sig=abc123", "azblob://state?storage_account=acme&sig=***"),
    ("https://api.pulumi.com", "https://api.pulumi.com"),
])
def test_backend_urls_are_shown_without_credentials(url, shown):
    from reactor_infra.engine import shown_backend

    assert shown_backend(url) == shown
