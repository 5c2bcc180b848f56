"""The Postgres roles each plan gets, and where they reach the catalogue (no server here;
tests/test_postgres_real.py runs the same scripts on PostgreSQL 16)."""

from __future__ import annotations

import re
import subprocess

import pytest
from tools import require

from reactor_infra import catalogue
from reactor_infra import postgres_init as pi
from reactor_infra.layout import SecretGenerator, Service
from reactor_infra.plan import build_plan
from reactor_infra.reactor_toml import default_endpoints
from reactor_infra.token import parse, valid_topologies

PLANS = [build_plan(t) for t in valid_topologies()]


def _specs(plan, services=None):
    placement = catalogue.Placement(endpoints=default_endpoints(plan), hosts={s: f"{s}.internal" for s in Service},
                                    site_address="api.example.com")
    return placement, catalogue.specs(plan, placement, services)


def test_reactor_creates_tenants_only_for_the_shared_cluster_provider():
    seen = set()
    for plan in PLANS:
        reactor = pi.roles(plan)[0]
        shared = plan.policy.tenant_provider == "shared_cluster"
        assert reactor.name == "reactor" and reactor.secret == "database-password"
        assert (reactor.create_db, reactor.create_role) == (shared, shared), plan.topology
        assert dict(reactor.settings) == ({"createrole_self_grant": "set, inherit"} if shared else {})
        seen.add(shared)
    assert seen == {True, False}


def test_a_gateway_role_exists_exactly_when_gateway_server_runs():
    seen = set()
    for plan in PLANS:
        gateway = Service.GATEWAY_SERVER in plan.services
        assert [r.name for r in pi.roles(plan)] == (["reactor", "gateway"] if gateway else ["reactor"])
        seen.add(gateway)
    assert seen == {True, False}


def test_every_role_and_the_admin_have_a_generated_plan_password():
    """Generated, except the admin's where the database is the operator's (@fly from size 3):
    theirs to give, never generated."""
    for plan in PLANS:
        operators = plan.traits.external_database and plan.topology.size >= 3
        for name in [pi.ADMIN_SECRET, *(r.secret for r in pi.roles(plan))]:
            assert plan.has_secret(name), (plan.topology, name)
            wanted = SecretGenerator.PLATFORM if operators and name == pi.ADMIN_SECRET else SecretGenerator.PASSWORD
            assert plan.secret(name).generator is wanted, (plan.topology, name)
            assert plan.secret(name).env is None  # never a REACTOR_* variable of reactor-server
        assert plan.has_secret("gateway-database-password") == (Service.GATEWAY_SERVER in plan.services)


def test_postgres_initialises_as_the_superuser_with_the_roles_script_mounted():
    checked = 0
    for plan in PLANS:
        if Service.POSTGRES not in plan.services:
            continue
        _, specs = _specs(plan)
        spec = specs[Service.POSTGRES]
        assert spec.env == {"POSTGRES_USER": "postgres", "POSTGRES_DB": "postgres"}
        expected = {"POSTGRES_PASSWORD": "${database-admin-password}", "REACTOR_DB_PASSWORD": "${database-password}"}
        if Service.GATEWAY_SERVER in plan.services:
            expected["GATEWAY_DB_PASSWORD"] = "${gateway-database-password}"
        assert dict(spec.secret_env) == expected, plan.topology
        (script,) = spec.files
        assert script.path == "/docker-entrypoint-initdb.d/reactor-roles.sh"
        assert script.content == pi.init_script(plan)
        checked += 1
    assert checked


def test_gateway_server_connects_as_gateway_and_reactor_server_as_reactor():
    checked = 0
    for plan in PLANS:
        if Service.GATEWAY_SERVER not in plan.services:
            continue
        placement, specs = _specs(plan, [Service.GATEWAY_SERVER])
        ep = placement.endpoints
        url = specs[Service.GATEWAY_SERVER].secret_env["DATABASE_URL"]
        # a managed database is verified against its CA bundle (fetched beside gateway-server's files)
        verify = "?sslmode=verify-full&sslrootcert=/etc/reactor-gateway/database-ca.pem" if plan.database_ca_url else ""
        assert url == f"postgres://gateway:${{gateway-database-password}}@{ep.database_host}:{ep.database_port}/reactor{verify}"
        checked += 1
    assert checked
    for token in ("O1@local", "E4@local", "C6@aws"):
        _, specs = _specs(build_plan(parse(token)), [Service.REACTOR_SERVER])
        url = specs[Service.REACTOR_SERVER].secret_env["REACTOR_DATABASE__URL"]
        assert url.startswith("postgres://reactor:${database-password}@"), url


@pytest.mark.parametrize("token", ["O1@local", "E4@local", "C2@aws", "C6+ha@aws"])
@pytest.mark.parametrize("managed", [False, True])
def test_passwords_reach_psql_only_as_variables_from_the_environment(token, managed):
    plan = build_plan(parse(token))
    text = pi.init_sql(plan, managed=managed)
    lines = [line for line in text.splitlines() if re.search(r"\bPASSWORD\b", line) and not line.startswith("--")]
    assert lines and all(re.fullmatch(r"ALTER ROLE \w+ WITH PASSWORD :'\w+_password';", line) for line in lines)
    read = re.findall(r"^\\getenv (\w+) (\w+)$", text, flags=re.M)
    assert read == [(r.variable, r.env) for r in pi.roles(plan)]
    assert set(pi.script_env(plan)) == {env for _, env in read}


def test_the_managed_form_differs_only_in_what_a_non_superuser_may_and_must_set():
    plan = build_plan(parse("C6@aws"))
    image, managed = (set(pi.init_sql(plan, managed=m).splitlines()) for m in (False, True))
    assert image - managed == {
        "-- no statement of this session reaches the server log, not even one that fails",
        "SET log_statement = 'none';", "SET log_min_error_statement = 'panic';",
        "SET log_min_duration_statement = -1;", "CREATE SCHEMA reactor_gateway AUTHORIZATION reactor;"} | {
        line for line in image if line.startswith("-- Run once by")}
    # idempotent, run before every start: each CREATE only when missing (psql \gset + \if)
    assert {line for line in managed - image if not line.startswith("--")} == {
        "SET createrole_self_grant = 'set, inherit';", "\\if :missing",
        "SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reactor') AS missing \\gset",
        "SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gateway') AS missing \\gset",
        "SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'reactor') AS missing \\gset",
        "CREATE SCHEMA IF NOT EXISTS reactor_gateway AUTHORIZATION reactor;"}


def test_the_script_is_valid_bash_and_creates_no_gateway_table():
    bash = require("bash")
    for token in ("O1@local", "E4@local", "C2@aws"):
        script = pi.init_script(build_plan(parse(token)))
        out = subprocess.run([bash, "-n"], input=script, capture_output=True, text=True, check=False)
        assert out.returncode == 0, out.stderr
        assert "exit" not in script.split()  # sourced by the entrypoint: an exit would end it
        statements = [line for line in script.splitlines() if not line.lstrip().startswith(("--", "#"))]
        assert not [s for s in statements if "CREATE TABLE" in s]  # the runtime's migration creates them
