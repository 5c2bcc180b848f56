"""Reactor.toml spec: for every valid token the file parses back, holds only keys reactor-server
v1 reads, never a secret value, and every secret reaches the process through a REACTOR_* variable."""

from __future__ import annotations

import re
import tomllib
from dataclasses import replace
from functools import cache
from typing import Any

import pytest
from matrix import every

from reactor_infra import runtime_schema as schema
from reactor_infra.layout import Plan, Service, VaultMode
from reactor_infra.plan import build_plan
from reactor_infra.reactor_toml import Endpoints, default_endpoints, render_reactor_toml, runtime_env
from reactor_infra.settings import StackSettings
from reactor_infra.token import parse, valid_topologies

TOKENS = [t.token for t in valid_topologies()]
FREE_TIER = {"requests_per_minute": 1000, "concurrent_functions": 10, "db_connections": 5,
             "storage_gb": 1, "bandwidth_gb_per_month": 5}  # runtime reference §3, runbook numbers


@cache
def plan_for(token: str) -> Plan:
    return build_plan(parse(token))


@cache
def rendered(token: str) -> str:
    return render_reactor_toml(plan_for(token))


def doc(token: str) -> dict[str, Any]:
    return tomllib.loads(rendered(token))


def effective_keys(token: str) -> set[str]:
    """Dotted keys set by the file or by the env the process gets."""
    file_keys = {k for k, _ in schema.leaves(doc(token))}
    env_keys = {schema.dotted_key(v) for v in runtime_env(plan_for(token)) if "__" in v}
    return file_keys | env_keys


# --- every token --------------------------------------------------------------------------


def test_the_matrix_is_not_empty():
    assert len(TOKENS) > 50


def test_every_key_is_one_the_runtime_reads():
    every(TOKENS, _every_key_is_one_the_runtime_reads)


def _every_key_is_one_the_runtime_reads(token):
    assert schema.check(doc(token)) == []


def test_mandatory_sections_are_present():
    every(TOKENS, _mandatory_sections_are_present)


def _mandatory_sections_are_present(token):
    assert set(schema.MANDATORY_SECTIONS) <= doc(token).keys()


def test_no_secret_key_holds_a_literal():
    every(TOKENS, _no_secret_key_holds_a_literal)


def _no_secret_key_holds_a_literal(token):
    for dotted, value in schema.leaves(doc(token)):
        assert schema.secret_problem(dotted, value) is None, dotted
    # and no vault: reference: nothing seeds the runtime's vault with our secrets
    assert "vault:" not in rendered(token)


def test_required_keys_of_every_present_section_are_set_by_file_or_env():
    every(TOKENS, _required_keys_of_every_present_section_are_set_by_file_or_env)


def _required_keys_of_every_present_section_are_set_by_file_or_env(token):
    present = {path for path in schema.SECTIONS if _table_at(doc(token), path) is not None}
    keys = effective_keys(token)
    for path in present & schema.REQUIRED_KEYS.keys():
        for key in schema.REQUIRED_KEYS[path]:
            assert f"{path}.{key}" in keys, f"{path}.{key} is neither in the file nor in the env"


def test_env_covers_the_secrets_the_runtime_requires():
    every(TOKENS, _env_covers_the_secrets_the_runtime_requires)


def _env_covers_the_secrets_the_runtime_requires(token):
    env = runtime_env(plan_for(token))
    for var in ("REACTOR_ADMIN__TOKEN", "REACTOR_AUTH__DATA_KEY", "REACTOR_DATABASE__URL",
                "REACTOR_FUNCTIONS__DATA_KEY", "REACTOR_STORAGE__SIGNING_SECRET",
                "REACTOR_JOBS__WEBHOOK_SECRET"):
        assert var in env, var


def test_every_plan_secret_with_an_env_is_in_runtime_env_by_name():
    every(TOKENS, _every_plan_secret_with_an_env_is_in_runtime_env_by_name)


def _every_plan_secret_with_an_env_is_in_runtime_env_by_name(token):
    plan = plan_for(token)
    env = runtime_env(plan)
    for secret in plan.secrets:
        if secret.env:
            assert env[secret.env] == secret.name


def test_runtime_env_names_secrets_and_never_holds_values():
    every(TOKENS, _runtime_env_names_secrets_and_never_holds_values)


def _runtime_env_names_secrets_and_never_holds_values(token):
    plan = plan_for(token)
    names = {s.name for s in plan.secrets}
    store_keys = {s.env for s in plan.secrets if s.name.startswith("storage-") and s.generator == "platform"}
    for var, source in runtime_env(plan).items():
        # the S3 client's own variables for a store that takes an access key pair (GCS HMAC keys)
        assert var.startswith("REACTOR_") or var in store_keys, var
        if source not in names:  # a template: every ${...} is a plan secret
            refs = re.findall(r"\$\{([^}]+)\}", source)
            assert refs and set(refs) <= names, (var, source)


def test_vault_master_key_is_an_env_reference_that_runtime_env_fills():
    every(TOKENS, _vault_master_key_is_an_env_reference_that_runtime_env_fills)


def _vault_master_key_is_an_env_reference_that_runtime_env_fills(token):
    vault = doc(token)["vault"]
    if vault["backend"] == "embedded":
        assert vault["master_key"] == "env:REACTOR_VAULT_MASTER_KEY"
        assert runtime_env(plan_for(token))["REACTOR_VAULT_MASTER_KEY"] == "vault-master-key"
    else:
        assert "master_key" not in vault
        assert runtime_env(plan_for(token))["REACTOR_VAULT__TOKEN"] == "openbao-token"


def test_enum_values_are_valid():
    every(TOKENS, _enum_values_are_valid)


def _enum_values_are_valid(token):
    for dotted, value in schema.leaves(doc(token)):
        if dotted in schema.ENUMS:
            assert value in schema.ENUMS[dotted], dotted


def test_admin_is_never_remote():
    every(TOKENS, _admin_is_never_remote)


def _admin_is_never_remote(token):
    assert doc(token)["admin"]["allow_remote"] is False


def test_pool_max_comes_from_the_plan():
    every(TOKENS, _pool_max_comes_from_the_plan)


def _pool_max_comes_from_the_plan(token):
    assert doc(token)["database"]["pool_max"] == plan_for(token).database.pool_max_per_node


def test_rendering_is_deterministic():
    every(TOKENS, _rendering_is_deterministic)


def _rendering_is_deterministic(token):
    assert render_reactor_toml(plan_for(token)) == render_reactor_toml(build_plan(parse(token)))


# --- specific behaviour -------------------------------------------------------------------


def test_size_1_binds_loopback_only():
    d = doc("O1@local")
    assert d["server"]["bind"] == "127.0.0.1:8000"
    assert d["admin"]["allow_remote"] is False
    assert d["auth"]["public_url"] == "http://127.0.0.1:8000"


def test_sizes_from_2_bind_all_interfaces_behind_the_proxy():
    every([t for t in TOKENS if parse(t).size >= 2], _sizes_from_2_bind_all_interfaces_behind_the_proxy)


def _sizes_from_2_bind_all_interfaces_behind_the_proxy(token):
    expected = "[::]:8000" if token.endswith("@fly") else "0.0.0.0:8000"
    assert doc(token)["server"]["bind"] == expected


def test_public_url_is_https_on_the_stack_domain():
    plan = build_plan(parse("E5@aws"), StackSettings(domain="api.example.com"))
    assert tomllib.loads(render_reactor_toml(plan))["auth"]["public_url"] == "https://api.example.com"


def test_without_a_domain_the_public_host_is_a_placeholder_that_never_resolves():
    assert doc("E5@aws")["auth"]["public_url"].endswith(".invalid")


def test_storage_is_s3_exactly_when_there_are_several_app_nodes():
    every(TOKENS, _storage_is_s3_exactly_when_there_are_several_app_nodes)


def _storage_is_s3_exactly_when_there_are_several_app_nodes(token):
    plan, storage = plan_for(token), doc(token)["storage"]
    # fs on the file system the app nodes share where the platform has no S3-compatible store (Azure)
    several = plan.topology.size >= 3 and plan.app_tier.replicas.max > 1 and not plan.traits.shared_file_storage
    assert storage["backend"] == ("s3" if several else "fs")
    if several:
        assert storage["s3_bucket"] and "fs_base_path" not in storage
    else:
        assert storage["fs_base_path"] and "s3_bucket" not in storage


def test_vault_is_openbao_when_the_plan_has_openbao():
    every(TOKENS, _vault_is_openbao_when_the_plan_has_openbao)


def _vault_is_openbao_when_the_plan_has_openbao(token):
    plan, vault = plan_for(token), doc(token)["vault"]
    if plan.vault is VaultMode.OPENBAO:
        assert vault["backend"] == "openbao" and vault["address"].endswith(":8200")
        assert vault["auth_method"] == "token"
    else:
        assert vault["backend"] == "embedded"


def test_env_vault_mode_is_explained_in_the_file():
    plan = plan_for("E3+ha@aws")
    assert plan.vault is VaultMode.ENV
    assert "/_admin/vault" in rendered("E3+ha@aws")


def test_edition_c_runs_multi_tenant_with_the_right_provider():
    every([t for t in TOKENS if t.startswith("C")], _edition_c_runs_multi_tenant_with_the_right_provider)


def _edition_c_runs_multi_tenant_with_the_right_provider(token):
    cloud = doc(token)["cloud"]
    assert cloud["multi_tenant"] is True
    assert cloud["provider"] == ("single_node" if parse(token).size == 2 else "shared_cluster")
    assert cloud["quotas"]["free"] == FREE_TIER


def test_tenant_url_template_ends_with_ref_and_never_doubles_the_prefix():
    every([t for t in TOKENS if t.startswith("C") and plan_for(t).pooler], _tenant_url_template_ends_with_ref_and_never_doubles_the_prefix)


def _tenant_url_template_ends_with_ref_and_never_doubles_the_prefix(token):
    pooler = doc(token)["cloud"]["shared_pool"]["pooler"]
    assert pooler["mode"] == plan_for(token).pooler.mode
    for template in (pooler["url_template"],
                     runtime_env(plan_for(token))["REACTOR_CLOUD__SHARED_POOL__POOLER__URL_TEMPLATE"]):
        # the runtime replaces {ref} in the whole string (tenant_cache.rs:252): a TLS query may follow
        path, _, query = template.partition("?")
        assert path.endswith("/{ref}") and "tenant_{ref}" not in template
        assert query in ("", "sslmode=verify-full&sslrootcert=/srv/reactor/internal-ca.pem"), query


def test_editions_o_and_e_are_single_tenant():
    every([t for t in TOKENS if not t.startswith("C")], _editions_o_and_e_are_single_tenant)


def _editions_o_and_e_are_single_tenant(token):
    cloud = doc(token).get("cloud")
    assert cloud is None or (cloud["multi_tenant"] is False and "provider" not in cloud
                             and "quotas" not in cloud and "shared_pool" not in cloud)


def test_a_gateway_gets_on_demand_tls():
    every([t for t in TOKENS if plan_for(t).tier_of(Service.GATEWAY_SERVER)], _a_gateway_gets_on_demand_tls)


def _a_gateway_gets_on_demand_tls(token):
    assert doc(token)["cloud"]["tls_mode"] == "on_demand"


def test_nats_servers_are_written_for_realtime_and_pubsub():
    every([t for t in TOKENS if plan_for(t).nats], _nats_servers_are_written_for_realtime_and_pubsub)


def _nats_servers_are_written_for_realtime_and_pubsub(token):
    cloud = doc(token)["cloud"]
    for name in ("realtime", "pubsub"):
        assert cloud[name]["backend"] == "nats"
        assert cloud[name]["nats"]["servers"] == list(default_endpoints(plan_for(token)).nats_servers)
    assert "not wired" in rendered(token)


def test_database_url_goes_through_the_pooler_except_for_cs_control_database():
    every([t for t in TOKENS if plan_for(t).pooler], _database_url_goes_through_the_pooler_except_for_cs_control_database)


def _database_url_goes_through_the_pooler_except_for_cs_control_database(token):
    plan = plan_for(token)
    url = runtime_env(plan)["REACTOR_DATABASE__URL"]
    pooled = f":{plan.pooler.port}/" in url and "pooler" in url
    assert pooled is (not plan.policy.multi_tenant)


def test_platform_endpoints_replace_the_defaults():
    plan = plan_for("E5@aws")
    ep = replace(default_endpoints(plan), database_host="db.abc.rds.amazonaws.com",
                 public_url="https://api.acme.io")
    assert isinstance(ep, Endpoints)
    out = tomllib.loads(render_reactor_toml(plan, ep))
    assert out["auth"]["public_url"] == "https://api.acme.io"
    assert "@db.abc.rds.amazonaws.com:5432/" in runtime_env(plan, ep)["REACTOR_DATABASE__URL"]


def test_size_1_and_2_use_compose_service_names_and_larger_sizes_private_dns():
    assert "@postgres:5432/" in runtime_env(plan_for("O1@local"))["REACTOR_DATABASE__URL"]
    assert "@database.internal:5432/" in runtime_env(plan_for("E5@aws"))["REACTOR_DATABASE__URL"]


# --- the schema itself ---------------------------------------------------------------------


def test_schema_check_rejects_an_unknown_key():
    d = doc("E5+ha@aws")
    d["server"]["bind_address"] = "0.0.0.0:8000"
    d["cloud"]["shared_pool"] = {"pooler": {"mode": "transaction", "pool_size": 5}}
    problems = schema.check(d)
    assert any("server.bind_address" in p for p in problems)
    assert any("cloud.shared_pool.pooler.pool_size" in p for p in problems)


def test_schema_check_rejects_an_unknown_section_a_bad_enum_and_a_missing_mandatory_one():
    d = doc("O1@local")
    d["metrics"] = {"enabled": True}
    d["storage"]["backend"] = "gcs"
    del d["auth"]
    problems = schema.check(d)
    assert any("[metrics]" in p for p in problems)
    assert any("storage.backend" in p for p in problems)
    assert any("[auth] is missing" in p for p in problems)


@pytest.mark.parametrize(("key", "value"), [
    ("admin.token", "s3cr3t"),
    ("vault.master_key", "ab" * 32),
    ("database.url", "postgres://reactor:pw@db:5432/reactor"),
    ("vault.token", "vault:openbao-token"),  # vault.token does not take vault: references
    ("vault.master_key", "vault:master"),  # only env: here
])
def test_schema_check_rejects_an_inline_secret(key, value):
    d = doc("O1@local")
    table, _, leaf = key.rpartition(".")
    d[table][leaf] = value
    assert any(key in p for p in schema.check(d))


def test_references_the_runtime_resolves_are_not_literals():
    assert schema.secret_problem("admin.token", "vault:admin-token") is None
    assert schema.secret_problem("vault.master_key", "env:REACTOR_VAULT_MASTER_KEY") is None
    assert schema.secret_problem("database.url", "postgres://reactor@db:5432/reactor") is None


@pytest.mark.parametrize(("dotted", "env"), [
    ("database.url", "REACTOR_DATABASE__URL"),
    ("auth.data_key", "REACTOR_AUTH__DATA_KEY"),
    ("cloud.shared_pool.pooler.mode", "REACTOR_CLOUD__SHARED_POOL__POOLER__MODE"),
])
def test_dotted_keys_and_env_variables_map_both_ways(dotted, env):
    assert schema.env_var(dotted) == env
    assert schema.dotted_key(env) == dotted


def test_the_plans_secret_env_names_are_keys_the_runtime_reads():
    for token in TOKENS:
        for secret in plan_for(token).secrets:
            if secret.env and "__" in secret.env:
                assert schema.is_known_key(schema.dotted_key(secret.env)), secret.env


# --- helpers ---------------------------------------------------------------------------------


def _table_at(d: dict[str, Any], path: str) -> dict[str, Any] | None:
    for part in path.split("."):
        d = d.get(part) if isinstance(d, dict) else None
        if d is None:
            return None
    return d


def test_endpoints_missing_an_address_the_plan_needs_fail_clearly():
    plan = plan_for("E5@aws")
    with pytest.raises(ValueError, match="openbao_address"):
        render_reactor_toml(plan, replace(default_endpoints(plan), openbao_address=None))


def test_the_shared_cluster_provider_migrates_tenant_databases_as_the_reactor_role():
    """Unset, the provider connects to postgres://postgres@localhost to migrate each tenant
    database; it must be the reactor role's direct URL (the database name is swapped in)."""
    for token in [t for t in TOKENS if plan_for(t).policy.tenant_provider == "shared_cluster"]:
        ep = default_endpoints(plan_for(token))
        url = runtime_env(plan_for(token))["REACTOR_CLOUD__SHARED_POOL__SHARED_POSTGRES_URL"]
        # verified against a managed database's CA; the provider keeps the query when it swaps the
        # database name (shared_cluster.rs swap_db_name)
        verify = "?sslmode=verify-full&sslrootcert=/srv/reactor/database-ca.pem" if plan_for(token).database_ca_url else ""
        assert url == f"postgres://reactor:${{database-password}}@{ep.database_host}:5432/reactor{verify}", token
    assert not any("SHARED_POSTGRES_URL" in v for t in TOKENS if not t.startswith("C") for v in runtime_env(plan_for(t)))
