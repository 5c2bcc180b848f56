"""reactor_infra.openbao_bootstrap offline: the `reactor` policy's exact rules, the rendered
script's inputs, shellcheck on every rendered variant (with deliberately broken scripts it must
reject), and the script's own refusals before it touches OpenBao. The script against a real
OpenBao: tests/test_openbao_bootstrap_real.py."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import hcl2
import pytest
from tools import shellcheck, write

from reactor_infra import openbao_bootstrap as ob
from reactor_infra.plan import build_plan
from reactor_infra.reactor_toml import render_reactor_toml
from reactor_infra.token import parse

AWS_STORE = 'aws ssm put-parameter --overwrite --type SecureString --name "/reactor/s/$1" --value "file://$2" >/dev/null'
AWS_FETCH = 'aws ssm get-parameter --with-decryption --name "/reactor/s/$1" --query Parameter.Value --output text'
COMPOSE_BAO = "docker compose -p e5-ha-aws -f /etc/reactor/compose.yaml exec -T -e BAO_TOKEN openbao bao"


def plan(token: str = "E5+ha@aws"):
    return build_plan(parse(token))


# --- the policy -------------------------------------------------------------------------------------


def _rules(hcl: str) -> dict[str, list[str]]:
    """path -> capabilities, from python-hcl2's output (which keeps the quotes)."""
    blocks = hcl2.loads(hcl)["path"]
    return {path.strip('"'): [c.strip('"') for c in body["capabilities"]]
            for block in blocks for path, body in block.items()}


def test_the_policy_is_exactly_the_adapters_paths():
    assert _rules(ob.reactor_policy(plan())) == {
        "secret/data/tenants/+/*": ["create", "read", "update"],
        "secret/metadata/tenants/+/*": ["read", "list", "delete"],
        "transit/keys/tenant-*": ["create", "read", "update"],
        "transit/encrypt/tenant-*": ["update"],
        "transit/decrypt/tenant-*": ["update"],
    }


@pytest.mark.parametrize("token", ["E2@local", "E4@onprem", "E5+ha@aws", "E6+ha@gcp"])
def test_the_policy_uses_the_mounts_reactor_toml_gives_reactor_server(token):
    p = plan(token)
    vault = tomllib.loads(render_reactor_toml(p))["vault"]
    assert (vault["backend"], vault["auth_method"]) == ("openbao", "token")
    assert ob.vault_mounts(p) == (vault["kv_mount"], vault["transit_mount"])
    rules = _rules(ob.reactor_policy(p))
    assert {path.split("/")[0] for path in rules} == {vault["kv_mount"], vault["transit_mount"]}


def test_a_plan_without_openbao_has_no_policy_and_no_script():
    p = plan("O1@local")
    with pytest.raises(ValueError, match="not OpenBao"):
        ob.reactor_policy(p)
    with pytest.raises(ValueError, match="not OpenBao"):
        ob.bootstrap_script(p, bao="bao")


def test_the_cli_prints_the_policy(capsys):
    assert ob.main(["policy", "E4@local"]) == 0
    assert capsys.readouterr().out == ob.reactor_policy(plan("E4@local"))


# --- rendering ----------------------------------------------------------------------------------------


def test_the_script_is_a_pure_function_of_its_inputs():
    a = ob.bootstrap_script(plan(), bao=COMPOSE_BAO, store=AWS_STORE, fetch=AWS_FETCH)
    assert a == ob.bootstrap_script(plan(), bao=COMPOSE_BAO, store=AWS_STORE, fetch=AWS_FETCH)
    assert f"BAO='{COMPOSE_BAO}'" in a and AWS_STORE in a and AWS_FETCH in a
    assert "{{" not in a and "{%" not in a
    assert ob.reactor_policy(plan()) in a  # the heredoc carries the same policy
    assert f"TTL_HOURS={ob.TOKEN_TTL_HOURS}\n" in a and "-orphan -policy=reactor" in a
    assert "HAS_STORE=1" in a and "HAS_FETCH=1" in a
    bare = ob.bootstrap_script(plan(), bao="bao")
    assert "HAS_STORE=0" in bare and "HAS_FETCH=0" in bare


@pytest.mark.parametrize("bao", ["", "bao; rm -rf /", "docker exec 'x y' bao", "bao $(id)", "bao\nid"])
def test_a_bao_command_with_shell_syntax_is_refused(bao):
    with pytest.raises(ValueError, match="bao"):
        ob.bootstrap_script(plan(), bao=bao)


@pytest.mark.parametrize(("shares", "threshold"), [(0, 0), (1, 2), (3, 0), (256, 1)])
def test_impossible_shares_are_refused(shares, threshold):
    with pytest.raises(ValueError, match="threshold"):
        ob.bootstrap_script(plan(), bao="bao", shares=shares, threshold=threshold)


def test_an_empty_store_step_is_refused():
    with pytest.raises(ValueError, match="store"):
        ob.bootstrap_script(plan(), bao="bao", store="  ")


# --- shellcheck ----------------------------------------------------------------------------------------


def _shellcheck(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    script = write(tmp_path, "openbao-bootstrap.sh", text)
    return subprocess.run([shellcheck(), "--shell=sh", "--severity=style", "--format=gcc", str(script)],
                          capture_output=True, text=True, timeout=60, check=False)


VARIANTS = {
    "aws": dict(bao=COMPOSE_BAO, store=AWS_STORE, fetch=AWS_FETCH),
    "local": dict(bao="docker exec -i -e BAO_TOKEN e4-local-node-openbao bao"),
    "host-bao": dict(bao="env BAO_ADDR=http://10.0.1.5:8200 bao", store='cat "$2" > /srv/keys/"$1"'),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_shellcheck_finds_nothing_in_the_rendered_script(tmp_path, name):
    out = _shellcheck(tmp_path, ob.bootstrap_script(plan(), **VARIANTS[name]))
    assert out.returncode == 0, out.stdout + out.stderr


BROKEN = {
    "unquoted": ('cat "$2" > "$OPERATOR_DIR/$1"', "cat $2 > $OPERATOR_DIR/$1", "SC2086"),
    "bashism": ('if [ -n "$OPERATOR_DIR" ]; then\n  mkdir', 'if [[ -n "$OPERATOR_DIR" ]]; then\n  mkdir', "SC3010"),
    "typo": ('wait_for "the OpenBao API" answers', 'wait_for "the OpenBao API" answers "$wrk"', "SC2154"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_shellcheck_rejects_a_broken_script(tmp_path, name):
    """Negative controls: the same check that passes the rendered script finds each mistake."""
    old, new, code = BROKEN[name]
    text = ob.bootstrap_script(plan(), **VARIANTS["aws"])
    assert text.count(old) == 1
    out = _shellcheck(tmp_path, text.replace(old, new))
    assert out.returncode != 0 and code in out.stdout, out.stdout


def test_a_missing_shellcheck_fails_under_ci_instead_of_skipping(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must not skip"):
        shellcheck()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="shellcheck"):
        shellcheck()


# --- refusals before any call to OpenBao ------------------------------------------------------------


def _run(tmp_path: Path, *args: str, shell: tuple[str, ...] = ("/bin/sh",)) -> subprocess.CompletedProcess[str]:
    calls = tmp_path / "calls"
    text = ob.bootstrap_script(plan(), bao=f"{tmp_path}/bao", store=AWS_STORE)
    write(tmp_path, "bao", f"#!/bin/sh\necho \"$*\" >> {calls}\nexit 1\n").chmod(0o700)
    script = write(tmp_path, "openbao-bootstrap.sh", text)
    out = subprocess.run([*shell, str(script), *args], capture_output=True, text=True, timeout=30, check=False,
                         env={"PATH": "/usr/bin:/bin", "OPENBAO_BOOTSTRAP_TMP": str(tmp_path)})
    assert not calls.exists()  # refused before it ran bao once
    return out


@pytest.mark.parametrize(("args", "message"), [
    (("--shares", "1", "--threshold", "2"), "need 1 <= threshold <= shares"),
    (("--shares", "x"), "not a number"),
    (("--operator-dir",), "usage:"),
    (("--unknown", "1"), "usage:"),
])
def test_the_script_refuses_bad_arguments(tmp_path, args, message):
    out = _run(tmp_path, *args)
    assert out.returncode == 1 and message in out.stderr


def test_the_script_refuses_to_run_with_xtrace(tmp_path):
    out = _run(tmp_path, shell=("/bin/sh", "-x"))
    assert out.returncode == 1 and "xtrace" in out.stderr
