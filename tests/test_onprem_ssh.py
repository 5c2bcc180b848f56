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

import fcntl
import hashlib
import json
import os
import pwd
import re
import secrets as secrets_module
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tools import missing, require

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
LOOPBACK = "127.0.0.1"
LAB_USER = "reactor-rehearsal"
TIMEOUT = 60  # seconds, for every command of the rehearsal
NATS_MONITOR = 8222  # the port the rendered NATS probe calls


# --- the lab: a non-root sshd with a generated host key ------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def _program(name: str, package: str, *extra_dirs: str) -> str:
    """The program's path (also in sbin dirs off a user's PATH); skip locally, fail under CI."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(extra_dirs))
    if not found:
        missing(f"{name} not installed (apt-get install {package})")
    return found


@contextmanager
def _exclusive(path: Path, seconds: float = 120) -> Iterator[None]:
    """One rehearsal at a time on this machine (they share the lab user's home)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.fail(f"another SSH rehearsal holds {path} for more than {seconds:.0f} s")
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass(frozen=True)
class Run:
    """One client command: its exit code and what it printed."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def explain(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


@dataclass
class Lab:
    user: str
    uid: int
    gid: int
    home: Path
    as_root: bool  # the tests run as root: the lab user is a dedicated one
    lab_dir: Path  # the server side: host key, sshd_config, logs (owned by the lab user)
    client_dir: Path  # the client side: its key, known_hosts files (the test's user)
    client_key: Path
    host_key: str  # the host key's public line, as `ssh-keygen` wrote it (with its comment)
    other_host_key: str  # another generated key: what an impostor would show
    ports: dict[str, int]  # inventory host name -> the sshd port it is reached on
    sshd_log: Path
    _known: dict[str, Path] = field(default_factory=dict)

    # the paths of the machine that the rehearsal writes (the scripts' own names)
    @property
    def root(self) -> Path:
        return self.home / "root"

    @property
    def bin(self) -> Path:
        return self.home / "bin"

    def as_user(self) -> list[str]:
        """The prefix that runs a program as the lab user (setpriv execs it: its pid is the program's)."""
        if not self.as_root:
            return []
        return [require("setpriv"), f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups"]

    def own(self, *paths: Path) -> None:
        if self.as_root:
            for p in paths:
                os.chown(p, self.uid, self.gid)

    def reset(self) -> None:
        """The machine as before the first run: no install directory, root, stand-in or log (in
        the current user's own home only what the rehearsal made: it refused to start over more)."""
        for p in (self.home / "reactor-install", self.root, self.bin / "docker", self.home / "docker-calls.log"):
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        if self.bin.is_dir() and (self.as_root or not any(self.bin.iterdir())):
            shutil.rmtree(self.bin)

    def known_hosts(self, line: str) -> Path:
        """A known_hosts file holding exactly `line`."""
        if line not in self._known:
            path = self.client_dir / f"known_hosts.{len(self._known)}"
            path.write_text(line + "\n" if line else "")
            self._known[line] = path
        return self._known[line]

    def client_options(self, known_hosts: Path) -> list[str]:
        return ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", f"UserKnownHostsFile={known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
                "-o", "UpdateHostKeys=no", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                "-o", "ConnectTimeout=10", "-i", str(self.client_key)]

    def _client(self, args: list[str], stdin: str) -> Run:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(self.client_dir)}
        proc = subprocess.run(args, input=stdin, capture_output=True, text=True, env=env, timeout=TIMEOUT, check=False)
        return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def ssh(self, host: Host, command: str, *, stdin: str = "", known_hosts: Path | None = None) -> Run:
        """`command` run on `host` by the lab user's login shell, as remote.Command runs it."""
        known = known_hosts or self.known_hosts(host.known_hosts_line())
        return self._client([require("ssh"), *self.client_options(known), "-p", str(host.port),
                             f"{host.user}@{host.address}", command], stdin)

    def sftp(self, host: Host, batch: list[str], *, known_hosts: Path | None = None) -> Run:
        known = known_hosts or self.known_hosts(host.known_hosts_line())
        batch_file = self.client_dir / f"batch.{time.monotonic_ns()}"
        batch_file.write_text("".join(line + "\n" for line in batch))
        return self._client([require("sftp"), *self.client_options(known), "-P", str(host.port), "-b",
                             str(batch_file), f"{host.user}@{host.address}"], "")


def _ensure_lab_user() -> None:
    """The dedicated user (root only): created once, kept (a later run finds it)."""
    try:
        pwd.getpwnam(LAB_USER)
    except KeyError:
        subprocess.run([_program("useradd", "passwd", "/usr/sbin", "/sbin"), "-m", "-s", "/bin/sh", LAB_USER],
                       check=True, capture_output=True, timeout=TIMEOUT)


def _keygen(path: Path, comment: str) -> str:
    subprocess.run([require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, timeout=TIMEOUT)
    return path.with_name(path.name + ".pub").read_text().strip()


def _wait_for_banner(port: int, server: subprocess.Popen, log: Path, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"sshd exited ({server.returncode}):\n{log.read_text()}")
        try:
            with socket.create_connection((LOOPBACK, port), timeout=2) as conn:
                if conn.recv(64).startswith(b"SSH-2.0-"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"sshd does not answer on {LOOPBACK}:{port}:\n{log.read_text()}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    sshd = _program("sshd", "openssh-server", "/usr/sbin", "/sbin")
    for program, package in (("ssh", "openssh-client"), ("sftp", "openssh-client"),
                             ("ssh-keygen", "openssh-client"), ("wget", "wget")):
        _program(program, package)
    require("nats-server")
    as_root = os.geteuid() == 0
    if as_root:
        require("setpriv")
    user = LAB_USER if as_root else pwd.getpwuid(os.getuid()).pw_name
    if not inventory.USER.match(user):
        pytest.skip(f"user {user!r} is not an inventory user name; run the tests as root")
    with _exclusive(Path(tempfile.gettempdir()) / f"reactor-infra-onprem-ssh.{user}.lock"):
        if as_root:
            _ensure_lab_user()
        entry = pwd.getpwnam(user)
        home = Path(entry.pw_dir)
        client_dir = tmp_path_factory.mktemp("ssh-client")
        lab_dir = Path(tempfile.mkdtemp(prefix="onprem-ssh-", dir="/tmp"))
        lab = Lab(user=user, uid=entry.pw_uid, gid=entry.pw_gid, home=home, as_root=as_root, lab_dir=lab_dir,
                  client_dir=client_dir, client_key=client_dir / "id_ed25519", host_key="", other_host_key="",
                  ports={"nats-1": _free_port(), "app-1": _free_port()}, sshd_log=lab_dir / "sshd.log")
        if not as_root:  # the current user's own home: never overwrite what is there
            taken = [p for p in (home / "reactor-install", lab.root, lab.bin / "docker") if p.exists()]
            if taken:
                shutil.rmtree(lab_dir)
                pytest.skip(f"the rehearsal would overwrite {', '.join(map(str, taken))}; run the tests as root")
        server = None
        try:
            lab.own(lab_dir)
            lab_dir.chmod(0o700)
            client_pub = _keygen(lab.client_key, "reactor-infra rehearsal client")
            lab.host_key = _keygen(lab_dir / "ssh_host_ed25519_key", "rehearsal-host")
            lab.other_host_key = _keygen(client_dir / "impostor_host_key", "impostor")
            (lab_dir / "authorized_keys").write_text(client_pub + "\n")
            (lab_dir / "sshd_config").write_text("".join(f"{line}\n" for line in [
                *(f"ListenAddress {LOOPBACK}:{port}" for port in lab.ports.values()),
                f"HostKey {lab_dir / 'ssh_host_ed25519_key'}",
                f"PidFile {lab_dir / 'sshd.pid'}",
                f"AuthorizedKeysFile {lab_dir / 'authorized_keys'}",
                f"AllowUsers {user}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",  # the lab's files live in /tmp, not the user's ~/.ssh
                "PermitRootLogin no",
                "PrintMotd no",
                "Subsystem sftp internal-sftp",
            ]))
            lab.own(*lab_dir.iterdir())
            lab.reset()
            with lab.sshd_log.open("w") as log:
                lab.own(lab.sshd_log)
                server = subprocess.Popen([*lab.as_user(), sshd, "-D", "-e", "-f", str(lab_dir / "sshd_config")],
                                          stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
            for port in lab.ports.values():
                _wait_for_banner(port, server, lab.sshd_log)
            yield lab
        finally:
            if server is not None:
                _stop(server)
            lab.reset()
            shutil.rmtree(lab_dir, ignore_errors=True)


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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(top: Path) -> dict[str, tuple]:
    """path -> (mode, mtime_ns, sha256) of each file below `top`, (mode,) of each directory
    (a directory's mtime moves with a temporary file made and removed in it, which is no change)."""
    out: dict[str, tuple] = {}
    for path in sorted(top.rglob("*")):
        st = path.lstat()
        rel = "/" + str(path.relative_to(top))
        if stat.S_ISDIR(st.st_mode):
            out[rel] = (oct(stat.S_IMODE(st.st_mode)),)
        else:
            out[rel] = (oct(stat.S_IMODE(st.st_mode)), st.st_mtime_ns, _sha256(path))
    return out


def materialise(archive: dict[str, str], where: Path) -> Path:
    """The `<h>-files` archive as a local directory: its assets carry no mode, so files are 0644
    (pulumi-command's SFTP creates them so too)."""
    for rel, text in archive.items():
        path = where / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(0o644)
    return where


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
    _stand_in_docker(lab, monitor)
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
        run.copied.append({str(p.relative_to(remote_path)): _sha256(p)
                           for p in sorted(Path(remote_path).rglob("*")) if p.is_file()})
    run.after_second = snapshot(lab.root)
    for top in (lab.root, Path(remote_path)):
        run.placed |= {str(p): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}
    calls = lab.home / "docker-calls.log"
    run.docker_calls = calls.read_text().splitlines() if calls.exists() else []
    return run


def _stand_in_docker(lab: Lab, monitor: int) -> None:
    """`docker` first on the remote PATH: `docker compose [-p P] [-f F] exec -T SERVICE CMD...`
    runs CMD on the machine itself (what the service's container would run), the probe's
    monitoring port moved when the lab's NATS could not have 8222."""
    remap = "" if monitor == NATS_MONITOR else (
        f"for word do shift; set -- \"$@\" \"$(printf '%s' \"$word\" | "
        f"sed 's#//127.0.0.1:{NATS_MONITOR}/#//127.0.0.1:{monitor}/#')\"; done\n")
    lab.bin.mkdir(exist_ok=True)
    script = lab.bin / "docker"
    script.write_text(
        "#!/bin/sh\n"
        "# the rehearsal's stand-in for Docker: plays `docker compose ... exec -T SERVICE CMD...`\n"
        'printf \'%s\\n\' "$*" >> "$HOME/docker-calls.log"\n'
        '[ "${1:-}" = compose ] || { echo "stand-in docker: only compose exec is played" >&2; exit 2; }\n'
        "shift\n"
        'while [ $# -gt 0 ]; do\n'
        '  case "$1" in -p|-f) shift 2 ;; exec) shift; break ;; *) echo "stand-in docker: $1?" >&2; exit 2 ;; esac\n'
        "done\n"
        '[ "${1:-}" = -T ] && shift\n'
        "shift  # the service: its container is this machine\n"
        + remap +
        'exec "$@"\n')
    script.chmod(0o755)
    lab.own(lab.bin, script)


# --- nats-1 ----------------------------------------------------------------------------------------


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


@pytest.fixture(scope="module")
def nats_run(lab, stack, tmp_path_factory) -> Rehearsal:
    nats = stack.hosts["nats-1"]
    assert nats.services == (Service.NATS,), "nats-1 runs NATS alone"
    monitor = NATS_MONITOR if _port_is_free(NATS_MONITOR) else _free_port()
    servers: list[subprocess.Popen] = []

    def start_nats() -> None:
        """The machine's NATS from the nats.conf install.sh placed (a copy: the data in the lab,
        the client port a free loopback one, monitoring where the probe calls it)."""
        conf = (lab.root / "opt/reactor/nats.conf").read_text()
        conf, listens = re.subn(r"(?m)^listen: .*$", f"listen: {LOOPBACK}:{_free_port()}", conf)
        conf, https = re.subn(r"(?m)^http: 127\.0\.0\.1:8222$", f"http: {LOOPBACK}:{monitor}", conf)
        conf, stores = re.subn(r'store_dir: "[^"]*"', f'store_dir: "{lab.lab_dir / "jetstream"}"', conf)
        assert (listens, https, stores) == (1, 1, 1), conf
        path = lab.lab_dir / "nats.conf"
        path.write_text(conf)
        log = lab.lab_dir / "nats.log"
        lab.own(path)
        with log.open("w") as out:
            servers.append(subprocess.Popen([*lab.as_user(), require("nats-server"), "-c", str(path)],
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 15
        while not _healthy(f"http://{LOOPBACK}:{monitor}/healthz?js-server-only=true"):
            assert servers[0].poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)

    try:
        return rehearse(lab, stack, "nats-1", {}, tmp_path_factory.mktemp("nats-1"), started=start_nats,
                        monitor=monitor)
    finally:  # the record is complete: the machine's NATS is no longer needed
        for server in servers:
            _stop(server)


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
        assert res[f"{name}-install"]["inputs"]["create"] == f"sudo -n sh {where}/install.sh"
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
        assert first.splitlines() == [f"install.sh: updated {p}" for p in placed] + ["install.sh: staged changes"]
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
