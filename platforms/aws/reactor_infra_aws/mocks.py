"""Offline render answers for the aws provider: ids, ARNs, addresses and endpoints that look
like the real ones (account 123456789012, documentation IP ranges), derived from a hash of each
resource's type and name so renders stay byte-identical. Used through `AwsPlatform.mock_*`."""

from __future__ import annotations

from typing import Any

from reactor_infra.mocks import digest, fake_ip, fake_uuid

ACCOUNT = "123456789012"

# aws resource type -> id prefix
_AWS_ID = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr-",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr-",
    "aws:ec2/instance:Instance": "i-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/eipAssociation:EipAssociation": "eipassoc-",
    "aws:ebs/volume:Volume": "vol-",
}


def resource_state(typ: str, name: str, state: dict[str, Any], region: str) -> tuple[str, dict[str, Any]] | None:
    """(id, state) for an aws resource; None for types of other packages."""
    if not typ.startswith(("aws:", "pulumi:providers:aws")):
        return None
    seed = f"{typ}/{name}"
    service = typ.split(":")[1].split("/")[0]
    rid = _AWS_ID.get(typ, "") + ("0" + digest(seed) if typ in _AWS_ID else digest(seed, length=12))
    physical = state.get("name") if isinstance(state.get("name"), str) else name
    if typ == "pulumi:providers:aws":
        return rid, state
    if service == "iam":
        kind = typ.rsplit(":", 1)[-1]
        path = {"Role": "role", "InstanceProfile": "instance-profile", "Policy": "policy"}.get(kind, kind.lower())
        state.setdefault("arn", f"arn:aws:iam::{ACCOUNT}:{path}/{physical}")
        state.setdefault("uniqueId", "AROA" + digest(seed, length=17).upper())
        return physical, state
    if typ == "aws:kms/key:Key":
        key_id = fake_uuid(seed)
        state.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}")
        return key_id, state
    if typ == "aws:kms/alias:Alias":
        state.setdefault("arn", f"arn:aws:kms:{region}:{ACCOUNT}:{physical}")
        state.setdefault("targetKeyArn", f"arn:aws:kms:{region}:{ACCOUNT}:key/{fake_uuid(seed)}")
        return physical, state
    if typ == "aws:ssm/parameter:Parameter":
        state.setdefault("arn", f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{str(physical).lstrip('/')}")
        state.setdefault("version", 1)
        return physical, state
    if typ == "aws:ec2/eip:Eip":
        state.update(publicIp=fake_ip(seed, public=True), allocationId=rid,
                     publicDns=f"ec2-{fake_ip(seed, True).replace('.', '-')}.compute-1.amazonaws.com")
    elif typ == "aws:ec2/instance:Instance":
        state.update(privateIp=fake_ip(seed, public=False), arn=f"arn:aws:ec2:{region}:{ACCOUNT}:instance/{rid}",
                     privateDns=f"ip-{fake_ip(seed, False).replace('.', '-')}.ec2.internal")
    elif typ == "aws:route53/record:Record":
        state.setdefault("fqdn", state.get("name"))
        return f"{state.get('zoneId', 'Z0')}_{state.get('name')}_{state.get('type')}", state
    elif typ == "aws:ecs/cluster:Cluster":  # id and arn are the ARN
        state.update(name=physical, arn=f"arn:aws:ecs:{region}:{ACCOUNT}:cluster/{physical}")
        return state["arn"], state
    elif typ == "aws:ecs/service:Service":
        cluster = str(state.get("cluster", "")).rsplit("/", 1)[-1]
        state.update(name=physical, arn=f"arn:aws:ecs:{region}:{ACCOUNT}:service/{cluster}/{physical}")
        return state["arn"], state
    elif typ in ("aws:efs/fileSystem:FileSystem", "aws:efs/accessPoint:AccessPoint"):
        kind, prefix = ("file-system", "fs-") if typ.endswith("FileSystem") else ("access-point", "fsap-")
        rid = prefix + "0" + digest(seed)
        state["arn"] = f"arn:aws:elasticfilesystem:{region}:{ACCOUNT}:{kind}/{rid}"
        return rid, state
    elif typ == "aws:servicediscovery/service:Service":
        rid = "srv-" + digest(seed, length=16)
        state["arn"] = f"arn:aws:servicediscovery:{region}:{ACCOUNT}:service/{rid}"
        return rid, state
    elif typ == "aws:cloudwatch/logGroup:LogGroup":
        state["arn"] = f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{physical}"
        return physical, state
    elif typ == "aws:s3/bucketV2:BucketV2" or typ == "aws:s3/bucket:Bucket":
        bucket = state.setdefault("bucket", physical)  # a bucket's id and ARN carry its `bucket` name
        state.setdefault("arn", f"arn:aws:s3:::{bucket}")
        return bucket, state
    elif typ == "aws:lb/loadBalancer:LoadBalancer":  # ALB or NLB: id and arn are the ARN
        network = state.get("loadBalancerType") == "network"
        suffix = f"{'net' if network else 'app'}/{physical}/{digest(seed, length=16)}"
        host = f"{'internal-' if state.get('internal') else ''}{physical}-{digest(seed, length=10)}"
        state.update(arnSuffix=suffix, arn=f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/{suffix}",
                     dnsName=f"{host}.elb.{region}.amazonaws.com",
                     zoneId="Z26RNL4JYFTOTI" if network else "Z35SXDOTRQ7X7K")
        return state["arn"], state
    elif typ == "aws:lb/targetGroup:TargetGroup":
        suffix = f"targetgroup/{physical}/{digest(seed, length=16)}"
        state.update(arnSuffix=suffix, arn=f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:{suffix}")
        return state["arn"], state
    elif typ == "aws:acm/certificate:Certificate":  # one CNAME per name; `*.d` shares `d`'s
        names = [n for n in (state.get("domainName"), *(state.get("subjectAlternativeNames") or ())) if n]
        state["domainValidationOptions"] = [
            {"domainName": n, "resourceRecordType": "CNAME",
             "resourceRecordName": f"_{digest(n.removeprefix('*.'), length=32)}.{n.removeprefix('*.')}.",
             "resourceRecordValue": f"_{digest(n.removeprefix('*.'), 'acm', length=32)}.acm-validations.aws."}
            for n in names]
    elif typ == "aws:rds/instance:Instance":
        state.setdefault("address", f"{physical}.c{digest(seed, length=10)}.{region}.rds.amazonaws.com")
        state.setdefault("port", 5432)
    state.setdefault("arn", f"arn:aws:{service}:{region}:{ACCOUNT}:{typ.rsplit(':', 1)[-1].lower()}/{rid}")
    return rid, state



def call_result(token: str, args: dict[str, Any], region: str) -> dict[str, Any] | None:
    """Plausible answers for the aws data-source calls the platform makes; None for others."""
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names = [f"{region}{z}" for z in "abc"]
        return {"names": names, "zoneIds": [f"use1-az{i}" for i in (1, 2, 4)], "id": region, "state": "available"}
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/reactor-infra", "userId": "AIDA" + "0" * 17,
                "id": ACCOUNT}
    if token in ("aws:index/getRegion:getRegion", "aws:index/region:getRegion"):
        return {"name": region, "region": region, "id": region, "endpoint": f"ec2.{region}.amazonaws.com"}
    if token == "aws:ssm/getParameter:getParameter":
        name = str(args.get("name", ""))
        return {"name": name, "value": "ami-0" + digest(name), "insecureValue": "ami-0" + digest(name),
                "type": "String", "arn": f"arn:aws:ssm:{region}:{ACCOUNT}:parameter/{name.lstrip('/')}",
                "id": name, "version": 1}
    if token == "aws:ec2/getAmi:getAmi":
        return {"id": "ami-0" + digest(str(sorted(args.items()))), "imageId": "ami-0" + digest(str(args)),
                "architecture": "x86_64", "name": "mock-ami"}
    if token == "aws:kms/getKey:getKey":  # e.g. the AWS-managed alias/aws/rds of a region
        key_id = fake_uuid(f"{region}/{args.get('keyId')}")
        return {"id": key_id, "keyId": key_id, "arn": f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}",
                "keyManager": "AWS", "enabled": True}
    if token == "aws:route53/getZone:getZone":
        zone_name = str(args.get("name") or "example.com").rstrip(".") + "."
        zone_id = "Z" + digest(zone_name, length=20).upper()
        return {"zoneId": zone_id, "id": zone_id, "name": zone_name, "arn": f"arn:aws:route53:::hostedzone/{zone_id}"}
    return None
