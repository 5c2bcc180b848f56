"""The `@aws` ladder rung by rung and modifier by modifier (issue 9): what each render holds and
what it does not, read from the render and compared with the token's Plan.

Per size: the node (2); an ALB in front of reactor-server on ECS (3); an NLB in front of the
infra machines (4); Caddy and gateway-server on ECS behind the NLB (5); NATS and OpenBao
machines, the pooler and the vault router (6, 10). Per modifier: zones (+ha), the second region
(+mr), autoscaling (+as). And for a few tokens the firewall exactly: the (source, target, port)
triples of the ingress rules, groups read by the ids the rules name, against the Plan's links.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from matrix import every
from renders import default_settings, rendered
from reactor_infra_aws import mocks as aws_mocks

from reactor_infra.graph import Resource, ResourceGraph
from reactor_infra.layout import INTERNET, Plan
from reactor_infra.plan import build_plan
from reactor_infra.settings import load_settings
from reactor_infra.token import Platform, parse, valid_topologies

AWS = [t for t in valid_topologies() if t.platform is Platform.AWS]
MACHINE_TIERS = ("node", "infra", "nats", "vault")
DOMAIN = "api.example.com"

INSTANCE = "aws:ec2/instance:Instance"
EIP = "aws:ec2/eip:Eip"
EIP_ASSOCIATION = "aws:ec2/eipAssociation:EipAssociation"
LB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
RDS = "aws:rds/instance:Instance"
ECS_SERVICE = "aws:ecs/service:Service"
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
EFS = "aws:efs/fileSystem:FileSystem"
ACCESS_POINT = "aws:efs/accessPoint:AccessPoint"
NAT = "aws:ec2/natGateway:NatGateway"
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
PREFIX_LIST = "aws:ec2/managedPrefixList:ManagedPrefixList"
PEERING = "aws:ec2/vpcPeeringConnection:VpcPeeringConnection"
ACCEPTER = "aws:ec2/vpcPeeringConnectionAccepter:VpcPeeringConnectionAccepter"
BUCKET = "aws:s3/bucket:Bucket"
REPLICATION = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
RECORD = "aws:route53/record:Record"
SCALING_TARGET = "aws:appautoscaling/target:Target"
SCALING_POLICY = "aws:appautoscaling/policy:Policy"


def tokens(size: int | None = None, **modifiers: bool) -> list[str]:
    """The `@aws` tokens of a size (any when None) with the given modifiers on or off."""
    return [t.token for t in AWS if (size is None or t.size == size)
            and all(getattr(t, flag) is on for flag, on in modifiers.items())]


def plan_of(token: str, settings: dict | None = None) -> Plan:
    settings = settings or default_settings(token)
    return build_plan(parse(token), load_settings(settings) if settings else None)


def region_of(r: Resource) -> str:
    return r.provider.rsplit("::", 1)[-1].removeprefix("aws-")


def referenced(graph: ResourceGraph, r: Resource, key: str) -> list[Resource]:
    return [graph.get(urn) for urn in r.property_dependencies.get(key, ())]


def by_id(graph: ResourceGraph, *types: str) -> dict[str, Resource]:
    """Resources by the id the mocks gave them (what other resources' inputs name)."""
    out = {aws_mocks.resource_state(r.type, r.name, {}, region_of(r))[0]: r for t in types for r in graph.find(t)}
    assert len(out) == sum(len(graph.find(t)) for t in types), "two resources share an id"
    return out


def services(graph: ResourceGraph) -> Counter:
    """(service its essential container runs, tier, region) of every ECS service."""
    out: Counter = Counter()
    for svc in graph.find(ECS_SERVICE):
        (task,) = referenced(graph, svc, "taskDefinition")
        (main,) = [c["name"] for c in json.loads(task.inputs["containerDefinitions"]) if c["essential"]]
        out[(main, svc.component, region_of(svc))] += 1
    return out


def expected_services(plan: Plan) -> Counter:
    if plan.topology.size < 3:
        return Counter()
    return Counter((str(s), t.name.value, r) for t in plan.tiers if t.name.value in plan.traits.container_tiers
                   for s in t.services for r in t.regions)


def machines(graph: ResourceGraph) -> Counter:
    return Counter((i.component, region_of(i)) for i in graph.find(INSTANCE))


def public_lbs(graph: ResourceGraph) -> list[Resource]:
    return [lb for lb in graph.find(LB) if lb.inputs.get("internal") is False]


def vault_router(graph: ResourceGraph) -> list[Resource]:
    return [lb for lb in graph.find(LB) if lb.name == "vault-router-lb"]


def attached(graph: ResourceGraph, group_name: str) -> Counter:
    """The tiers of the instances registered in a target group, with their ports."""
    return Counter((target.component, a.inputs.get("port")) for a in graph.find(ATTACHMENT)
                   for target in referenced(graph, a, "targetId")
                   if any(g.name == group_name for g in referenced(graph, a, "targetGroupArn")))


# --- what each rung holds ------------------------------------------------------------------------


def _size_2(token):
    graph = rendered(token)
    (node,) = graph.find(INSTANCE)
    assert node.component == "node"
    (eip,) = graph.find(EIP)
    (association,) = graph.find(EIP_ASSOCIATION)
    assert eip.component == "node" and referenced(graph, association, "instanceId") == [node]
    assert association.inputs["allocationId"] == graph.outputs_of(eip.urn)["allocationId"]
    absent = [t for t in (LB, RDS, ECS_SERVICE, ECS_CLUSTER, NAT, EFS) if graph.find(t)]
    assert not absent, f"size 2 has {absent}"


def _size_3(token):
    graph, plan = rendered(token), plan_of(token)
    (alb,) = graph.find(LB)
    assert (alb.inputs["loadBalancerType"], alb.inputs["internal"]) == ("application", False)
    (group,) = graph.find(TARGET_GROUP)
    assert (group.inputs["targetType"], group.inputs["port"]) == ("ip", 8000)
    (db,) = graph.find(RDS)
    assert db.inputs["multiAz"] is plan.database.standby is parse(token).ha
    assert services(graph) == Counter({("reactor-server", "app", plan.primary_region): 1})
    assert not graph.find(INSTANCE), "size 3 runs no machine"
    files = graph.find(EFS)
    fs = plan.storage.value == "fs"
    assert fs is (plan.app_tier.replicas.max == 1) and len(files) == fs, "EFS exactly for fs storage (one app node)"
    if files:
        (point,) = graph.find(ACCESS_POINT)
        assert point.name.endswith("reactor-server-data")
        (task,) = graph.find(TASK)
        assert [v["efsVolumeConfiguration"]["authorizationConfig"]["accessPointId"]
                for v in task.inputs["volumes"] if v.get("efsVolumeConfiguration")] == \
            [aws_mocks.resource_state(point.type, point.name, {}, plan.primary_region)[0]]
    assert len(graph.find(BUCKET)) == (plan.storage.value == "s3")
    assert not plan.nats and not [r.name for r in graph.resources if "nats" in r.name], "size 3 has no NATS"


def _size_4(token):
    graph, plan = rendered(token), plan_of(token)
    (nlb,) = public_lbs(graph)
    assert (nlb.inputs["loadBalancerType"], nlb.inputs["internal"]) == ("network", False)
    infra = 3 if parse(token).ha else 1
    assert machines(graph) == Counter({("infra", plan.primary_region): infra})
    for port in (443, 80):
        (group,) = [g for g in graph.find(TARGET_GROUP) if g.name == f"load-balancer-tg-{port}"]
        assert group.inputs["targetType"] == "instance"
        assert attached(graph, group.name) == Counter({("infra", port): infra}), f"targets of :{port}"
    assert services(graph) == Counter({("reactor-server", "app", plan.primary_region): 1})
    assert len(vault_router(graph)) == parse(token).ha


def _size_5(token):
    graph, plan = rendered(token), plan_of(token)
    topo = parse(token)
    lbs = public_lbs(graph)
    assert len(lbs) == len(plan.regions) and {lb.inputs["loadBalancerType"] for lb in lbs} == {"network"}
    assert {g.inputs["targetType"] for g in graph.find(TARGET_GROUP) if g.name.startswith("load-balancer")} == {"ip"}
    assert not attached(graph, "load-balancer-tg-443"), "the edge's tasks register themselves, no machine does"
    assert {(s, t) for s, t, _ in services(graph)} == {("reactor-server", "app"), ("caddy", "edge"),
                                                       ("gateway-server", "edge")}
    assert machines(graph) == Counter({("infra", plan.primary_region): 3 if topo.ha else 1})
    assert len(vault_router(graph)) == topo.ha


def _size_6_or_10(token):
    graph, plan = rendered(token), plan_of(token)
    want = {t.name.value: t.replicas.max for t in plan.tiers if t.name.value in ("nats", "vault")}
    assert set(want) == {"nats", "vault"}
    if parse(token).ha:
        assert want == {"nats": 3, "vault": 3}, f"+ha: {want}"
    assert machines(graph) == Counter({(tier, plan.primary_region): n for tier, n in want.items()})
    assert plan.pooler is not None
    assert {(s, t) for s, t, _ in services(graph)} == {("reactor-server", "app"), ("caddy", "edge"),
                                                       ("gateway-server", "edge"), (plan.pooler.kind.value, "pooler")}
    routers = vault_router(graph)
    assert len(routers) == (want["vault"] > 1), "a vault router exactly when OpenBao is clustered"
    if routers:
        assert routers[0].inputs["internal"] is True
        assert attached(graph, "vault-router-tg-8200") == Counter({("vault", 8200): want["vault"]})


RUNGS = {2: _size_2, 3: _size_3, 4: _size_4, 5: _size_5, 6: _size_6_or_10, 10: _size_6_or_10}


@pytest.mark.parametrize("size", sorted(RUNGS))
def test_each_rung_holds_what_its_size_says(size):
    every(tokens(size), RUNGS[size])


def test_machine_tiers_are_instances_as_many_as_the_plan_says():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        want = Counter({(t.name.value, plan.primary_region): t.replicas.max
                        for t in plan.tiers if t.name.value in MACHINE_TIERS})
        assert machines(graph) == want, f"instances {dict(machines(graph))}, the Plan {dict(want)}"
    every(tokens(), check)


def test_container_tiers_are_ecs_services_starting_at_the_plans_minimum():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        assert services(graph) == expected_services(plan), f"ECS services {sorted(services(graph))}"
        for svc in graph.find(ECS_SERVICE):
            assert svc.inputs["desiredCount"] == plan.tier(svc.component).replicas.min, svc.name
    every(tokens(), check)


# --- zones and the way out ------------------------------------------------------------------------


def test_replicas_spread_over_their_tiers_zones():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        subnets = by_id(graph, SUBNET)
        for tier in plan.tiers:
            zones = {i.inputs["availabilityZone"] for i in graph.find(INSTANCE) if i.component == tier.name.value}
            if zones:
                assert len(zones) == min(tier.replicas.max, tier.zones), f"{tier.name} in {sorted(zones)}"
                if parse(token).ha and tier.replicas.max == 3:
                    assert len(zones) == 3, f"+ha: the 3 {tier.name} machines share zones {sorted(zones)}"
        for svc in graph.find(ECS_SERVICE):
            mine = [subnets[s] for s in svc.inputs["networkConfiguration"]["subnets"]]
            assert len({s.inputs["availabilityZone"] for s in mine}) == plan.tier(svc.component).zones, svc.name
            assert all("-private" in s.inputs["tags"]["Name"] for s in mine), svc.name
    every(tokens(), check)


def test_each_vpc_has_a_public_and_a_private_subnet_per_zone():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        vpcs = graph.find(VPC)
        assert sorted(region_of(v) for v in vpcs) == sorted(plan.regions)
        for vpc in vpcs:
            mine = [s for s in graph.find(SUBNET) if referenced(graph, s, "vpcId") == [vpc]]
            kinds = Counter("private" if "-private" in s.inputs["tags"]["Name"] else "public" for s in mine)
            zones = {s.inputs["availabilityZone"] for s in mine}
            if plan.topology.size == 2:
                assert kinds == Counter(public=1) and plan.zones == 1
            else:
                assert len(mine) == 2 * plan.zones and kinds == Counter(public=plan.zones, private=plan.zones)
                assert len(zones) == plan.zones, f"{vpc.name} spans {sorted(zones)}"
    every(tokens(), check)


def test_nat_gateways_one_per_zone_for_e_and_c_one_for_o():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        per_zone = plan.topology.edition.value in "EC"
        assert plan.policy.egress_per_zone is per_zone
        want = 0 if plan.topology.size == 2 else plan.zones if per_zone else 1
        for region in plan.regions:
            nats = [n for n in graph.find(NAT) if region_of(n) == region]
            assert len(nats) == want, f"{len(nats)} NAT gateways in {region}, want {want}"
            homes = [s for n in nats for s in referenced(graph, n, "subnetId")]
            assert len(set(s.urn for s in homes)) == want and all("-public" in s.inputs["tags"]["Name"] for s in homes)
    every(tokens(), check)


# --- +mr: the second region -----------------------------------------------------------------------


def test_one_region_without_mr():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        assert {region_of(r) for r in graph.resources if r.provider} == {plan.primary_region}
        assert not graph.find(PEERING) and not graph.find(REPLICATION)
    every(tokens(mr=False), check)


def test_mr_repeats_the_regional_tiers_through_the_second_regions_provider():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        first, second = plan.regions
        assert sorted(region_of(v) for v in graph.find(VPC)) == sorted([first, second])
        (request,) = graph.find(PEERING)
        (accept,) = graph.find(ACCEPTER)
        assert (region_of(request), request.inputs["peerRegion"], region_of(accept)) == (second, first, first)
        assert referenced(graph, accept, "vpcPeeringConnectionId") == [request]
        (primary,) = [d for d in graph.find(RDS) if "replicateSourceDb" not in d.inputs]
        (replica,) = [d for d in graph.find(RDS) if "replicateSourceDb" in d.inputs]
        assert replica.inputs["replicateSourceDb"] == graph.outputs_of(primary.urn)["arn"]
        assert plan.database.cross_region_replica == second
        assert (region_of(primary), region_of(replica)) == (first, second)
        buckets = {region_of(b): b for b in graph.find(BUCKET)}
        assert sorted(buckets) == sorted([first, second])
        (replication,) = graph.find(REPLICATION)
        assert replication.inputs["bucket"] == buckets[first].inputs["bucket"]
        assert [r["destination"]["bucket"] for r in replication.inputs["rules"]] == \
            [graph.outputs_of(buckets[second].urn)["arn"]]
        assert sorted(region_of(lb) for lb in public_lbs(graph)) == sorted([first, second])
        there = {t for s, t, r in services(graph) if r == second}
        assert there == {t.name.value for t in plan.tiers if second in t.regions} == {"app", "edge"} | (
            {"pooler"} if plan.pooler else set()), f"ECS tiers in {second}: {sorted(there)}"
        assert not [i.name for i in graph.find(INSTANCE) if region_of(i) == second], "machines stay in the primary"
    every(tokens(mr=True), check)


def latency_records(token: str, settings: dict | None = None):
    graph, plan = rendered(token, settings), plan_of(token, settings)
    domain = plan.settings.domain
    records = graph.find(RECORD)
    if not domain:
        assert not records, "records without a domain"
        return
    lbs = {region_of(lb): lb for lb in public_lbs(graph)}
    names = [domain] + ([f"*.{domain}"] if plan.policy.multi_tenant else [])
    got = sorted((r.inputs["name"], r.inputs["setIdentifier"], r.inputs["latencyRoutingPolicies"][0]["region"],
                  referenced(graph, r, "aliases")[0].name) for r in records)
    assert got == sorted((n, region, region, lbs[region].name) for n in names for region in plan.regions), got


def test_mr_routes_each_name_by_latency_to_every_regions_load_balancer():
    every(tokens(mr=True), latency_records)
    latency_records("E6+ha+mr@aws", {"domain": DOMAIN})  # an edition that needs no domain, given one


# --- +as: autoscaling -------------------------------------------------------------------------------


def test_autoscaled_tiers_scale_between_the_plans_min_and_max():
    def check(token):
        graph, plan = rendered(token), plan_of(token)
        topo = parse(token)
        scaled = {t.name.value for t in plan.tiers if t.replicas.autoscaled}
        if topo.autoscale:
            assert {"app"} | ({"edge"} if topo.size >= 5 else set()) <= scaled, f"autoscaled: {sorted(scaled)}"
        else:
            assert not scaled
        targets = {t.inputs["resourceId"]: t for t in graph.find(SCALING_TARGET)}
        assert len(graph.find(SCALING_POLICY)) == len(targets)
        want = []
        for svc in graph.find(ECS_SERVICE):
            tier = plan.tier(svc.component)
            ignored = "desiredCount" in svc.ignore_changes
            assert ignored is tier.replicas.autoscaled, f"{svc.name}: ignore desiredCount {ignored}"
            if tier.replicas.autoscaled:
                (cluster,) = referenced(graph, svc, "cluster")
                key = f"service/{cluster.inputs['name']}/{svc.inputs['name']}"
                want.append(key)
                target = targets.get(key)
                assert target is not None, f"{svc.name} has no scaling target"
                assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == \
                    (tier.replicas.min, tier.replicas.max), svc.name
                assert target.inputs["scalableDimension"] == "ecs:service:DesiredCount"
        assert sorted(targets) == sorted(want), "a scaling target for no autoscaled service"
    every(tokens(), check)


# --- which group may reach which port ----------------------------------------------------------------


def ingress_triples(graph: ResourceGraph, region: str) -> Counter:
    """(source, target, port) of the ingress rules in a region: a group by its `reactor:tier` tag,
    the world as `internet`, another region's private subnets (a prefix list) by that region."""
    ends = {i: g.inputs["tags"]["reactor:tier"] for i, g in by_id(graph, SG).items()}
    private = {s.inputs["cidrBlock"]: region_of(s) for s in graph.find(SUBNET)
               if "-private" in s.inputs["tags"]["Name"]}
    for i, pl in by_id(graph, PREFIX_LIST).items():
        (where,) = {private[e["cidr"]] for e in pl.inputs["entries"]}
        ends[i] = f"{where} private subnets"
    out: Counter = Counter()
    for rule in graph.find(INGRESS):
        if region_of(rule) != region:
            continue
        i = rule.inputs
        assert i["fromPort"] == i["toPort"] and i["ipProtocol"] == "tcp", rule.name
        source = "internet" if i.get("cidrIpv4") == "0.0.0.0/0" else \
            ends[i.get("referencedSecurityGroupId") or i["prefixListId"]]
        out[(source, ends[i["securityGroupId"]], i["fromPort"])] += 1
    return out


def links_in(plan: Plan, region: str) -> Counter:
    """The Plan's links as rules in a region: one per link and source region; a source in the
    other region is its private subnets (groups cannot be named across regions)."""
    out: Counter = Counter()
    for link in plan.links:
        if region not in plan.regions_of(link.target):
            continue
        sources = [region] if link.source == INTERNET else plan.regions_of(link.source)
        for where in sources:
            source = str(link.source) if where == region else f"{where} private subnets"
            out[(source, str(link.target), link.port)] += 1
    return out


@pytest.mark.parametrize("token", ["O3@aws", "E5+ha@aws", "C6@aws", "E6+ha+mr@aws"])
def test_security_groups_admit_exactly_the_plans_links(token):
    graph, plan = rendered(token), plan_of(token)
    for region in plan.regions:
        got, want = ingress_triples(graph, region), links_in(plan, region)
        assert want and got == want, (f"{region}: rules without a link {sorted((got - want).elements())}; "
                                      f"links without a rule {sorted((want - got).elements())}")
    if len(plan.regions) == 1:  # in one region the rules are the links themselves
        assert set(ingress_triples(graph, plan.primary_region)) == \
            {(str(x.source), str(x.target), x.port) for x in plan.links}
