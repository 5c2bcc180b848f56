"""`reactor-infra diff` as a user meets it: real processes, exit codes, one line per mistake."""

from __future__ import annotations

import json

import pytest
from diffkit import run_cli


def test_a_diff_with_changes_exits_0_and_3_with_exit_code():
    plain = run_cli("diff", "E4@local", "E5@local", "--format", "json")
    assert plain.returncode == 0, plain.stderr
    doc = json.loads(plain.stdout)
    assert doc["changed"] is True and doc["totals"]["create"] > 0 and doc["risks"] == 0
    assert run_cli("diff", "E4@local", "E5@local", "--exit-code").returncode == 3


def test_no_changes_exits_0_even_with_exit_code():
    result = run_cli("diff", "O1@local", "O1@local", "--exit-code")
    assert result.returncode == 0, result.stderr
    assert "no changes" in result.stdout


@pytest.mark.parametrize("args, words", [
    (("diff",), "give A and B"),
    (("diff", "O2@local"), "two sides"),
    (("diff", "O2@local", "O3@local", "--base", "main"), "give A and B"),
    (("diff", "--head", "HEAD", "--from-preview", "x.json"), "--head needs --base"),
    (("diff", "--base", "main", "--from-preview", "x.json"), "give A and B"),
    (("diff", "e4@local", "E5@local"), "did you mean 'E'"),
    (("diff", "O2@local", "O9@local"), "size"),
    (("diff", "O2@local", "stacks/Pulumi.nope.yaml"), "not found"),
    (("diff", "--from-preview", "nope.json"), "not found"),
])
def test_bad_input_is_one_line_exit_2_and_no_traceback(args, words):
    result = run_cli(*args)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], lines
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_head_without_base_is_refused():
    result = run_cli("diff", "--head", "HEAD")
    assert result.returncode == 2 and result.stderr.strip() == "error: --head needs --base"


def test_an_unknown_format_is_refused_by_name():
    result = run_cli("diff", "O2@local", "O3@local", "--format", "html")
    assert result.returncode == 2 and "html" in result.stderr and "Traceback" not in result.stderr


def test_a_size_the_platform_does_not_build_yet_is_one_line(monkeypatch):
    """Every installed platform builds all its tokens today: a plugin that builds size 2 only
    stands in for the next platform's first sizes."""
    from typer.testing import CliRunner

    from reactor_infra import platforms
    from reactor_infra.cli import app

    real = platforms.load

    class SizeTwoOnly(type(real("aws"))):
        sizes = frozenset({2})

    monkeypatch.setattr(platforms, "load", lambda name: SizeTwoOnly() if name == "aws" else real(name))
    result = CliRunner().invoke(app, ["diff", "O2@aws", "O3@aws"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "O3@aws" in lines[0] and "builds sizes 2 so far" in lines[0]
