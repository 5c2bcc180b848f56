"""The shell scripts of the install bundle (the bundles of every @onprem and @local token, built
once per process by bundlekit), linted and run as on a host.

What holds:
- Every shell script of every bundle passes `sh -n`, `bash -n` and shellcheck (at the severity
  the project lints it at); scripts that differ only in comment lines (keeping their shebang and
  shellcheck directives) are checked once.
- install.sh --stage places every file with the bundle's mode and a second run changes nothing
  (no mtime moves); it stops at the first error: an operator's secret still the placeholder
  before placing anything, a file missing from files/ naming it; a rerun keeps what the README's
  first boot wrote on the host (reactor-server's OpenBao token).
- Each host's reactor-fetch-secrets, on the host's bundled secrets/, writes exactly the env files
  its compose.yaml reads, 0600 in a 0700 directory, leaves nothing else and prints no value.
Secret values are read from the bundle and compared in memory; no assertion message shows one.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from bundlekit import (PLACEHOLDER, Built, File, check_each, digest, env_file_names, every_bundle, every_host,
                       fetch_run, mode_of, named, operators_copy, script_body, secret_values_in, shown)
from tools import shellcheck, write

from reactor_infra import host_files


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Built]:
    return every_bundle(tmp_path_factory.getbasetemp())


SHELL_SCRIPTS = frozenset({"install.sh", "health.sh", "save.sh", "load.sh", "reactor-fetch-secrets",
                           "reactor-firewall", "reactor-openbao-bootstrap", "reactor-roles.sh"})
# the severity the project's tests lint each script at: the node boot scripts at warning
# (test_platform_*), the OpenBao bootstrap at style (test_openbao_bootstrap)
SEVERITY = {"reactor-openbao-bootstrap": "style"}


# --- shell scripts --------------------------------------------------------------------------------


def _shell_of(text: str) -> str:
    first = text.splitlines()[0] if text else ""
    if first in ("#!/bin/sh", "#!/usr/bin/env sh"):
        return "sh"
    if first in ("#!/bin/bash", "#!/usr/bin/env bash"):
        return "bash"
    return ""


def syntax_problem(text: str) -> str:
    shell = _shell_of(text)
    if not shell:
        return f"no #!/bin/sh or bash shebang: {text.splitlines()[:1]}"
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "script", text)
        for checker in ([["sh", "-n"]] if shell == "sh" else []) + [["bash", "-n"]]:
            done = subprocess.run([*checker, str(path)], capture_output=True, text=True, timeout=30, check=False)
            if done.returncode != 0:
                return f"{' '.join(checker)}: {done.stderr}".replace(tmp, "")
    return ""


def lint_problems(scripts: dict[str, tuple[str, str]]) -> dict[str, str]:
    """shellcheck on many scripts at once (two processes), each at its severity:
    label -> its findings ('' when none). scripts: label -> (text, severity)."""
    lint = shellcheck()
    found = {label: "" for label in scripts}
    with tempfile.TemporaryDirectory() as tmp:
        paths: dict[str, str] = {}
        by_severity: dict[str, list[str]] = {}
        for i, (label, (text, severity)) in enumerate(sorted(scripts.items())):
            path = write(Path(tmp) / str(i), "script", text)
            paths[str(path)] = label
            by_severity.setdefault(severity, []).append(str(path))
        batches = [(sev, chunk) for sev, files in by_severity.items() for chunk in (files[0::2], files[1::2]) if chunk]

        def one(batch: tuple[str, list[str]]) -> str:
            severity, files = batch
            return subprocess.run([lint, f"--severity={severity}", "--format=gcc", *files], capture_output=True,
                                  text=True, timeout=300, check=False).stdout

        with ThreadPoolExecutor(max_workers=2) as pool:
            outputs = list(pool.map(one, batches))
        for line in "\n".join(outputs).splitlines():
            path = line.split(":", 1)[0]
            if path in paths:
                found[paths[path]] += line.replace(path, "line") + "\n"
    return found


@pytest.mark.tools
def test_every_shell_script_passes_sh_n_bash_n_and_shellcheck(bundles):
    shellcheck()
    files = named(bundles, *SHELL_SCRIPTS)
    assert {f.name for f in files} == SHELL_SCRIPTS
    problems = check_each(((str(f), script_body(f.text()), f.text()) for f in files), syntax_problem)
    groups: dict[str, list[File]] = {}
    for f in files:
        groups.setdefault(f"{SEVERITY.get(f.name, 'warning')}\0{script_body(f.text())}", []).append(f)
    linted = lint_problems({key: (fs[0].text(), key.split("\0", 1)[0]) for key, fs in groups.items()})
    found: dict[str, list[str]] = {}
    for key, problem in linted.items():
        if problem:
            found.setdefault(problem, []).extend(str(f) for f in groups[key])
    problems += [f"{shown(labels)}:\nshellcheck: {problem}" for problem, labels in found.items()]
    assert not problems, "\n".join(problems)


# --- install.sh --stage ---------------------------------------------------------------------------


def install(host_dir: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(host_dir / "install.sh"), *args], capture_output=True, text=True, timeout=120,
                          check=False, env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "REACTOR_ROOT": str(root)})


def _placed(root: Path) -> dict[str, tuple[int, int]]:
    """Every file below the root: (mode, mtime in ns)."""
    return {p.relative_to(root).as_posix(): (mode_of(p), p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))
            if p.is_file()}


STAGED = ["O2@local", "E4@onprem", "E5+ha@onprem"]


@pytest.mark.parametrize("token", STAGED)
def test_install_stage_places_every_file_with_its_mode_and_a_second_run_changes_nothing(bundles, token, tmp_path):
    for host in bundles[token].hosts:
        copy = operators_copy(host, tmp_path / "hosts")
        root = tmp_path / "root" / host.name
        first = install(copy.dir, root, "--stage")
        assert first.returncode == 0, f"{host}: {first.stderr}"
        puts = dict((path, mode) for mode, path in re.findall(r"(?m)^put (\d{4}) (\S+)$",
                                                               (copy.dir / "install.sh").read_text()))
        bundled = {"/" + p.relative_to(copy.dir / "files").as_posix(): p for p in (copy.dir / "files").rglob("*")
                   if p.is_file()}
        assert sorted(puts) == sorted(bundled), f"{host}: install.sh places {sorted(puts)}"
        for path, mode in puts.items():
            placed = root / path.lstrip("/")
            assert placed.read_bytes() == bundled[path].read_bytes(), f"{host}: {path}"
            assert mode_of(placed) == int(mode, 8) == mode_of(bundled[path]), f"{host}: {path} is {mode_of(placed):o}"
        store = root / host_files.SECRETS_STORE.lstrip("/")
        assert mode_of(store) == 0o700
        assert {p.name: (mode_of(p), digest(p)) for p in store.iterdir()} == {
            p.name: (0o600, digest(p)) for p in (copy.dir / "secrets").iterdir()}, str(host)
        said = first.stdout.splitlines()
        assert said[-1] == "install.sh: staged changes"
        assert sorted(said[:-1]) == sorted([f"install.sh: updated secret {n}" for n in copy.secrets()]
                                           + [f"install.sh: updated {p}" for p in puts]), str(host)
        printed = any(v in first.stdout + first.stderr for v in secret_values_in(copy.dir))
        assert not printed, f"{host}: install.sh printed a secret value"
        before = _placed(root)
        second = install(copy.dir, root, "--stage")
        rerun = (second.returncode, second.stdout, second.stderr)
        assert rerun == (0, "install.sh: staged nothing new\n", ""), str(host)
        assert _placed(root) == before, f"{host}: the second run touched a file"


def test_install_refuses_an_operators_secret_still_the_placeholder_before_placing_anything(bundles, tmp_path):
    """E5+ha keeps its data in the operator's Postgres: its admin password is the operator's,
    to write into the bundle before installing (README)."""
    (app,) = [h for h in bundles["E5+ha@onprem"].hosts if h.name == "app-1"]
    assert app.secrets()["database-admin-password"] == PLACEHOLDER
    root = tmp_path / "root"
    done = install(app.dir, root, "--stage")
    assert done.returncode != 0
    assert done.stderr.strip().splitlines() == ["install.sh: secrets/database-admin-password holds no value yet: "
                                                "write the operator's into it (README: secrets)"]
    assert _placed(root) == {}, "files placed before the refusal"


def test_install_stops_at_a_file_missing_from_files_and_says_which(bundles, tmp_path):
    (host,) = [h for h in bundles["E4@onprem"].hosts if h.name == "database-1"]
    copy = operators_copy(host, tmp_path / "hosts")
    copy.path("/opt/reactor/reactor-roles.sh").unlink()
    done = install(copy.dir, tmp_path / "root", "--stage")
    assert done.returncode != 0, f"exit 0 with a file missing; it said:\n{done.stdout}"
    assert "reactor-roles.sh" in done.stderr
    assert "install.sh: updated /opt/reactor/reactor-roles.sh" not in done.stdout
    assert "staged" not in done.stdout


def test_a_rerun_of_install_keeps_the_openbao_token_the_first_boot_wrote_on_the_host(bundles, tmp_path):
    """README, first boot: the operator puts reactor-server's token into /etc/reactor/secrets on
    every app host (`install -m 0600 openbao-token ...`). install.sh, run again (it is said to
    change nothing), must not put the bundle's placeholder back over it."""
    (host,) = [h for h in bundles["E4@onprem"].hosts if h.name == "app-1"]
    assert host.secrets()["openbao-token"] == PLACEHOLDER
    root = tmp_path / "root"
    assert install(host.dir, root, "--stage").returncode == 0
    token = root / host_files.SECRETS_STORE.lstrip("/") / "openbao-token"
    token.write_text("s.the-real-token-from-init\n")
    token.chmod(0o600)
    again = install(host.dir, root, "--stage")
    assert again.returncode == 0, again.stderr
    assert token.read_text() == "s.the-real-token-from-init\n", "the placeholder replaced the token init issued"


# --- reactor-fetch-secrets ------------------------------------------------------------------------


def test_each_hosts_fetch_step_writes_0600_env_files_compose_reads_and_leaves_nothing_else(bundles):
    """The host's reactor-fetch-secrets on the host's bundled secrets (as install.sh keeps them):
    exactly the env files its compose.yaml names, 0600 in a 0700 directory, no temporary
    directory left, and no value in what it prints."""
    problems = []
    for host in every_host(bundles):
        run = fetch_run(host.dir)
        if run.returncode != 0:
            problems.append(f"{host}: exit {run.returncode}: {run.printed[-300:]}")
            continue
        if sorted(run.written) != sorted(env_file_names(host)) or run.run_mode != 0o700:
            problems.append(f"{host}: left {sorted(run.written)} (directory {run.run_mode:o}), "
                            f"compose reads {sorted(env_file_names(host))}")
        problems += [f"{host}: {name} is {mode:o}" for name, (mode, _) in run.written.items() if mode != 0o600]
        if any(v in run.printed for v in host.secrets().values() if v != PLACEHOLDER):
            problems.append(f"{host}: a secret value is in what the fetch step printed")
    assert not problems, "\n".join(problems)
