"""The keys reactor-server v1 reads from Reactor.toml, as data (runtime reference §2).

Source of truth: `crates/reactor-server/src/config.rs` of reactor-cloud/reactor-cloud at
4747219 (where the reference's table abbreviates, the code's field names are listed). Used to
prove that what we render only holds keys the runtime reads: serde ignores unknown keys, so a
typo there is silently dropped, never an error at boot.

Env overrides (figment): prefix `REACTOR_`, `__` = one level of nesting, names lower-cased;
env wins over the file. `env_var("database.url") == "REACTOR_DATABASE__URL"`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

ENV_PREFIX = "REACTOR_"

# Table path -> the plain (non-table) keys it may hold. A table's sub-tables are the entries
# whose path extends it (`cloud.shared_pool` under `cloud`).
SECTIONS: dict[str, frozenset[str]] = {
    "project": frozenset({"name", "id", "ref", "env"}),
    "server": frozenset({"bind", "request_timeout_secs"}),
    "database": frozenset({"url", "pool_max", "acquire_timeout_secs"}),
    "tracing": frozenset({"filter", "fmt"}),
    "admin": frozenset({"token", "allow_remote"}),
    "auth": frozenset({"data_key", "public_url", "jwt_issuer", "jwt_audience",
                       "access_ttl_secs", "refresh_ttl_secs"}),
    "auth.smtp": frozenset({"host", "port", "user", "password", "from", "tls"}),
    "data": frozenset({"migrations_dir", "run_migrations", "user_schema", "max_embed_depth",
                       "max_limit", "default_limit"}),
    "storage": frozenset({"backend", "fs_base_path", "s3_bucket", "s3_region", "s3_endpoint",
                          "signing_secret", "signed_url_expiry_secs", "max_upload_size"}),
    "functions": frozenset({"workdir", "data_key", "runtimes", "invoke_default_timeout_ms",
                            "invoke_max_timeout_ms", "bundle_max_bytes", "bun_bin",
                            "bun_idle_ttl_secs", "bun_max_instances_per_fn", "lambda_region",
                            "lambda_role_arn", "lambda_bundle_s3_bucket"}),
    "jobs": frozenset({"worker_count", "scheduler_interval_ms", "default_timeout_ms",
                       "max_timeout_ms", "webhook_secret", "max_org_concurrent_runs",
                       "max_payload_bytes"}),
    "connect": frozenset({"data_key", "jobs_url", "data_url", "storage_url",
                          "refresh_interval_secs", "sandbox_ttl_secs", "max_concurrent_syncs"}),
    "sites": frozenset({"workdir", "bundle_max_bytes", "isr_enabled", "isr_default_revalidate_secs",
                        "preview_subdomain", "revalidation_secret", "default_org_slug"}),
    "analytics": frozenset({"internal_secret", "geo_db_path", "honor_dnt", "max_properties_bytes",
                            "quota_per_org_monthly", "retention_days", "batch_interval_ms",
                            "batch_max_rows", "batch_queue_depth", "query_timeout_ms",
                            "query_max_rows", "query_raw_range_days", "query_agg_range_days",
                            "rate_limit_rps", "rate_limit_burst", "rate_limit_per_second",
                            "quota_cache_ttl_secs", "sample_rate"}),
    "ai": frozenset({"openrouter_api_key", "aws_access_key_id", "aws_secret_access_key",
                     "aws_session_token", "aws_bedrock_region", "azure_foundry_endpoint",
                     "azure_foundry_api_key", "registry_overlay", "registry_url", "default_alias"}),
    "vault": frozenset({"backend", "path", "master_key", "address", "namespace", "kv_mount",
                        "transit_mount", "auth_method", "token", "role_id", "secret_id_file",
                        "approle_mount", "ca_cert", "cache_ttl_secs"}),
    "cloud": frozenset({"base_domain", "backend_target", "tls_mode", "provider", "multi_tenant",
                        "tenant_cache_ttl_secs"}),
    "cloud.shared_pool": frozenset({"max_active_tenants", "idle_timeout_secs",
                                    "cold_load_concurrency", "per_tenant_pool_size",
                                    "shared_postgres_url", "shared_backend_target"}),
    "cloud.shared_pool.pooler": frozenset({"mode", "url_template", "connect_timeout_secs",
                                           "max_connections_per_tenant", "prepared_statements"}),
    "cloud.realtime": frozenset({"backend"}),
    "cloud.pubsub": frozenset({"backend"}),
    "cloud.quotas": frozenset(),
    "cloud.quotas.free": frozenset({"requests_per_minute", "concurrent_functions", "db_connections",
                                    "storage_gb", "bandwidth_gb_per_month"}),
    "cloud.quotas.dedicated": frozenset({"requests_per_minute", "concurrent_functions",
                                         "db_connections", "storage_gb", "bandwidth_gb_per_month"}),
}
_NATS_KEYS = frozenset({"servers", "credentials_file", "connection_name", "reconnect_buffer_size",
                        "max_reconnects"})
SECTIONS["cloud.realtime.nats"] = _NATS_KEYS
SECTIONS["cloud.pubsub.nats"] = _NATS_KEYS

# The runtime refuses to boot without these tables (`database`, `admin` are not Option in
# config.rs; `validate()` rejects a missing [auth]: "no anonymous mode").
MANDATORY_SECTIONS: tuple[str, ...] = ("database", "admin", "auth")

# Keys that must hold a non-empty value (from the file or the env) once their table exists:
# serde fields without a default, plus what `validate()` checks.
REQUIRED_KEYS: dict[str, frozenset[str]] = {
    "database": frozenset({"url"}),
    "admin": frozenset({"token"}),
    "auth": frozenset({"data_key", "public_url"}),
    "auth.smtp": frozenset({"host", "from"}),
    "storage": frozenset({"signing_secret"}),
    "functions": frozenset({"data_key"}),
    "jobs": frozenset({"webhook_secret"}),
    "connect": frozenset({"data_key"}),
    "cloud.realtime.nats": frozenset({"servers"}),
    "cloud.pubsub.nats": frozenset({"servers"}),
}

# Keys whose value is a secret: never a literal in the file.
SECRET_KEYS: frozenset[str] = frozenset({
    "admin.token", "auth.data_key", "functions.data_key", "connect.data_key",
    "storage.signing_secret", "jobs.webhook_secret", "sites.revalidation_secret",
    "auth.smtp.password", "vault.master_key", "vault.token", "analytics.internal_secret",
    "ai.openrouter_api_key", "ai.aws_access_key_id", "ai.aws_secret_access_key",
    "ai.aws_session_token", "ai.azure_foundry_api_key",
    "database.url", "cloud.shared_pool.shared_postgres_url", "cloud.shared_pool.pooler.url_template",
})
# Of those, the connection URLs are secret only through their password: a URL without one
# (`postgres://reactor@db:5432/reactor`) may stand in the file while the env carries the real one.
CREDENTIAL_URL_KEYS: frozenset[str] = frozenset({
    "database.url", "cloud.shared_pool.shared_postgres_url", "cloud.shared_pool.pooler.url_template",
})
# Keys the runtime resolves from its vault when written `vault:<name>` (reference §2; the AI
# keys per config.rs comments).
VAULT_REF_KEYS: frozenset[str] = frozenset({
    "admin.token", "auth.data_key", "functions.data_key", "auth.smtp.password",
    "storage.signing_secret", "jobs.webhook_secret",
    "ai.openrouter_api_key", "ai.aws_access_key_id", "ai.aws_secret_access_key",
    "ai.azure_foundry_api_key",
})
# Keys that accept `env:VAR` (read VAR from the process environment).
ENV_REF_KEYS: frozenset[str] = frozenset({"vault.master_key"})
DEFAULT_MASTER_KEY_REF = "env:REACTOR_VAULT_MASTER_KEY"

ENUMS: dict[str, frozenset[str]] = {
    "project.env": frozenset({"production", "preview", "dev"}),
    "tracing.fmt": frozenset({"json", "pretty"}),
    "auth.smtp.tls": frozenset({"starttls", "tls", "none"}),
    "storage.backend": frozenset({"fs", "s3"}),
    "functions.runtimes": frozenset({"wasm", "bun", "lambda"}),  # each item of the list
    "vault.backend": frozenset({"embedded", "openbao"}),
    "vault.auth_method": frozenset({"token", "approle"}),
    "cloud.provider": frozenset({"single_node", "shared_cluster"}),
    "cloud.tls_mode": frozenset({"none", "wildcard", "on_demand", "manual"}),
    "cloud.shared_pool.pooler.mode": frozenset({"transaction", "session"}),
    "cloud.realtime.backend": frozenset({"in_process", "nats"}),
    "cloud.pubsub.backend": frozenset({"in_process", "nats"}),
}


# --- env names ----------------------------------------------------------------------------


def env_var(dotted: str) -> str:
    """`cloud.shared_pool.pooler.mode` -> `REACTOR_CLOUD__SHARED_POOL__POOLER__MODE`."""
    return ENV_PREFIX + dotted.upper().replace(".", "__")


def dotted_key(env: str) -> str:
    """`REACTOR_DATABASE__URL` -> `database.url` (figment lower-cases and splits on `__`)."""
    if not env.startswith(ENV_PREFIX):
        raise ValueError(f"{env} does not start with {ENV_PREFIX}")
    return env.removeprefix(ENV_PREFIX).lower().replace("__", ".")


def is_known_key(dotted: str) -> bool:
    table, _, key = dotted.rpartition(".")
    return key in SECTIONS.get(table, frozenset())


# --- checking a parsed document -------------------------------------------------------------


def leaves(doc: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (dotted key, value) that is not a table."""
    for key, value in doc.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            yield from leaves(value, path)
        else:
            yield path, value


def is_reference(dotted: str, value: Any) -> bool:
    """A value that names where a secret lives instead of holding it."""
    if not isinstance(value, str):
        return False
    if dotted in VAULT_REF_KEYS and value.startswith("vault:") and len(value) > len("vault:"):
        return True
    return dotted in ENV_REF_KEYS and value.startswith("env:") and len(value) > len("env:")


def url_has_password(url: str) -> bool:
    userinfo, sep, _ = url.partition("://")[2].partition("@")
    return bool(sep) and ":" in userinfo


def secret_problem(dotted: str, value: Any) -> str | None:
    """Why a secret key's value must not be in the file, or None when it may."""
    if dotted not in SECRET_KEYS:
        return None
    if dotted in CREDENTIAL_URL_KEYS:
        if isinstance(value, str) and not url_has_password(value):
            return None
        return f"{dotted}: a connection URL with a password; set {env_var(dotted)} instead"
    if is_reference(dotted, value):
        return None
    return f"{dotted}: a secret written as a literal; omit it and set {env_var(dotted)}"


def check(doc: Mapping[str, Any]) -> list[str]:
    """Every way a parsed Reactor.toml breaks the runtime's schema (empty when none)."""
    problems = [f"[{s}] is missing: the runtime will not start without it"
                for s in MANDATORY_SECTIONS if s not in doc]
    problems += _check_table(doc, "")
    for dotted, value in leaves(doc):
        problems += _check_value(dotted, value)
    return problems


def _check_table(table: Mapping[str, Any], path: str) -> list[str]:
    problems = []
    allowed = SECTIONS.get(path, frozenset())
    for key, value in table.items():
        child = f"{path}.{key}" if path else key
        if isinstance(value, Mapping):
            if child in SECTIONS:
                problems += _check_table(value, child)
            else:
                problems.append(f"[{child}] is not a table the runtime reads")
        elif child in SECTIONS:
            problems.append(f"{child} must be a table")
        elif key not in allowed:
            problems.append(f"{child} is not a key the runtime reads" if path
                            else f"{child}: top-level keys are not read; put it in a [table]")
    return problems


def _check_value(dotted: str, value: Any) -> list[str]:
    problems = []
    if (why := secret_problem(dotted, value)) is not None:
        problems.append(why)
    allowed = ENUMS.get(dotted)
    if allowed is not None:
        items = value if isinstance(value, list) else [value]
        bad = [v for v in items if v not in allowed]
        if bad:
            problems.append(f"{dotted}: {bad} not in {sorted(allowed)}")
    return problems
