"""Postgres roles for a plan, and the script that creates them (runtime reference §7).

Nothing Reactor runs connects as a superuser:

- `postgres` is the postgres image's `POSTGRES_USER`, so the superuser, with the plan secret
  `database-admin-password`. It only initialises (this script) and is for operators.
- `reactor` (LOGIN, `database-password`) owns the database `reactor`: reactor-server's
  migrations create the runtime's schemas and `citext` there (a trusted extension: CREATE on
  the database is enough). When the plan's tenant provider is `shared_cluster`, the provider
  runs CREATE ROLE, CREATE DATABASE ... OWNER tenant_<ref> and the tenant migrations as this
  role (`database.url`, `shared_postgres_url`): it then also has CREATEDB and CREATEROLE, and
  the role setting `createrole_self_grant = 'set, inherit'` (PostgreSQL 16). Without `set` the
  CREATE DATABASE ... OWNER fails ("must be able to SET ROLE"), without `inherit` the tenant
  migrations fail (no CREATE on the tenant's database or its public schema).
- `gateway` (LOGIN, `gateway-database-password`) when the plan runs gateway-server: USAGE on
  the schema `reactor_gateway` and SELECT, INSERT, UPDATE on the tables `reactor` creates in it
  (routes, custom_domains). reactor-server's migration creates those tables later (plain
  CREATE TABLE, so they are never pre-created here); the schema is pre-created, owned by
  `reactor` (the migration says CREATE SCHEMA IF NOT EXISTS, then COMMENT ON SCHEMA, which
  needs the owner), and default privileges give `gateway` its grants when the tables appear.
  LISTEN needs no privilege. PUBLIC loses its default CONNECT and TEMPORARY on `reactor`.

Two forms, one body (`init_sql`):

- the image's: `init_script` is a `.sh` for /docker-entrypoint-initdb.d. The entrypoint runs
  it once, on an empty data directory, as the postgres OS user, beside a socket-only temporary
  server; mounted 0644 it is *sourced* by the entrypoint's bash (`set -Eeo pipefail`), so it
  never calls `exit` and never `set -u`. It runs psql like the entrypoint runs `*.sql`
  (ON_ERROR_STOP, as POSTGRES_USER, against POSTGRES_DB). Passwords reach psql only through
  `\\getenv` from the container's environment (`script_env`): never in the file, never on a
  command line. As a superuser it also switches statement logging off for its session, so no
  password reaches the server log, even when a statement fails.
- managed Postgres (RDS, Cloud SQL, Azure), `init_sql(plan, managed=True)`: run with psql by
  the platform's admin user (rds_superuser, cloudsqlsuperuser, azure_pg_admin), which is not a
  superuser but has CREATEROLE and CREATEDB, connected to its maintenance database
  (`postgres`). Differences: it cannot set the log_* parameters for its session (superuser
  only), so the parameter group must keep `log_statement` at `none` while it runs (`ddl` or
  `all` would log ALTER ROLE ... PASSWORD with the password); PostgreSQL 16 gives a CREATEROLE
  creator only ADMIN on the roles it creates, so the session first sets
  `createrole_self_grant = 'set, inherit'` to act as `reactor` (CREATE DATABASE ... OWNER,
  CREATE SCHEMA ... AUTHORIZATION, ALTER DEFAULT PRIVILEGES FOR ROLE); the platform must not
  create the `reactor` database itself (it would be owned by the admin); PostgreSQL >= 16.

Limits: the image runs initdb.d scripts only on an empty data directory, so a volume
initialised before keeps its old roles. Databases other than `reactor` (postgres, template1,
the tenants' databases the provider creates) keep PostgreSQL's PUBLIC defaults (CONNECT,
TEMPORARY); `gateway` holds no privilege on anything in them.

Pure; no Pulumi.
"""

from __future__ import annotations

from dataclasses import dataclass

from .layout import Plan, Service
from .reactor_toml import DB_NAME, DB_USER

ADMIN_USER = "postgres"  # the image's POSTGRES_USER: the superuser
ADMIN_SECRET = "database-admin-password"
MAINTENANCE_DB = "postgres"  # the image's POSTGRES_DB: exists after initdb, so the entrypoint creates none
INIT_DIR = "/docker-entrypoint-initdb.d"
SCRIPT_NAME = "reactor-roles.sh"
GATEWAY_SCHEMA = "reactor_gateway"
GATEWAY_TABLES = ("routes", "custom_domains")  # what gateway-server reads and writes (store/pg.rs)
GATEWAY_PRIVILEGES = ("SELECT", "INSERT", "UPDATE")  # upsert = INSERT ... ON CONFLICT DO UPDATE
SHARED_CLUSTER = "shared_cluster"
# PostgreSQL 16: what a CREATEROLE role is granted in the roles it creates. `set`: it may create
# a database owned by one (CREATE DATABASE ... OWNER); `inherit`: it has the owner's privileges
# there, so it can migrate the tenant's database (CREATE SCHEMA, citext, tables in public).
SELF_GRANT = "set, inherit"


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    secret: str  # the plan secret that holds its password
    env: str  # the variable the init script reads the password from (postgres container only)
    purpose: str
    create_db: bool = False
    create_role: bool = False
    settings: tuple[tuple[str, str], ...] = ()  # ALTER ROLE ... SET name = 'value'

    @property
    def variable(self) -> str:
        """The psql variable that carries the password inside the script."""
        return f"{self.name}_password"

    @property
    def attributes(self) -> str:
        flag = {True: "", False: "NO"}
        return (f"LOGIN NOSUPERUSER {flag[self.create_db]}CREATEDB {flag[self.create_role]}CREATEROLE "
                "NOREPLICATION NOBYPASSRLS INHERIT")


def shared_cluster(plan: Plan) -> bool:
    return plan.policy.tenant_provider == SHARED_CLUSTER


def runs_gateway(plan: Plan) -> bool:
    return Service.GATEWAY_SERVER in plan.services


def reactor_role(plan: Plan) -> Role:
    tenants = shared_cluster(plan)
    return Role(
        DB_USER, "database-password", "REACTOR_DB_PASSWORD",
        "reactor-server: owns the reactor database and runs its migrations"
        + ("; creates tenant roles and databases and migrates them (shared_cluster)" if tenants else ""),
        create_db=tenants, create_role=tenants,
        settings=(("createrole_self_grant", SELF_GRANT),) if tenants else ())


GATEWAY_ROLE = Role(
    "gateway", "gateway-database-password", "GATEWAY_DB_PASSWORD",
    f"gateway-server: {', '.join(GATEWAY_PRIVILEGES)} on {GATEWAY_SCHEMA}.{{{','.join(GATEWAY_TABLES)}}}; LISTEN")


def roles(plan: Plan) -> tuple[Role, ...]:
    """The login roles the plan's services connect as (the admin is not one of them)."""
    return (reactor_role(plan), GATEWAY_ROLE) if runs_gateway(plan) else (reactor_role(plan),)


def script_env(plan: Plan) -> dict[str, str]:
    """Variable -> plan secret template, for the postgres container: what the script reads."""
    return {r.env: f"${{{r.secret}}}" for r in roles(plan)}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _once(check: str, statement: str) -> list[str]:
    """psql: run `statement` only when `check` (a query answering one boolean) says it is missing."""
    return [f"SELECT NOT EXISTS ({check}) AS missing \\gset", r"\if :missing", statement, r"\endif"]


def init_sql(plan: Plan, *, managed: bool = False) -> str:
    """The psql script that creates the plan's roles, the reactor database and the gateway's
    grants. `managed`: the form for a managed Postgres's admin user (not a superuser); it is
    idempotent, run before every start of reactor-server (it also sets the roles' passwords
    again, so a rotated password reaches the database at the next start)."""
    rs = roles(plan)
    gateway = runs_gateway(plan)
    who = ("the platform's admin user (CREATEROLE, CREATEDB; not a superuser), "
           f"connected to its maintenance database: psql -f, with {', '.join(r.env for r in rs)} set"
           if managed else f"the superuser {ADMIN_USER} (POSTGRES_USER), against {MAINTENANCE_DB}")
    out = [f"-- Roles for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
           f"-- Run {'before every start of reactor-server (idempotent)' if managed else 'once'} by {who}.",
           "-- Passwords come from the environment through psql variables; none is written here.",
           *[f"--   {r.name}: {r.purpose}" for r in rs],
           r"\set ON_ERROR_STOP on",
           r"\set VERBOSITY terse"]
    for r in rs:
        out += [rf"\getenv {r.variable} {r.env}",
                rf"\if :{{?{r.variable}}}",
                r"\else",
                f"DO $$ BEGIN RAISE EXCEPTION '{r.env} is not set'; END $$;",
                r"\endif"]
    if managed:
        out += ["-- PostgreSQL 16: act as the roles this session creates (owner of the database and the schema)",
                f"SET createrole_self_grant = {_literal(SELF_GRANT)};"]
    else:
        out += ["-- no statement of this session reaches the server log, not even one that fails",
                "SET log_statement = 'none';",
                "SET log_min_error_statement = 'panic';",
                "SET log_min_duration_statement = -1;"]
    out.append("SET password_encryption = 'scram-sha-256';")
    for r in rs:
        create = f"CREATE ROLE {r.name} WITH {r.attributes};"
        out += _once(f"SELECT 1 FROM pg_roles WHERE rolname = {_literal(r.name)}", create) if managed else [create]
        out.append(f"ALTER ROLE {r.name} WITH PASSWORD :'{r.variable}';")
        out += [f"ALTER ROLE {r.name} SET {k} = {_literal(v)};" for k, v in r.settings]
    database = f"CREATE DATABASE {DB_NAME} OWNER {DB_USER};"
    out += _once(f"SELECT 1 FROM pg_database WHERE datname = {_literal(DB_NAME)}", database) if managed else [database]
    out.append(f"REVOKE ALL ON DATABASE {DB_NAME} FROM PUBLIC;")
    if gateway:
        g = GATEWAY_ROLE.name
        out += [f"GRANT CONNECT ON DATABASE {DB_NAME} TO {g};",
                rf"\connect {DB_NAME}",
                "-- reactor-server's migration creates the tables (plain CREATE TABLE); the schema is its own",
                f"CREATE SCHEMA {'IF NOT EXISTS ' if managed else ''}{GATEWAY_SCHEMA} AUTHORIZATION {DB_USER};",
                f"GRANT USAGE ON SCHEMA {GATEWAY_SCHEMA} TO {g};",
                f"ALTER DEFAULT PRIVILEGES FOR ROLE {DB_USER} IN SCHEMA {GATEWAY_SCHEMA}",
                f"    GRANT {', '.join(GATEWAY_PRIVILEGES)} ON TABLES TO {g};"]
    return "\n".join(out) + "\n"


def init_script(plan: Plan) -> str:
    """The postgres image's /docker-entrypoint-initdb.d script (sourced or executed)."""
    rs = roles(plan)
    checks = [f': "${{{r.env}:?is not set (plan secret {r.secret})}}"' for r in rs]
    return "\n".join([
        "#!/usr/bin/env bash",
        f"# {SCRIPT_NAME}: the roles of {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        "# The postgres image runs it once, on an empty data directory (sourced when not executable).",
        "# No secret is in this file: psql reads the passwords from the environment (\\getenv).",
        "set -Eeo pipefail",
        *checks,
        # as the entrypoint runs *.sql (docker_process_sql)
        'psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc --dbname "$POSTGRES_DB" \\',
        "    <<'EOSQL'",
        init_sql(plan).rstrip("\n"),
        "EOSQL",
    ]) + "\n"


def roles_prestart(plan: Plan, host: str, image: str, ca_file: str | None = None):
    """The managed database's roles step (`init_sql(managed=True)` through psql as the platform's
    admin user), run before every start of reactor-server: TLS verified against `ca_file` (the
    database's CA bundle, in reactor-server's files) when given, else TLS required."""
    from .service_spec import Prestart

    return Prestart(
        name="db-roles", image=image,
        command=("psql", "--no-psqlrc", "--quiet", "-v", "ON_ERROR_STOP=1", "-f", "-"),
        env={"PGHOST": host, "PGPORT": "5432", "PGUSER": ADMIN_USER, "PGDATABASE": MAINTENANCE_DB,
             "PGSSLMODE": "verify-full" if ca_file else "require", "PGCONNECT_TIMEOUT": "10",
             **({"PGSSLROOTCERT": ca_file} if ca_file else {})},
        secret_env={"PGPASSWORD": f"${{{ADMIN_SECRET}}}", **script_env(plan)},
        stdin=init_sql(plan, managed=True))


__all__ = ["ADMIN_SECRET", "ADMIN_USER", "GATEWAY_ROLE", "INIT_DIR", "MAINTENANCE_DB", "Role", "SCRIPT_NAME",
           "init_script", "init_sql", "roles", "roles_prestart", "script_env"]
