"""Deterministic, plausible outputs for the offline render (Pulumi's mock engine).

Every value is derived from a hash of the resource's type and name, never random, so
the same program renders byte-identically. Ids, ARNs, addresses and endpoints look like
the real ones (documentation IP ranges, account 123456789012) so Reactor.toml and the
exports are complete. Values of pulumi-random resources are fakes that the render marks
secret, like the real provider does.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

ACCOUNT = "123456789012"
SECRET_PREFIX = "mock-secret-"


def digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def fake_ip(seed: str, public: bool) -> str:
    n = int(digest(seed, length=4), 16)
    return f"203.0.113.{n % 254 + 1}" if public else f"10.42.{n // 254 % 250}.{n % 254 + 1}"


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


def resource_state(typ: str, name: str, inputs: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
    """(physical id, output state) for a resource registration."""
    pkg = typ.split(":", 1)[0]
    seed = f"{typ}/{name}"
    state = dict(inputs)
    if pkg == "random":
        return _random_state(typ, seed, state)
    if pkg == "aws":
        return _aws_state(typ, name, seed, state, region)
    if pkg == "docker":
        return _docker_state(typ, name, seed, state)
    return f"{name}-{digest(seed, length=8)}", state


def _random_state(typ: str, seed: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    raw = hashlib.sha256(seed.encode()).digest()
    secret = SECRET_PREFIX + digest(seed, length=24)
    kind = typ.rsplit(":", 1)[-1]
    if kind in ("RandomPassword", "RandomString"):
        state.update(result=secret, bcryptHash="$2a$10$" + digest(seed, "bcrypt", length=53))
    elif kind == "RandomBytes":
        state.update(base64=base64.b64encode(raw).decode(), hex=raw.hex())
    elif kind == "RandomId":
        size = int(state.get("byteLength", 8))
        data = (raw * 4)[:size]
        state.update(hex=data.hex(), b64Std=base64.b64encode(data).decode(),
                     b64Url=base64.urlsafe_b64encode(data).decode().rstrip("="),
                     dec=str(int.from_bytes(data, "big")))
    elif kind == "RandomUuid":
        h = digest(seed, length=32)
        state.update(result=f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    else:
        state.update(result=secret)
    return digest(seed, "id", length=16), state


def _aws_state(typ: str, name: str, seed: str, state: dict[str, Any], region: str) -> tuple[str, dict[str, Any]]:
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
        key_id = _uuid(seed)
        state.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{ACCOUNT}:key/{key_id}")
        return key_id, state
    if typ == "aws:kms/alias:Alias":
        state.setdefault("arn", f"arn:aws:kms:{region}:{ACCOUNT}:{physical}")
        state.setdefault("targetKeyArn", f"arn:aws:kms:{region}:{ACCOUNT}:key/{_uuid(seed)}")
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
    elif typ == "aws:s3/bucketV2:BucketV2" or typ == "aws:s3/bucket:Bucket":
        state.setdefault("bucket", physical)
        state.setdefault("arn", f"arn:aws:s3:::{physical}")
        return physical, state
    elif typ == "aws:rds/instance:Instance":
        state.setdefault("address", f"{physical}.c{digest(seed, length=10)}.{region}.rds.amazonaws.com")
        state.setdefault("port", 5432)
    state.setdefault("arn", f"arn:aws:{service}:{region}:{ACCOUNT}:{typ.rsplit(':', 1)[-1].lower()}/{rid}")
    return rid, state


def _docker_state(typ: str, name: str, seed: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    full = digest(seed, length=64)
    if typ == "docker:index/remoteImage:RemoteImage":
        ref = state.get("name", name)
        state.update(imageId=f"sha256:{full}", repoDigest=f"{str(ref).split(':')[0]}@sha256:{full}")
        return f"sha256:{full}{ref}", state
    if typ == "docker:index/network:Network":
        return full, state
    if typ == "docker:index/volume:Volume":
        state.setdefault("mountpoint", f"/var/lib/docker/volumes/{state.get('name', name)}/_data")
        return str(state.get("name", name)), state
    if typ == "docker:index/container:Container":
        state.setdefault("hostname", full[:12])
        state.setdefault("networkDatas", [{"ipAddress": fake_ip(seed, public=False)}])
    return full, state


def _uuid(seed: str) -> str:
    h = digest(seed, "uuid", length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def invoke_result(token: str, args: dict[str, Any], region: str) -> dict[str, Any]:
    """Plausible answers for the data-source calls platforms make."""
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
    if token == "aws:route53/getZone:getZone":
        zone_name = str(args.get("name") or "example.com").rstrip(".") + "."
        zone_id = "Z" + digest(zone_name, length=20).upper()
        return {"zoneId": zone_id, "id": zone_id, "name": zone_name, "arn": f"arn:aws:route53:::hostedzone/{zone_id}"}
    return dict(args)
