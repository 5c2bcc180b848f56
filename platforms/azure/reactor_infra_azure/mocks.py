"""Offline render answers for the azure-native provider: Azure Resource Manager ids, addresses,
host names and identities that look like the real ones (subscription and tenant are fixed
example GUIDs, addresses from the documentation ranges), derived from a hash of each resource's
type and name so renders stay byte-identical. Used through `AzurePlatform.mock_*`."""

from __future__ import annotations

from typing import Any

from reactor_infra.mocks import digest, fake_ip, fake_uuid

SUBSCRIPTION = "00000000-0000-4000-8000-000000000001"
TENANT = "00000000-0000-4000-8000-000000000002"
# keys that name a resource's parent, not the resource itself
PARENT_KEYS = frozenset({"vaultName", "serverName", "profileName", "virtualNetworkName", "privateZoneName", "zoneName",
                         "accountName", "vmName", "endpointName", "ruleSetName", "originGroupName",
                         "privateEndpointName"})


def _name(kind: str, name: str, state: dict[str, Any]) -> str:
    keys = [k for k, v in state.items() if k.endswith("Name") and k != "resourceGroupName" and isinstance(v, str)]
    if kind == "UserAssignedIdentity" and isinstance(state.get("resourceName"), str):
        return state["resourceName"]
    if kind == "ResourceGroup" and isinstance(state.get("resourceGroupName"), str):
        return state["resourceGroupName"]
    bare = kind.removeprefix("AFD")
    for preferred in (f"{kind[0].lower()}{kind[1:]}Name", f"{bare[0].lower()}{bare[1:]}Name"):
        if preferred in keys:
            return state[preferred]
    own = sorted(k for k in keys if k not in PARENT_KEYS) or sorted(keys)
    return state[own[0]] if own else name


def resource_state(typ: str, name: str, state: dict[str, Any], region: str) -> tuple[str, dict[str, Any]] | None:
    """(id, state) for an azure-native resource; None for types of other packages."""
    if not typ.startswith(("azure-native:", "pulumi:providers:azure-native")):
        return None
    seed = f"{typ}/{name}"
    if typ.startswith("pulumi:providers:"):
        return digest(seed, length=12), state
    module, kind = typ.split(":")[1], typ.split(":")[2]
    physical = _name(kind, name, state)
    state["name"] = physical
    identity = state.get("identity")
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        # inputs list the identities; Azure answers with a map of them
        identity = state["identity"] = {**identity,
                                        "userAssignedIdentities": {i: {} for i in identity["userAssignedIdentities"]}}
    if isinstance(identity, dict) and "SystemAssigned" in str(identity.get("type", "")):
        # a system-assigned identity's principal (a backup vault's, Front Door's)
        state["identity"] = {**identity, "principalId": fake_uuid(seed + "/system-identity"), "tenantId": TENANT}
    group = state.get("resourceGroupName") if isinstance(state.get("resourceGroupName"), str) else "rg"
    if typ == "azure-native:resources:ResourceGroup":
        return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{physical}", state
    rid = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.{module.capitalize()}/"
           f"{kind[0].lower() + kind[1:]}{'es' if kind.endswith('s') else 's'}/{physical}")
    if kind == "RoleAssignment":
        rid = f"{state.get('scope', '')}/providers/Microsoft.Authorization/roleAssignments/{physical}"
    elif kind == "PublicIPAddress":
        state.setdefault("ipAddress", fake_ip(seed, public=True))
    elif kind == "UserAssignedIdentity":
        state.update(principalId=fake_uuid(seed + "/principal"), clientId=fake_uuid(seed + "/client"), tenantId=TENANT)
    elif kind == "Vault":
        properties = dict(state.get("properties") or {})
        properties["vaultUri"] = f"https://{physical}.vault.azure.net/"
        state["properties"] = properties
    elif kind == "Key" and module == "keyvault":
        uri = f"https://{state.get('vaultName')}.vault.azure.net/keys/{physical}"
        state.update(keyUri=uri, keyUriWithVersion=f"{uri}/{digest(seed, length=32)}")
    elif kind == "Secret" and module == "keyvault":
        rid = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}/providers/Microsoft.KeyVault/vaults/" \
              f"{state.get('vaultName')}/secrets/{physical}"
    elif kind == "Server" and module == "dbforpostgresql":
        state["fullyQualifiedDomainName"] = f"{physical}.postgres.database.azure.com"
    elif kind == "AFDEndpoint":
        state["hostName"] = f"{physical}-{digest(seed, length=16)}.z01.azurefd.net"
    elif kind == "AFDCustomDomain":
        state["validationProperties"] = {"validationToken": digest(seed, length=32), "expirationDate": "2027-01-01"}
    elif kind == "StorageAccount":
        state["primaryEndpoints"] = {"file": f"https://{physical}.file.core.windows.net/"}
    return rid, state


def call_result(token: str, args: dict[str, Any], region: str) -> dict[str, Any] | None:
    """Plausible answers for the azure-native data-source calls the platform makes; None for others."""
    if token == "azure-native:authorization:getClientConfig":
        return {"clientId": fake_uuid("client"), "objectId": fake_uuid("object"), "subscriptionId": SUBSCRIPTION,
                "tenantId": TENANT}
    return None
