"""The `@gcp` ladder rung by rung and modifier by modifier (issue 12): what each render holds and
what it does not, read from the render and compared with the token's Plan.

Per size: the node behind its static address (2); the global Application Load Balancer in front
of the app machines, Cloud SQL (3); a pass-through Network Load Balancer in front of the infra
machines where Caddy terminates (4); the edge tier behind it (5); NATS, OpenBao behind the vault
router, the pooler (6, 10). Per modifier: zones and a REGIONAL database (+ha), the second
region's subnet, machines, balancer and database replica (+mr), managed instance groups that
scale between the Plan's minimum and maximum (+as). And for every token the firewall exactly:
each rule read by its tags and ranges against the Plan's links (the conformance readings).
"""

from __future__ import annotations

import ipaddress
from collections import Counter

import pytest
import yaml
from matrix import every
from renders import default_settings, rendered

from reactor_infra.graph import ResourceGraph
from reactor_infra.layout import Plan, Service, TlsTermination
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

GCP = [t for t in valid_topologies() if t.platform is Platform.GCP]

INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
GROUP_MANAGER = "gcp:compute/regionInstanceGroupManager:RegionInstanceGroupManager"
AUTOSCALER = "gcp:compute/regionAutoscaler:RegionAutoscaler"
INSTANCE_GROUP = "gcp:compute/instanceGroup:InstanceGroup"
DISK = "gcp:compute/disk:Disk"
ADDRESS = "gcp:compute/address:Address"
GLOBAL_ADDRESS = "gcp:compute/globalAddress:GlobalAddress"
FORWARDING = "gcp:compute/forwardingRule:ForwardingRule"
GLOBAL_FORWARDING = "gcp:compute/globalForwardingRule:GlobalForwardingRule"
BACKEND = "gcp:compute/backendService:BackendService"
REGION_BACKEND = "gcp:compute/regionBackendService:RegionBackendService"
URL_MAP = "gcp:compute/uRLMap:URLMap"
SUBNET = "gcp:compute/subnetwork:Subnetwork"
NAT = "gcp:compute/routerNat:RouterNat"
SQL = "gcp:sql/databaseInstance:DatabaseInstance"
BUCKET = "gcp:storage/bucket:Bucket"
FILESTORE = "gcp:filestore/instance:Instance"
RECORD = "gcp:dns/recordSet:RecordSet"
ZONE = "gcp:dns/managedZone:ManagedZone"
SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
ACCOUNT = "gcp:serviceaccount/account:Account"


def tokens(size: int | None = None, **modifiers: bool) -> list[str]:
    """The `@gcp` tokens of a size (any when None) with the given modifiers on or off."""
    return [t.token for t in GCP if (size is None or t.size == size)
            and all((m in {x.value for x in t.modifiers}) == on for m, on in modifiers.items())]


def plan_of(token: str) -> Plan:
    settings = default_settings(token)
    return build_plan(parse(token), load_settings(settings) if settings else None)


def machines(graph: ResourceGraph, tier: str) -> list:
    return [r for t in (INSTANCE, TEMPLATE) for r in graph.find(t) if r.inputs["labels"]["tier"] == tier]


def user_data(r) -> dict:
    return yaml.safe_load(r.inputs["metadata"]["user-data"])


def compose_services(r) -> set[str]:
    files = {f["path"]: f["content"] for f in user_data(r)["write_files"]}
    return set(yaml.safe_load(files["/opt/reactor/compose.yaml"])["services"])


# --- every rung -----------------------------------------------------------------------------------


def test_every_tier_runs_its_services_on_its_own_machines():
    """Each tier with services is machines of its own running exactly its services (and their
    one-shot helpers): nothing of another tier, nothing missing."""
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        for tier in (t for t in plan.tiers if t.services):
            found = machines(graph, tier.name.value)
            assert found, f"no machine for {tier.name}"
            for m in found:
                services = {s for s in compose_services(m) if s in {x.value for x in Service}}
                assert services == {s.value for s in tier.services}, (tier.name, services)
    every(tokens(), check)


def test_fixed_tiers_are_instances_as_many_as_the_plan_says_per_region():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        for tier in (t for t in plan.tiers if t.services and not t.replicas.autoscaled):
            found = [m for m in graph.find(INSTANCE) if m.inputs["labels"]["tier"] == tier.name.value]
            assert len(found) == tier.replicas.max * len(tier.regions), (tier.name, len(found))
            assert not [m for m in graph.find(TEMPLATE) if m.inputs["labels"]["tier"] == tier.name.value]
    every(tokens(), check)


def test_fixed_machines_keep_their_fixed_addresses_in_their_regions_subnet():
    def check(token):
        graph = rendered(token)
        subnets = {s.inputs["region"]: ipaddress.IPv4Network(s.inputs["ipCidrRange"]) for s in graph.find(SUBNET)}
        seen = []
        for m in graph.find(INSTANCE):
            region = m.inputs["zone"].rsplit("-", 1)[0]
            (nic,) = m.inputs["networkInterfaces"]
            address = nic.get("networkIp")
            if parse(token).size >= 3:
                assert address and ipaddress.IPv4Address(address) in subnets[region], (m.name, address)
                seen.append(address)
        assert len(seen) == len(set(seen)), "two machines on one address"
    every(tokens(), check)


def test_replicas_spread_over_their_tiers_zones():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        for tier in (t for t in plan.tiers if t.services and not t.replicas.autoscaled):
            for region in tier.regions:
                zones = Counter(m.inputs["zone"] for m in graph.find(INSTANCE)
                                if m.inputs["labels"]["tier"] == tier.name.value and m.inputs["zone"].startswith(region))
                assert len(zones) == min(tier.zones, tier.replicas.max), (tier.name, region, zones)
    every(tokens(), check)


def test_each_data_disk_is_its_own_and_attached_by_its_device_name():
    def check(token):
        graph = rendered(token)
        disks = {d.name for d in graph.find(DISK)}
        for m in graph.find(INSTANCE):
            (attached,) = m.inputs["attachedDisks"]
            assert attached["deviceName"] == "reactor-data"
            assert m.name.removesuffix("-instance") + "-data" in disks
        for t in graph.find(TEMPLATE):
            data = [d for d in t.inputs["disks"] if not d.get("boot")]
            assert [d["deviceName"] for d in data] == ["reactor-data"] and data[0]["autoDelete"]
    every(tokens(), check)


# --- per size -------------------------------------------------------------------------------------


def test_size_2_is_one_node_behind_its_static_address_and_nothing_else():
    def check(token):
        graph = rendered(token)
        (node,) = graph.find(INSTANCE)
        (address,) = graph.find(ADDRESS)
        (nic,) = node.inputs["networkInterfaces"]
        assert nic["accessConfigs"] == [{"natIp": graph.outputs_of(address.urn)["address"]}]
        for kind in (SQL, FORWARDING, GLOBAL_FORWARDING, NAT, ZONE, FILESTORE):
            assert not graph.find(kind), kind
        assert compose_services(node) >= {"reactor-server", "postgres", "openbao", "caddy"}
    every(tokens(2), check)


def test_size_3_is_the_global_load_balancer_in_front_of_the_app_machines():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        assert plan.ingress.tls is TlsTermination.LOAD_BALANCER
        assert sorted(r.inputs["portRange"] for r in graph.find(GLOBAL_FORWARDING)) == ["443", "80"]
        assert all(r.inputs["loadBalancingScheme"] == "EXTERNAL_MANAGED" for r in graph.find(GLOBAL_FORWARDING))
        (backend,) = graph.find(BACKEND)
        assert backend.inputs["portName"] == "http" and backend.inputs["timeoutSec"] >= 3600
        groups = {g["group"] for g in backend.inputs["backends"]}
        assert len(groups) == (1 if plan.app_tier.replicas.autoscaled else min(plan.app_tier.zones,
                                                                             plan.app_tier.replicas.max))
        assert not graph.find(FORWARDING), "no other load balancer at size 3"
        assert "caddy" not in {s for m in machines(graph, "app") for s in compose_services(m)}
    every(tokens(3), check)


def test_the_url_map_turns_the_admin_surface_away_before_any_backend():
    def check(token):
        graph = rendered(token)
        urls = next(u for u in graph.find(URL_MAP) if u.inputs.get("pathMatchers"))
        (matcher,) = urls.inputs["pathMatchers"]
        (rule,) = matcher["pathRules"]
        assert set(rule["paths"]) == {p for b in ("/_admin", "/_cloud", "/_ops") for p in (b, f"{b}/*")}
        assert rule["urlRedirect"]["pathRedirect"] == "/" and "service" not in rule
        redirect = next(u for u in graph.find(URL_MAP) if u.inputs.get("defaultUrlRedirect"))
        assert redirect.inputs["defaultUrlRedirect"]["httpsRedirect"] is True
    every(tokens(3), check)


def test_from_size_4_caddy_terminates_behind_a_pass_through_balancer_per_region():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        ingress = plan.tier(plan.ingress.tier)
        external = [r for r in graph.find(FORWARDING) if r.inputs["loadBalancingScheme"] == "EXTERNAL"]
        assert sorted(r.inputs["region"] for r in external) == sorted(ingress.regions)
        assert all(r.inputs["ports"] == ["80", "443"] for r in external)
        assert not graph.find(GLOBAL_FORWARDING)
        assert all("caddy" in compose_services(m) for m in machines(graph, ingress.name.value))
    every([t for t in tokens() if parse(t).size >= 4], check)


def test_a_clustered_openbao_sits_behind_the_vault_router_on_a_fixed_address():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        vault = plan.tier_of(Service.OPENBAO)
        routers = [r for r in graph.find(FORWARDING) if r.inputs["loadBalancingScheme"] == "INTERNAL"
                   and r.inputs["ports"] == ["8200"]]
        if vault.replicas.max == 1:
            assert not routers
            return
        (router,) = routers
        assert router.inputs["allowGlobalAccess"] is True
        record = next(r for r in graph.find(RECORD) if r.inputs["name"] == f"{vault.name.value}.reactor.internal.")
        assert record.inputs["rrdatas"] == [router.inputs["ipAddress"]]
    every([t for t in tokens() if parse(t).size >= 4], check)


def test_the_database_is_cloud_sql_on_a_private_address_from_size_3():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        primary = [d for d in graph.find(SQL) if not d.inputs.get("masterInstanceName")]
        if parse(token).size < 3:
            assert not primary and "postgres" in compose_services(graph.find(INSTANCE)[0])
            return
        (db,) = primary
        ip = db.inputs["settings"]["ipConfiguration"]
        assert ip["ipv4Enabled"] is False and ip["privateNetwork"]
        assert db.inputs["settings"]["availabilityType"] == ("REGIONAL" if plan.database.standby else "ZONAL")
    every(tokens(), check)


def test_the_pooler_is_machines_of_its_own_from_size_6():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        assert (plan.pooler is not None) == (parse(token).size >= 6)
        if plan.pooler:
            assert all(compose_services(m) == {"pgbouncer"} for m in machines(graph, "pooler"))
    every(tokens(), check)


def test_several_caddys_share_their_certificates_on_filestore():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        sharing = [t for t in plan.tiers if Service.CADDY in t.services and t.replicas.max > 1]
        assert len(graph.find(FILESTORE)) == (1 if sharing else 0)
        for tier in sharing:
            for m in machines(graph, tier.name.value):
                prepare = next(f["content"] for f in user_data(m)["write_files"]
                               if f["path"] == "/usr/local/sbin/reactor-prepare-node")
                assert " /mnt/reactor nfs vers=3" in prepare and "mkdir -p /mnt/reactor/caddy-data" in prepare
    every(tokens(), check)


# --- per modifier ---------------------------------------------------------------------------------


def test_one_region_without_mr_and_the_second_as_a_subnet_of_the_same_vpc_with_mr():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        assert sorted(s.inputs["region"] for s in graph.find(SUBNET)) == sorted(plan.regions)
        assert len(graph.find("gcp:compute/network:Network")) == 1
        if parse(token).size >= 3:
            assert sorted(n.inputs["region"] for n in graph.find(NAT)) == sorted(plan.regions)
    every(tokens(), check)


def test_mr_repeats_the_regional_tiers_and_replicates_the_database_to_the_second_region():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        second = plan.regions[1]
        for tier in (t for t in plan.tiers if t.services):
            fixed = [m for m in graph.find(INSTANCE) if m.inputs["labels"]["tier"] == tier.name.value
                     and m.inputs["zone"].startswith(f"{second}-")]
            pooled = [g for g in graph.find(GROUP_MANAGER) if g.inputs["region"] == second
                      and g.inputs["name"].startswith(f"{plan.name_prefix}-{tier.name.value}-")]
            assert bool(fixed or pooled) == (second in tier.regions), (tier.name, second)
        (replica,) = [d for d in graph.find(SQL) if d.inputs.get("masterInstanceName")]
        assert replica.inputs["region"] == second
        (bucket,) = graph.find(BUCKET)
        assert bucket.inputs["customPlacementConfig"]["dataLocations"] == [r.upper() for r in plan.regions]
    every(tokens(mr=True), check)


def test_mr_routes_the_domain_and_the_private_names_by_the_callers_region():
    graph = rendered("C6+ha+mr@gcp")
    public = next(r for r in graph.find(RECORD) if r.inputs["name"] == "api.example.com.")
    assert [g["location"] for g in public.inputs["routingPolicy"]["geos"]] == ["us-central1", "us-east1"]
    pooler = next(r for r in graph.find(RECORD) if r.inputs["name"] == "pooler.reactor.internal.")
    assert [g["location"] for g in pooler.inputs["routingPolicy"]["geos"]] == ["us-central1", "us-east1"]


def test_autoscaled_tiers_are_instance_groups_scaling_between_the_plans_min_and_max():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        scaled = [t for t in plan.tiers if t.replicas.autoscaled]
        assert scaled
        scalers = graph.find(AUTOSCALER)
        assert len(scalers) == sum(len(t.regions) for t in scaled)
        for tier in scaled:
            for region in tier.regions:
                group = next(g for g in graph.find(GROUP_MANAGER) if g.inputs["region"] == region
                             and g.inputs["name"].startswith(f"{plan.name_prefix}-{tier.name.value}"))
                assert group.inputs["autoHealingPolicies"]["initialDelaySec"] >= 300
                scaler = next(s for s in scalers if s.inputs["region"] == region
                              and s.inputs["name"].startswith(f"{plan.name_prefix}-{tier.name.value}"))
                policy = scaler.inputs["autoscalingPolicy"]
                assert (policy["minReplicas"], policy["maxReplicas"]) == (tier.replicas.min, tier.replicas.max)
    every(tokens(**{"as": True}), check)


def test_an_autoscaled_app_pool_behind_the_gateway_is_reached_through_the_pool_router():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        routed = plan.app_tier.replicas.autoscaled and plan.ingress.tier != plan.app_tier.name
        routers = [r for r in graph.find(FORWARDING) if r.inputs["loadBalancingScheme"] == "INTERNAL"
                   and r.inputs["ports"] == ["8000"]]
        # one in each region of the pool: each region's gateway reaches its own region's app machines
        assert sorted(r.inputs["region"] for r in routers) == (sorted(plan.app_tier.regions) if routed else [])
        if routed:
            record = next(r for r in graph.find(RECORD) if r.inputs["name"] == "app.reactor.internal.")
            answers = ({g["location"]: g["rrdatas"] for g in record.inputs["routingPolicy"]["geos"]}
                       if record.inputs.get("routingPolicy") else {plan.primary_region: record.inputs["rrdatas"]})
            assert answers == {r.inputs["region"]: [r.inputs["ipAddress"]] for r in routers}
    every(tokens(), check)


# --- identities -----------------------------------------------------------------------------------


def test_each_tier_has_its_own_service_account_reading_only_what_its_machines_use():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        accounts = {a.inputs["accountId"] for a in graph.find(ACCOUNT)}
        tiers = [t for t in plan.tiers if t.services]
        assert len(accounts) == len(tiers) + (1 if plan.has("storage") else 0)
        for m in graph.find(INSTANCE) + graph.find(TEMPLATE):
            email = m.inputs["serviceAccount"]["email"]
            assert email.split("@")[0].endswith(m.inputs["labels"]["tier"]), email
        for member in graph.find(SECRET_MEMBER):
            assert member.inputs["role"] in ("roles/secretmanager.secretAccessor",
                                             "roles/secretmanager.secretVersionAdder")
        writers = {m.inputs["secretId"] for m in graph.find(SECRET_MEMBER)
                   if m.inputs["role"].endswith("secretVersionAdder")}
        assert len(writers) == (2 if plan.vault_seal is not None else 0)
    every(tokens(), check)


def test_only_the_openbao_tier_may_use_the_seal_key():
    def check(token):
        plan, graph = plan_of(token), rendered(token)
        seal_members = [m for m in graph.find(KEY_MEMBER) if "openbao-seal" in m.inputs["cryptoKeyId"]]
        if plan.vault_seal is None:
            assert not seal_members
            return
        tier = plan.tier_of(Service.OPENBAO).name.value
        assert {m.inputs["role"] for m in seal_members} == {"roles/cloudkms.cryptoKeyEncrypterDecrypter",
                                                            "roles/cloudkms.viewer"}
        assert {m.inputs["member"].split("@")[0].rsplit("-", 1)[-1] for m in seal_members} == {tier}
    every(tokens(), check)
