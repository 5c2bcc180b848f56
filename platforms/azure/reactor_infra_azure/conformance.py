"""How to read an azure render for the conformance suite (`reactor_infra.conformance`).

Rules are the inbound Allow rules of the network security groups. A rule's target is the tier
its destination application security group belongs to (a group's tier is its `tier` tag), the
database behind its delegated subnet, the file system behind the endpoints subnet (2049); its
source is a tier's group, or by address prefix or service tag: the world (`Internet`), Azure
Bastion's subnet (`operators`), `AzureLoadBalancer` (the probes of a public balancer:
`load-balancer`; of an internal one on :8200, `vault-router`; on :8000 in front of an
autoscaled pool, `pool-router`), `AzureFrontDoor.Backend` (Front Door's back ends:
`load-balancer`), another region's machines by their fixed addresses (the tier whose machines
hold them) or its machines subnet (the pool's tier the rule names). Behind a public balancer
(size 4 and up) the world's connections reach the tier unchanged: a world rule there is the
`internet -> load-balancer` link; without a balancer (size 2) the world reaches the tier; at
size 3 the world reaches Front Door (its route, 80 and 443). Through an internal router the
caller's own address arrives: a caller's rule on the router's port to the routed tier is the
`caller -> router` link. Egress: tiers whose group may reach `Internet` on every port;
one-port allows to `Internet` are `world_egress`. Health checks: what each machine runs (the
compose file in its custom data). Names: the top-level objects' names (children are named
inside their parent).
"""

from __future__ import annotations

import base64

from reactor_infra.conformance import WORLD, Granularity, Readings, Rule, compose_services
from reactor_infra.graph import ResourceGraph
from reactor_infra.layout import FILE_SYSTEM, LOAD_BALANCER, OPERATORS, POOL_ROUTER, REACTOR, VAULT_API, VAULT_ROUTER

from .mocks import PARENT_KEYS

NSG = "azure-native:network:NetworkSecurityGroup"
ASG = "azure-native:network:ApplicationSecurityGroup"
NIC = "azure-native:network:NetworkInterface"
LB = "azure-native:network:LoadBalancer"
SUBNET = "azure-native:network:Subnet"
VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
ROUTE = "azure-native:cdn:Route"
# objects whose names are Azure's, GUIDs, or scoped to what they lock or extend
NOT_OURS = frozenset({"azure-native:privatedns:PrivateZone", "azure-native:authorization:RoleAssignment",
                      "azure-native:authorization:ManagementLockByScope", "azure-native:dns:RecordSet"})
PLATFORM_RULES = frozenset({"key-vault", "standby"})  # the platform's own ways (secrets, the standby)


def _tiers_by_group(graph: ResourceGraph) -> dict[str, str]:
    return {r.inputs["applicationSecurityGroupName"]: r.inputs.get("tags", {}).get("tier", "?") for r in graph.find(ASG)}


def _group_tier(groups: list[dict] | None, tiers: dict[str, str]) -> str | None:
    if not groups:
        return None
    (group,) = groups
    return tiers.get(group["id"].rsplit("/", 1)[-1], "?")


def _subnets(graph: ResourceGraph) -> dict[str, str]:
    """address prefix -> subnet role (machines, database, endpoints, AzureBastionSubnet)."""
    return {r.inputs["addressPrefix"]: r.inputs["subnetName"] for r in graph.find(SUBNET)}


def _addresses(graph: ResourceGraph) -> dict[str, str]:
    """fixed private address -> the tier of the machine holding it."""
    return {c["privateIPAddress"]: r.inputs.get("tags", {}).get("tier", "?") for r in graph.find(NIC)
            for c in r.inputs.get("ipConfigurations") or [] if c.get("privateIPAddress")}


def _prefixes(rule: dict, end: str) -> list[str]:
    one = rule.get(f"{end}AddressPrefix")
    return [one] if one else list(rule.get(f"{end}AddressPrefixes") or [])


def _ports(rule: dict) -> list[int | None]:
    ports = [rule["destinationPortRange"]] if rule.get("destinationPortRange") else rule.get("destinationPortRanges", [])
    return [None if p == "*" else int(p) for p in ports]


class AzureReadings(Readings):
    granularity = Granularity.TIER_PORT

    def rules(self, graph: ResourceGraph) -> set[Rule]:
        tiers, subnets, addresses = _tiers_by_group(graph), _subnets(graph), _addresses(graph)
        internal = {rule["frontendPort"] for r in graph.find(LB) for rule in r.inputs.get("loadBalancingRules") or []
                    if any("subnet" in f for f in r.inputs.get("frontendIPConfigurations") or [])}
        public = any(not any("subnet" in f for f in r.inputs.get("frontendIPConfigurations") or []) for r in graph.find(LB))
        out: set[Rule] = set()
        for route in graph.find(ROUTE):  # Front Door: the world reaches the edge on 80 and 443
            out |= {Rule(WORLD, str(LOAD_BALANCER), port) for port in (80, 443)} if route.inputs else set()
        for nsg in graph.find(NSG):
            for rule in nsg.inputs.get("securityRules") or []:
                if rule["direction"] != "Inbound" or rule["access"] != "Allow" or rule["name"] in PLATFORM_RULES:
                    continue
                target = _group_tier(rule.get("destinationApplicationSecurityGroups"), tiers)
                if target is None:
                    (prefix,) = _prefixes(rule, "destination")
                    target = {"database": "database", "endpoints": str(FILE_SYSTEM)}.get(subnets.get(prefix, ""), prefix)
                for port in _ports(rule):
                    out.add(self._rule(rule, target, port, tiers, subnets, addresses, internal, public))
        return out

    @staticmethod
    def _rule(rule: dict, target: str, port: int | None, tiers, subnets, addresses, internal, public) -> Rule:  # noqa: PLR0911
        source = _group_tier(rule.get("sourceApplicationSecurityGroups"), tiers)
        if source is None:
            prefixes = _prefixes(rule, "source")
            tag = prefixes[0] if len(prefixes) == 1 else ""
            if tag == "Internet":
                return Rule(WORLD, str(LOAD_BALANCER), port) if public else Rule(WORLD, target, port)
            if tag == "AzureFrontDoor.Backend":
                return Rule(str(LOAD_BALANCER), target, port)
            if tag == "AzureLoadBalancer":  # probes: of the router on the port an internal balancer serves
                src = (VAULT_ROUTER if port == VAULT_API and VAULT_API in internal
                       else POOL_ROUTER if port == REACTOR and REACTOR in internal else LOAD_BALANCER)
                return Rule(str(src), target, port)
            if all(subnets.get(p) == "AzureBastionSubnet" for p in prefixes):
                return Rule(str(OPERATORS), target, port)
            found = {addresses.get(p) for p in prefixes}
            if found and None not in found and len(found) == 1:
                source = found.pop()
            elif all(subnets.get(p) == "machines" for p in prefixes):  # a pool elsewhere: the rule says whose
                source = rule["name"].split("-", 1)[0]
            else:
                return Rule(f"cidr {','.join(sorted(prefixes))}", target, port)
        routed = port == VAULT_API and VAULT_API in internal and source != target and target != "database"
        return Rule(source, str(VAULT_ROUTER) if routed else target, port)

    def egress(self, graph: ResourceGraph) -> set[str]:
        tiers = _tiers_by_group(graph)
        return {_group_tier(rule.get("sourceApplicationSecurityGroups"), tiers) or "every machine"
                for rule in _world_allows(graph) if _ports(rule) == [None]}

    def world_egress(self, graph: ResourceGraph) -> set[tuple[str, int | None]]:
        return {("every machine", port) for rule in _world_allows(graph) if _ports(rule) != [None]
                for port in _ports(rule)}

    def health_checked(self, graph: ResourceGraph) -> set[str]:
        checked: set[str] = set()
        for machine in [*graph.find(VM), *graph.find(VMSS)]:
            profile = machine.inputs.get("osProfile") or machine.inputs["virtualMachineProfile"]["osProfile"]
            text = base64.b64decode(profile["customData"]).decode()
            for name, service in compose_services(text).items():
                if service.get("healthcheck", {}).get("test"):
                    checked.add(name)
        return checked

    def backup_retention_days(self, graph: ResourceGraph) -> dict[str, int]:
        out = {}
        for r in graph.find("azure-native:dbforpostgresql:Server"):
            if r.inputs.get("backup"):
                out[r.name] = int(r.inputs["backup"]["backupRetentionDays"])
        for r in graph.find("azure-native:dataprotection:BackupPolicy"):
            for rule in r.inputs["properties"]["policyRules"]:
                for cycle in rule.get("lifecycles") or []:
                    out[r.name] = int(cycle["deleteAfter"]["duration"].removeprefix("P").removesuffix("D"))
        return out

    def physical_names(self, graph: ResourceGraph) -> list[str]:
        names = []
        for r in graph.resources:
            if not r.custom or r.type.startswith("pulumi:providers:") or r.type in NOT_OURS:
                continue
            if not r.type.startswith("azure-native:") or PARENT_KEYS & set(r.inputs):
                continue  # children are named inside their parent
            keys = [k for k, v in r.inputs.items() if k.endswith("Name") and k != "resourceGroupName"
                    and isinstance(v, str)] or (["resourceName"] if "resourceName" in r.inputs else [])
            if keys:
                where = r.inputs.get("location") or "global"
                names.append(f"{r.inputs[keys[0]]} ({r.type.rsplit(':', 1)[-1]}, {where})")
        return names


def _world_allows(graph: ResourceGraph) -> list[dict]:
    return [rule for r in graph.find(NSG) for rule in r.inputs.get("securityRules") or []
            if rule["direction"] == "Outbound" and rule["access"] == "Allow"
            and rule.get("destinationAddressPrefix") == "Internet"]

