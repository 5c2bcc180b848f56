"""The on-prem run rehearsed over real SSH: what the render holds for a host, run twice on a
real OpenSSH server; the second run changes nothing.

The lab: an OpenSSH server on free loopback ports, run as a NON-ROOT user (`reactor-rehearsal`,
created when the tests run as root; the current user otherwise) with a freshly generated
ed25519 host key, public-key login only (no password, no PAM), started through `setpriv` (which
execs sshd: the fixture ends exactly the process it started). The stack is `E6@onprem`'s
example inventory (`reactor-infra inventory`) with two hosts replaced by that server:
- `nats-1` (NATS alone on its host): every step the render holds for it, as rendered: its
  `<h>-files` archive copied to the rendered `remotePath` over SFTP (as `remote.CopyToRemote`
  does), `<h>-secrets` (its `sh -c` on the SSH command line, the values on standard input),
  `<h>-install` (`install.sh --stage`: the install step where it needs no package download; the
  Docker and systemd half needs root, systemd and Docker, which a test host has not) and
  `<h>-health` (`health.sh`). The machine's Docker is played by a stand-in first on the remote
  PATH that runs the `compose exec -T <service> <probe...>` probe itself on that machine, and a
  real nats-server (as the rehearsal user: the machine's service needs no root here, and
  every process the lab starts then belongs to one user) serves the nats.conf install.sh placed.
- `app-1` (reactor-server; nats-1 keeps no secret at all): copy, secrets (seven values, the
  OpenBao token still the placeholder, as on a first `up`), install and health (which, with the
  placeholder, waits for nothing: README, first boot), for the secrets' modes and leaks.
The ssh commands run with `REACTOR_ROOT=$HOME/root` (the scripts' own switch for another root)
and without the rendered `sudo -n ` (the SSH user is not root and owns that root). Proved: the
rendered commands and files work over SSH as written, twice, the second run changing nothing
(same files, modes and mtimes under that root; no "updated"), with the bundle's modes (secrets
0700/0600) and no secret value in any output, log or placed file. Not proved here (no Pulumi
CLI, no Docker, no systemd): pulumi-command's own copy and connection code, and install.sh's
root half (systemd units, `docker compose`).

Host keys are verified as the run verifies them. The render's `connection` (masked there: it
holds the private key) carries the inventory's `host_key`, and pulumi-command checks it with
`ssh.FixedHostKey` (only that key's algorithm offered): a fixed key, never trusted on first use.
The rehearsal's client is OpenSSH with `StrictHostKeyChecking=yes`, `BatchMode=yes`, no global
file, and a `UserKnownHostsFile` holding exactly `inventory.Host.known_hosts_line()`
(`[127.0.0.1]:PORT ssh-ed25519 AAAA...`): the same check. A server showing another key, or a
host the file does not name, is refused before authentication, so nothing runs (a marker file
a refused command would create stays absent); an inventory host without `host_key` is refused
by the settings check with one line naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets as secrets_module
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sshlab import (LOOPBACK, NATS_MONITOR, Lab, Run, free_port, materialise, open_lab, port_is_free, sha256,
                    snapshot, stand_in_docker, start_nats, stop)

from reactor_infra import inventory
from reactor_infra.host_files import PLACEHOLDER, SECRETS_STORE, HostFiles, onprem_hosts
from reactor_infra.inventory import Host, example
from reactor_infra.layout import Service
from reactor_infra.plan import build_plan, deployment_problems
from reactor_infra.settings import load_settings
from reactor_infra.token import parse

pytestmark = [
    pytest.mark.tools,
    pytest.mark.xdist_group("onprem-ssh"),  # one lab user: one worker
    # pulumi_command's deprecated CopyFile warns when the SDK is imported
    pytest.mark.filterwarnings("ignore:This resource is deprecated:DeprecationWarning"),
]

TOKEN = "E6@onprem"


# --- the lab (tests/sshlab.py): a non-root sshd with a generated host key -------------------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    with open_lab(tmp_path_factory.mktemp("ssh-client"), ("nats-1", "app-1")) as opened:
        yield opened


# --- the stack: E6@onprem with two hosts on the lab's sshd ---------------------------------------


@dataclass(frozen=True)
class Stack:
    inventory: dict
    hosts: dict[str, HostFiles]  # host_files.onprem_hosts, by name
    resources: dict[str, dict]  # the render's resources, by name


def _lab_host(lab: Lab, name: str) -> dict:
    return {"address": LOOPBACK, "port": lab.ports[name], "user": lab.user, "key": str(lab.client_key),
            "host_key": lab.host_key}


@pytest.fixture(scope="module")
def stack(lab) -> Stack:
    from reactor_infra.render import render

    inv = example(build_plan(parse(TOKEN)))
    for name in lab.ports:
        assert name in inv["hosts"], f"{TOKEN}'s example inventory has no {name}"
        inv["hosts"][name] = _lab_host(lab, name)
    settings = load_settings({"extras": {"onprem": inv}})
    plan = build_plan(parse(TOKEN), settings)
    assert deployment_problems(plan) == []
    graph = render(TOKEN, settings, stack=plan.stack)
    hosts = {h.name: h for h in onprem_hosts(plan, inventory.load(plan))}
    return Stack(inv, hosts, {r["name"]: r for r in json.loads(graph.to_json())["resources"]})


# --- the rehearsal -------------------------------------------------------------------------------

STEPS = ("copy", "secrets", "install", "health")


@dataclass
class Rehearsal:
    name: str
    host: Host  # the inventory's host (how the client reaches it)
    files: HostFiles
    remote_path: str
    values: dict[str, str]  # what the secrets step reads on stdin
    archive: dict[str, str]  # the <h>-files archive: relative path -> text
    rounds: list[dict[str, Run]] = field(default_factory=list)
    failed: str = ""  # the first step that failed (the run stops there, as Pulumi's does)
    before_second: dict[str, tuple] = field(default_factory=dict)
    after_second: dict[str, tuple] = field(default_factory=dict)
    copied: list[dict[str, str]] = field(default_factory=list)  # per round: install dir path -> sha256
    placed: dict[str, bytes] = field(default_factory=dict)  # every file under root and the install dir
    docker_calls: list[str] = field(default_factory=list)

    def ok(self) -> Rehearsal:
        assert not self.failed, self.failed
        assert len(self.rounds) == 2
        return self


def _without_sudo(command: str, host: Host) -> str:
    assert host.sudo == "sudo -n ", "the rehearsal's user is not root: the render runs root's steps through sudo"
    assert command.startswith(host.sudo), command
    return command.removeprefix(host.sudo)


def rehearse(lab: Lab, stack: Stack, name: str, values: dict[str, str], work: Path,
             started: Callable[[], None] | None = None, monitor: int = NATS_MONITOR) -> Rehearsal:
    """The render's four steps for host `name`, twice, over SSH; `started` runs after the first
    install (the machine's services come up there; NATS monitoring on `monitor`)."""
    res = stack.resources
    files, secrets_step, install, health = (res[f"{name}-{step}"] for step in ("files", "secrets", "install", "health"))
    assert files["type"] == "command:remote:CopyToRemote"
    assert {r["type"] for r in (secrets_step, install, health)} == {"command:remote:Command"}
    host = Host.model_validate(stack.inventory["hosts"][name])
    remote_path = files["inputs"]["remotePath"]
    if Path(remote_path).parent != lab.home:
        pytest.skip(f"the render copies to {remote_path}, off {lab.user}'s home {lab.home}; run the tests as root")
    run = Rehearsal(name, host, stack.hosts[name], remote_path, values, files["inputs"]["source"]["archive"])
    local = materialise(run.archive, work / name)
    # remote.CopyToRemote of an asset archive: each entry at remotePath/<entry> (created when missing)
    copy = [f"-mkdir {remote_path}", f"cd {remote_path}", f"lcd {local}",
            *(f"put {'-r ' if (local / top).is_dir() else ''}{top}" for top in sorted(os.listdir(local)))]
    env = 'REACTOR_ROOT="$HOME/root" '
    commands = {
        "secrets": env + _without_sudo(secrets_step["inputs"]["create"], host),
        "install": env + _without_sudo(install["inputs"]["create"], host) + " --stage",
        "health": 'PATH="$HOME/bin:$PATH" ' + env + _without_sudo(health["inputs"]["create"], host),
    }
    stdin = "".join(f"{n} {values[n]}\n" for n in run.files.secrets)
    lab.reset()
    stand_in_docker(lab, monitor)
    for number in (1, 2):
        if number == 2:
            run.before_second = snapshot(lab.root)
        steps: dict[str, Run] = {}
        run.rounds.append(steps)
        steps["copy"] = lab.sftp(host, copy)
        for step in ("secrets", "install", "health"):
            if steps[STEPS[STEPS.index(step) - 1]].returncode != 0:
                break
            if step == "health" and number == 1 and started:
                started()
            steps[step] = lab.ssh(host, commands[step], stdin=stdin if step == "secrets" else "")
        bad = next((s for s, r in steps.items() if r.returncode != 0), None)
        if bad:
            run.failed = f"run {number}, step {bad} ({name}-{bad}) failed: {steps[bad].explain()}"
            return run
        run.copied.append({str(p.relative_to(remote_path)): sha256(p)
                           for p in sorted(Path(remote_path).rglob("*")) if p.is_file()})
    run.after_second = snapshot(lab.root)
    for top in (lab.root, Path(remote_path)):
        run.placed |= {str(p): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}
    calls = lab.home / "docker-calls.log"
    run.docker_calls = calls.read_text().splitlines() if calls.exists() else []
    return run


# --- nats-1 ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nats_run(lab, stack, tmp_path_factory) -> Rehearsal:
    nats = stack.hosts["nats-1"]
    assert nats.services == (Service.NATS,), "nats-1 runs NATS alone"
    monitor = NATS_MONITOR if port_is_free(NATS_MONITOR) else free_port()
    servers: list[subprocess.Popen] = []  # the machine's NATS, started after the first install
    try:
        return rehearse(lab, stack, "nats-1", {}, tmp_path_factory.mktemp("nats-1"),
                        started=lambda: servers.append(start_nats(lab, monitor)), monitor=monitor)
    finally:  # the record is complete: the machine's NATS is no longer needed
        for server in servers:
            stop(server)


# --- app-1 -----------------------------------------------------------------------------------------


def _test_values(names: tuple[str, ...]) -> dict[str, str]:
    """A value for each secret: random, one with spaces, quotes, `$` and a backslash (stdin
    carries any text), the OpenBao token still the placeholder, as on the first `up`."""
    values = {n: f"rehearsal-{n}-{secrets_module.token_urlsafe(18)}" for n in names}
    first = next(n for n in names if n != "openbao-token")
    values[first] = f"rehearsal {secrets_module.token_hex(8)} it's \"$HOME\" \\n `id`"
    if "openbao-token" in values:
        values["openbao-token"] = PLACEHOLDER
    return values


@pytest.fixture(scope="module")
def app_run(lab, stack, tmp_path_factory) -> Rehearsal:
    app = stack.hosts["app-1"]
    assert app.secrets, "app-1 keeps secrets"
    return rehearse(lab, stack, "app-1", _test_values(app.secrets), tmp_path_factory.mktemp("app-1"))


# --- the tests -----------------------------------------------------------------------------------


def test_the_render_holds_the_four_steps_of_a_host_and_the_archive_is_its_files(lab, stack):
    for name in lab.ports:
        files = stack.hosts[name]
        res = stack.resources
        archive = res[f"{name}-files"]["inputs"]["source"]["archive"]
        assert archive == {(f"files{p}" if p.count("/") > 1 else p.lstrip("/")): text
                           for p, (_, text) in files.files.items()}
        assert {"install.sh", "health.sh"} <= set(archive)
        where = res[f"{name}-files"]["inputs"]["remotePath"]
        assert where == f"/home/{lab.user}/reactor-install"
        assert res[f"{name}-install"]["inputs"]["create"].startswith(f"sudo -n sh {where}/install.sh --for={files.digest[:16]}-")
        assert res[f"{name}-health"]["inputs"]["create"] == f"sudo -n sh {where}/health.sh"
        assert res[f"{name}-secrets"]["inputs"]["create"].startswith("sudo -n sh -c '")
        for step in ("files", "secrets", "install", "health"):  # it holds the private key
            assert res[f"{name}-{step}"]["inputs"]["connection"] == "[secret]"
        assert res[f"{name}-secrets"]["inputs"]["stdin"] == "[secret]"


@pytest.mark.parametrize("host", ["nats-1", "app-1"])
def test_every_step_succeeds_over_ssh_twice(host, request):
    run = request.getfixturevalue("nats_run" if host == "nats-1" else "app_run").ok()
    for steps in run.rounds:
        assert list(steps) == list(STEPS)
        assert all(r.returncode == 0 for r in steps.values())
    # the install directory is the archive, entry by entry
    archive = {rel: hashlib.sha256(text.encode()).hexdigest() for rel, text in run.archive.items()}
    assert run.copied == [archive, archive]


def test_nats_host_health_waits_for_the_real_nats_through_the_rendered_probe(nats_run):
    run = nats_run.ok()
    for steps in run.rounds:
        assert steps["health"].stdout == "health.sh: nats healthy\n", steps["health"].explain()
    probe = dict(run.files.health)[Service.NATS]
    call = f"compose -p reactor -f /opt/reactor/compose.yaml exec -T nats {' '.join(probe)}"
    assert run.docker_calls == [call, call]  # once a run: NATS answered the first probe


def test_install_places_each_file_then_a_second_run_changes_nothing(request):
    for run in (request.getfixturevalue("nats_run").ok(), request.getfixturevalue("app_run").ok()):
        placed = sorted(p for p in run.files.files if p.count("/") > 1)
        first, second = run.rounds[0]["install"].stdout, run.rounds[1]["install"].stdout
        # the secrets step marked its new values: install.sh restarts what reads them (not in --stage)
        marked = ["install.sh: secrets changed"] if run.files.secrets else []
        assert first.splitlines() == marked + [f"install.sh: updated {p}" for p in placed] + ["install.sh: staged changes"]
        assert second == "install.sh: staged nothing new\n"
        assert run.rounds[1]["secrets"].output == ""  # no "updated secret"
        changed = {p: (run.before_second.get(p), run.after_second.get(p))
                   for p in run.before_second.keys() | run.after_second.keys()
                   if run.before_second.get(p) != run.after_second.get(p)}
        assert changed == {}, f"{run.name}: the second run changed files under $HOME/root"
        assert run.copied[0] == run.copied[1]


def test_placed_files_and_secrets_have_the_bundles_modes(lab, request):
    for run in (request.getfixturevalue("nats_run").ok(), request.getfixturevalue("app_run").ok()):
        store = SECRETS_STORE
        snap = run.after_second
        for path, (mode, text) in run.files.files.items():
            if path.count("/") > 1:
                assert snap[path][0] == oct(int(mode, 8)), path
                assert run.placed[f"{lab.root}{path}"].decode() == text
        assert snap[store] == ("0o700",)
        kept = sorted(p.rsplit("/", 1)[1] for p in snap if p.startswith(store + "/"))
        assert kept == sorted(run.files.secrets)  # no `.name.new` left behind
        for name in run.files.secrets:
            assert snap[f"{store}/{name}"][0] == "0o600"
            assert run.placed[f"{lab.root}{store}/{name}"].decode() == run.values[name] + "\n"


def test_app_host_writes_every_secret_once_and_its_health_waits_for_no_token(app_run):
    run = app_run.ok()
    assert sorted(run.rounds[0]["secrets"].stdout.splitlines()) == sorted(
        f"updated secret {n}" for n in run.files.secrets)
    for steps in run.rounds:
        assert "reactor-server waits for OpenBao's token" in steps["health"].stdout
    assert run.docker_calls == []


def test_no_secret_value_is_printed_or_placed_outside_the_secrets_store(lab, app_run):
    run = app_run.ok()
    secret = {name: v for name, v in run.values.items() if v != PLACEHOLDER}  # the placeholder is public
    assert len(secret) == len(run.files.secrets) - 1
    store = f"{lab.root}{SECRETS_STORE}/"
    texts = {f"run {i}, step {step} (stdout and stderr)": r.output
             for i, steps in enumerate(run.rounds, 1) for step, r in steps.items()}
    texts["the sshd log"] = lab.sshd_log.read_text()
    texts |= {path: data.decode(errors="replace") for path, data in run.placed.items() if not path.startswith(store)}
    assert len(texts) > 8 + 2 + len(run.files.files)  # every output, both logs' worth, every placed file
    leaks = [(where, name) for where, text in texts.items() for name, v in secret.items() if v in text]
    assert leaks == []
    # where they are: each in its own file of the store (test_placed_files_and_secrets_...)
    assert {path.removeprefix(store) for path in run.placed if path.startswith(store)} == set(run.files.secrets)


def test_the_client_trusts_exactly_the_inventorys_host_key_line(lab, stack):
    kind, blob, _comment = lab.host_key.split(" ", 2)
    host = Host.model_validate(stack.inventory["hosts"]["nats-1"])
    assert host.host_key == f"{kind} {blob}"  # the comment is no identity
    assert host.known_hosts_line() == f"[{LOOPBACK}]:{lab.ports['nats-1']} {kind} {blob}"
    assert lab.known_hosts(host.known_hosts_line()).read_text() == host.known_hosts_line() + "\n"


def _refused(lab: Lab, attempt: Callable[[], Run], marker: Path, why: str) -> Run:
    """Run `attempt`; it must be refused by the client before authentication, running nothing."""
    accepted = lab.sshd_log.read_text().count("Accepted publickey")
    run = attempt()
    assert run.returncode != 0, run.explain()
    assert why in run.stderr, run.explain()
    assert "Host key verification failed" in run.stderr, run.explain()
    assert not marker.exists(), "a refused host ran the command"
    assert lab.sshd_log.read_text().count("Accepted publickey") == accepted, "the client logged in"
    return run


@pytest.mark.parametrize("client", ["ssh", "sftp"])
def test_a_host_showing_another_key_is_refused_and_nothing_runs(lab, stack, client):
    host = Host.model_validate(stack.inventory["hosts"]["nats-1"])
    impostor = Host.model_validate({**stack.inventory["hosts"]["nats-1"], "host_key": lab.other_host_key})
    wrong = lab.known_hosts(impostor.known_hosts_line())
    marker = lab.home / f"marker-{client}-{secrets_module.token_hex(4)}"
    try:
        def attempt(known: Path | None) -> Run:
            if client == "ssh":
                return lab.ssh(host, f"touch {marker}", known_hosts=known)
            return lab.sftp(host, [f"mkdir {marker}"], known_hosts=known)

        refused = _refused(lab, lambda: attempt(wrong), marker, "REMOTE HOST IDENTIFICATION HAS CHANGED")
        assert "man-in-the-middle" in refused.stderr
        # the same command to the host the inventory names runs: the marker does show "nothing ran"
        control = attempt(None)
        assert control.returncode == 0, control.explain()
        assert marker.exists()
    finally:
        if marker.is_dir():
            marker.rmdir()
        elif marker.exists():
            marker.unlink()


def test_a_host_the_known_hosts_file_does_not_name_is_never_trusted_on_first_use(lab, stack):
    host = Host.model_validate(stack.inventory["hosts"]["nats-1"])
    empty = lab.known_hosts("")
    marker = lab.home / f"marker-tofu-{secrets_module.token_hex(4)}"
    _refused(lab, lambda: lab.ssh(host, f"touch {marker}", known_hosts=empty), marker, "No ED25519 host key is known")
    assert empty.read_text() == "", "the client added the host's key"


def test_an_inventory_host_without_host_key_is_refused_with_one_line_naming_it():
    from reactor_infra.errors import SettingsError
    from reactor_infra.render import render

    inv = example(build_plan(parse(TOKEN)))
    del inv["hosts"]["nats-1"]["host_key"]
    settings = load_settings({"extras": {"onprem": inv}})
    problems = deployment_problems(build_plan(parse(TOKEN), settings))
    assert len(problems) == 1, problems
    # the host and the key it lacks: `...hosts.nats-1.host_key: required` or `...hosts.nats-1: host_key is required`
    assert re.match(r"extras\.onprem\.hosts\.nats-1(\.host_key: |: host_key )", problems[0]), problems
    assert "never trusted on first use" in problems[0], problems
    with pytest.raises(SettingsError) as refused:  # the run stops before Pulumi starts
        render(TOKEN, settings)
    assert refused.value.problems == problems
