"""Every `@fly` token (issue 11), read from its offline render against its Plan: one app per
tier, one machine per service replica and region, a volume per stateful machine in its region,
public addresses and Fly-proxy services only where the Plan puts the internet (or the vault
router, or an autoscaled pool), clustered NATS and OpenBao naming each node, the operator's
database, no generated secret anywhere. The configs themselves are checked by the programs that
read them (nats-server, caddy) and against Fly's API types (test_fly_api_types.py)."""

from __future__ import annotations

import base64
import os
import subprocess
import tomllib
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from matrix import every
from reactor_infra_fly import places
from renders import FLY_DATABASE_URL, default_settings, rendered

from reactor_infra import runtime_schema as schema
from reactor_infra.conformance import generated_values, views
from reactor_infra.errors import SettingsError
from reactor_infra.graph import Resource, ResourceGraph
from reactor_infra.layout import DatabaseHosting, Plan, Service
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

FLY = [t.token for t in valid_topologies(Platform.FLY)]
APP, MACHINE, VOLUME, IP = ("fly-machines:apps/v1:App", "fly-machines:apps/v1:Machine",
                            "fly-machines:apps/v1:Volume", "fly-machines:apps/v1:AppIPAssignment")
S = Service


@cache
def plan_of(token: str) -> Plan:
    settings = default_settings(token)
    return build_plan(parse(token), load_settings(settings) if settings else None)


def machines(graph: ResourceGraph) -> list[Resource]:
    return graph.find(MACHINE)


def group(m: Resource) -> str:
    return m.inputs["config"]["metadata"]["fly_process_group"]


def tier_of(m: Resource) -> str:
    return m.inputs["config"]["metadata"]["reactor_tier"]


def files(m: Resource) -> dict[str, str]:
    return {f["guestPath"]: base64.b64decode(f["rawValue"]).decode()
            for f in m.inputs["config"].get("files", []) if "rawValue" in f}


def app_names(token: str) -> dict[str, str]:
    return {r.inputs["name"]: r.name.removesuffix("-app") for r in rendered(token).find(APP)}


def test_the_fly_ladder_has_87_tokens():
    assert len(FLY) == 87


def test_one_app_per_tier_in_the_install_s_own_network():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        apps = graph.find(APP)
        keys = {places.app_key(plan, t, s) for t in plan.tiers for s in t.services}
        assert sorted(a.name for a in apps) == sorted(f"{k}-app" for k in keys)
        assert keys - {t.name.value for t in plan.tiers} <= {"infra-vault"}
        assert {a.inputs["network"] for a in apps} == {plan.stack}
        assert all(a.protect is plan.policy.protect for a in apps)
    assert every(FLY, check) == 87


def test_one_machine_per_service_replica_and_region_and_a_roles_step_per_region():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        counted = Counter(tier_of(m) for m in machines(graph) if group(m) != "db-roles")
        wanted = {t.name.value: len(t.services) * t.replicas.max * len(t.regions) for t in plan.tiers if t.services}
        assert counted == wanted
        steps = [m for m in machines(graph) if group(m) == "db-roles"]
        managed = plan.database.hosting is DatabaseHosting.MANAGED
        assert sorted(m.inputs["region"] for m in steps) == (sorted(plan.app_tier.regions) if managed else [])
    assert every(FLY, check) == 87


def test_public_addresses_only_on_the_ingress_app_and_flycast_only_where_the_proxy_fronts_inside():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        names = app_names(token)
        by_type: dict[str, set[str]] = {}
        for ip in graph.find(IP):
            by_type.setdefault(ip.inputs["type"], set()).add(names[ip.inputs["appName"]])
        # dedicated addresses: Fly routes a shared IPv4 by what its own TLS/HTTP handlers read, and
        # Caddy takes raw TCP (it terminates TLS)
        assert by_type.pop("v6") == by_type.pop("v4") == {plan.ingress.tier.value}
        flycast = by_type.pop("private_v6", set())
        assert not by_type, by_type  # no shared IPv4, no egress address
        routed = {places.app_key(plan, t, S.OPENBAO) for t in plan.tiers
                  if S.OPENBAO in t.services and t.replicas.max > 1}
        app = plan.app_tier
        pooled = {"app"} if app.replicas.autoscaled and len(app.services) == 1 else set()
        assert flycast == routed | pooled
    assert every(FLY, check) == 87


def test_only_the_ingress_caddys_take_internet_traffic_and_they_pass_tls_through():
    def check(token):
        plan = plan_of(token)
        for m in machines(rendered(token)):
            ports = {p["port"] for s in m.inputs["config"].get("services", []) for p in s["ports"]}
            public = ports & {80, 443}
            if public:
                assert (tier_of(m), group(m)) == (plan.ingress.tier.value, "caddy")
                assert ports == {80, 443}
                for s in m.inputs["config"]["services"]:  # TCP: Caddy terminates TLS and blocks /_admin
                    assert s["protocol"] == "tcp" and all("handlers" not in p for p in s["ports"])
            elif tier_of(m) == plan.ingress.tier.value and group(m) == "caddy":
                raise AssertionError("an ingress Caddy without 80/443")
            else:
                assert ports <= {8000, 8200}, (m.name, ports)
    assert every(FLY, check) == 87


def test_the_vault_router_passes_only_to_the_active_openbao():
    def check(token):
        plan = plan_of(token)
        tier = plan.tier_of(S.OPENBAO)
        if tier is None:
            return
        for m in machines(rendered(token)):
            if group(m).startswith("openbao"):
                services = m.inputs["config"].get("services", [])
                if tier.replicas.max == 1:
                    assert services == []
                    continue
                (svc,) = services
                (probe,) = svc["checks"]
                assert (svc["internalPort"], probe["path"]) == (8200, "/v1/sys/health")  # 200: active only
                toml = tomllib.loads(rendered(token).outputs["reactor_toml"])
                assert toml["vault"]["address"] == f"http://{m.inputs['appName']}.flycast:8200"
    every(FLY, check)


def test_each_stateful_machine_mounts_its_own_encrypted_volume_in_its_region():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        volumes = {r.urn: r for r in graph.find(VOLUME)}
        mounted = []
        for m in machines(graph):
            mounts = m.inputs["config"].get("mounts", [])
            deps = [volumes[u] for u in m.dependencies if u in volumes]
            assert len(mounts) == len(deps) <= 1, m.name
            for v in deps:
                assert v.inputs["region"] == m.inputs["region"] and v.inputs["encrypted"] is True
                assert v.protect is plan.policy.protect
                assert v.inputs["snapshotRetention"] == plan.policy.backup_retention_days
                mounted.append(v.urn)
        assert sorted(mounted) == sorted(volumes)  # every volume is some machine's, only its
    assert every(FLY, check) == 87


def test_a_public_tier_never_publishes_the_vault_router():
    """Fly publishes an app's services on all its addresses: size 4 with +ha keeps its clustered
    OpenBao (behind the router's :8200) in an app of its own, without public addresses."""
    graph = rendered("E4+ha@fly")
    public = {ip.inputs["appName"] for ip in graph.find(IP) if ip.inputs["type"] != "private_v6"}
    for m in machines(graph):
        ports = {p["port"] for s in m.inputs["config"].get("services", []) for p in s["ports"]}
        if 8200 in ports:
            assert m.inputs["appName"] not in public
    assert any(a.name == "infra-vault-app" for a in graph.find(APP))


def test_size_2_keeps_postgres_in_a_directory_below_its_volume():
    for token in ("O2@fly", "E2@fly", "C2@fly"):
        (pg,) = [m for m in machines(rendered(token)) if group(m) == "postgres"]
        mount = pg.inputs["config"]["mounts"][0]["path"]
        assert pg.inputs["config"]["env"]["PGDATA"] == f"{mount}/pgdata"  # a fresh volume holds lost+found


def test_reactor_server_owns_its_volume_before_dropping_to_its_user():
    (server,) = [m for m in machines(rendered("O2@fly")) if group(m) == "reactor-server"]
    process = server.inputs["config"]["processes"][0]
    assert process["user"] == "root"
    script = process["entrypoint"][2]
    assert "chown 10001:10001 /srv/reactor/.reactor" in script and "setpriv --reuid=10001" in script
    assert process["cmd"] == ["reactor-server"]


def test_every_service_has_a_check_on_its_real_health_route():
    wanted = {"reactor-server": "/health", "nats": "/healthz?js-server-only=true",
              "openbao": "/v1/sys/health?uninitcode=200&sealedcode=200&standbyok=true", "gateway-server": None}

    def check(token):
        for m in machines(rendered(token)):
            service = group(m).rsplit("-", 1)[0] if group(m)[-1].isdigit() else group(m)
            if service == "db-roles":
                assert "checks" not in m.inputs["config"]  # a one-shot step
                continue
            (probe,) = m.inputs["config"]["checks"].values()
            if wanted.get(service):
                assert probe["type"] == "http" and probe["path"] == wanted[service], m.name
    every(FLY, check)


def test_clustered_nats_names_each_node_and_nats_server_accepts_the_config(tmp_path):
    from tools import require

    nats_server = require("nats-server")
    nodes = [m for m in machines(rendered("C6@fly")) if group(m).startswith("nats")]
    assert sorted(group(m) for m in nodes) == ["nats-0", "nats-1", "nats-2"]
    for m in nodes:
        conf = files(m)["/etc/nats/nats.conf"]
        assert 'listen: "[::]:4222"' in conf and 'listen: "[::]:6222"' in conf
        routes = [ref["envVar"] for ref in m.inputs["config"]["processes"][0]["secrets"]
                  if ref["envVar"].startswith("NATS_ROUTE_")]
        assert len(routes) == len(nodes) - 1  # one route per other node, its password from a secret
        path = tmp_path / f"{group(m)}.conf"
        path.write_text(conf)
        envs = {"NATS_CLUSTER_PASSWORD": "x" * 16, **{f"NATS_ROUTE_{i}": f"nats-route://route:x@h{i}:6222"
                                                      for i in range(4)}}
        result = subprocess.run([nats_server, "-t", "-c", str(path)], capture_output=True, text=True,
                                env=envs, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_edge_caddyfile_is_valid_for_caddy(tmp_path):
    from tools import caddy_binary

    caddy = caddy_binary("debian")
    for token in ("O2@fly", "O3@fly", "E5+ha@fly", "C6@fly"):
        (first, *_) = [m for m in machines(rendered(token)) if group(m) == "caddy"]
        text = files(first)["/etc/caddy/Caddyfile"]
        if token.startswith("C"):  # Debian's Caddy has no DNS modules (our image's has): the rest is checked
            assert "\t\tdns cloudflare {env.CF_API_TOKEN}\n" in text
            text = text.replace("\t\tdns cloudflare {env.CF_API_TOKEN}\n", "\t\tissuer internal\n")
        path = tmp_path / f"{token}.Caddyfile"
        path.write_text(text)
        result = subprocess.run([caddy, "validate", "--adapter", "caddyfile", "--config", str(path)],
                                capture_output=True, text=True, env={"CF_API_TOKEN": "x", "HOME": str(tmp_path)},
                                timeout=60)
        assert result.returncode == 0, token + result.stderr[-2000:]


def test_autoscaled_tiers_let_the_proxy_start_and_stop_machines_down_to_the_plan_s_minimum():
    def check(token):
        plan = plan_of(token)
        for m in machines(rendered(token)):
            tier = plan.tier(next(t.name for t in plan.tiers if t.name.value == tier_of(m)))
            for s in m.inputs["config"].get("services", []):
                if tier.replicas.autoscaled and s["internalPort"] != 8200:
                    assert (s["autostart"], s["autostop"], s["minMachinesRunning"]) == (True, "stop", tier.replicas.min)
                else:
                    assert "autostop" not in s
    every([t for t in FLY if "+as" in t or t[1:3] == "10"], check)


def test_plus_mr_repeats_the_regional_tiers_and_keeps_nats_and_openbao_in_the_primary():
    def check(token):
        plan = plan_of(token)
        regions = {tier: set() for tier in (t.name.value for t in plan.tiers)}
        for m in machines(rendered(token)):
            regions[tier_of(m)].add(m.inputs["region"])
        for t in plan.tiers:
            if t.services:
                assert regions[t.name.value] == set(t.regions)
        assert len(plan.regions) == 2 and regions["edge"] == regions["app"] == set(plan.regions)
        for tier in ("nats", "vault", "infra"):
            assert regions.get(tier, {plan.primary_region}) <= {plan.primary_region}
    assert every([t for t in FLY if "+mr" in t], check) > 0


def test_the_operator_s_database_is_required_from_size_3_in_one_line():
    from reactor_infra.render import render

    with pytest.raises(SettingsError) as err:
        render("E5+ha@fly")
    assert "extras.fly.database_url" in str(err.value) and "\n" not in str(err.value).strip()


def test_a_database_url_with_a_password_is_refused():
    from reactor_infra.render import render

    settings = load_settings({"extras": {"fly": {"database_url": "postgres://admin:hunter2@db.example.com/postgres"}}})
    with pytest.raises(SettingsError) as err:
        render("E5@fly", settings)
    assert "holds a password" in str(err.value) and "hunter2" not in str(err.value)


def test_the_roles_step_connects_as_the_url_s_admin_and_checks_the_certificate():
    (step,) = [m for m in machines(rendered("E5@fly")) if group(m) == "db-roles"]
    env = step.inputs["config"]["env"]
    assert (env["PGHOST"], env["PGUSER"], env["PGPORT"], env["PGSSLMODE"]) == (
        "db.example.com", "reactor_admin", "5432", "verify-full")
    assert step.inputs["config"]["restart"]["policy"] == "on-failure"
    assert FLY_DATABASE_URL.startswith("postgres://reactor_admin@")


def test_machines_read_only_their_own_secrets_by_name():
    def check(token):
        for m in machines(rendered(token)):
            process = m.inputs["config"]["processes"][0]
            assert process["ignoreAppSecrets"] is True
            for ref in process["secrets"]:
                assert ref["name"].isupper() or ref["name"].replace("_", "").isalnum(), ref
    every(FLY, check)


def test_no_generated_secret_value_appears_in_any_view_of_a_render():
    def check(token):
        graph = rendered(token)
        values = generated_values(graph)
        assert values
        for name, text in views(graph).items():
            leaked = [v for v in values if v in text]
            assert not leaked, f"{name} holds a generated value"
    every(FLY, check)


def test_reactor_toml_holds_only_keys_the_runtime_reads_and_names_the_render_s_apps():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        doc = tomllib.loads(graph.outputs["reactor_toml"])
        assert schema.check(doc) == []
        assert doc["server"]["bind"] == "[::]:8000"
        apps = {r.inputs["name"] for r in graph.find(APP)}
        named = graph.outputs["reactor_toml"]  # the header names the secret URLs (the pooler's)
        for tier in ("nats", "vault", "pooler"):
            if any(t.name.value == tier for t in plan.tiers):
                assert any(a in named for a in apps if f"-{tier}-" in a), tier
    assert every(FLY, check) == 87


def test_c6_is_the_shared_cluster_the_runbook_describes():
    plan, graph = plan_of("C6@fly"), rendered("C6@fly")
    counts = Counter(group(m).rstrip("-0123456789") for m in machines(graph))
    assert counts["reactor-server"] >= 3 and counts["nats"] == 3 and counts["openbao"] == 3
    assert counts["caddy"] >= 1 and counts["gateway-server"] >= 1 and counts["pgbouncer"] >= 1
    for text in (graph.outputs["reactor_toml"], _config_command("C6@fly")):
        doc = tomllib.loads(text)
        assert doc["cloud"]["multi_tenant"] is True and doc["cloud"]["provider"] == "shared_cluster"
        assert doc["cloud"]["shared_pool"]["pooler"]["url_template"].endswith("/{ref}")
        assert len(doc["cloud"]["pubsub"]["nats"]["servers"]) == 3
        assert doc["cloud"]["quotas"]["free"] == {"requests_per_minute": 1000, "concurrent_functions": 10,
                                                  "db_connections": 5, "storage_gb": 1, "bandwidth_gb_per_month": 5}
    assert plan.policy.multi_tenant


def _config_command(token: str) -> str:
    from typer.testing import CliRunner

    from reactor_infra.cli import app

    result = CliRunner().invoke(app, ["config", token])
    assert result.exit_code == 0, result.output
    return result.output


def test_direct_connections_to_the_operator_s_database_keep_its_url_s_tls_mode():
    """database_url says sslmode=verify-full: reactor-server's direct URLs and PgBouncer's server
    side keep it (the roles step too); pooled URLs stay inside the 6PN network."""
    toml = rendered("C6@fly").outputs["reactor_toml"]
    direct = [line for line in toml.splitlines() if "db.example.com" in line]
    assert direct and all(line.endswith("?sslmode=verify-full") for line in direct)
    (pooler,) = [m for m in machines(rendered("E6@fly")) if group(m) == "pgbouncer"]
    assert pooler.inputs["config"]["env"]["SERVER_TLS_SSLMODE"] == "verify-full"


def test_doctor_names_the_variable_the_provider_reads(monkeypatch):
    from reactor_infra_fly import platform

    monkeypatch.delenv("FLY_MACHINES_APIKEY", raising=False)
    monkeypatch.setenv("FLY_API_TOKEN", "fo1_not-a-token")
    (check,) = platform.doctor()
    assert not check.ok and "FLY_MACHINES_APIKEY" in check.detail and "fo1_not" not in check.detail
    monkeypatch.setenv("FLY_MACHINES_APIKEY", "fo1_not-a-token")
    (check,) = platform.doctor()
    assert check.ok and "fo1_not" not in check.detail


def test_admin_refuses_in_one_line_and_names_the_way_in():
    from reactor_infra_fly import platform

    from reactor_infra.errors import UserError

    with pytest.raises(UserError) as err:
        platform.admin_access(plan_of("E5@fly"), 9901)
    message = str(err.value)
    assert "\n" not in message and "fly ssh console -a " in message and "$REACTOR_ADMIN__TOKEN" in message


@pytest.mark.skipif(os.geteuid() != 0, reason="owning a directory to another user needs root, as the machine has")
def test_the_rendered_ownership_step_runs_and_drops_to_the_image_s_user():
    """The reactor-server machine's own entrypoint, run here as the machine runs it (root): the
    volume becomes 10001's, and the command runs as 10001 and can write there. tini is played by
    env (both exec their arguments)."""
    (server,) = [m for m in machines(rendered("O2@fly")) if group(m) == "reactor-server"]
    process = server.inputs["config"]["processes"][0]
    mount = server.inputs["config"]["mounts"][0]["path"]
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="fly-volume-", dir="/tmp"))  # traversable by 10001
    root.chmod(0o755)
    volume = root / "volume"
    volume.mkdir()
    (volume / "lost+found").mkdir()
    script = process["entrypoint"][2].replace(mount, str(volume)).replace("/usr/bin/tini --", "/usr/bin/env --")
    probe = f"id -u > {volume}/who && touch {volume}/written"
    result = subprocess.run([*process["entrypoint"][:2], script, *process["entrypoint"][3:], "sh", "-c", probe],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert (volume / "who").read_text().strip() == "10001"
    assert (volume / "written").stat().st_uid == 10001 and volume.stat().st_uid == 10001
    assert oct(volume.stat().st_mode & 0o777) == "0o700"
    shutil.rmtree(root)


def test_each_nats_node_reads_routes_to_its_own_peers():
    """nats.conf's route variables are positional (NATS_ROUTE_1, _2: the other nodes): each node
    reads them from app secrets of its own, so one node's peers never overwrite another's."""
    nodes = [m for m in machines(rendered("C6@fly")) if group(m).startswith("nats")]
    names = {group(m): {r["envVar"]: r["name"] for r in m.inputs["config"]["processes"][0]["secrets"]
                        if r["envVar"].startswith("NATS_ROUTE_")} for m in nodes}
    every_name = [n for routes in names.values() for n in routes.values()]
    assert len(every_name) == len(set(every_name)) == 6
    assert all(n.startswith(g.upper().replace("-", "_")) for g, routes in names.items() for n in routes.values())
