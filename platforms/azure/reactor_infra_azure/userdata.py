"""How an Azure machine boots: the core's node boot (`reactor_infra.node_boot`) with this cloud's
hooks. Ubuntu 24.04 LTS (cloud-init reads the custom data; apt); secrets are Key Vault secrets
read over its private endpoint with the machine's managed identity, a token from the instance
metadata service (curl and python3 of the image: no Azure CLI); the data disk is LUN 0 (the
image's Azure udev rules name it); shared volumes are directories of an Azure Files NFS 4.1
share. Pure; no Pulumi.

A bearer token never reaches a command line: curl reads the Authorization header from its
standard input (`-H @-`), which a shell builtin writes.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from reactor_infra import late, naming
from reactor_infra.layout import Plan
from reactor_infra.node_boot import (APT_DOCKER, SHARED_ROOT, NodeCloud, shared_path, wait_for_disk,
                                     wait_for_registry)

from .naming import key_vault
from .places import DATA_LUN, TENANT

PACKAGES = ("docker.io", "docker-compose-v2", "nfs-common", "python3")
API = "api-version=7.4"
IMDS_TOKEN = ("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
              "&resource=https%3A%2F%2Fvault.azure.net")
_JSON = "python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)[sys.argv[1]])'"


def vault_url(plan: Plan) -> str:
    return f"https://{key_vault(plan, plan.primary_region)}.vault.azure.net"


def _token() -> str:
    """A command printing a Key Vault token of the machine's (only) user-assigned identity."""
    return f"curl -sSf --retry 3 -H Metadata:true '{IMDS_TOKEN}' | {_JSON} access_token"


def _bearer(curl_args: str) -> str:
    return f"token=$({_token()}) && printf 'Authorization: Bearer %s\\n' \"$token\" | curl -sSf -H @- {curl_args}"


def _store(plan: Plan) -> str:
    """`store NAME FILE`: FILE's content as a new version of the secret `<stack>-NAME`."""
    url = f"{vault_url(plan)}/secrets/{naming.prefix(plan)}-$1?{API}"
    return "\n".join([
        'body="$2.json"',
        "python3 -c 'import json,sys; json.dump({\"value\": open(sys.argv[1]).read()}, sys.stdout)' \"$2\" > \"$body\"",
        _bearer(f"-X PUT -H 'Content-Type: application/json' --data-binary @\"$body\" \"{url}\" >/dev/null")
        + '; rc=$?; rm -f "$body"; return $rc'])


def _fetch(plan: Plan, placeholder: str) -> str:
    url = f"{vault_url(plan)}/secrets/{naming.prefix(plan)}-$1?{API}"
    return (f"value=$({_bearer(repr_url(url))} | {_JSON} value) && [ \"$value\" != {shlex.quote(placeholder)} ]")


def repr_url(url: str) -> str:
    return f'"{url}"'


def _azure_files(shared: Mapping[str, tuple[str, str]]) -> list[str]:
    """Mount the install's Azure Files NFS share at the shared root once; each volume is a
    directory of it."""
    if not shared:
        return []
    (host, share), = set(shared.values())
    entry = f"{host}:/{share} {SHARED_ROOT} nfs vers=4,minorversion=1,sec=sys,nconnect=4,hard,_netdev 0 0"
    return ["# the volumes the tier's machines share: directories of an Azure Files NFS 4.1 share",
            f"mkdir -p {SHARED_ROOT}", f"grep -q ' {SHARED_ROOT} ' /etc/fstab || echo '{entry}' >> /etc/fstab",
            f"mountpoint -q {SHARED_ROOT} || mount {SHARED_ROOT}",
            *[f"mkdir -p {shared_path(v)}" for v in sorted(shared)]]


def cloud(plan: Plan) -> NodeCloud:
    """Azure's hooks: Key Vault with the managed identity, apt, Azure Files NFS."""
    return NodeCloud(
        packages=PACKAGES, store_words="Key Vault secrets with the machine's managed identity",
        store_env=(f"vault={shlex.quote(vault_url(plan))}",
                   f"read_secret() {{ {_bearer(repr_url('$vault/secrets/$1?' + API))} | {_JSON} value; }}"),
        read='read_secret "$1"',
        bootstrap_store=_store,
        bootstrap_fetch=_fetch,
        network_wait=wait_for_registry("the NAT gateway, or the node's own address"),
        find_data_disk=wait_for_disk(f"/dev/disk/azure/scsi1/lun{DATA_LUN}"),
        install_docker=APT_DOCKER,
        mount_shared=_azure_files)


def seal_config(plan: Plan, vault_name: str | None, key: str | None) -> dict[str, str]:
    """OpenBao's azurekeyvault stanza: the tenant (late), the vault and key names. No client
    secret: the seal signs in with the machine's managed identity (its only identity)."""
    if not (vault_name and key):
        return {}
    return {"tenant_id": late.marker(TENANT), "vault_name": vault_name, "key_name": key}
