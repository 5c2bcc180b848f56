"""An SSH lab on this machine: a real OpenSSH server on free loopback ports, run as a NON-ROOT
user with a freshly generated ed25519 host key, and the clients that reach it as a deployment does.

- the server: `open_lab` creates the lab user (`reactor-rehearsal`, when the tests run as root;
  the current user otherwise), generates the host key (and an impostor's), allows public-key
  login only (no password, no PAM) and starts sshd through `setpriv` (which execs sshd: exactly
  the process it started is ended); one lab at a time on this machine (a lock file);
- the clients: `Lab.ssh` and `Lab.sftp`, OpenSSH with `StrictHostKeyChecking=yes`, `BatchMode=yes`,
  no global file and a `UserKnownHostsFile` holding exactly one line (`Lab.known_hosts`);
- the machine: `stand_in_docker` puts a `docker` first on the remote PATH that plays
  `docker compose ... exec -T SERVICE CMD...` on the machine itself, `start_nats` runs a real
  nats-server from the nats.conf an install placed, `snapshot` and `materialise` read and write
  file trees (modes, mtimes, digests).

Plain helpers and dataclasses; the fixtures and the tests are in tests/test_onprem_ssh.py.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tools import missing, require

from reactor_infra import inventory
from reactor_infra.inventory import Host

LOOPBACK = "127.0.0.1"
LAB_USER = "reactor-rehearsal"
TIMEOUT = 60  # seconds, for every command of the rehearsal
NATS_MONITOR = 8222  # the port the rendered NATS probe calls


# --- ports, programs, the lock ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def program(name: str, package: str, *extra_dirs: str) -> str:
    """The program's path (also in sbin dirs off a user's PATH); skip locally, fail under CI."""
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(extra_dirs))
    if not found:
        missing(f"{name} not installed (apt-get install {package})")
    return found


@contextmanager
def exclusive(path: Path, seconds: float = 120) -> Iterator[None]:
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


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


# --- the lab and its clients -----------------------------------------------------------------------


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


# --- the server: a non-root sshd with a generated host key -----------------------------------------


def ensure_lab_user() -> None:
    """The dedicated user (root only): created once, kept (a later run finds it)."""
    try:
        pwd.getpwnam(LAB_USER)
    except KeyError:
        subprocess.run([program("useradd", "passwd", "/usr/sbin", "/sbin"), "-m", "-s", "/bin/sh", LAB_USER],
                       check=True, capture_output=True, timeout=TIMEOUT)


def keygen(path: Path, comment: str) -> str:
    subprocess.run([require("ssh-keygen"), "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, capture_output=True, timeout=TIMEOUT)
    return path.with_name(path.name + ".pub").read_text().strip()


def wait_for_banner(port: int, server: subprocess.Popen, log: Path, seconds: float = 15) -> None:
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


@contextmanager
def open_lab(client_dir: Path, hosts: Sequence[str]) -> Iterator[Lab]:
    """The lab's sshd, one loopback port for each of `hosts`, until the block ends; then the
    server stopped, the machine reset and the lab's directory removed. `client_dir`: the client's
    own directory (its key, known_hosts files)."""
    sshd = program("sshd", "openssh-server", "/usr/sbin", "/sbin")
    for name, package in (("ssh", "openssh-client"), ("sftp", "openssh-client"),
                          ("ssh-keygen", "openssh-client"), ("wget", "wget")):
        program(name, package)
    require("nats-server")
    as_root = os.geteuid() == 0
    if as_root:
        require("setpriv")
    user = LAB_USER if as_root else pwd.getpwuid(os.getuid()).pw_name
    if not inventory.USER.match(user):
        pytest.skip(f"user {user!r} is not an inventory user name; run the tests as root")
    with exclusive(Path(tempfile.gettempdir()) / f"reactor-infra-onprem-ssh.{user}.lock"):
        if as_root:
            ensure_lab_user()
        entry = pwd.getpwnam(user)
        home = Path(entry.pw_dir)
        lab_dir = Path(tempfile.mkdtemp(prefix="onprem-ssh-", dir="/tmp"))
        lab = Lab(user=user, uid=entry.pw_uid, gid=entry.pw_gid, home=home, as_root=as_root, lab_dir=lab_dir,
                  client_dir=client_dir, client_key=client_dir / "id_ed25519", host_key="", other_host_key="",
                  ports={name: free_port() for name in hosts}, sshd_log=lab_dir / "sshd.log")
        if not as_root:  # the current user's own home: never overwrite what is there
            taken = [p for p in (home / "reactor-install", lab.root, lab.bin / "docker") if p.exists()]
            if taken:
                shutil.rmtree(lab_dir)
                pytest.skip(f"the rehearsal would overwrite {', '.join(map(str, taken))}; run the tests as root")
        server = None
        try:
            lab.own(lab_dir)
            lab_dir.chmod(0o700)
            client_pub = keygen(lab.client_key, "reactor-infra rehearsal client")
            lab.host_key = keygen(lab_dir / "ssh_host_ed25519_key", "rehearsal-host")
            lab.other_host_key = keygen(client_dir / "impostor_host_key", "impostor")
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
                wait_for_banner(port, server, lab.sshd_log)
            yield lab
        finally:
            if server is not None:
                stop(server)
            lab.reset()
            shutil.rmtree(lab_dir, ignore_errors=True)


# --- file trees ------------------------------------------------------------------------------------


def sha256(path: Path) -> str:
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
            out[rel] = (oct(stat.S_IMODE(st.st_mode)), st.st_mtime_ns, sha256(path))
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


# --- the machine's services: a stand-in Docker, a real NATS ----------------------------------------


def stand_in_docker(lab: Lab, monitor: int) -> None:
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


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_nats(lab: Lab, monitor: int) -> subprocess.Popen:
    """The machine's NATS from the nats.conf install.sh placed (a copy: the data in the lab,
    the client port a free loopback one, monitoring where the probe calls it), as the lab user,
    once healthy; the caller stops it (`stop`). Stopped here when it does not become healthy."""
    conf = (lab.root / "opt/reactor/nats.conf").read_text()
    conf, listens = re.subn(r"(?m)^listen: .*$", f"listen: {LOOPBACK}:{free_port()}", conf)
    conf, https = re.subn(r"(?m)^http: 127\.0\.0\.1:8222$", f"http: {LOOPBACK}:{monitor}", conf)
    conf, stores = re.subn(r'store_dir: "[^"]*"', f'store_dir: "{lab.lab_dir / "jetstream"}"', conf)
    assert (listens, https, stores) == (1, 1, 1), conf
    path = lab.lab_dir / "nats.conf"
    path.write_text(conf)
    log = lab.lab_dir / "nats.log"
    lab.own(path)
    with log.open("w") as out:
        server = subprocess.Popen([*lab.as_user(), require("nats-server"), "-c", str(path)],
                                  stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not healthy(f"http://{LOOPBACK}:{monitor}/healthz?js-server-only=true"):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    except BaseException:
        stop(server)
        raise
    return server
