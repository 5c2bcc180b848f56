"""How to read an aws render for the conformance suite (`reactor_infra.conformance`).

Rules are the security groups' ingress rules: a rule's target is its group's tier, its source
the world (0.0.0.0/0), another CIDR (which no link ever asks for), the referenced group's tier,
or for a rule from another region's prefix list the tier its `reactor:source` tag names.
Egress is every group with an all-protocol rule to 0.0.0.0/0; a world rule on one port is
`world_egress` (the platform's API port only). Health checks are read from what each machine
runs (the compose file in its user data) and from each ECS task's containers. Names are the
`name`-like inputs and Name tags, per kind of object and region (AWS names are unique per
kind, and a KMS alias or an ECS service per region).
"""

from __future__ import annotations

import json

from reactor_infra.conformance import WORLD, Granularity, Readings, Rule, compose_services, named
from reactor_infra.graph import Resource, ResourceGraph

from .firewall import SOURCE_TAG

SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
INSTANCE = "aws:ec2/instance:Instance"
TASK = "aws:ecs/taskDefinition:TaskDefinition"
ANYWHERE = ("0.0.0.0/0", "::/0")
# inputs that hold a physical name, by resource type (default: `name`)
NAME_INPUTS = {"aws:s3/bucketV2:BucketV2": "bucket", "aws:s3/bucket:Bucket": "bucket",
               "aws:rds/instance:Instance": "identifier"}
# types whose `name` is not ours to choose: DNS names (the stack's domain; the private
# `internal` namespace and its records), a policy's name inside its role
NOT_OUR_NAMES = frozenset({"aws:route53/record:Record", "aws:servicediscovery/privateDnsNamespace:PrivateDnsNamespace",
                           "aws:servicediscovery/service:Service", "aws:servicediscovery/instance:Instance",
                           "aws:iam/rolePolicy:RolePolicy"})


def _group_tier(graph: ResourceGraph, rule: Resource, key: str) -> str | None:
    (urn,) = rule.property_dependencies.get(key, (None,))
    if urn is None:
        return None
    return graph.get(urn).inputs.get("tags", {}).get("reactor:tier")


def _port(rule: Resource) -> int | None:
    if rule.inputs.get("ipProtocol") == "-1" or rule.inputs.get("fromPort") != rule.inputs.get("toPort"):
        return None
    return int(rule.inputs["fromPort"])


def _source(graph: ResourceGraph, rule: Resource) -> str:
    cidr = rule.inputs.get("cidrIpv4") or rule.inputs.get("cidrIpv6")
    if cidr in ANYWHERE:
        return WORLD
    if cidr:
        return f"cidr {cidr}"
    if rule.inputs.get("prefixListId"):
        return rule.inputs.get("tags", {}).get(SOURCE_TAG) or "unnamed prefix list"
    return _group_tier(graph, rule, "referencedSecurityGroupId") or "unknown group"


class AwsReadings(Readings):
    granularity = Granularity.TIER_PORT

    def rules(self, graph: ResourceGraph) -> set[Rule]:
        return {Rule(_source(graph, r), _group_tier(graph, r, "securityGroupId") or "?", _port(r))
                for r in graph.find(INGRESS)}

    def egress(self, graph: ResourceGraph) -> set[str]:
        return {_group_tier(graph, r, "securityGroupId") or "?" for r in _world_egress(graph)
                if r.inputs.get("ipProtocol") == "-1"}

    def world_egress(self, graph: ResourceGraph) -> set[tuple[str, int | None]]:
        return {(_group_tier(graph, r, "securityGroupId") or "?", _port(r)) for r in _world_egress(graph)
                if r.inputs.get("ipProtocol") != "-1"}

    def health_checked(self, graph: ResourceGraph) -> set[str]:
        checked: set[str] = set()
        for instance in graph.find(INSTANCE):
            for name, service in compose_services(instance.inputs.get("userData")).items():
                if service.get("healthcheck", {}).get("test"):
                    checked.add(name)
        for task in graph.find(TASK):
            for container in json.loads(task.inputs.get("containerDefinitions") or "[]"):
                if container.get("essential") and container.get("healthCheck", {}).get("command"):
                    checked.add(container["name"])
        return checked

    def physical_names(self, graph: ResourceGraph) -> list[str]:
        names = []
        for r, value in named(graph, NAME_INPUTS, NOT_OUR_NAMES):
            if not isinstance(value, str):
                value = r.inputs.get("tags", {}).get("Name")
            if isinstance(value, str):
                region = (r.provider or "").rsplit("::aws-", 1)[-1]
                names.append(f"{value} ({r.type.rsplit(':', 1)[-1]}, {region})")
        return names


def _world_egress(graph: ResourceGraph) -> list[Resource]:
    return [r for r in graph.find(EGRESS) if (r.inputs.get("cidrIpv4") or r.inputs.get("cidrIpv6")) in ANYWHERE]

