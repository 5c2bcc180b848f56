"""Offline render answers for the gcp provider: ids, self links, addresses and emails that look
like the real ones (project `reactor-example`, number 123456789012, documentation IP ranges),
derived from a hash of each resource's type and name so renders stay byte-identical. Used
through `GcpPlatform.mock_*`."""

from __future__ import annotations

from typing import Any

from reactor_infra.mocks import digest, fake_ip

PROJECT = "reactor-example"
NUMBER = "123456789012"
API = "https://www.googleapis.com/compute/v1"


def _where(state: dict[str, Any], region: str) -> str:
    if state.get("zone"):
        return f"zones/{state['zone']}"
    if state.get("region"):
        return f"regions/{state['region']}"
    return "global"


def resource_state(typ: str, name: str, state: dict[str, Any], region: str) -> tuple[str, dict[str, Any]] | None:
    """(id, state) for a gcp resource; None for types of other packages."""
    if not typ.startswith(("gcp:", "pulumi:providers:gcp")):
        return None
    seed = f"{typ}/{name}"
    if typ == "pulumi:providers:gcp":
        return digest(seed, length=12), state
    module, kind = typ.split(":")[1].split("/")[0], typ.rsplit(":", 1)[-1]
    physical = state.get("name") if isinstance(state.get("name"), str) else name
    if module == "compute":
        collection = kind[0].lower() + kind[1:] + "s"
        path = f"projects/{PROJECT}/{_where(state, region)}/{collection}/{physical}"
        state.setdefault("selfLink", f"{API}/{path}")
        state.setdefault("selfLinkUnique", f"{API}/{path}?uniqueId={int(digest(seed, length=12), 16)}")
        if kind in ("Address", "GlobalAddress"):
            internal = state.get("addressType") == "INTERNAL"
            state.setdefault("address", fake_ip(seed, public=not internal))
        elif kind == "Instance":
            state.setdefault("instanceId", str(int(digest(seed, length=12), 16)))
        elif kind == "RegionInstanceGroupManager":
            state["instanceGroup"] = (f"{API}/projects/{PROJECT}/regions/{state.get('region')}/instanceGroups/"
                                      f"{physical}")
        elif kind == "InstanceTemplate":
            physical = f"{state.get('namePrefix', 'tpl-')}{digest(seed, length=20)}"
            state["name"] = physical
            path = f"projects/{PROJECT}/global/instanceTemplates/{physical}"
            state.update(selfLink=f"{API}/{path}", selfLinkUnique=f"{API}/{path}?uniqueId={digest(seed, length=12)}")
        elif kind == "SSLCertificate":
            physical = f"{state.get('namePrefix', 'cert-')}{digest(seed, length=20)}"
            path = f"projects/{PROJECT}/global/sslCertificates/{physical}"
        return path, state
    if typ == "gcp:serviceaccount/account:Account":
        email = f"{state.get('accountId')}@{PROJECT}.iam.gserviceaccount.com"
        state.update(email=email, member=f"serviceAccount:{email}", uniqueId=str(int(digest(seed, length=12), 16)))
        return f"projects/{PROJECT}/serviceAccounts/{email}", state
    if typ == "gcp:projects/serviceIdentity:ServiceIdentity":
        service = str(state.get("service", "")).split(".")[0]
        agent = {"sqladmin": "gcp-sa-cloud-sql", "secretmanager": "gcp-sa-secretmanager"}.get(service, service)
        state.update(email=f"service-{NUMBER}@{agent}.iam.gserviceaccount.com")
        return f"projects/{PROJECT}/services/{state.get('service')}", state
    if typ == "gcp:kms/keyRing:KeyRing":
        return f"projects/{PROJECT}/locations/{state.get('location')}/keyRings/{physical}", state
    if typ == "gcp:kms/cryptoKey:CryptoKey":
        return f"{state.get('keyRing')}/cryptoKeys/{physical}", state
    if typ == "gcp:secretmanager/secret:Secret":
        state.setdefault("name", f"projects/{NUMBER}/secrets/{state.get('secretId')}")
        return f"projects/{PROJECT}/secrets/{state.get('secretId')}", state
    if typ == "gcp:secretmanager/secretVersion:SecretVersion":
        return f"{state.get('secret')}/versions/1", state
    if typ == "gcp:sql/databaseInstance:DatabaseInstance":
        state.update(privateIpAddress=fake_ip(seed, public=False), connectionName=f"{PROJECT}:{region}:{physical}",
                     selfLink=f"https://sqladmin.googleapis.com/sql/v1beta4/projects/{PROJECT}/instances/{physical}")
        return physical, state
    if typ == "gcp:filestore/instance:Instance":
        networks = [dict(n) for n in state.get("networks") or [{}]]
        networks[0]["ipAddresses"] = [fake_ip(seed, public=False)]
        state["networks"] = networks
        return f"projects/{PROJECT}/locations/{state.get('location')}/instances/{physical}", state
    if typ == "gcp:storage/bucket:Bucket":
        state.setdefault("url", f"gs://{physical}")
        state.setdefault("selfLink", f"https://www.googleapis.com/storage/v1/b/{physical}")
        return physical, state
    if typ == "gcp:storage/hmacKey:HmacKey":
        # a stand-in, never a value that looks real: the render marks where it goes [secret]
        state.update(accessId="GOOG1E" + digest(seed, length=20).upper(), secret="mock-secret-hmac-" + digest(seed))
        return state["accessId"], state
    if typ == "gcp:certificatemanager/dnsAuthorization:DnsAuthorization":
        domain = str(state.get("domain", "example.com"))
        state["dnsResourceRecords"] = [{"name": f"_acme-challenge.{domain}.", "type": "CNAME",
                                        "data": f"{digest(domain, length=8)}.{digest(seed, length=6)}.authorize."
                                                "certificatemanager.goog."}]
        return f"projects/{PROJECT}/locations/global/dnsAuthorizations/{physical}", state
    if module == "certificatemanager":
        return f"projects/{PROJECT}/locations/global/{kind[0].lower() + kind[1:]}s/{physical}", state
    if typ == "gcp:dns/managedZone:ManagedZone":
        state.setdefault("nameServers", [f"ns-cloud-{c}{i}.googledomains.com." for c, i in (("a", 1), ("a", 2))])
        return f"projects/{PROJECT}/managedZones/{physical}", state
    return f"projects/{PROJECT}/{module}/{kind.lower()}/{physical}", state


def call_result(token: str, args: dict[str, Any], region: str) -> dict[str, Any] | None:
    """Plausible answers for the gcp data-source calls the platform makes; None for others."""
    if token == "gcp:organizations/getClientConfig:getClientConfig":
        return {"project": PROJECT, "region": region, "zone": f"{region}-a", "id": PROJECT, "accessToken": ""}
    if token == "gcp:organizations/getProject:getProject":
        project = args.get("projectId") or PROJECT
        return {"projectId": project, "number": NUMBER, "name": project, "id": f"projects/{project}"}
    if token == "gcp:storage/getProjectServiceAccount:getProjectServiceAccount":
        email = f"service-{NUMBER}@gs-project-accounts.iam.gserviceaccount.com"
        return {"emailAddress": email, "member": f"serviceAccount:{email}", "id": email, "project": PROJECT}
    return None
