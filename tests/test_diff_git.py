"""`diff --base/--head` on a temporary git repository holding this project's code and two stacks:
only the stacks a change touches are rendered, each revision with its own code."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from diffkit import REPO, run_cli

STACKS = ("Pulumi.o2-local.yaml", "Pulumi.e2-aws.yaml")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "node_modules", "*.pyc")
    for name in ("reactor_infra", "platforms", "templates"):
        shutil.copytree(REPO / name, repo / name, ignore=ignore)
    for name in ("pyproject.toml", "Pulumi.yaml"):
        shutil.copy(REPO / name, repo / name)
    (repo / "stacks").mkdir()
    for name in STACKS:
        shutil.copy(REPO / "stacks" / name, repo / "stacks" / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "base")
    return repo


def commit(repo: Path, path: str, edit) -> None:
    file = repo / path
    file.write_text(edit(file.read_text(encoding="utf-8")), encoding="utf-8")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", f"edit {path}")


def diff_json(repo: Path, *args: str) -> dict:
    result = run_cli("diff", "--base", "HEAD~1", "--head", "HEAD", "--format", "json", *args, cwd=repo)
    assert result.returncode == 0, result.stderr
    return {s["stack"]: s for s in json.loads(result.stdout)["stacks"]}


def test_a_stack_file_change_renders_only_that_stack_and_shows_its_risks(repo):
    commit(repo, "stacks/Pulumi.o2-local.yaml", lambda t: t.replace("token: O2@local", "token: O3@local"))
    stacks = diff_json(repo)
    assert stacks["e2-aws"]["skipped"] == "neither its file nor the code it renders through changed"
    assert stacks["e2-aws"]["changes"] == []
    o2 = stacks["o2-local"]
    assert o2["before"].startswith("O2@local at HEAD~1") and o2["after"].startswith("O3@local at HEAD")
    assert o2["counts"]["create"] > 0 and o2["counts"]["delete"] > 0
    assert any("Postgres leaves the node tier" in r["what"] and "pg_dump" in r["step"] for r in o2["risks"])


def test_a_code_change_that_renders_the_same_gives_every_stack_an_empty_diff(repo):
    commit(repo, "reactor_infra/errors.py", lambda t: t + "\n# a comment that changes nothing\n")
    stacks = diff_json(repo)
    assert set(stacks) == {"o2-local", "e2-aws"}
    for s in stacks.values():
        assert s["skipped"] is None and s["error"] is None
        assert s["changes"] == [] and s["unchanged"] > 10
        assert any("code changed (reactor_infra/errors.py)" in n for n in s["notes"])


def test_each_revision_renders_with_its_own_code(repo):
    commit(repo, "templates/Caddyfile.j2", lambda t: "# edited on the head branch\n" + t)
    o2 = diff_json(repo)["o2-local"]
    changed = {c["name"]: c for c in o2["changes"]}
    caddy = changed["node-caddy-container"]
    assert caddy["op"] == "replace"
    assert any(i["path"].startswith("uploads") and "edited on the head branch" in (i["new"] or "")
               and "edited on the head branch" not in (i["old"] or "") for i in caddy["inputs"])


def test_exit_code_3_with_changes_and_0_without(repo):
    commit(repo, "stacks/Pulumi.o2-local.yaml", lambda t: t.replace("postgres: postgres:16", "postgres: postgres:17"))
    changed = run_cli("diff", "--base", "HEAD~1", "--exit-code", cwd=repo)
    assert changed.returncode == 3, changed.stderr
    same = run_cli("diff", "--base", "HEAD", "--exit-code", cwd=repo)
    assert same.returncode == 0, same.stderr
    assert "not rendered" in same.stdout


def test_an_unknown_revision_is_one_line_and_exit_2(repo):
    result = run_cli("diff", "--base", "no-such-branch", cwd=repo)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: unknown git revision 'no-such-branch' (fetch it first, e.g. git fetch origin no-such-branch)"]


def test_base_outside_a_git_repository_is_one_line_and_exit_2(tmp_path):
    result = run_cli("diff", "--base", "main", cwd=tmp_path)
    assert result.returncode == 2 and "needs a git repository" in result.stderr
    assert "Traceback" not in result.stderr
