"""The configs of the bundle's stateful services (the bundles of every @onprem and @local token,
built once per process by bundlekit), each booted by the real server that reads it.

What holds:
- openbao.hcl: a real `bao server` (loopback ports, raft in a temporary directory) starts from it
  and answers /v1/sys/health and the compose health check. OpenBao configs that differ only in
  names and addresses boot once.
- The database host's roles script (reactor-roles.sh) runs through the postgres image's
  first-boot steps on PostgreSQL 16 (the image runs it once, on an empty data directory: a
  restart keeps the roles), and every database URL the bundle's hosts are given logs in; the
  managed roles step (reactor-server-db-roles.stdin: psql on stdin, as the app host's compose
  runs it) runs twice, after which every database URL logs in. Scripts that differ only in
  comment lines run once.
Secret values are read from the bundle and compared in memory; no assertion message shows one.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from bundlekit import (PLACEHOLDER, Built, File, Host, check_each, database_urls, every_bundle, failed_logins,
                       named, new_password, operators_copy, pg_cluster, pg_lab, service_env, uncommented)
from test_openbao_real import LOOPBACK, Node, _free_port, bao_path
from test_postgres_real import psql_bin, run_init_script
from tools import write

from reactor_infra import postgres_init as pi


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Built]:
    return every_bundle(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def pg_work() -> Iterator[Path]:
    """The PostgreSQL lab (bundlekit.pg_lab) for this module's servers."""
    with pg_lab() as root:
        yield root


# --- OpenBao --------------------------------------------------------------------------------------


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0


def openbao_problem(payload: tuple[Host, str]) -> str:
    """A real `bao server` on the host's openbao.hcl: its raft directory the one the compose
    volume is mounted on (here a temporary directory), its listeners on free loopback ports.
    It must start, answer /v1/sys/health (501: not initialised) and the container's health
    check (the compose healthcheck's URL, which passes while uninitialised)."""
    host, hcl = payload
    service = host.compose["services"]["openbao"]
    mounts = {v.split(":")[1] for v in service.get("volumes", []) if not v.startswith("./")}
    raft = re.search(r'storage "raft" \{[^}]*?path\s*=\s*"([^"]+)"', hcl, re.S)
    if not raft or raft.group(1) not in mounts:
        return f"the raft path {raft and raft.group(1)!r} is on no volume of the container ({sorted(mounts)})"
    (check,) = [w for w in service["healthcheck"]["test"] if w.startswith("http")]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        api, cluster = _free_port(), _free_port()
        text = hcl.replace(f'"{raft.group(1)}"', f'"{root / "data"}"')
        text = re.sub(r'(?m)^(\s*address\s*=\s*)"[^"]*:8200"', rf'\1"{LOOPBACK}:{api}"', text)
        text = re.sub(r'(?m)^(\s*cluster_address\s*=\s*)"[^"]*:8201"', rf'\1"{LOOPBACK}:{cluster}"', text)
        text = re.sub(r'(?m)^api_addr(\s*)=\s*"[^"]*"', f'api_addr = "http://{LOOPBACK}:{api}"', text)
        text = re.sub(r'(?m)^cluster_addr(\s*)=\s*"[^"]*"', f'cluster_addr = "https://{LOOPBACK}:{cluster}"',
                      text)
        config = write(root, "openbao.hcl", text)
        node = Node(bao_path(), config, {"PATH": "/usr/bin:/bin", "HOME": str(root), "LANG": "C.UTF-8"})
        try:
            if not node.wait_started():
                return f"bao server did not start:\n{node.tail()}"
            health = _status(f"http://{LOOPBACK}:{api}/v1/sys/health")
            container = _status(re.sub(r"//(127\.0\.0\.1|localhost):8200/", f"//{LOOPBACK}:{api}/", check))
            if (health, container) != (501, 200):
                return f"/v1/sys/health {health} (want 501), the compose check {container} (want 200)"
        finally:
            node.stop()
    return ""


def openbao_shape(text: str) -> str:
    """What differs between two openbao.hcl besides names and addresses."""
    return re.sub(r'(?m)^(\s*(node_id|api_addr|cluster_addr|cluster_name|leader_api_addr)\s*=\s*)"[^"]*"',
                  r'\1"X"', uncommented(text))


@pytest.mark.tools
def test_openbao_starts_from_every_openbao_hcl_and_answers_its_health_checks(bundles):
    bao_path()
    files = named(bundles, "openbao.hcl")
    problems = check_each(((str(f), openbao_shape(f.text()), (f.host, f.text())) for f in files), openbao_problem,
                          workers=1)
    assert not problems, "\n".join(problems)


# --- Postgres -------------------------------------------------------------------------------------


def _firsts(files: list[File]) -> list[File]:
    """One file per distinct body (comment lines aside), the first bundle's."""
    seen: dict[str, File] = {}
    for f in files:
        seen.setdefault(re.sub(r"(?m)^[ \t]*(#|--).*\n", "", f.text()), f)
    return list(seen.values())


@pytest.mark.tools
def test_the_database_hosts_first_boot_makes_the_roles_every_database_url_logs_in_as(bundles, pg_work):
    """The postgres service of the database host's compose, started as its image starts: initdb
    with POSTGRES_USER and POSTGRES_PASSWORD (the env file the host's fetch step writes), the
    bundled reactor-roles.sh run from /docker-entrypoint-initdb.d (sourced: it is not executable)
    beside a socket-only server, then the real server. Every database URL of every host of the
    bundle logs in; a restart (the image never runs initdb.d again) keeps them all."""
    problems = []
    for i, f in enumerate(_firsts(named(bundles, "reactor-roles.sh"))):
        host = f.host
        service = host.compose["services"]["postgres"]
        assert f"./{f.name}:{pi.INIT_DIR}/{f.name}:ro" in service["volumes"], str(f)
        env = service_env(host, "postgres")
        c = pg_cluster(pg_work, f"image-{i}", f.built.token)
        c.initdb(env["POSTGRES_USER"], env["POSTGRES_PASSWORD"])
        c.start(listen="", extra="-c log_statement=all")  # the script must keep its passwords out of the log
        env |= {"PGPASSWORD": env["POSTGRES_PASSWORD"], "PGHOST": str(c.sock), "PGPORT": str(c.port)}
        init = run_init_script(c, f.text(), env, executable=bool(f.path.stat().st_mode & 0o111))
        c.stop()
        if not init.ok:
            problems.append(f"{f}: the init script failed:\n{init.output[-1500:]}")
            continue
        urls = database_urls(f.built.hosts)
        assert {u[1] for u in urls} >= {"reactor"}, f.built.token
        for _ in ("first start", "restart"):
            c.start(listen=LOOPBACK)
            problems += failed_logins(c, urls)
            c.stop()
        leaked = [name for name, value in host.secrets().items()
                  if value != PLACEHOLDER and value in init.output + c.log_text()]
        assert not leaked, f"{f}: the values of {leaked} are in the init output or the server log"
    assert not problems, "\n".join(problems)


@pytest.mark.tools
def test_the_managed_roles_step_runs_twice_and_every_database_url_logs_in(bundles, pg_work, tmp_path):
    """The app host's `reactor-server-db-roles` container as its compose runs it (its entrypoint
    feeding the bundled .stdin to psql, its environment and env file; the operator's database
    reached on loopback without TLS), against a PostgreSQL 16 whose admin role (the URL's user,
    with the operator's admin password) has CREATEROLE and CREATEDB and is no superuser. It runs
    before every start of reactor-server: a second run changes nothing and fails nothing."""
    problems = []
    for i, f in enumerate(_firsts(named(bundles, "reactor-server-db-roles.stdin"))):
        host = operators_copy(f.host, tmp_path / f"managed-{i}")
        service = host.compose["services"]["reactor-server-db-roles"]
        env = service_env(host, "reactor-server-db-roles")
        c = pg_cluster(pg_work, f"managed-{i}", f.built.token)
        c.initdb("rdsadmin", new_password())
        c.start(listen=LOOPBACK)
        made = c._run([psql_bin(), "-X", "-v", "ON_ERROR_STOP=1", "-h", c.sock, "-p", c.port, "-U", "rdsadmin",
                       "-d", "postgres", "-f", "-"], env={"ADMIN_PASSWORD": env["PGPASSWORD"]},
                      input=f'CREATE ROLE "{env["PGUSER"]}" LOGIN CREATEROLE CREATEDB NOSUPERUSER;\n'
                            f'\\getenv pw ADMIN_PASSWORD\nALTER ROLE "{env["PGUSER"]}" PASSWORD :\'pw\';\n')
        assert made.ok, made.output
        mounts = {dst: host.project / src.removeprefix("./") for src, dst, *_ in
                  (v.split(":") for v in service["volumes"]) if src.startswith("./")}
        command = [*service["entrypoint"], *service["command"]]
        for dst, src in mounts.items():
            command = [w.replace(dst, str(src)) for w in command]
        command = [w.replace("$$", "$") for w in command]  # compose's escape of a literal $
        env |= {"PGHOST": LOOPBACK, "PGPORT": str(c.port), "PGSSLMODE": "disable",
                "PATH": f"{psql_bin().parent}:/usr/bin:/bin", "HOME": str(c.root)}
        for attempt in ("first run", "second run"):
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
            output = done.stdout + done.stderr
            for value in host.secrets().values():
                output = output.replace(value, "<redacted>")
            if done.returncode != 0 or "ERROR" in output:
                problems.append(f"{f} ({attempt}): exit {done.returncode}\n{output[-1500:]}")
                break
            problems += [f"after the {attempt}: {p}" for p in failed_logins(c, database_urls(f.built.hosts))]
        c.stop()
    assert not problems, "\n".join(problems)
