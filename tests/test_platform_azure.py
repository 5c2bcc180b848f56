"""The azure platform through the offline mock render: every tier is
virtual machines booted by cloud-init from base64 custom data (the core's node boot with
Azure's hooks: Key Vault read over its private endpoint with the machine's managed identity,
the data disk at LUN 0, Azure Files NFS for the volumes machines share).

What must hold whatever the snapshot: the plugin builds every @azure token; bad `extras.azure`
is refused in one line; renders are deterministic; every machine's custom data is accepted by cloud-init and its boot scripts by sh
and shellcheck; no secret value is in any render; the firewall opens only 80/443 to the world
and denies the rest; Key Vault, the database, the machines and the edge keep the reviewers'
rules (purge protection and no public access, no public database, no passwords, encryption at
host, WAF for E).
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from matrix import every
from renders import rendered, rendered_json
from tools import require, run, shellcheck, write

from reactor_infra.conformance import generated_values
from reactor_infra.errors import UserError
from reactor_infra.plan import build_plan
from reactor_infra.platforms import load
from reactor_infra.render import render as render_graph
from reactor_infra.token import Modifier, parse, valid_topologies
from reactor_infra.token import Platform as Platform_

TOKENS = ["O2@azure", "E2@azure", "C2@azure", "O3@azure", "E3+ha@azure", "C3+as@azure", "E4+ha@azure",
          "E5+ha@azure", "E6+ha+mr@azure", "C6+ha+mr+as@azure", "O10+ha@azure"]
VM = "azure-native:compute:VirtualMachine"
VMSS = "azure-native:compute:VirtualMachineScaleSet"
NSG = "azure-native:network:NetworkSecurityGroup"
BOOT_DIR = "/usr/local/sbin/"


def resources(token: str, type_: str | None = None) -> list[dict]:
    doc = json.loads(rendered_json(token))
    return [r for r in doc["resources"] if type_ is None or r["type"] == type_]


def custom_data(machine: dict) -> str:
    inputs = machine["inputs"]
    profile = inputs.get("osProfile") or inputs["virtualMachineProfile"]["osProfile"]
    text = base64.b64decode(profile["customData"]).decode()
    assert text.startswith("#cloud-config\n"), machine["name"]
    return text


def machines(token: str) -> list[dict]:
    return resources(token, VM) + resources(token, VMSS)


# --- the plugin ------------------------------------------------------------------------------


def test_azure_plugin_is_registered_and_claims_the_cloud_ladder():
    platform = load("azure")
    assert (platform.name, platform.package) == ("azure", "reactor-infra-azure")
    assert platform.sizes == frozenset({2, 3, 4, 5, 6, 10})
    assert platform.modifiers == frozenset(Modifier)
    assert len(list(valid_topologies(Platform_.AZURE))) == 87


def test_plugin_builds_every_valid_azure_token():
    tokens = list(valid_topologies(Platform_.AZURE))
    assert len(tokens) == 87

    def builds(topology):
        problems = load("azure").unsupported(topology)
        assert problems == [], f"{topology}: {problems}"

    assert every(tokens, builds) == 87


@pytest.mark.parametrize(("token", "settings", "says"), [
    ("C5+ha@azure", {"domain": "api.example.com"}, "extras.azure.dns_zone: edition C proves *.<domain> by DNS-01"),
    ("C3@azure", {"domain": "api.example.com"}, "extras.azure.wildcard_certificate: C3@azure serves tenants"),
    ("E5@azure", {"extras": {"azure": {"network_cidr": "10.0.0.0/8"}}}, "between /16 and /22"),
    ("E5@azure", {"extras": {"azure": {"admin_username": "root"}}}, "not a Linux user name Azure accepts"),
    ("E5@azure", {"extras": {"azure": {"wildcard_certificate": "https://x.vault.azure.net/secrets/y"}}},
     "not a Key Vault secret's resource id"),
    ("E5@azure", {"extras": {"azure": {"network_cidr": "10.42.0.0/16", "second_network_cidr": "10.42.0.0/16"}}},
     "overlaps"),
])
def test_bad_settings_are_refused_in_one_line(token, settings, says):
    from reactor_infra.settings import load_settings

    with pytest.raises(UserError) as err:
        render_graph(token, load_settings(settings))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_render_is_byte_identical_twice():
    assert render_graph("E6+ha+mr@azure").to_json() == render_graph("E6+ha+mr@azure").to_json()


def test_an_unpaired_primary_region_is_refused_for_geo_redundant_backups():
    from reactor_infra.settings import load_settings

    plan = build_plan(parse("E5+ha@azure"), load_settings({"regions": ["italynorth"]}))
    with pytest.raises(UserError) as err:
        load("azure").extras(plan)
    assert "italynorth has no pair" in str(err.value) and "\n" not in str(err.value)


# --- boot files, read by the programs that read them ------------------------------------------


def _cloud_init(text: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "user-data", text)
        result = run(["cloud-init", "schema", "--config-file", str(path)], cwd=Path(tmp), timeout=180)
        return "" if result.ok else result.output.replace(tmp, "")


def _shell(text: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "script.sh", text)
        syntax = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, timeout=30, check=False)
        if syntax.returncode != 0:
            return f"sh -n: {syntax.stderr}".replace(tmp, "")
        lint = subprocess.run([shellcheck(), "--shell=sh", "--severity=warning", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)
        return "" if lint.returncode == 0 else f"shellcheck: {lint.stdout}{lint.stderr}".replace(tmp, "")


@pytest.mark.tools
@pytest.mark.parametrize("token", ["O2@azure", "E5+ha@azure", "O10+ha@azure"])
def test_custom_data_is_valid_cloud_config_and_its_scripts_pass_shellcheck(token):
    require("cloud-init")
    shellcheck()
    texts = {custom_data(m) for m in machines(token)}
    problems = [p for p in map(_cloud_init, sorted(texts)) if p]
    assert not problems, "\n".join(problems)
    scripts = {f["content"] for t in texts for f in yaml.safe_load(t)["write_files"] if f["path"].startswith(BOOT_DIR)}
    assert scripts
    problems = [p for p in map(_shell, sorted(scripts)) if p]
    assert not problems, "\n".join(problems)


def test_the_fetch_script_reads_key_vault_without_a_token_on_a_command_line():
    text = custom_data(machines("E5+ha@azure")[0])
    files = {f["path"]: f["content"] for f in yaml.safe_load(text)["write_files"]}
    fetch = files["/usr/local/sbin/reactor-fetch-secrets"]
    assert ".vault.azure.net" in fetch and "169.254.169.254/metadata/identity/oauth2/token" in fetch
    assert "-H @-" in fetch and "Bearer $token" not in fetch.replace("Bearer %s", "")


# --- reviewers' rules --------------------------------------------------------------------------


@pytest.mark.parametrize("token", TOKENS)
def test_no_generated_secret_value_is_in_the_render(token):
    text = rendered_json(token)
    values = generated_values(rendered(token))
    assert values and not [v for v in values if v in text]
    assert all(base64.b64encode(v.encode()).decode()[:-4] not in text for v in values if len(v) > 12)


@pytest.mark.parametrize("token", TOKENS)
def test_the_world_reaches_only_80_and_443_and_every_group_ends_denying(token):
    plan = build_plan(parse(token))
    for nsg in resources(token, NSG):
        rules = nsg["inputs"]["securityRules"]
        assert rules[-1]["access"] == "Deny" and rules[-1]["priority"] == 4096, nsg["name"]
        inbound = [r for r in rules if r["direction"] == "Inbound"]
        assert inbound[-1]["name"] == "deny-inbound"
        for rule in inbound:
            if rule.get("sourceAddressPrefix") == "Internet":
                assert rule["access"] == "Allow" and rule["destinationPortRange"] in ("80", "443"), rule
        assert len({r["priority"] for r in rules if r["direction"] == "Inbound"}) == len(inbound)
    if plan.topology.size == 3:  # Front Door's back ends, not the world
        assert not any(r.get("sourceAddressPrefix") == "Internet" for n in resources(token, NSG)
                       for r in n["inputs"]["securityRules"] if r["direction"] == "Inbound")


@pytest.mark.parametrize("token", TOKENS)
def test_key_vault_has_rbac_purge_protection_and_no_public_access(token):
    for vault in resources(token, "azure-native:keyvault:Vault"):
        props = vault["inputs"]["properties"]
        assert props["enableRbacAuthorization"] and props["enablePurgeProtection"] and props["enableSoftDelete"]
        assert props["publicNetworkAccess"] == "Disabled" and props["networkAcls"]["defaultAction"] == "Deny"


@pytest.mark.parametrize("token", TOKENS)
def test_machines_have_no_password_encryption_at_host_and_trusted_launch(token):
    for machine in machines(token):
        inputs = machine["inputs"]
        profile = inputs.get("virtualMachineProfile", inputs)
        linux = profile["osProfile"]["linuxConfiguration"]
        assert linux["disablePasswordAuthentication"] is True and "adminPassword" not in profile["osProfile"]
        security = profile["securityProfile"]
        assert security["encryptionAtHost"] is True and security["securityType"] == "TrustedLaunch"
        assert inputs["identity"]["type"] == "UserAssigned"


@pytest.mark.parametrize("token", TOKENS)
def test_only_the_size_2_node_has_a_public_address(token):
    nics = resources(token, "azure-native:network:NetworkInterface")
    public = [n for n in nics if any(c.get("publicIPAddress") for c in n["inputs"]["ipConfigurations"])]
    assert len(public) == (1 if parse(token).size == 2 else 0)


@pytest.mark.parametrize("token", [t for t in TOKENS if parse(t).size >= 3])
def test_the_database_is_private_tls_only_and_protected_for_e(token):
    plan = build_plan(parse(token))
    servers = [s for s in resources(token, "azure-native:dbforpostgresql:Server") if s["inputs"].get("createMode") != "Replica"]
    (server,) = servers
    inputs = server["inputs"]
    assert inputs["network"]["publicNetworkAccess"] == "Disabled" and inputs["network"]["delegatedSubnetResourceId"]
    enterprise = plan.policy.customer_managed_keys
    assert (inputs["backup"]["geoRedundantBackup"] == "Enabled") is enterprise
    assert (inputs["dataEncryption"]["type"] == "AzureKeyVault") is enterprise
    assert (inputs["highAvailability"]["mode"] == "ZoneRedundant") is plan.database.standby
    settings = {c["inputs"]["configurationName"]: c["inputs"]["value"]
                for c in resources(token, "azure-native:dbforpostgresql:Configuration")}
    assert settings["require_secure_transport"] == "ON" and "CITEXT" in settings["azure.extensions"]
    locks = resources(token, "azure-native:authorization:ManagementLockByScope")
    assert bool(locks) is plan.policy.protect and all(lock["inputs"]["level"] == "CanNotDelete" for lock in locks)


@pytest.mark.parametrize(("token", "sku", "waf"), [("O3@azure", "Standard_AzureFrontDoor", False),
                                                   ("E3+ha@azure", "Premium_AzureFrontDoor", True)])
def test_size_3_is_front_door_with_the_admin_paths_closed(token, sku, waf):
    (profile,) = resources(token, "azure-native:cdn:Profile")
    assert profile["inputs"]["sku"]["name"] == sku
    (rule,) = resources(token, "azure-native:cdn:Rule")
    (condition,) = rule["inputs"]["conditions"]
    import re
    assert condition["parameters"]["transforms"] == ["Lowercase", "UrlDecode"]
    pattern = re.compile(condition["parameters"]["matchValues"][0])
    for path in ("/_admin", "//_admin/x", "/_cloud", "/_ops/v1/deployments"):
        assert pattern.search(path), path
    for path in ("/auth/v1", "/_adminx", "/data/_admin"):
        assert not pattern.search(path), path
    (route,) = resources(token, "azure-native:cdn:Route")
    assert route["inputs"]["httpsRedirect"] == "Enabled"
    assert bool(resources(token, "azure-native:frontdoor:Policy")) is waf
