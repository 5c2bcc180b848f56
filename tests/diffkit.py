"""Helpers for the diff tests: cached offline diffs, the CLI as a process, the real Mermaid parser."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reactor_infra.cli_diff import diff_pair
from reactor_infra.diff import StackDiff
from reactor_infra.platforms import load
from reactor_infra.token import parse

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).with_name("fixtures")
MERMAID_DIR = Path(__file__).with_name("mermaid")


@functools.lru_cache(maxsize=None)
def offline(a: str, b: str) -> StackDiff:
    """`reactor-infra diff A B` as a StackDiff (rendered once per pair and test session)."""
    (diff,) = diff_pair(a, b)
    return diff


def skip_unless_built(*tokens: str) -> None:
    """Skip, naming the reason, only while the platform says it does not build a token yet."""
    for token in tokens:
        topology = parse(token)
        problems = load(topology.platform.value).unsupported(topology)
        if problems:
            pytest.skip(f"{token}: " + "; ".join(problems) + " (the AWS ladder is being built)")


def run_cli(*args: str, cwd: Path | None = None, stdin: str | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reactor_infra", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


def mermaid_parse(diagrams: list[str]) -> list[dict]:
    """Each diagram parsed by the real mermaid package under Node (tests/mermaid/check.mjs).
    Missing Node or node_modules skips locally and fails in CI, like tests/tools.py."""
    node = shutil.which("node")
    installed = (MERMAID_DIR / "node_modules" / "mermaid").is_dir()
    if not node or not installed:
        message = ("the Mermaid parser is not installed (npm ci --prefix tests/mermaid; .ci/run does it)"
                   if node else "node is not installed (apt-get install nodejs npm)")
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must not skip the Mermaid check")
        pytest.skip(message)
    proc = subprocess.run([node, str(MERMAID_DIR / "check.mjs")], input=json.dumps(diagrams),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)
