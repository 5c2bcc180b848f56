"""The edge as it runs: a real Caddy with our rendered Caddyfile, in a network namespace of its own,
and beside it (another namespace, joined by a veth pair like two containers on one network) stand-ins
for reactor-server and gateway-server. Also the JSON gateway-server would POST to Caddy's /load,
rebuilt from its source, so that a real Caddy can be fed exactly that.

Source of the gateway shapes: reactor-cloud/reactor-cloud at commit 4747219 (the v1 runtime);
`file:line` below are under crates/ there.

Used by tests/test_edge_gateway.py; reusable for any test that needs a live edge.
"""

from __future__ import annotations

import ctypes
import http.client
import http.server
import itertools
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tools import caddy_version, missing

# --- what gateway-server POSTs to Caddy ----------------------------------------------------------

# reactor-gateway-server/src/main.rs:37-69: the clap defaults of the variables it reads
GATEWAY_DEFAULTS = {
    "CADDY_ADMIN_ADDR": "http://localhost:2019",
    "DEFAULT_BACKEND": "reactor-cloud.internal:8000",
    "WILDCARD_DOMAIN": "*.reactor.cloud",
    "ACME_EMAIL": "admin@reactor.cloud",
}
# main.rs:358-364: the route a verified custom domain gets dials this, whatever the request said
VERIFIED_DOMAIN_BACKEND = "reactor-cloud.internal:8000"
# caddy_admin.rs:423: hard-coded, not configurable
ASK_URL = "http://localhost:9000/ask"
STAGING_CA = "https://acme-staging-v02.api.letsencrypt.org/directory"


@dataclass(frozen=True)
class RouteRow:
    """An enabled row of reactor_gateway.routes as the sync reads it (store/pg.rs:76-92)."""

    host: str
    project_ref: str  # 20 chars [a-z0-9] (reactor-core/src/project.rs:184-196)
    backend_target: str  # host:port, the Caddy `dial`


def gateway_config(env: Mapping[str, str], routes: Sequence[RouteRow]) -> dict[str, Any]:
    """The config `CaddyConfigBuilder::build` makes (reactor-gateway/src/caddy_admin.rs:213-477)
    for gateway-server's environment `env` and the enabled routes, in iteration order.

    The real order of `routes` is a HashMap's (routing.rs:267-305), random per process; the
    default-backend route is always last. `with_rate_limit` is never called by main.rs, so no
    rate_limit handler appears (caddy_admin.rs:340-351)."""
    env = {**GATEWAY_DEFAULTS, **env}
    email = env["ACME_EMAIL"]

    def proxy(row: RouteRow) -> dict[str, Any]:  # caddy_admin.rs:392-417
        return {"handler": "reverse_proxy", "upstreams": [{"dial": row.backend_target}],
                "headers": {"request": {"set": {"X-Forwarded-Proto": ["https"],
                                                "X-Real-IP": ["{http.request.remote.host}"],
                                                "X-Reactor-Project": [row.project_ref]}}},
                "transport": {"protocol": "http", "tls": {}}}

    https_routes = [{"match": [{"host": [row.host]}], "handle": [proxy(row)], "terminal": True}  # :312-315,337-366
                    for row in routes]
    # main.rs:112 always sets the default backend: the catch-all route always exists (:318-331)
    https_routes.append({"match": [{"host": ["*"]}],
                         "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": env["DEFAULT_BACKEND"]}]}],
                         "terminal": True})
    policies: list[dict[str, Any]] = []
    if env.get("CF_API_TOKEN"):  # :433-449
        wildcard = env["WILDCARD_DOMAIN"]
        policies.append({"subjects": [wildcard, wildcard.removeprefix("*.")],
                         "issuers": [{"module": "acme", "email": email, "challenges": {"dns": {"provider": {
                             "name": "cloudflare", "api_token": env["CF_API_TOKEN"]}}}}]})
    policies.append({"on_demand": True, "issuers": [{"module": "acme", "email": email}]})  # :452-458
    if env.get("ACME_STAGING", "").lower() in ("1", "true"):  # :460-470
        for policy in policies:
            for issuer in policy["issuers"]:
                issuer["ca"] = STAGING_CA
    return {
        "admin": {"listen": "localhost:2019", "enforce_origin": False},  # :226-229
        "logging": {"logs": {"default": {"level": "INFO", "encoder": {"format": "json"}}}},  # :230-239
        "apps": {
            "http": {"servers": {
                "https": {"listen": [":443"], "routes": https_routes,  # :268-274
                          "automatic_https": {"disable": False}},
                "http": {"listen": [":80"], "routes": [{  # :277-291
                    "match": [{"host": ["*"]}],
                    "handle": [{"handler": "static_response", "status_code": "301",
                                "headers": {"Location": ["https://{http.request.host}{http.request.uri}"]}}]}]},
            }},
            "tls": {"automation": {
                "on_demand": {"ask": ASK_URL, "interval": "2m", "burst": 5},  # :422-426
                "policies": policies}},
        },
    }


def serde_json_body(value: Any) -> bytes:
    """The bytes reqwest sends for `.json(&value)`: serde_json::to_vec, compact. serde_json is
    built without `preserve_order` (Cargo.lock: its dependencies have no indexmap), so a
    `Value` object is a BTreeMap and its keys come out sorted."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def load_url(admin_addr: str) -> str:
    """The URL gateway-server POSTs to: main.rs:110 parses CADDY_ADMIN_ADDR as a `url::Url`, whose
    text always has a path (at least `/`), then caddy_admin.rs:152 appends `/load`."""
    parts = urllib.parse.urlsplit(admin_addr)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, "")) + "/load"


# --- Caddy ----------------------------------------------------------------------------------------


def caddy_env(home: Path) -> dict[str, str]:
    """Caddy's storage (certificates, its local CA) and autosave inside `home`, never the user's."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"), "XDG_CONFIG_HOME": str(home / "config")}


# --- network namespaces --------------------------------------------------------------------------

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_names = itertools.count()


def _setns(fd: int) -> None:
    if hasattr(os, "setns"):  # Python >= 3.12
        os.setns(fd, _CLONE_NEWNET)
    elif _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


def require_netns() -> None:
    """Skip unless this machine can make network namespaces: root with CAP_SYS_ADMIN (a non-root
    user or an unprivileged container cannot, and skips even under CI). Where it can, the tools
    must be there: under CI a missing `ip` (iproute2) fails instead of skipping. CI on this
    project's machines runs as root, so there these tests always run."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not shutil.which("unshare"):
        missing("unshare not installed (apt-get install util-linux)")
    probe = subprocess.run(["unshare", "--net", "true"], capture_output=True, text=True, check=False)
    if probe.returncode:
        pytest.skip(f"this machine cannot make network namespaces: {probe.stderr.strip()}")
    if not shutil.which("ip"):
        missing("ip not installed (apt-get install iproute2)")


class Netns:
    """A named network namespace (`ip netns`), its loopback up. `/etc/netns/<name>/hosts` is what
    programs started with `popen` see as /etc/hosts (ip netns exec bind-mounts it)."""

    def __init__(self, role: str) -> None:
        self.name = f"r7d-{role}-{os.getpid()}-{next(_names)}"
        _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")

    @property
    def path(self) -> str:
        return f"/run/netns/{self.name}"

    def write_hosts(self, names: Mapping[str, str]) -> None:
        etc = Path("/etc/netns") / self.name
        etc.mkdir(parents=True, exist_ok=True)
        lines = ["127.0.0.1 localhost", "::1 localhost"] + [f"{ip} {name}" for name, ip in names.items()]
        (etc / "hosts").write_text("\n".join(lines) + "\n", encoding="utf-8")

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(*args)` in a thread that has joined this namespace: every socket it opens is here.
        (setns on a network namespace moves the calling thread only.)"""
        box: dict[str, Any] = {}

        def run() -> None:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
            try:
                box["value"] = fn(*args, **kwargs)
            except BaseException as err:  # noqa: BLE001 - re-raised in the caller
                box["error"] = err

        thread = threading.Thread(target=run, name=f"in-{self.name}")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kwargs)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
        shutil.rmtree(Path("/etc/netns") / self.name, ignore_errors=True)


def veth(a: Netns, addr_a: str, b: Netns, addr_b: str) -> None:
    """Join two namespaces by a veth pair: `addr_a`/`addr_b` are `10.x.y.z/24`."""
    n = next(_names)
    end_a, end_b = f"r7a{os.getpid()}x{n}"[:15], f"r7b{os.getpid()}x{n}"[:15]
    _ip("link", "add", end_a, "netns", a.name, "type", "veth", "peer", "name", end_b, "netns", b.name)
    for ns, end, addr in ((a, end_a, addr_a), (b, end_b, addr_b)):
        _ip("-n", ns.name, "addr", "add", addr, "dev", end)
        _ip("-n", ns.name, "link", "set", end, "up")


# --- stand-ins ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request a stand-in received."""

    method: str
    host: str
    path: str  # the request target exactly as it arrived
    headers: dict[str, str]


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def _serve(ns: Netns, port: int, handler: type[http.server.BaseHTTPRequestHandler]) -> _Server:
    server = ns.call(_Server, ("0.0.0.0", port), handler)  # bound inside the namespace
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class StubReactor:
    """reactor-server's stand-in: plain HTTP, answers 200 with what it saw (Host, path) as JSON,
    and keeps every request."""

    def __init__(self, ns: Netns, port: int) -> None:
        self.seen: list[Seen] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen = Seen(self.command, self.headers.get("Host", ""), self.path, dict(self.headers.items()))
                stub.seen.append(seen)
                body = json.dumps({"stub": "reactor-server", "host": seen.host, "path": seen.path,
                                   "x_forwarded_proto": self.headers.get("X-Forwarded-Proto")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _serve(ns, port, Handler)

    def paths(self, exclude_health_checks: bool = True) -> list[str]:
        """Paths received, without Caddy's own active health checks (`GET /health`, no client)."""
        return [s.path for s in self.seen
                if not (exclude_health_checks and s.path == "/health" and "X-Lab-Client" not in s.headers)]


class StubGateway:
    """gateway-server's /ask as main.rs:191-211 answers it: 200 for an approved (there: verified
    custom) domain, 404 for any other. `approved` may change while it runs."""

    def __init__(self, ns: Netns, port: int, approved: Sequence[str] = ()) -> None:
        self.approved: set[str] = set(approved)
        self.asked: list[tuple[str, int]] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                domain = urllib.parse.parse_qs(url.query).get("domain", [""])[0]
                status = 200 if url.path == "/ask" and domain in stub.approved else 404
                if url.path == "/ask":
                    stub.asked.append((domain, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = _serve(ns, port, Handler)


# --- HTTP from inside a namespace -----------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _exchange(conn: http.client.HTTPConnection, method: str, target: str, body: bytes | None,
              headers: Mapping[str, str]) -> Reply:
    try:
        conn.request(method, target, body=body, headers=dict(headers))
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


def http_request(addr: str, port: int, method: str, target: str, *, host: str | None = None,
                 body: bytes | None = None, headers: Mapping[str, str] | None = None,
                 timeout: float = 5) -> Reply:
    """One plain HTTP request, the target sent verbatim (call it inside a namespace)."""
    conn = http.client.HTTPConnection(addr, port, timeout=timeout)
    extra = {"Host": host} if host else {}
    return _exchange(conn, method, target, body, {**extra, **(headers or {})})


def https_request(addr: str, port: int, host: str, target: str, *, cafile: Path, method: str = "GET",
                  timeout: float = 5) -> Reply:
    """One HTTPS request to `addr:port` with SNI and Host `host`, the certificate verified against
    `cafile` for `host`; the target is sent verbatim."""
    context = ssl.create_default_context(cafile=str(cafile))
    raw = socket.create_connection((addr, port), timeout=timeout)
    try:
        sock = context.wrap_socket(raw, server_hostname=host)
    except BaseException:
        raw.close()
        raise
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    conn.sock = sock
    return _exchange(conn, method, target, None, {"Host": host, "X-Lab-Client": "1"})


# --- the lab ----------------------------------------------------------------------------------

# Caddy's namespace ("the caddy container") and the other side ("the network": reactor-server,
# gateway-server, clients), one veth pair between them.
CADDY_ADDR, SIDE_ADDR = "10.77.0.1", "10.77.0.2"
TEST_ONLY_OPTIONS = ("local_certs", "skip_install_trust")


_DNS_LINE = re.compile(r"^(\s*)dns\s+\S+[^{\n]*$", re.MULTILINE)


def lab_caddyfile(rendered: str) -> str:
    """The rendered Caddyfile with only these changes, for the test:
    - two global options: `local_certs` (every certificate, on-demand ones included, from Caddy's
      internal CA: no ACME call) and `skip_install_trust` (its root stays out of this machine's
      trust store);
    - a DNS-01 challenge line in a `tls` block (`dns <provider>`, a wildcard site's) becomes
      `issuer internal`: no DNS provider is called, and no stock Caddy has its module.
    Listen ports and the admin address are untouched: Caddy has a network namespace of its own."""
    lines = rendered.split("\n")
    top = next((i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), None)
    if top is None or lines[top].strip() != "{":
        raise ValueError("no global options block at the top of the Caddyfile")
    lines[top + 1:top + 1] = [f"\t{opt}" for opt in TEST_ONLY_OPTIONS]
    text = "\n".join(lines)
    if re.search(r"^\s*dns\s+\S+.*\{\s*$", text, re.MULTILINE):
        raise ValueError("a dns block with options: replace it by hand for the test")
    return _DNS_LINE.sub(r"\1issuer internal", text)


@dataclass
class Edge:
    """A running lab. `caddy_ns` holds Caddy only; `side_ns` holds the stand-ins and the clients."""

    caddy_ns: Netns
    side_ns: Netns
    reactor: StubReactor
    gateway: StubGateway
    home: Path
    log_path: Path
    process: subprocess.Popen
    version: str

    @property
    def cafile(self) -> Path:
        return self.home / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def https(self, host: str, target: str, **kwargs: Any) -> Reply:
        """A client on the network: HTTPS to Caddy's :443 for `host`.

        Caddy's internal CA does not backdate: a certificate issued during this very handshake has
        notBefore = the current second, while OpenSSL reads the clock with time(), the kernel's
        coarse clock, which may still be in the previous second for a few milliseconds. Such a
        certificate is "not yet valid" for that instant only, so that one error is retried."""
        for _ in range(10):
            try:
                return self.side_ns.call(https_request, CADDY_ADDR, 443, host, target, cafile=self.cafile, **kwargs)
            except ssl.SSLCertVerificationError as err:
                if "not yet valid" not in str(err):
                    raise
                time.sleep(0.1)
        raise AssertionError(f"the certificate for {host} stayed not yet valid for a second")

    def http(self, host: str, target: str, **kwargs: Any) -> Reply:
        """A client on the network: plain HTTP to Caddy's :80 for `host`."""
        return self.side_ns.call(http_request, CADDY_ADDR, 80, "GET", target, host=host,
                                 headers={"X-Lab-Client": "1"}, **kwargs)

    def admin(self, method: str, target: str, body: bytes | None = None,
              headers: Mapping[str, str] | None = None) -> Reply:
        """Caddy's admin API from Caddy's own namespace, at localhost:2019."""
        return self.caddy_ns.call(http_request, "localhost", 2019, method, target, body=body,
                                  host="localhost:2019", headers=headers)

    def config(self) -> bytes:
        reply = self.admin("GET", "/config/")
        assert reply.status == 200, reply
        return reply.body

    def post_from_side(self, url: str, body: bytes) -> Reply:
        """POST `body` to `url` as gateway-server does (reqwest `.json()`), from its namespace."""
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.side_ns.call(http_request, parts.hostname, parts.port or 80, "POST", target,
                                 body=body, host=parts.netloc,
                                 headers={"Content-Type": "application/json", "Accept": "*/*"})


def _wait(what: str, check: Callable[[], bool], edge_log: Callable[[], str], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, ssl.SSLError, http.client.HTTPException) as err:
            last = err
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen ({last!r}); Caddy log:\n{edge_log()[-4000:]}")


def serves_https(host: str, target: str = "/health") -> Callable[[Edge], bool]:
    """Ready when Caddy answers `host` over HTTPS with a certificate from its CA, 200."""
    return lambda edge: edge.cafile.exists() and edge.https(host, target).status == 200


def admin_answers(edge: Edge) -> bool:
    """Ready when Caddy's admin API answers in its namespace."""
    return edge.admin("GET", "/config/").status == 200


@contextmanager
def edge_lab(caddy: str, workdir: Path, *, names: Sequence[str], ready: Callable[[Edge], bool],
             caddyfile: str | None = None, json_config: Mapping[str, Any] | None = None,
             reactor_port: int = 8000, gateway_port: int = 9000, approved: Sequence[str] = ()) -> Iterator[Edge]:
    """Start the lab and yield it once `ready(edge)`; tear it all down after (processes, namespaces,
    /etc/netns files). Caddy runs `caddyfile` (through `lab_caddyfile`) or `json_config` as is.
    `names` are the names Caddy dials: they resolve to the other side, where the stand-ins for
    reactor-server (`reactor_port`) and gateway-server (`gateway_port`, approving `approved`) listen."""
    if (caddyfile is None) == (json_config is None):
        raise ValueError("give a caddyfile or a json_config")
    require_netns()
    cleanups: list[Callable[[], None]] = []
    try:
        caddy_ns = Netns("caddy")
        cleanups.append(caddy_ns.delete)
        side_ns = Netns("side")
        cleanups.append(side_ns.delete)
        veth(caddy_ns, f"{CADDY_ADDR}/24", side_ns, f"{SIDE_ADDR}/24")
        caddy_ns.write_hosts({name: SIDE_ADDR for name in names})
        # the stand-ins first: Caddy health-checks its upstream as it starts
        reactor = StubReactor(side_ns, reactor_port)
        cleanups += [reactor.server.server_close, reactor.server.shutdown]
        gateway = StubGateway(side_ns, gateway_port, approved)
        cleanups += [gateway.server.server_close, gateway.server.shutdown]
        home = workdir / "caddy-home"
        home.mkdir(parents=True, exist_ok=True)
        if caddyfile is not None:
            config = workdir / "Caddyfile"
            config.write_text(lab_caddyfile(caddyfile), encoding="utf-8")
            args = ["run", "--config", str(config), "--adapter", "caddyfile"]
        else:
            config = workdir / "caddy.json"
            config.write_text(json.dumps(json_config), encoding="utf-8")
            args = ["run", "--config", str(config)]
        log_path = workdir / "caddy.log"
        log = log_path.open("wb")
        process = caddy_ns.popen([caddy, *args], cwd=workdir, env=caddy_env(home),
                                 stdout=log, stderr=subprocess.STDOUT)

        def stop() -> None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
            log.close()

        cleanups.append(stop)
        edge = Edge(caddy_ns, side_ns, reactor, gateway, home, log_path, process, caddy_version(caddy))

        def started() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"Caddy exited ({process.returncode}):\n{edge.log()[-4000:]}")
            return ready(edge)

        _wait("Caddy ready", started, edge.log)
        yield edge
    finally:
        for cleanup in reversed(cleanups):
            cleanup()
