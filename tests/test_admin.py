"""`reactor-infra admin`: the way to the admin API that never touches the internet, as a real
process. The `aws` and `session-manager-plugin` here are recording stand-ins (they log their
arguments and answer like the real tools would); no port forward is opened and no cloud asked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

STACKS = Path(__file__).parent.parent / "stacks"

FAKE_AWS = """#!/bin/sh
echo "aws $*" >> "$FAKE_LOG"
case "$1 $2" in
  "ec2 describe-instances") echo "${FAKE_INSTANCE:-None}";;
  "ssm start-session") echo "Starting session";;
  "ecs list-tasks") echo "${FAKE_TASK:-None}";;
  "ecs describe-tasks") echo "${FAKE_RUNTIME:-None}";;
esac
"""


def admin(*args: str, path: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, **(env or {})}
    if path is not None:
        full["PATH"] = path
    return subprocess.run([sys.executable, "-m", "reactor_infra", "admin", *args], capture_output=True, text=True,
                          timeout=120, env=full)


def _fakes(tmp_path: Path, *tools: str) -> str:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in tools:
        (bindir / tool).write_text(FAKE_AWS if tool == "aws" else "#!/bin/sh\nexit 0\n")
        (bindir / tool).chmod(0o755)
    return f"{bindir}:{os.path.dirname(sys.executable)}:/usr/bin:/bin"


def test_on_one_docker_host_the_admin_port_is_already_on_loopback():
    result = admin("O2@local")
    assert result.returncode == 0, result.stderr
    assert "http://127.0.0.1:9901/_admin/version" in result.stdout
    assert "docker exec o2-local-node-reactor-server printenv REACTOR_ADMIN__TOKEN" in result.stdout
    assert "opening" not in result.stdout
    moved = admin("O2@local", "--port", "9999")
    assert moved.returncode == 2 and "cannot move it" in moved.stderr and "Traceback" not in moved.stderr


def test_on_aws_it_opens_an_ssm_port_forward_to_the_nodes_loopback(tmp_path):
    log = tmp_path / "calls"
    path = _fakes(tmp_path, "aws", "session-manager-plugin")
    result = admin("--stack", str(STACKS / "Pulumi.acme-prod.yaml"), "--port", "19901", path=path,
                   env={"FAKE_LOG": str(log), "FAKE_INSTANCE": "i-0123456789abcdef0"})
    assert result.returncode == 0, result.stderr
    find, forward = log.read_text().splitlines()
    assert "ec2 describe-instances --region eu-west-1" in find
    assert "Name=tag:reactor:stack,Values=acme-prod" in find and "Name=tag:reactor:tier,Values=node" in find
    assert forward.startswith("aws ssm start-session --region eu-west-1 --document-name AWS-StartPortForwardingSession")
    assert '{"portNumber":["9901"],"localPortNumber":["19901"]}' in forward
    assert forward.endswith("--target i-0123456789abcdef0")
    assert "--with-decryption --name /acme-prod/admin-token" in result.stdout  # how to read it, not its value


def test_on_aws_a_stack_without_a_running_node_says_so(tmp_path):
    path = _fakes(tmp_path, "aws", "session-manager-plugin")
    result = admin("--stack", str(STACKS / "Pulumi.acme-prod.yaml"), path=path,
                   env={"FAKE_LOG": str(tmp_path / "calls")})
    assert result.returncode == 1
    assert "no running node of stack acme-prod in eu-west-1" in result.stderr


def test_without_the_aws_cli_one_line_says_what_to_install(tmp_path):
    result = admin("--stack", str(STACKS / "Pulumi.acme-prod.yaml"), path=_fakes(tmp_path))
    assert result.returncode == 1
    (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "'aws' is not installed" in line and "AWS CLI v2" in line


def test_from_size_3_it_forwards_into_a_running_reactor_server_task(tmp_path):
    """ECS Exec's agent connects to the container's own loopback: reactor-server sees a loopback
    peer on :8000, no forwarder and no inbound port."""
    log = tmp_path / "calls"
    path = _fakes(tmp_path, "aws", "session-manager-plugin")
    task = "arn:aws:ecs:us-east-1:123456789012:task/e5-ha-aws-app-cluster/0123456789abcdef0123456789abcdef"
    result = admin("E5+ha@aws", "--port", "19901", path=path,
                   env={"FAKE_LOG": str(log), "FAKE_TASK": task, "FAKE_RUNTIME": "0123456789abcdef-1234567890"})
    assert result.returncode == 0, result.stderr
    listing, describe, forward = log.read_text().splitlines()
    assert listing.startswith("aws ecs list-tasks --region us-east-1 --cluster e5-ha-aws-app-cluster")
    assert "--service-name e5-ha-aws-app-reactor-server --desired-status RUNNING" in listing
    assert f"--tasks {task}" in describe
    assert '{"portNumber":["8000"],"localPortNumber":["19901"]}' in forward
    assert forward.endswith("--target ecs:e5-ha-aws-app-cluster_0123456789abcdef0123456789abcdef_0123456789abcdef-1234567890")


def test_from_size_3_no_running_task_is_one_line(tmp_path):
    path = _fakes(tmp_path, "aws", "session-manager-plugin")
    result = admin("O3@aws", path=path, env={"FAKE_LOG": str(tmp_path / "calls")})
    assert result.returncode == 1
    assert "no running reactor-server task of stack o3-aws in us-east-1" in result.stderr
