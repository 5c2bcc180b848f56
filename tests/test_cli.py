"""The core CLI as a user meets it: real processes, real exit codes, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest

from reactor_infra.token import parse, valid_topologies


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reactor_infra", *args],
        capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})},
    )


def test_explain_json_is_machine_readable_and_canonical():
    result = run("explain", "E5+ha@aws", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["topology"] == "E5+ha@aws"
    assert {t["name"] for t in data["tiers"]} == {"app", "edge", "infra", "database", "storage"}
    assert all({"from", "to", "port", "protocol", "purpose"} <= set(link) for link in data["links"])
    assert all("value" not in s for s in data["secrets"])


def test_explain_states_the_canonical_token_for_a_non_canonical_one():
    data = json.loads(run("explain", "E10+as@aws", "--json").stdout)
    assert data["topology"] == "E10@aws"


def test_explain_in_words_names_tiers_links_and_secrets():
    result = run("explain", "E5+ha@aws")
    assert result.returncode == 0
    for words in ("edge", "×2", "infra", "×3", "internet → load-balancer :443", "admin-token", "protect"):
        assert words in result.stdout
    assert "\x1b[" not in result.stdout  # plain text when piped


def test_bad_token_exits_2_with_one_line_per_problem_and_no_traceback():
    result = run("explain", "E7@mars")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert "size: '7'" in lines[0] and "platform: 'mars'" in lines[1]
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_matrix_json_lists_every_valid_token_per_platform():
    result = run("matrix", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["count"] == sum(len(v) for v in data["platforms"].values()) == len(list(valid_topologies()))
    for platform, tokens in data["platforms"].items():
        for token in tokens:
            assert parse(token).token == token and token.endswith("@" + platform)


def test_matrix_for_one_platform():
    data = json.loads(run("matrix", "--platform", "local", "--json").stdout)
    assert list(data["platforms"]) == ["local"] and data["count"] == 12


def test_matrix_rejects_an_unknown_platform_with_a_hint():
    result = run("matrix", "--platform", "amazon")
    assert result.returncode == 2 and "did you mean 'aws'?" in result.stderr


def test_validate_exits_0_with_the_canonical_token_or_2():
    ok = run("validate", "E10+as@aws")
    assert ok.returncode == 0 and ok.stdout.strip() == "E10@aws"
    bad = run("validate", "O1@aws")
    assert bad.returncode == 2 and "size 1 runs only @local" in bad.stderr


def test_config_prints_reactor_toml_that_parses():
    result = run("config", "O1@local")
    assert result.returncode == 0, result.stderr
    doc = tomllib.loads(result.stdout)
    assert doc["server"]["bind"] == "127.0.0.1:8000"
    assert doc["admin"]["allow_remote"] is False


def test_stack_file_settings_feed_the_plan(tmp_path):
    stack = tmp_path / "Pulumi.acme.yaml"
    stack.write_text("config:\n  reactor-infra:token: E6+mr@aws\n"
                     "  reactor-infra:regions: [eu-west-1, eu-central-1]\n  aws:region: eu-west-1\n")
    data = json.loads(run("explain", "--stack", str(stack), "--json", "E6+mr@aws").stdout)
    assert data["regions"] == ["eu-west-1", "eu-central-1"]


def test_stack_file_with_an_unknown_key_exits_2_naming_it(tmp_path):
    stack = tmp_path / "Pulumi.acme.yaml"
    stack.write_text("config:\n  reactor-infra:token: O2@aws\n  reactor-infra:domian: api.example.com\n")
    result = run("validate", "--stack", str(stack), "O2@aws")
    assert result.returncode == 2
    assert "unknown key 'domian'" in result.stderr and "did you mean 'domain'?" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_stack_file_exits_2(tmp_path):
    result = run("validate", "--stack", str(tmp_path / "nope.yaml"), "O2@aws")
    assert result.returncode == 2 and "not found" in result.stderr


@pytest.mark.parametrize("args", [["explain", "E5+ha@aws"], ["matrix"], ["config", "E6+ha@aws"], ["validate", "O2@aws"]])
def test_core_commands_never_import_pulumi_or_a_cloud_sdk(args):
    code = (
        "import sys\n"
        "from reactor_infra.cli import app\n"
        "try:\n"
        f"    app({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pulumi', 'pulumi_aws', 'pulumi_docker', 'pulumi_random', 'boto3'))\n"
        "print('IMPORTED', bad, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "IMPORTED []" in result.stderr, result.stderr


def test_python_dash_m_and_the_console_script_agree():
    import shutil

    exe = shutil.which("reactor-infra", path=os.path.dirname(sys.executable))
    assert exe, "the reactor-infra console script is installed beside the interpreter"
    script = subprocess.run([exe, "validate", "E5+ha@aws"], capture_output=True, text=True)
    assert script.stdout == run("validate", "E5+ha@aws").stdout


def test_the_token_may_come_from_the_stack_file(tmp_path):
    stack = tmp_path / "Pulumi.acme.yaml"
    stack.write_text("config:\n  reactor-infra:token: E5+ha@aws\n")
    assert run("validate", "--stack", str(stack)).stdout.strip() == "E5+ha@aws"
    assert json.loads(run("explain", "--stack", str(stack), "--json").stdout)["topology"] == "E5+ha@aws"


def test_no_token_and_no_stack_is_a_usage_error():
    result = run("explain")
    assert result.returncode == 2 and "TOKEN" in result.stderr and "Traceback" not in result.stderr
