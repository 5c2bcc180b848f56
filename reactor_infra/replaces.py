"""Which input changes force a resource to be replaced (deleted and created anew).

A real `pulumi preview` asks the provider (its Diff answers `replaces`); an offline diff cannot,
and the Python SDKs do not carry the schema's `willReplaceOnChanges` / Terraform `ForceNew`
flags. So this is a table per resource type of the inputs whose change replaces, read from
the providers' own sources (each row names its source), plus the `replaceOnChanges` option a
program may set (the engine honours it: pkg/resource/deploy/step_generator.go
`applyReplaceOnChanges`).

Paths are the render's camelCase input names, dotted into objects (`rootBlockDevice.encrypted`);
list indices are ignored (`ports[0].external` matches `ports.external`). A row `*` means every
input, `except` then lists the inputs updated in place. A type with no row is not known: its
changes are reported as updates that *may* replace, never silently as safe.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ALL = "*"


@dataclass(frozen=True)
class Rule:
    paths: frozenset[str]
    source: str
    except_paths: frozenset[str] = frozenset()


def _rule(paths: Iterable[str], source: str, except_paths: Iterable[str] = ()) -> Rule:
    return Rule(frozenset(paths), source, frozenset(except_paths))


_TF_AWS = "hashicorp/terraform-provider-aws internal/service/"  # ForceNew / RequiresReplace in the schema
_DOCKER = ("pulumi/pulumi-docker provider/cmd/pulumi-resource-docker/schema.json @237b789 "
           "(willReplaceOnChanges; installed SDK 5.2.0)")
_RANDOM = ("hashicorp/terraform-provider-random internal/provider/resource_*.go: RequiresReplace on every "
           "attribute (pulumi-random's schema does not carry it for this plugin-framework provider)")

REPLACE_ON_CHANGE: dict[str, Rule] = {
    # --- aws (pulumi-aws bridges terraform-provider-aws; ForceNew becomes a replace) ----------
    "aws:ec2/instance:Instance": _rule(
        ["ami", "associatePublicIpAddress", "availabilityZone", "cpuCoreCount", "cpuThreadsPerCore",
         "cpuOptions.amdSevSnp", "cpuOptions.coreCount", "cpuOptions.threadsPerCore", "ebsBlockDevices",
         "ebsOptimized", "enclaveOptions.enabled", "ephemeralBlockDevices", "hibernation", "hostId",
         "ipv6AddressCount", "ipv6Addresses", "keyName", "launchTemplate.id", "launchTemplate.name",
         "networkInterfaces.deleteOnTermination", "networkInterfaces.deviceIndex",
         "networkInterfaces.networkCardIndex", "networkInterfaces.networkInterfaceId", "placementGroup",
         "placementPartitionNumber", "privateDnsNameOptions", "privateIp", "rootBlockDevice.encrypted",
         "rootBlockDevice.kmsKeyId", "securityGroups", "subnetId", "tenancy"],
        _TF_AWS + "ec2/ec2_instance.go (userData/userDataBase64 only with userDataReplaceOnChange: "
        "customdiff.ForceNewIf)"),
    "aws:ebs/volume:Volume": _rule(
        ["availabilityZone", "encrypted", "kmsKeyId", "multiAttachEnabled", "outpostArn", "snapshotId"],
        _TF_AWS + "ec2/ebs_volume.go"),
    "aws:ec2/volumeAttachment:VolumeAttachment": _rule(
        ["deviceName", "instanceId", "volumeId"], _TF_AWS + "ec2/ebs_volume_attachment.go"),
    "aws:ec2/vpc:Vpc": _rule(
        ["cidrBlock", "ipv4IpamPoolId", "ipv4NetmaskLength"], _TF_AWS + "ec2/vpc_.go"),
    "aws:ec2/subnet:Subnet": _rule(
        ["availabilityZone", "availabilityZoneId", "cidrBlock", "outpostArn", "vpcId"],
        _TF_AWS + "ec2/vpc_subnet.go"),
    "aws:ec2/securityGroup:SecurityGroup": _rule(
        ["description", "name", "namePrefix", "vpcId"], _TF_AWS + "ec2/vpc_security_group.go"),
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": _rule(
        ["securityGroupId"], _TF_AWS + "ec2/vpc_security_group_ingress_rule.go (RequiresReplace)"),
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": _rule(
        ["securityGroupId"], _TF_AWS + "ec2/vpc_security_group_egress_rule.go (RequiresReplace)"),
    "aws:ec2/internetGateway:InternetGateway": _rule([], _TF_AWS + "ec2/vpc_internet_gateway.go"),
    "aws:ec2/routeTable:RouteTable": _rule(["vpcId"], _TF_AWS + "ec2/vpc_route_table.go"),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": _rule(
        ["gatewayId", "subnetId"], _TF_AWS + "ec2/vpc_route_table_association.go"),
    "aws:ec2/eip:Eip": _rule(
        ["address", "customerOwnedIpv4Pool", "domain", "ipamPoolId", "networkBorderGroup", "publicIpv4Pool"],
        _TF_AWS + "ec2/ec2_eip.go"),
    "aws:ec2/eipAssociation:EipAssociation": _rule(
        ["allocationId", "allowReassociation", "instanceId", "networkInterfaceId", "privateIpAddress",
         "publicIp"], _TF_AWS + "ec2/ec2_eip_association.go"),
    "aws:iam/role:Role": _rule(["name", "namePrefix", "path"], _TF_AWS + "iam/role.go"),
    "aws:iam/instanceProfile:InstanceProfile": _rule(
        ["name", "namePrefix", "path"], _TF_AWS + "iam/instance_profile.go"),
    "aws:iam/rolePolicy:RolePolicy": _rule(["name", "namePrefix", "role"], _TF_AWS + "iam/role_policy.go"),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _rule(
        ["policyArn", "role"], _TF_AWS + "iam/role_policy_attachment.go"),
    "aws:kms/key:Key": _rule(
        ["customKeyStoreId", "customerMasterKeySpec", "keySpec", "keyUsage", "multiRegion", "xksKeyId"],
        _TF_AWS + "kms/key.go"),
    "aws:kms/alias:Alias": _rule(["name", "namePrefix"], _TF_AWS + "kms/alias.go"),
    "aws:ssm/parameter:Parameter": _rule(["name"], _TF_AWS + "ssm/parameter.go"),
    "aws:route53/record:Record": _rule(["name", "zoneId"], _TF_AWS + "route53/record.go"),
    "aws:rds/instance:Instance": _rule(
        ["availabilityZone", "characterSetName", "customIamInstanceProfile", "dbName", "engine",
         "identifier", "identifierPrefix", "kmsKeyId", "name", "ncharCharacterSetName",
         "restoreToPointInTime", "s3Import", "snapshotIdentifier", "storageEncrypted", "timezone",
         "username"], _TF_AWS + "rds/instance.go"),
    "aws:rds/subnetGroup:SubnetGroup": _rule(["name", "namePrefix"], _TF_AWS + "rds/subnet_group.go"),
    "aws:s3/bucketV2:BucketV2": _rule(["bucket", "bucketPrefix", "objectLockEnabled"], _TF_AWS + "s3/bucket.go"),
    "aws:s3/bucket:Bucket": _rule(["bucket", "bucketPrefix", "objectLockEnabled"], _TF_AWS + "s3/bucket.go"),
    # --- docker (the local platform) ---------------------------------------------------------
    "docker:index/container:Container": _rule(
        [ALL], _DOCKER,
        except_paths=["attach", "containerReadRefreshTimeoutMilliseconds", "cpuPeriod", "cpuQuota", "cpuSet",
                      "cpuShares", "destroyGraceSeconds", "deviceReadBps", "deviceReadIops", "deviceWriteBps",
                      "deviceWriteIops", "healthcheck", "init", "logs", "maxRetryCount", "memory",
                      "memoryReservation", "memorySwap", "mustRun", "removeVolumes", "restart", "rm", "start",
                      "tmpfs", "wait", "waitTimeout"]),
    "docker:index/volume:Volume": _rule(["driver", "driverOpts", "labels", "name"], _DOCKER),
    "docker:index/network:Network": _rule([ALL], _DOCKER),
    "docker:index/remoteImage:RemoteImage": _rule(["name", "platform", "pullTriggers", "triggers"], _DOCKER),
    # --- random (the Plan's generated secrets) ------------------------------------------------
    "random:index/randomBytes:RandomBytes": _rule([ALL], _RANDOM),
    "random:index/randomId:RandomId": _rule([ALL], _RANDOM),
    "random:index/randomPassword:RandomPassword": _rule([ALL], _RANDOM),
    "random:index/randomString:RandomString": _rule([ALL], _RANDOM),
}

_INDEX = re.compile(r"\[[^\]]*\]")


def normalize(path: str) -> str:
    """`ports[0].external` -> `ports.external`; `a["b.c"]` keys are kept whole."""
    return _INDEX.sub("", path).strip(".")


def _covers(rule_path: str, changed: str) -> bool:
    """A rule path covers a change at it or under it; a change of a whole object or list covers
    the rule paths inside it (the replaced part changed with it)."""
    return (rule_path == ALL or changed == rule_path or changed.startswith(rule_path + ".")
            or rule_path.startswith(changed + "."))


def known(resource_type: str) -> bool:
    """Whether the table says anything about this type (components never replace anything real)."""
    return resource_type in REPLACE_ON_CHANGE or resource_type.startswith("reactor-infra:")


def forcing(resource_type: str, changed_paths: Iterable[str], new_inputs: Mapping[str, Any] | None = None,
            replace_on_changes: Iterable[str] = ()) -> list[str]:
    """The changed input paths that force a replacement, in the order given."""
    rule = REPLACE_ON_CHANGE.get(resource_type)
    option = [normalize(p) for p in replace_on_changes]
    new_inputs = new_inputs or {}
    out = []
    for path in changed_paths:
        bare = normalize(path)
        top = bare.split(".", 1)[0]
        forced = any(_covers(p, bare) for p in option)
        if rule is not None and not forced:
            if ALL in rule.paths:
                forced = top not in rule.except_paths
            else:
                forced = any(_covers(p, bare) for p in rule.paths)
        if (not forced and resource_type == "aws:ec2/instance:Instance" and top in ("userData", "userDataBase64")
                and new_inputs.get("userDataReplaceOnChange") is True):
            forced = True
        if forced:
            out.append(path)
    return out


def source_of(resource_type: str) -> str | None:
    rule = REPLACE_ON_CHANGE.get(resource_type)
    return rule.source if rule else None
