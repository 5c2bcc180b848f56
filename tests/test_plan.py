"""The Plan over every valid token: the ladder of DESIGN §6, as properties and examples."""

from __future__ import annotations

import dataclasses

import pytest
from matrix import every

from reactor_infra.errors import SettingsError
from reactor_infra.layout import (
    INTERNET,
    FILE_SYSTEM,
    OPERATORS,
    POOL_ROUTER,
    LOAD_BALANCER,
    VAULT_ROUTER,
    DatabaseHosting,
    Service,
    StorageBackend,
    Tier,
    VaultMode,
)
from reactor_infra.plan import build_plan
from reactor_infra.settings import StackSettings, load_settings
from reactor_infra.token import Edition, Platform, parse, valid_topologies

ALL = list(valid_topologies())
ALL_IDS = [t.token for t in ALL]


def plan_of(token: str, **settings):
    return build_plan(parse(token), StackSettings(**settings) if settings else None)


def services(plan):
    return {s for t in plan.tiers for s in t.services}


# --- properties over every valid token -------------------------------------------------


def test_every_plan_is_sound():
    every(ALL, _every_plan_is_sound)


def _every_plan_is_sound(topo):
    plan = build_plan(topo)
    names = [t.name for t in plan.tiers]
    assert len(names) == len(set(names)), "a tier appears once"
    assert sum(Service.REACTOR_SERVER in t.services for t in plan.tiers) == 1
    tier_names = {t.name.value for t in plan.tiers}
    for link in plan.links:
        assert link.source in tier_names | {INTERNET, LOAD_BALANCER, VAULT_ROUTER, POOL_ROUTER, OPERATORS}
        assert link.target in tier_names | {LOAD_BALANCER, VAULT_ROUTER, FILE_SYSTEM}
        assert link.target != INTERNET
        if link.source == OPERATORS:  # the platform's access proxy, to machines only, on its one port
            assert link.port == plan.traits.operator_port and plan.tier(link.target).services
        if link.source == POOL_ROUTER:  # only in front of an autoscaled app pool the gateway calls
            assert plan.traits.pool_router and plan.tier(link.target).replicas.autoscaled
            assert link.target != plan.ingress.tier
        if VAULT_ROUTER in (link.source, link.target):  # only in front of a clustered OpenBao
            assert plan.traits.vault_router and plan.tier_of(Service.OPENBAO).replicas.max > 1
        if link.target == FILE_SYSTEM:  # container tiers' files, and certificates shared by several Caddys
            shared_caddy = Service.CADDY in plan.tier(link.source).services and plan.tier(link.source).replicas.max > 1
            shared_blobs = plan.shared_blobs and plan.tier(link.source) is plan.app_tier
            assert (str(link.source) in plan.traits.container_tiers or shared_caddy or shared_blobs) and link.port == 2049
    # only the ingress is reachable from the internet, and only on 80/443
    for link in plan.links:
        if link.source == INTERNET:
            assert link.port in (80, 443)
            assert link.target in (LOAD_BALANCER, plan.ingress.tier)
    assert len(set(plan.links)) == len(plan.links), "each link is one rule"
    # storage: fs while one app node, s3 beyond (fs on the shared file system where the platform
    # has no S3-compatible store: Azure)
    several = plan.app_tier.replicas.max > 1
    assert (plan.storage is StorageBackend.S3) == (several and not plan.traits.shared_file_storage)
    assert plan.shared_blobs == (several and plan.traits.shared_file_storage)
    if plan.shared_blobs:
        assert any(link.source == plan.app_tier.name and link.target == FILE_SYSTEM for link in plan.links)
    # never a private embedded vault per node when there are several
    if plan.app_tier.replicas.max > 1:
        assert plan.vault is not VaultMode.EMBEDDED
    assert (plan.vault is VaultMode.OPENBAO) == (Service.OPENBAO in services(plan))
    # the pool of every app node fits under the database's connection limit
    assert plan.database.pool_max_per_node * plan.app_tier.replicas.max < plan.database.max_connections
    assert {"admin-token", "auth-data-key", "database-password"} <= {s.name for s in plan.secrets}
    # the gateway-server always sits beside Caddy (it posts to Caddy's localhost admin API)
    for t in plan.tiers:
        if Service.GATEWAY_SERVER in t.services:
            assert Service.CADDY in t.services


def test_plans_are_pure_and_frozen():
    every(ALL, _plans_are_pure_and_frozen)


def _plans_are_pure_and_frozen(topo):
    assert build_plan(topo) == build_plan(topo)
    with pytest.raises(dataclasses.FrozenInstanceError):
        build_plan(topo).storage = StorageBackend.FS  # type: ignore[misc]


# --- the ladder, rung by rung ----------------------------------------------------------


def test_size_1_binds_loopback_only():
    plan = plan_of("O1@local")
    assert [t.name for t in plan.tiers] == [Tier.LOCAL]
    assert plan.links == ()
    assert plan.ingress.tier is None
    assert not any(t.public for t in plan.tiers)
    assert plan.vault is VaultMode.EMBEDDED and plan.storage is StorageBackend.FS
    assert not plan.nats


def test_size_2_is_one_box_with_caddy():
    plan = plan_of("O2@aws")
    node = plan.tier(Tier.NODE)
    assert [t.name for t in plan.tiers] == [Tier.NODE]
    assert set(node.services) == {Service.REACTOR_SERVER, Service.POSTGRES, Service.OPENBAO, Service.CADDY}
    assert {(link.source, link.target, link.port) for link in plan.links} == {
        (INTERNET, "node", 443), (INTERNET, "node", 80)}
    assert plan.database.hosting is DatabaseHosting.BESIDE


def test_size_3_puts_the_database_outside_and_a_load_balancer_in_front():
    plan = plan_of("O3@aws")
    assert plan.has(Tier.DATABASE) and plan.database.hosting is DatabaseHosting.MANAGED
    assert plan.ingress.load_balancer and plan.ingress.tls == "load-balancer"
    assert plan.vault is VaultMode.EMBEDDED  # one app node


def test_size_3_with_several_app_nodes_never_keeps_a_private_vault():
    plan = plan_of("E3+ha@aws")
    assert plan.app_tier.replicas.min >= 2
    assert plan.vault is VaultMode.ENV and plan.storage is StorageBackend.S3


def test_size_4_co_locates_nats_openbao_and_the_gateway_on_one_infra_tier():
    plan = plan_of("E4@aws")
    infra = plan.tier(Tier.INFRA)
    assert set(infra.services) == {Service.NATS, Service.OPENBAO, Service.CADDY, Service.GATEWAY_SERVER}
    assert infra.replicas.min == 1
    assert not plan.has(Tier.EDGE) and not plan.has(Tier.NATS) and not plan.has(Tier.VAULT)
    assert plan.ingress.tier is Tier.INFRA
    assert plan.ingress.load_balancer  # one node, but machines on AWS have no public address
    assert plan_of("E4@onprem").ingress.load_balancer is False  # the customer's machine takes 80/443 itself
    ports = {(link.source, link.target, link.port) for link in plan.links}
    assert ("app", "infra", 8200) in ports and ("app", "infra", 4222) in ports
    assert ("infra", "database", 5432) in ports  # gateway-server needs a direct connection


def test_size_5_moves_the_gateway_to_an_edge_tier():
    plan = plan_of("E5@aws")
    edge = plan.tier(Tier.EDGE)
    assert set(edge.services) == {Service.CADDY, Service.GATEWAY_SERVER}
    assert edge.replicas.min == 2
    assert set(plan.tier(Tier.INFRA).services) == {Service.NATS, Service.OPENBAO}
    assert plan.ingress.tier is Tier.EDGE and plan.ingress.load_balancer


def test_size_6_separates_all():
    plan = plan_of("E6@aws")
    for tier in (Tier.EDGE, Tier.APP, Tier.NATS, Tier.VAULT, Tier.POOLER, Tier.DATABASE):
        assert plan.has(tier)
    assert not plan.has(Tier.INFRA)
    assert all(len(t.services) <= 2 for t in plan.tiers)
    ports = {(link.source, link.target, link.port) for link in plan.links}
    assert ("app", "pooler", 5432) in ports and ("pooler", "database", 5432) in ports
    assert ("app", "database", 5432) not in ports  # O/E reach data through the pooler only


def test_size_10_autoscales_app_and_edge():
    plan = plan_of("E10@aws")
    assert plan.app_tier.replicas.autoscaled and plan.tier(Tier.EDGE).replicas.autoscaled


def test_ha_gives_three_nats_and_openbao_nodes_and_an_ha_database():
    for token in ("E6+ha@aws", "E5+ha@gcp", "E4+ha@azure"):
        plan = plan_of(token)
        nats = plan.tier_of(Service.NATS)
        vault = plan.tier_of(Service.OPENBAO)
        assert nats.replicas.min == 3 and vault.replicas.min == 3
        assert plan.database.standby and plan.tier(Tier.DATABASE).zones >= 2
        ports = {(link.source, link.target, link.port) for link in plan.links}
        assert (vault.name.value, vault.name.value, 8201) in ports
        assert (nats.name.value, nats.name.value, 6222) in ports
        assert plan.app_tier.replicas.min >= 2 and plan.app_tier.zones >= 2


def test_without_ha_single_nats_and_no_cluster_routes():
    plan = plan_of("E6@aws")
    assert plan.tier(Tier.NATS).replicas.min == 1
    assert not any(link.port in (6222, 8201) for link in plan.links)


def test_commercial_turns_on_multi_tenancy():
    c2, c6 = plan_of("C2@aws"), plan_of("C6@aws")
    assert c2.policy.multi_tenant and c2.policy.tenant_provider == "single_node"
    assert c6.policy.tenant_provider == "shared_cluster" and c6.database.tenant_databases
    assert c6.policy.free_tier_quotas == {
        "requests_per_minute": 1000, "concurrent_functions": 10, "db_connections": 5,
        "storage_gb": 1, "bandwidth_gb_per_month": 5}
    # C at size 6 runs NATS and OpenBao as three-node clusters, as the shared-cluster runbook does
    assert c6.tier(Tier.NATS).replicas.min == 3 and c6.app_tier.replicas.min >= 3
    # C2 serves {ref}.<domain> with on-demand TLS: gateway-server beside Caddy
    assert Service.GATEWAY_SERVER in c2.tier(Tier.NODE).services
    assert not plan_of("E6@aws").policy.multi_tenant


def test_editions_change_defaults_not_layout():
    o, e = plan_of("O5+ha@aws"), plan_of("E5+ha@aws")
    assert [(t.name, t.services, t.replicas) for t in o.tiers] == [(t.name, t.services, t.replicas) for t in e.tiers]
    assert o.links == e.links
    assert not o.policy.protect and e.policy.protect
    assert e.policy.backup_retention_days > o.policy.backup_retention_days
    assert e.policy.customer_managed_keys and not o.policy.customer_managed_keys


def test_multi_region_repeats_regional_tiers_and_keeps_state_in_the_primary():
    plan = plan_of("E6+mr@aws")
    assert plan.regions == ("us-east-1", "us-west-2")
    for tier in (Tier.EDGE, Tier.APP, Tier.POOLER):
        assert plan.tier(tier).regions == plan.regions
    for tier in (Tier.NATS, Tier.VAULT, Tier.DATABASE):
        assert plan.tier(tier).regions == ("us-east-1",)
    assert plan.database.cross_region_replica == "us-west-2"


def test_multi_region_needs_two_regions():
    with pytest.raises(SettingsError, match="needs two regions"):
        plan_of("E6+mr@aws", regions=["eu-west-1"])


def test_regions_come_from_settings():
    assert plan_of("E6+mr@aws", regions=["eu-west-1", "eu-central-1"]).regions == ("eu-west-1", "eu-central-1")
    assert plan_of("O2@aws", regions=["eu-west-1"]).primary_region == "eu-west-1"


def test_sizing_presets_follow_the_seed():
    assert str(plan_of("O1@local").tier(Tier.LOCAL).sizing) == "1 vCPU / 1 GB / 10 GB"
    assert str(plan_of("O2@aws").tier(Tier.NODE).sizing) == "2 vCPU / 4 GB / 50 GB"
    assert str(plan_of("E5@aws").app_tier.sizing) == "4 vCPU / 8 GB / 100 GB"
    assert plan_of("E5@aws", sizing="staging").app_tier.sizing.vcpu == 1


def test_local_runs_one_container_per_tier_and_no_load_balancer():
    for size in range(1, 7):
        plan = plan_of(f"E{size}@local")
        assert all(t.replicas.max == 1 for t in plan.tiers)
        assert not plan.ingress.load_balancer
        assert plan.storage is StorageBackend.FS
    assert Service.CADDY in plan_of("O3@local").app_tier.services  # TLS without a cloud load balancer


def test_supavisor_runs_in_session_mode():
    plan = plan_of("E6@aws", pooler="supavisor")
    assert plan.pooler.kind == "supavisor" and plan.pooler.mode == "session" and plan.pooler.port == 5432
    assert "supavisor-secret-key-base" in {s.name for s in plan.secrets}


def test_pgbouncer_runs_in_session_mode_so_migration_locks_hold():
    plan = plan_of("E6@aws")
    assert (plan.pooler.kind, plan.pooler.mode, plan.pooler.port) == ("pgbouncer", "session", 5432)


def test_openbao_seal_defaults_to_the_clouds_kms_and_shamir_elsewhere():
    assert plan_of("E4@aws").vault_seal == "awskms"
    assert plan_of("E4@gcp").vault_seal == "gcpckms"
    assert plan_of("E4@azure").vault_seal == "azurekeyvault"
    assert plan_of("E4@onprem").vault_seal == "shamir"
    assert plan_of("E4@aws", vault_seal="shamir").vault_seal == "shamir"


def test_onprem_runs_its_own_database_node():
    plan = plan_of("E6@onprem")
    assert plan.database.hosting is DatabaseHosting.NODE
    assert plan.tier(Tier.DATABASE).services == (Service.POSTGRES,)


def test_worked_example_e5_ha_aws():
    """DESIGN §6's worked example."""
    plan = plan_of("E5+ha@aws")
    assert plan.tier(Tier.EDGE).replicas.min == 2 and plan.ingress.load_balancer
    assert plan.app_tier.replicas.min == 2 and plan.app_tier.zones == 2
    assert plan.tier(Tier.INFRA).replicas.min == 3 and plan.vault_seal == "awskms"
    assert plan.database.standby and plan.policy.customer_managed_keys and plan.policy.protect
    assert plan.policy.backup_retention_days == 14
    assert plan.storage is StorageBackend.S3


# --- stack settings ---------------------------------------------------------------------


def test_settings_reject_an_unknown_key_naming_it_and_the_allowed_keys():
    with pytest.raises(SettingsError) as info:
        load_settings({"regoin": "eu-west-1"})
    line = info.value.lines()[0]
    assert "unknown key 'regoin'" in line and "did you mean 'regions'?" in line and "allowed: " in line


def test_settings_reject_an_unknown_image_key():
    with pytest.raises(SettingsError, match="unknown key 'images.reactor'"):
        load_settings({"images": {"reactor": "x:1"}})


def test_settings_reject_bad_values_with_the_key():
    with pytest.raises(SettingsError, match="domain: 'Not A Domain'"):
        load_settings({"domain": "Not A Domain"})
    with pytest.raises(SettingsError, match="sizing"):
        load_settings({"sizing": "huge"})


def test_every_image_is_configurable():
    settings = load_settings({"images": {"reactor_server": "registry.example.com/reactor:1.2.3"}})
    assert settings.images.reactor_server == "registry.example.com/reactor:1.2.3"
    assert settings.images.postgres == "postgres:16"


def test_one_region_may_be_given_as_text():
    assert load_settings({"regions": "eu-west-1"}).regions == ("eu-west-1",)


@pytest.mark.parametrize("edition", list(Edition))
def test_commercial_is_the_only_multi_tenant_edition(edition):
    token = f"{edition.value}6@aws"
    assert plan_of(token).policy.multi_tenant is (edition is Edition.COMMERCIAL)


def test_platform_is_in_the_plan_but_layout_is_shared_across_clouds():
    # every cloud runs the same tiers with the same services and replicas; only where blobs live
    # is the platform's (an object store tier, or the file system the app nodes share on Azure)
    layouts = {p: [(t.name, t.services, t.replicas) for t in plan_of(f"E6+ha@{p.value}").tiers if t.name != Tier.STORAGE]
               for p in (Platform.AWS, Platform.GCP, Platform.AZURE, Platform.FLY)}
    assert len({repr(v) for v in layouts.values()}) == 1
    assert not plan_of("E6+ha@azure").has(Tier.STORAGE) and plan_of("E6+ha@azure").shared_blobs
    assert plan_of("E6+ha@aws").has(Tier.STORAGE) and not plan_of("E6+ha@aws").shared_blobs


def test_only_tiers_that_call_out_get_internet_egress():
    plan = plan_of("E6+ha@aws")
    egress = {t.name for t in plan.tiers if t.egress}
    # app: webhooks/SMTP; edge: ACME; vault: the KMS that unseals it
    assert egress == {Tier.APP, Tier.EDGE, Tier.VAULT}
    onprem = plan_of("E6@onprem")
    assert not onprem.tier(Tier.VAULT).egress  # shamir: no KMS to reach
    assert not any(t.egress for t in plan.tiers if t.name in (Tier.NATS, Tier.POOLER, Tier.DATABASE))


# --- the link table, exactly, for a handful of tokens (DESIGN §6) ---------------------------------

EXACT_LINKS = {
    "O1@local": [],
    "O2@aws": [("internet", "node", 443), ("internet", "node", 80)],
    # DESIGN §6 puts the one infra node on the internet; on AWS no machine from size 3 has a
    # public address (issue 9), so a passthrough load balancer stands in front of it
    "E4@aws": [
        ("internet", "load-balancer", 443), ("internet", "load-balancer", 80),
        ("load-balancer", "infra", 443), ("load-balancer", "infra", 80), ("infra", "app", 8000),
        ("app", "database", 5432), ("infra", "database", 5432), ("app", "infra", 8200), ("app", "infra", 4222)],
    # Beyond DESIGN §6 on AWS (issue 9): Caddy and gateway-server of the edge are tasks of their
    # own (edge -> edge :9000); a clustered OpenBao sits behind a router that passes only to the
    # active node, and a joining node calls a peer's API (:8200 between peers); the edge's
    # Caddy replicas share their certificates on the network file system.
    "E5+ha@aws": [
        ("internet", "load-balancer", 443), ("internet", "load-balancer", 80),
        ("load-balancer", "edge", 443), ("load-balancer", "edge", 80), ("edge", "app", 8000),
        ("edge", "edge", 9000), ("app", "database", 5432), ("edge", "database", 5432),
        ("app", "vault-router", 8200), ("vault-router", "infra", 8200), ("infra", "infra", 8200),
        ("infra", "infra", 8201), ("app", "infra", 4222), ("infra", "infra", 6222), ("edge", "file-system", 2049)],
    "C6@aws": [
        ("internet", "load-balancer", 443), ("internet", "load-balancer", 80),
        ("load-balancer", "edge", 443), ("load-balancer", "edge", 80), ("edge", "app", 8000),
        ("edge", "edge", 9000), ("app", "pooler", 5432), ("pooler", "database", 5432), ("app", "database", 5432),
        ("edge", "database", 5432), ("app", "vault-router", 8200), ("vault-router", "vault", 8200),
        ("vault", "vault", 8200), ("vault", "vault", 8201), ("app", "nats", 4222), ("nats", "nats", 6222),
        ("edge", "file-system", 2049)],
    "E6@local": [
        ("internet", "edge", 443), ("internet", "edge", 80), ("edge", "app", 8000), ("app", "pooler", 5432),
        ("pooler", "database", 5432), ("edge", "database", 5432), ("app", "vault", 8200), ("app", "nats", 4222)],
}


@pytest.mark.parametrize("token", sorted(EXACT_LINKS))
def test_the_link_table_is_exactly_designs(token):
    assert [(str(x.source), str(x.target), x.port) for x in plan_of(token).links] == EXACT_LINKS[token]


def test_links_name_the_services_at_each_end():
    by_port = {(str(x.source), x.port): (x.source_service, x.target_service) for x in plan_of("C6@aws").links}
    assert by_port[("app", 8200)] == (Service.REACTOR_SERVER, Service.OPENBAO)
    assert by_port[("app", 4222)] == (Service.REACTOR_SERVER, Service.NATS)
    assert by_port[("edge", 5432)] == (Service.GATEWAY_SERVER, Service.POSTGRES)
    assert by_port[("internet", 443)] == (None, None)  # the load balancer takes it
    assert by_port[("load-balancer", 443)] == (None, Service.CADDY)
