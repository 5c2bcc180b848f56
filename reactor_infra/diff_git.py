"""`diff --base REF [--head REF]`: every stack of `stacks/` that a change between two git
revisions touches, rendered on both sides with each revision's own code.

A stack is re-rendered when its file changed or when anything it renders through changed
(`CODE_PATHS`); otherwise it is listed as not rendered, with why. Each revision is exported with
`git archive` into a temporary directory (the repository's worktrees and index are never
touched) and rendered in its own child process (`diff_worker`); the two sides run at the same
time, one per core.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .diff import StackDiff, diff_renders
from .errors import OperationError, UserError

STACKS_DIR = "stacks"
# what a render reads besides the stack file: the code, the templates, the dependency set
CODE_PATHS = ("reactor_infra/", "platforms/", "templates/", "pyproject.toml", "uv.lock", "Pulumi.yaml",
              "__main__.py")
EXPORT_PATHS = ("reactor_infra", "platforms", "templates", STACKS_DIR, "pyproject.toml", "Pulumi.yaml")
WORKER_TIMEOUT = 900  # seconds for one side's renders


def git(args: list[str], cwd: Path, *, binary: bool = False) -> Any:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, text=not binary)
    except FileNotFoundError:
        raise OperationError("git is not installed; --base/--head need it") from None
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace") if binary else proc.stderr
        first = next((ln for ln in err.splitlines() if ln.strip()), "failed")
        raise UserError(f"git {args[0]}: {first.removeprefix('fatal: ').strip()}")
    return proc.stdout


def repo_root(cwd: Path) -> Path:
    try:
        return Path(git(["rev-parse", "--show-toplevel"], cwd).strip())
    except UserError:
        raise UserError(f"--base needs a git repository; {cwd} is not in one") from None


def resolve(ref: str, root: Path) -> str:
    if not ref or ref.startswith("-"):
        raise UserError(f"not a git revision: {ref!r}")
    try:
        return git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], root).strip()
    except UserError:
        raise UserError(f"unknown git revision '{ref}' (fetch it first, e.g. git fetch origin {ref})") from None


def stack_files(rev: str, root: Path) -> set[str]:
    names = git(["ls-tree", "-r", "--name-only", rev, "--", f"{STACKS_DIR}/"], root).splitlines()
    return {n for n in names if Path(n).name.startswith("Pulumi.") and n.endswith((".yaml", ".yml"))}


def changed_files(base: str, head: str, root: Path) -> list[str]:
    return git(["diff", "--name-only", base, head], root).splitlines()


def code_changed(files: list[str]) -> list[str]:
    return [f for f in files if f.startswith(CODE_PATHS) or f in CODE_PATHS]


def export(rev: str, root: Path, dest: Path) -> Path:
    """The revision's files the renders need, from `git archive` (no checkout, no worktree)."""
    present = [p for p in EXPORT_PATHS if git(["ls-tree", "--name-only", rev, "--", p], root).strip()]
    data = git(["archive", "--format=tar", rev, "--", *present], root, binary=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_worker(side: Path, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Render `specs` with the code in `side`, in a child process (see diff_worker)."""
    if not specs:
        return []
    source = Path(__file__).with_name("diff_worker.py").read_text(encoding="utf-8")
    platform_paths = [str(p) for p in sorted(side.glob("platforms/*")) if p.is_dir()]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*platform_paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run([sys.executable, "-c", source, json.dumps(specs)], cwd=side, env=env,
                          capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    if proc.returncode != 0 or not lines:
        tail = " ".join((proc.stderr.strip().splitlines() or ["no output"])[-1:])
        raise OperationError(f"rendering {side.name} failed: {tail[:400]}")
    return json.loads(lines[-1])


def diff_revisions(base: str, head: str | None, cwd: Path) -> list[StackDiff]:
    root = repo_root(cwd)
    base_sha, head_sha = resolve(base, root), resolve(head or "HEAD", root)
    files = changed_files(base_sha, head_sha, root)
    code = code_changed(files)
    before, after = stack_files(base_sha, root), stack_files(head_sha, root)
    label_a, label_b = f"{base} ({base_sha[:7]})", f"{head or 'HEAD'} ({head_sha[:7]})"
    todo = sorted(f for f in before | after if code or f in files)
    diffs: dict[str, StackDiff] = {}
    for f in sorted((before | after) - set(todo)):
        diffs[f] = StackDiff(stack=_stack_name(f), before=label_a, after=label_b, source="offline",
                             skipped="neither its file nor the code it renders through changed")
    if todo:
        with tempfile.TemporaryDirectory(prefix="reactor-infra-diff-") as tmp:
            sides = []
            for name, sha, present in (("base", base_sha, before), ("head", head_sha, after)):
                side = export(sha, root, Path(tmp) / name)
                sides.append((side, [{"file": str(side / f), "key": f} for f in todo if f in present]))
            with ThreadPoolExecutor(max_workers=2) as pool:
                old_results, new_results = pool.map(lambda s: run_worker(*s), sides)
        old = {spec["key"]: r for spec, r in zip(sides[0][1], old_results)}
        new = {spec["key"]: r for spec, r in zip(sides[1][1], new_results)}
        for f in todo:
            diffs[f] = _stack_diff(f, old.get(f), new.get(f), label_a, label_b, code)
    return [diffs[f] for f in sorted(diffs)]


def _stack_name(path: str) -> str:
    return Path(path).name.removeprefix("Pulumi.").rsplit(".", 1)[0]


def _stack_diff(path: str, old: dict[str, Any] | None, new: dict[str, Any] | None, label_a: str, label_b: str,
                code: list[str]) -> StackDiff:
    name = _stack_name(path)
    for side, result in (("base", old), ("head", new)):
        if result is not None and not result.get("ok"):
            return StackDiff(stack=name, before=label_a, after=label_b, source="offline",
                             error=f"{side}: {result.get('error')}")
    before = f"{old['graph']['topology']} at {label_a}" if old else f"(no stack) at {label_a}"
    after = f"{new['graph']['topology']} at {label_b}" if new else f"(no stack) at {label_b}"
    diff = diff_renders(old and old["graph"], new and new["graph"], stack=name, before=before, after=after,
                        old_topology=old and old["plan"], new_topology=new and new["plan"])
    why = []
    if old is None:
        why.append("the stack file is new")
    elif new is None:
        why.append("the stack file was removed: every resource is deleted")
    if code:
        shown = ", ".join(code[:3]) + (f" and {len(code) - 3} more" if len(code) > 3 else "")
        why.append(f"rendered again because the code changed ({shown})")
    from dataclasses import replace

    return replace(diff, notes=tuple(why) + diff.notes)
