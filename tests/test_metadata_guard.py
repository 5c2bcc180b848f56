"""The metadata guard, run for real: iptables in network namespaces shaped like a Docker host.

A node lets a container reach the instance role only when a service needs it (OpenBao's KMS
seal), and then only that service: the hop limit rises to 2 and the rendered guard script puts
a chain in Docker's DOCKER-USER hook. Here: a "host" namespace routes between a bridge with two
"containers" (OpenBao at its fixed address, and another service) and a "metadata" namespace that
answers on 169.254.169.254, with DOCKER-USER wired into FORWARD as Docker wires it. The guard is
the script the render holds, run as the node runs it.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
import uuid

import pytest
import yaml
from renders import rendered
from tools import require

from reactor_infra import compose
from reactor_infra.layout import Service

pytestmark = pytest.mark.tools
GUARD = "/usr/local/sbin/reactor-metadata-guard"


def _sh(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", "netns", "exec", ns, *args] if ns else list(args)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=30)


@pytest.fixture
def docker_like_host(tmp_path):
    """Namespaces host (router, DOCKER-USER), c10 (172.30.0.10), c20 (172.30.0.20) and meta
    (169.254.169.254 serving HTTP); yields their names and removes them after."""
    for tool in ("ip", "iptables"):
        require(tool)
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the metadata guard rehearsal needs root (network namespaces); CI runs as root")
        pytest.skip("network namespaces need root")
    tag = uuid.uuid4().hex[:6]
    host, c10, c20, meta = (f"{n}-{tag}" for n in ("host", "c10", "c20", "meta"))
    made: list[str] = []
    server = None
    try:
        for ns in (host, c10, c20, meta):
            _sh("ip", "netns", "add", ns)
            made.append(ns)
            _sh("ip", "link", "set", "lo", "up", ns=ns)
        _sh("ip", "link", "add", "br0", "type", "bridge", ns=host)
        _sh("ip", "addr", "add", f"{compose.NODE_GATEWAY}/24", "dev", "br0", ns=host)
        _sh("ip", "link", "set", "br0", "up", ns=host)
        for ns, address in ((c10, "172.30.0.10"), (c20, "172.30.0.20")):
            _sh("ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"v{ns[:3]}", "netns", host)
            _sh("ip", "link", "set", f"v{ns[:3]}", "master", "br0", "up", ns=host)
            _sh("ip", "addr", "add", f"{address}/24", "dev", "eth0", ns=ns)
            _sh("ip", "link", "set", "eth0", "up", ns=ns)
            _sh("ip", "route", "add", "default", "via", compose.NODE_GATEWAY, ns=ns)
        _sh("ip", "link", "add", "eth0", "netns", meta, "type", "veth", "peer", "name", "vmeta", "netns", host)
        _sh("ip", "addr", "add", "169.254.0.1/16", "dev", "vmeta", ns=host)
        _sh("ip", "link", "set", "vmeta", "up", ns=host)
        _sh("ip", "addr", "add", "169.254.169.254/16", "dev", "eth0", ns=meta)
        _sh("ip", "link", "set", "eth0", "up", ns=meta)
        _sh("ip", "route", "add", "172.30.0.0/24", "via", "169.254.0.1", ns=meta)
        _sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=host)
        _sh("iptables", "-w", "-N", "DOCKER-USER", ns=host)  # as dockerd does at start
        _sh("iptables", "-w", "-A", "FORWARD", "-j", "DOCKER-USER", ns=host)
        server = subprocess.Popen(["ip", "netns", "exec", meta, "python3", "-m", "http.server", "80",
                                   "--bind", "169.254.169.254", "--directory", str(tmp_path)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready = "import socket; socket.create_connection(('169.254.169.254', 80), timeout=1).close()"
        for _ in range(50):
            if _sh("python3", "-c", ready, ns=meta, check=False).returncode == 0:
                break
        else:
            pytest.fail("the stand-in metadata service did not start")
        yield {"host": host, "openbao": c10, "other": c20}
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        for ns in made:
            _sh("ip", "netns", "del", ns, check=False)


def _reaches_metadata(ns: str) -> bool:
    probe = textwrap.dedent("""
        import sys, urllib.error, urllib.request
        try:
            urllib.request.urlopen("http://169.254.169.254/", timeout=3)
        except urllib.error.URLError as err:
            # refused: the guard's REJECT (the fixture saw the server answer before)
            sys.exit(1 if isinstance(err.reason, ConnectionRefusedError) else 2)
    """)
    result = _sh("python3", "-c", probe, ns=ns, check=False)
    assert result.returncode in (0, 1), f"neither reached nor refused: {result.stderr[-200:]}"
    return result.returncode == 0


def _guard_script(token: str) -> str:
    user_data = rendered(token).find("aws:ec2/instance:Instance")[0].inputs["userData"]
    files = {f["path"]: f["content"] for f in yaml.safe_load(user_data)["write_files"]}
    return files[GUARD]


def test_only_openbao_reaches_the_metadata_service_once_the_guard_runs(docker_like_host, tmp_path):
    ns = docker_like_host
    assert _reaches_metadata(ns["other"]), "control: without the guard any container reaches it"
    script = tmp_path / "guard.sh"
    script.write_text(_guard_script("O2@aws"))
    for _ in range(2):  # as the unit would on every boot: the same rules, not twice
        _sh("sh", str(script), ns=ns["host"])
    assert _reaches_metadata(ns["openbao"])
    assert not _reaches_metadata(ns["other"])
    rules = _sh("iptables", "-w", "-S", "DOCKER-USER", ns=ns["host"]).stdout
    assert rules.count("REACTOR-METADATA") == 1


def test_the_guard_allows_exactly_the_services_that_need_the_cloud_identity():
    from tools import node_specs

    from reactor_infra.plan import build_plan
    from reactor_infra.token import parse

    specs = node_specs(build_plan(parse("O2@aws")))
    assert compose.identity_addresses(specs) == {Service.OPENBAO: "172.30.0.10"}
    script = _guard_script("O2@aws")
    assert "-s 172.30.0.10/32 -j RETURN" in script and script.count("-j RETURN") == 1
