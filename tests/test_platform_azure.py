"""The azure platform through the offline mock render: every tier is virtual machines booted by
cloud-init from base64 custom data (the core's node boot with Azure's hooks: Key Vault read over
its private endpoint with the machine's managed identity, the data disk at LUN 0, Azure Files NFS
for the volumes machines share).

What must hold whatever the snapshot: the plugin builds every @azure token; bad `extras.azure` is
refused in one line; renders are deterministic; every machine's custom data is accepted by
cloud-init and its boot scripts by sh and shellcheck, and the boot steps do what they say against
a fake curl (the metadata service, Key Vault); no secret value is in any render; the firewall
opens only 80/443 to the world and denies the rest; Key Vault, the database, the machines and the
edge keep the reviewers' rules; doctor and the operators' way in never show a secret.
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


# --- secrets: read from Key Vault at boot with the machine's managed identity -------------------

FETCH = "/usr/local/sbin/reactor-fetch-secrets"
BOOTSTRAP = "/usr/local/sbin/reactor-openbao-bootstrap"

# A fake `curl`: the metadata service's token endpoint answers a token (only with the Metadata
# header); Key Vault answers GET /secrets/NAME with {"value": "v-<name without the prefix>"} (the
# OpenBao token: $TOKEN), only with that token in an Authorization header read from stdin (-H @-),
# and records a PUT's URL and body; anything else fails as curl -f does.
FAKE_CURL = r"""
url=; method=GET; header_stdin=; metadata=; body=
while [ $# -gt 0 ]; do
  case $1 in
    -H) shift; case $1 in @-) header_stdin=1 ;; Metadata:true) metadata=1 ;; esac ;;
    -X) shift; method=$1 ;;
    --data-binary) shift; body=${1#@} ;;
    --retry) shift ;;
    -*) ;;
    *) url=$1 ;;
  esac
  shift
done
case $url in
  http://169.254.169.254/metadata/identity/oauth2/token*resource=https%3A%2F%2Fvault.azure.net*)
    [ -n "$metadata" ] || { echo "fake curl: no Metadata header" >&2; exit 22; }
    echo '{"access_token": "tok-123", "token_type": "Bearer"}'; exit 0 ;;
  "$VAULT"/secrets/*\?api-version=7.4) ;;
  *) echo "fake curl: unexpected URL $url" >&2; exit 22 ;;
esac
[ -n "$header_stdin" ] && [ "$(cat)" = "Authorization: Bearer tok-123" ] || { echo "fake curl: no bearer" >&2; exit 22; }
name=${url#"$VAULT"/secrets/}; name=${name%%\?*}
if [ "$method" = PUT ]; then printf '%s\n' "$name" >> "$LOG.put"; cat "$body" > "$LOG.body"; echo '{}'; exit 0; fi
printf '%s\n' "$name" >> "$LOG"
case $name in
  "$PREFIX"-openbao-token) printf '{"value": "%s"}\n' "$TOKEN" ;;
  "$PREFIX"-*) printf '{"value": "v-%s"}\n' "${name#"$PREFIX"-}" ;;
  *) echo "fake curl: 404 $name" >&2; exit 22 ;;
esac
"""


def fake_bin(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in (("curl", FAKE_CURL), ("sleep", "exit 0\n")):
        path = directory / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    return directory


def files_of(machine: dict) -> dict[str, str]:
    return {f["path"]: f["content"] for f in yaml.safe_load(custom_data(machine))["write_files"]}


def _env(tmp_path: Path, plan, token_value: str) -> dict[str, str]:
    from reactor_infra import naming
    from reactor_infra_azure.userdata import vault_url

    return {"PATH": f"{fake_bin(tmp_path / 'bin')}:/usr/bin:/bin", "PREFIX": naming.prefix(plan),
            "VAULT": vault_url(plan), "TOKEN": token_value, "LOG": str(tmp_path / "asked")}


def test_fetch_secrets_writes_0600_env_files_from_key_vault(tmp_path):
    """The node's boot step, as rendered in its custom data, against a fake curl standing for the
    metadata service and Key Vault: env files 0600 in a 0700 directory; the OpenBao token skipped
    while it is the placeholder, written once the first boot has stored the real one."""
    from reactor_infra_azure.secrets import PLACEHOLDER

    plan = build_plan(parse("O2@azure"))
    (node,) = machines("O2@azure")
    out = tmp_path / "run"
    script = write(tmp_path, "fetch.sh", files_of(node)[FETCH].replace("/run/reactor", str(out)))
    env = _env(tmp_path, plan, PLACEHOLDER)
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    reactor_env = (out / "reactor-server.env").read_text()
    assert "REACTOR_ADMIN__TOKEN=v-admin-token\n" in reactor_env
    assert "REACTOR_VAULT__TOKEN" not in reactor_env and "REACTOR_VAULT__TOKEN not set yet" in result.stderr
    assert out.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in out.iterdir())
    assert sorted(f.name for f in out.iterdir()) == ["postgres.env", "reactor-server.env"]
    env["TOKEN"] = "s.real-openbao-token"
    again = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert "REACTOR_VAULT__TOKEN=s.real-openbao-token\n" in (out / "reactor-server.env").read_text()


def test_fetch_secrets_fails_when_a_secret_cannot_be_read(tmp_path):
    (node,) = machines("O2@azure")
    out = tmp_path / "run"
    script = write(tmp_path, "fetch.sh", files_of(node)[FETCH].replace("/run/reactor", str(out)))
    env = {**_env(tmp_path, build_plan(parse("O2@azure")), "x"), "PREFIX": "another-stack"}
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode != 0 and "404" in result.stderr
    assert not (out / "reactor-server.env").exists()


def _shell_function(script: str, name: str) -> str:
    import re

    match = re.search(rf"^{name}\(\) {{[^\n]*\n.*?^}}\n", script, re.M | re.S)
    assert match, f"no function {name}() in the script"
    return match.group(0)


@pytest.mark.parametrize("token", ["O2@azure", "E5+ha@azure"])
def test_openbao_first_boot_stores_its_token_in_key_vault_and_refuses_the_placeholder(token, tmp_path):
    from reactor_infra_azure.secrets import PLACEHOLDER

    plan = build_plan(parse(token))
    with_bootstrap = [m for m in machines(token) if BOOTSTRAP in files_of(m)]
    assert len(with_bootstrap) == 1  # one machine initialises OpenBao
    bootstrap = files_of(with_bootstrap[0])[BOOTSTRAP]
    store = _shell_function(bootstrap, "store")
    token_file = write(tmp_path, "token", "s.the-new-token\n")
    env = _env(tmp_path, plan, PLACEHOLDER)
    done = subprocess.run(["sh", "-c", f'set -eu\n{store}store openbao-token "$1"\n', "sh", str(token_file)],
                          capture_output=True, text=True, env=env, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "asked.put").read_text() == f"{env['PREFIX']}-openbao-token\n"
    assert json.loads((tmp_path / "asked.body").read_text()) == {"value": "s.the-new-token\n"}
    assert not Path(f"{token_file}.json").exists()  # the request body does not outlive the call
    fetch = _shell_function(bootstrap, "fetch")
    for value, ok in ((PLACEHOLDER, False), ("s.the-new-token", True)):
        done = subprocess.run(["sh", "-c", f"{fetch}fetch openbao-token\n"], capture_output=True, text=True,
                              env={**env, "TOKEN": value}, timeout=30, check=False)
        assert (done.returncode == 0) is ok, (value, done.stderr)


@pytest.mark.parametrize("token", TOKENS)
def test_every_secret_a_machine_fetches_is_one_its_identity_may_read(token):
    """Each `get NAME` of a machine's fetch step names a Key Vault secret of the render, and the
    machine's own identity holds Key Vault Secrets User on exactly that secret."""
    import re

    from reactor_infra_azure.roles import SECRETS_USER

    secrets = {r["inputs"]["secretName"] for r in resources(token, "azure-native:keyvault:Secret")}
    identities = {r["name"].removesuffix("-identity-identity"): r for r in
                  resources(token, "azure-native:managedidentity:UserAssignedIdentity")}
    grants = {(r["name"].split("-identity-reads-")[0], r["inputs"]["scope"].rsplit("/", 1)[-1])
              for r in resources(token, "azure-native:authorization:RoleAssignment")
              if r["inputs"]["roleDefinitionId"].endswith(SECRETS_USER)}
    for m in machines(token):
        tier = m["inputs"]["tags"]["tier"]
        assert tier in identities, m["name"]
        got = re.findall(r"=\$\(get ([a-z0-9-]+)\)", files_of(m)[FETCH])
        assert got, m["name"]
        for name in got:
            assert name in secrets, f"{m['name']} reads {name}, which is no secret of the render"
            assert (tier, name) in grants, f"{m['name']} reads {name} but the {tier} identity may not"


# --- doctor and the operators' way in ---------------------------------------------------------------


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for var in ("ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_USE_OIDC", "ARM_USE_MSI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "azure"))
    return tmp_path / "azure"


def test_doctor_without_credentials_says_how_to_get_them(no_credentials):
    (check,) = load("azure").doctor()
    assert not check.ok and "az login" in check.detail


def test_doctor_reports_a_service_principal_never_its_secret(no_credentials, monkeypatch):
    monkeypatch.setenv("ARM_CLIENT_ID", "00000000-0000-0000-0000-000000000009")
    monkeypatch.setenv("ARM_CLIENT_SECRET", "very-secret-value")
    (check,) = load("azure").doctor()
    assert check.ok and "very-secret-value" not in check.detail and "ARM_" in check.detail


def test_doctor_reports_the_azure_cli_sign_in(no_credentials):
    no_credentials.mkdir()
    (no_credentials / "azureProfile.json").write_text("{}")
    (check,) = load("azure").doctor()
    assert check.ok and "Azure CLI" in check.detail


def test_admin_access_tunnels_through_bastion_to_the_admin_forwarder(tmp_path):
    """The command finds a running app machine of the stack and opens Bastion's SSH tunnel with
    a local forward to the machine's loopback admin forwarder; run against a fake `az`."""
    from reactor_infra.catalogue import ADMIN_PORT

    plan = build_plan(parse("E5+ha@azure"))
    access = load("azure").admin_access(plan, 18080)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    az = bin_dir / "az"
    az.write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$LOG"\n'
                  'case $1 in vm) echo /subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/app-0;; esac\n')
    az.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "LOG": str(tmp_path / "log")}
    done = subprocess.run(access.command, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "log").read_text().splitlines()
    assert calls[0].startswith("vm list --resource-group e5-ha-azure --query")
    assert "tags.tier=='app'" in calls[0]
    assert calls[1].startswith("network bastion ssh --name e5-ha-azure-bastion-host --resource-group e5-ha-azure "
                               "--auth-type AAD --target-resource-id /subscriptions/s/")
    assert calls[1].endswith(f"-- -N -L 18080:127.0.0.1:{ADMIN_PORT}")
    assert "az keyvault secret show" in access.token_hint and "admin-token" in access.token_hint


def test_every_machines_custom_data_fits_azures_limit():
    """Azure takes at most 65,535 bytes of custom data (before base64); every machine of every
    @azure render stays under it (the largest boot is the size-2 node's, every service on it)."""
    largest = 0

    def fits(topology):
        nonlocal largest
        for m in machines(topology.token):
            size = len(base64.b64decode((m["inputs"].get("osProfile")
                                         or m["inputs"]["virtualMachineProfile"]["osProfile"])["customData"]))
            largest = max(largest, size)
            assert size <= 65535, f"{topology.token} {m['name']}: {size} bytes of custom data"

    assert every(list(valid_topologies(Platform_.AZURE)), fits) == 87
    assert largest > 20000  # the check read real boots


def test_a_region_without_availability_zones_gets_no_zone_anywhere():
    """northcentralus has no availability zones: Azure refuses a zone there, so no machine, disk,
    address, balancer frontend or database names one, +ha is same-zone, storage is locally
    redundant; the same token elsewhere uses zones."""
    from reactor_infra.settings import load_settings

    def zones(doc: dict) -> list[str]:
        found = []
        for r in doc["resources"]:
            i = r["inputs"]
            if i.get("zones") or i.get("availabilityZone"):
                found.append(r["name"])
            found += [r["name"] for f in i.get("frontendIPConfigurations") or [] if f.get("zones")]
        return found

    plain = json.loads(render_graph("E5+ha@azure", load_settings({"regions": ["northcentralus"]})).to_json())
    assert zones(plain) == []
    (server,) = [r for r in plain["resources"] if r["type"] == "azure-native:dbforpostgresql:Server"]
    assert server["inputs"]["highAvailability"] == {"mode": "SameZone"}
    (account,) = [r for r in plain["resources"] if r["type"] == "azure-native:storage:StorageAccount"]
    assert account["inputs"]["sku"]["name"] == "Premium_LRS"
    zoned = json.loads(rendered_json("E5+ha@azure"))
    assert len(zones(zoned)) > 10
