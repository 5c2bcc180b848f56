"""The gcp platform through the offline mock render: every tier is Compute Engine machines booted
by cloud-init from the `#cloud-config` in their `user-data` metadata (the core's node boot with
GCP's hooks: Secret Manager read with the machine's service account at boot, the data disk
attached as `reactor-data`, Filestore for the volumes a tier's machines share).

What must hold whatever the snapshot: the plugin builds every @gcp token; bad `extras.gcp` is
refused in one line naming the key; every machine's user data is accepted by the programs that
read it (cloud-init, sh and shellcheck, docker-compose, systemd-analyze); the boot steps do what
they say when run against a fake `gcloud`; no secret value is in any machine's metadata; the
seal is gcpckms with no credentials; doctor and the admin way in never show a secret.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from matrix import every
from renders import rendered as _rendered
from renders import rendered_json
from tools import require, run, shellcheck, systemd_problems, write

from reactor_infra import naming
from reactor_infra.catalogue import ADMIN_PORT
from reactor_infra.conformance import generated_values
from reactor_infra.errors import SettingsError, UserError
from reactor_infra.layout import Service
from reactor_infra.plan import build_plan
from reactor_infra.platforms import load
from reactor_infra.render import render as render_graph
from reactor_infra.settings import load_settings
from reactor_infra.token import Modifier, parse, valid_topologies
from reactor_infra.token import Platform as Platform_

TOKENS = ["O2@gcp", "E2@gcp", "C2@gcp", "E3@gcp", "E4+ha@gcp", "C6+ha+mr@gcp", "E10+ha+mr@gcp", "O5+as@gcp"]
# the tokens whose plan runs OpenBao (E3 has no vault)
OPENBAO_TOKENS = [t for t in TOKENS if t != "E3@gcp"]
DOMAIN = "api.example.com"

INSTANCE = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
SECRET = "gcp:secretmanager/secret:Secret"
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"
SECRET_MEMBER = "gcp:secretmanager/secretIamMember:SecretIamMember"
KEY_RING = "gcp:kms/keyRing:KeyRing"
CRYPTO_KEY = "gcp:kms/cryptoKey:CryptoKey"
KEY_MEMBER = "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember"
FILESTORE = "gcp:filestore/instance:Instance"
HMAC_KEY = "gcp:storage/hmacKey:HmacKey"
SECRET_MARK = "[secret]"
MOCK_PROJECT = "reactor-example"  # reactor_infra_gcp.mocks.PROJECT: the project of every offline render

BOOT_DIR = "/usr/local/sbin/"
FETCH = "/usr/local/sbin/reactor-fetch-secrets"
BOOTSTRAP = "/usr/local/sbin/reactor-openbao-bootstrap"
PREPARE = "/usr/local/sbin/reactor-prepare-node"
COMPOSE = "/opt/reactor/compose.yaml"
UNIT_DIR = "/etc/systemd/system/"


# --- the plugin, without a render --------------------------------------------------------


def test_gcp_plugin_is_registered_under_its_name():
    platform = load("gcp")
    assert (platform.name, platform.package) == ("gcp", "reactor-infra-gcp")
    assert platform.sizes == frozenset({2, 3, 4, 5, 6, 10})
    assert platform.modifiers == frozenset(Modifier)


def test_plugin_builds_every_valid_gcp_token():
    tokens = list(valid_topologies(Platform_.GCP))
    assert len(tokens) == 87

    def builds(topology):
        problems = load("gcp").unsupported(topology)
        assert problems == [], f"{topology}: {problems}"

    assert every(tokens, builds) == 87


def test_extras_have_defaults_said_in_the_model():
    from reactor_infra_gcp.settings import UBUNTU_IMAGE, GcpSettings

    extras = load("gcp").extras(build_plan(parse("O2@gcp")))
    assert isinstance(extras, GcpSettings)
    assert extras.project is None and extras.machine_type is None and extras.dns_zone is None
    assert extras.zones is None and extras.second_network_cidr is None
    assert (extras.network_cidr, extras.services_cidr) == ("10.42.0.0/16", "10.100.0.0/16")
    assert extras.image == UBUNTU_IMAGE and "ubuntu-os-cloud" in UBUNTU_IMAGE
    assert extras.boot_disk_gb == 20
    assert extras.cidr_in(0) == "10.42.0.0/16" and extras.cidr_in(1) == "10.43.0.0/16"
    assert extras.zones_of("us-central1", 3) == ["us-central1-a", "us-central1-b", "us-central1-c"]
    assert extras.zones_of("us-east1", 2) == ["us-east1-b", "us-east1-c"]  # us-east1 has no zone a


def test_the_defaults_reach_the_rendered_machine():
    (instance,) = resources("O2@gcp", INSTANCE)
    inputs = instance["inputs"]
    params = inputs["bootDisk"]["initializeParams"]
    assert params["size"] == 20 and params["image"].startswith("projects/ubuntu-os-cloud/")
    (subnet,) = resources("O2@gcp", "gcp:compute/subnetwork:Subnetwork")
    assert subnet["inputs"]["ipCidrRange"] == "10.42.0.0/16"


@pytest.mark.parametrize(("extras", "key", "says"), [
    ({"projekt": "acme-prod"}, "extras.gcp.projekt", "allowed: project, network_cidr"),
    ({"network_cidr": "10.0.0.0/8"}, "extras.gcp.network_cidr", "between /16 and /24"),
    ({"network_cidr": "ten-dot-something"}, "extras.gcp.network_cidr", "not an IPv4 CIDR such as 10.42.0.0/16"),
    ({"second_network_cidr": "10.43.0.0/28"}, "extras.gcp.second_network_cidr", "between /16 and /24"),
    ({"services_cidr": "10.96.0.0/12"}, "extras.gcp.services_cidr", "between /16 and /24"),
    ({"project": "Acme_Prod"}, "extras.gcp.project", "6-30 lowercase letters, digits and '-'"),
    ({"project": "acme"}, "extras.gcp.project", "6-30 lowercase letters"),
    ({"dns_zone": "example.com"}, "extras.gcp.dns_zone", "managed zone name such as example-com"),
    ({"boot_disk_gb": 5}, "extras.gcp.boot_disk_gb", "between 10 and 1024 GiB"),
    ({"boot_disk_gb": 4096}, "extras.gcp.boot_disk_gb", "between 10 and 1024 GiB"),
])
def test_unknown_or_bad_extras_are_named_in_one_line(extras, key, says):
    settings = load_settings({"extras": {"gcp": extras}})
    with pytest.raises(SettingsError) as err:
        load("gcp").extras(build_plan(parse("O2@gcp"), settings))
    (line,) = err.value.lines()
    assert key in line and says in line, line


def test_the_cli_refuses_a_bad_extras_key_in_one_line_and_exit_2(tmp_path):
    path = write(tmp_path, "Pulumi.o2-gcp.yaml", "config:\n  reactor-infra:token: O2@gcp\n"
                                                 "  reactor-infra:extras:\n    gcp:\n      boot_disk_gb: 4096\n")
    result = cli(tmp_path, "render", "O2@gcp", "--stack", str(path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "extras.gcp.boot_disk_gb" in lines[0] and "between 10 and 1024 GiB" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


# --- edition C: DNS-01 in the domain's Cloud DNS zone ------------------------------------------


def test_edition_c_without_a_dns_zone_is_refused_naming_it():
    with pytest.raises(UserError) as err:
        render_graph("C4@gcp", load_settings({"domain": DOMAIN}))
    (line,) = err.value.lines()
    assert "extras.gcp.dns_zone" in line and "DNS-01" in line


def test_the_cli_refuses_edition_c_without_a_dns_zone_in_one_line_and_exit_2(tmp_path):
    path = write(tmp_path, "Pulumi.c4-gcp.yaml",
                 f"config:\n  reactor-infra:token: C4@gcp\n  reactor-infra:domain: {DOMAIN}\n")
    result = cli(tmp_path, "render", "C4@gcp", "--stack", str(path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "extras.gcp.dns_zone" in lines[0]
    assert "Traceback" not in result.stderr and result.stdout == ""


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The reactor-infra console script (what `uv run reactor-infra` runs), offline."""
    exe = Path(sys.executable).with_name("reactor-infra")
    command = [str(exe)] if exe.is_file() else [sys.executable, "-m", "reactor_infra"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "REACTOR_INFRA_HOME": str(tmp_path / "home")})


# --- the renders ---------------------------------------------------------------------------------


def rendered(token: str):
    return _rendered(token)


@lru_cache(maxsize=None)
def _doc(token: str) -> dict:
    return json.loads(rendered_json(token))


def resources(token: str, type_: str | None = None) -> list[dict]:
    return [r for r in _doc(token)["resources"] if type_ is None or r["type"] == type_]


def machines(token: str) -> list[dict]:
    """Every machine of the render: the fixed ones (Instance) and each pool's template."""
    return resources(token, INSTANCE) + resources(token, TEMPLATE)


def user_data(machine: dict) -> str:
    text = (machine["inputs"].get("metadata") or {}).get("user-data")
    if not isinstance(text, str) or not text.startswith("#cloud-config\n"):
        pytest.fail(f"{machine['name']}: user-data is not a #cloud-config document: {str(text)[:80]!r}")
    return text


def files_of(machine: dict) -> dict[str, str]:
    return {f["path"]: f["content"] for f in yaml.safe_load(user_data(machine))["write_files"]}


def by_name(token: str) -> dict[str, dict]:
    return {m["name"]: m for m in machines(token)}


def first_of_tier(token: str, tier: str) -> dict:
    """The first replica of a tier in the primary region: `<tier>-instance` or `<tier>-0-instance`."""
    found = by_name(token)
    return found.get(f"{tier}-instance") or found[f"{tier}-0-instance"]


@pytest.mark.parametrize("token", TOKENS)
def test_every_machine_boots_from_cloud_config_with_os_login_and_no_project_keys(token):
    found = machines(token)
    assert found
    for machine in found:
        metadata = machine["inputs"]["metadata"]
        assert set(metadata) == {"user-data", "enable-oslogin", "block-project-ssh-keys"}, machine["name"]
        assert metadata["enable-oslogin"] == metadata["block-project-ssh-keys"] == "TRUE"
        assert user_data(machine).startswith("#cloud-config\n")


# --- every machine's user data, read by the programs that read it -----------------------------------


_RESULTS: dict[tuple[str, str], str] = {}


def check_each(kind: str, items: Iterable[tuple[str, str]], check: Callable[[str], str]) -> list[str]:
    """Run `check(text)` (its problem, '' when none) once per distinct text, two at a time
    (identical texts have one answer); the problems, each with the machines that show it."""
    items = list(items)
    assert items, f"no {kind} to check"
    todo = sorted({text for _, text in items if (kind, text) not in _RESULTS})
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        for text, problem in zip(todo, pool.map(check, todo)):
            _RESULTS[(kind, text)] = problem
    problems: dict[str, list[str]] = {}
    for name, text in items:
        if _RESULTS[(kind, text)]:
            problems.setdefault(_RESULTS[(kind, text)], []).append(name)
    return [f"{', '.join(names)}:\n{problem}" for problem, names in problems.items()]


def _cloud_init(text: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "user-data", text)
        result = run(["cloud-init", "schema", "--config-file", str(path)], cwd=Path(tmp), timeout=180)
        return "" if result.ok else result.output.replace(tmp, "")


@pytest.mark.parametrize("token", TOKENS)
def test_every_machines_user_data_is_valid_cloud_config(token):
    require("cloud-init")
    problems = check_each("cloud-init", ((m["name"], user_data(m)) for m in machines(token)), _cloud_init)
    assert not problems, "\n".join(problems)


def _shell(text: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = write(Path(tmp), "script.sh", text)
        syntax = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, timeout=30, check=False)
        if syntax.returncode != 0:
            return f"sh -n: {syntax.stderr}".replace(tmp, "")
        lint = subprocess.run([shellcheck(), "--shell=sh", "--severity=warning", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)
        return "" if lint.returncode == 0 else f"shellcheck: {lint.stdout}{lint.stderr}".replace(tmp, "")


@pytest.mark.parametrize("token", TOKENS)
def test_every_boot_script_passes_sh_n_and_shellcheck(token):
    shellcheck()
    scripts = [(f"{m['name']} {path}", text) for m in machines(token)
               for path, text in files_of(m).items() if path.startswith(BOOT_DIR)]
    assert {p.split(" ", 1)[1] for p, _ in scripts} >= {PREPARE, FETCH}
    assert all(path.split(" ", 1)[1].startswith(f"{BOOT_DIR}reactor-") for path, _ in scripts)
    problems = check_each("shell", scripts, _shell)
    assert not problems, "\n".join(problems)


_PROJECTS: dict[str, dict[str, str]] = {}  # compose.yaml -> the files of a machine that runs it


def _compose_project(compose: str) -> str:
    """docker-compose's own parser on a machine's compose project: its config files beside
    compose.yaml, the env files it names (written at boot into /run/reactor) present and empty."""
    files = _PROJECTS[compose]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        secrets = root / "secrets"
        for path, content in files.items():
            if path.startswith("/opt/reactor/"):
                write(root / "project", path.removeprefix("/opt/reactor/"), content)
        text = files[COMPOSE].replace("/run/reactor/", f"{secrets}/")
        for name in set(re.findall(re.escape(str(secrets)) + r"/([A-Za-z0-9._-]+)", text)):
            write(secrets, name, "")
        path = write(root / "project", "compose.yaml", text)
        result = run(["docker-compose", "-f", str(path), "config", "-q"], cwd=root, timeout=120)
        return "" if result.ok else result.output.replace(tmp, "")


@pytest.mark.parametrize("token", TOKENS)
def test_every_machines_compose_file_passes_docker_compose_config(token):
    require("docker-compose")
    projects = []
    for m in machines(token):
        files = files_of(m)
        assert COMPOSE in files, m["name"]
        _PROJECTS.setdefault(files[COMPOSE], files)  # `config` reads compose.yaml and its env files only
        projects.append((m["name"], files[COMPOSE]))
    problems = check_each("compose", projects, _compose_project)
    assert not problems, "\n".join(problems)


def _systemd(units_json: str) -> str:
    """systemd-analyze verify on a machine's units, Docker's unit a stub beside them."""
    units = json.loads(units_json)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        unit_dir = root / "units"
        write(unit_dir, "docker.service", "[Unit]\nDescription=stub of Docker's unit\n\n"
                                          "[Service]\nExecStart=/bin/true\n")
        paths = [str(write(unit_dir, name, text)) for name, text in units.items()]
        result = run(["systemd-analyze", "verify", *paths], cwd=root, env={"SYSTEMD_UNIT_PATH": f"{unit_dir}:"})
        return "\n".join(systemd_problems(result.output)).replace(tmp, "")


@pytest.mark.parametrize("token", TOKENS)
def test_every_machines_systemd_units_pass_systemd_analyze_verify(token):
    require("systemd-analyze")
    units = []
    for m in machines(token):
        found = {p.removeprefix(UNIT_DIR): t for p, t in files_of(m).items() if p.startswith(UNIT_DIR)}
        assert "reactor.service" in found, m["name"]
        units.append((m["name"], json.dumps(found, sort_keys=True)))
    problems = check_each("systemd", units, _systemd)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("token", TOKENS)
def test_the_disk_prepare_node_waits_for_is_the_data_disk_attached(token):
    """The data disk is attached under the device name `reactor-data`; Compute Engine shows it
    as /dev/disk/by-id/google-reactor-data, the device the first boot formats and mounts."""
    for m in machines(token):
        inputs = m["inputs"]
        if m["type"] == INSTANCE:
            (attached,) = inputs["attachedDisks"]
            assert attached["deviceName"] == "reactor-data", m["name"]
        else:
            (data,) = [d for d in inputs["disks"] if not d.get("boot")]
            assert data["deviceName"] == "reactor-data", m["name"]
        prepare = files_of(m)[PREPARE]
        assert "disk=/dev/disk/by-id/google-reactor-data" in prepare, m["name"]
        assert 'mkfs.ext4 -q -L reactor-data "$disk"' in prepare


def test_several_caddys_share_their_certificates_on_filestore():
    """E4+ha: three infra machines run Caddy behind the pass-through load balancer; Caddy's /data
    is a directory of the Filestore share they all mount over NFSv3; the app machines mount nothing."""
    graph = rendered("E4+ha@gcp")
    (files,) = graph.find(FILESTORE)
    address = graph.outputs_of(files.urn)["networks"][0]["ipAddresses"][0]
    share = files.inputs["fileShares"]["name"]
    found = by_name("E4+ha@gcp")
    infra = [found[f"infra-{i}-instance"] for i in range(3)]
    for m in infra:
        prepare = files_of(m)[PREPARE]
        assert f"{address}:/{share} /mnt/reactor nfs vers=3," in prepare, m["name"]
        assert "mount /mnt/reactor" in prepare and "mkdir -p /mnt/reactor/caddy-data" in prepare
        caddy = yaml.safe_load(files_of(m)[COMPOSE])["services"]["caddy"]
        assert "/mnt/reactor/caddy-data:/data" in caddy["volumes"]
        assert "nfs-common" in yaml.safe_load(user_data(m))["packages"]
    for name in ("app-0-instance", "app-1-instance"):
        assert "/mnt/reactor" not in files_of(found[name])[PREPARE]


# --- secrets: fetched at boot with the machine's service account -----------------------------------


def fake_bin(directory: Path, gcloud: str) -> Path:
    """A bin directory with a fake `gcloud` (the given sh body) and a `sleep` that does not wait."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, body in (("gcloud", gcloud), ("sleep", "exit 0\n")):
        path = directory / name
        path.write_text("#!/bin/sh\n" + body)
        path.chmod(0o755)
    return directory


# answers `gcloud secrets versions access latest --secret=NAME --quiet` (and nothing else) by
# name: `v-<name without the stack prefix>`; the OpenBao token is $TOKEN (the placeholder or not)
FAKE_ACCESS = """\
[ "$1 $2 $3 $4" = "secrets versions access latest" ] && [ "$6" = --quiet ] && [ $# -eq 6 ] || {
  echo "fake gcloud: unexpected arguments: $*" >&2; exit 2; }
name=${5#--secret=}
[ "$name" != "$5" ] || { echo "fake gcloud: no --secret=NAME in $5" >&2; exit 2; }
printf '%s\\n' "$name" >> "$LOG"
case $name in
  "$PREFIX"-openbao-token) echo "$TOKEN" ;;
  "$PREFIX"-*) echo "v-${name#"$PREFIX"-}" ;;
  *) echo "fake gcloud: NOT_FOUND $name" >&2; exit 1 ;;
esac
"""


def test_fetch_secrets_writes_0600_env_files_from_secret_manager(tmp_path):
    """The node's boot step, as rendered in its user data, against a fake `gcloud` that answers
    by secret name: env files 0600 in a 0700 directory; the OpenBao token skipped while it is the
    placeholder, written once the first boot has stored the real one."""
    from reactor_infra_gcp.secrets import PLACEHOLDER

    plan = build_plan(parse("O2@gcp"))
    prefix = naming.prefix(plan)
    (node,) = machines("O2@gcp")
    out = tmp_path / "run"
    script = write(tmp_path, "fetch.sh", files_of(node)[FETCH].replace("/run/reactor", str(out)))
    bin_dir = fake_bin(tmp_path / "bin", FAKE_ACCESS)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PREFIX": prefix,
           "TOKEN": PLACEHOLDER, "LOG": str(tmp_path / "asked")}
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    reactor_env = (out / "reactor-server.env").read_text()
    assert "REACTOR_ADMIN__TOKEN=v-admin-token\n" in reactor_env
    assert "REACTOR_DATABASE__URL=postgres://reactor:v-database-password@postgres:5432/reactor\n" in reactor_env
    assert "REACTOR_VAULT__TOKEN" not in reactor_env  # still the placeholder: not written
    assert "REACTOR_VAULT__TOKEN not set yet" in result.stderr
    assert (out / "postgres.env").read_text() == ("POSTGRES_PASSWORD=v-database-admin-password\n"
                                                  "REACTOR_DB_PASSWORD=v-database-password\n")
    assert out.stat().st_mode & 0o777 == 0o700
    written = sorted(f.name for f in out.iterdir())
    assert written == ["postgres.env", "reactor-server.env"]  # no temporary directory left behind
    for f in out.iterdir():
        assert f.stat().st_mode & 0o777 == 0o600, f.name
    asked = set((tmp_path / "asked").read_text().split())
    assert asked == {f"{prefix}-{s.name}" for s in plan.secrets if s.env} | {
        f"{prefix}-database-password", f"{prefix}-database-admin-password"}  # in templates, not env
    # after OpenBao's first boot stored reactor-server's token
    env["TOKEN"] = "s.real-openbao-token"
    again = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert again.returncode == 0, again.stderr
    assert "REACTOR_VAULT__TOKEN=s.real-openbao-token\n" in (out / "reactor-server.env").read_text()


def test_fetch_secrets_fails_when_a_secret_cannot_be_read(tmp_path):
    (node,) = machines("O2@gcp")
    out = tmp_path / "run"
    script = write(tmp_path, "fetch.sh", files_of(node)[FETCH].replace("/run/reactor", str(out)))
    bin_dir = fake_bin(tmp_path / "bin", FAKE_ACCESS)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PREFIX": "another-stack",
           "TOKEN": "x", "LOG": str(tmp_path / "asked")}
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode != 0 and "NOT_FOUND" in result.stderr
    assert not (out / "reactor-server.env").exists()


@pytest.mark.parametrize("token", TOKENS)
def test_every_secret_a_machine_fetches_is_one_its_service_account_may_read(token):
    """Each `get NAME` of a machine's fetch step names a Secret Manager secret of the render,
    and the machine's own service account holds secretAccessor on exactly that secret."""
    secret_ids = {r["inputs"]["secretId"] for r in resources(token, SECRET)}
    grants = {(r["inputs"]["member"], r["inputs"]["secretId"].rsplit("/", 1)[-1])
              for r in resources(token, SECRET_MEMBER) if r["inputs"]["role"] == "roles/secretmanager.secretAccessor"}
    for m in machines(token):
        member = f"serviceAccount:{m['inputs']['serviceAccount']['email']}"
        got = re.findall(r"=\$\(get ([a-z0-9-]+)\)", files_of(m)[FETCH])
        assert got, m["name"]
        for name in got:
            assert name in secret_ids, f"{m['name']} reads {name}, which is no secret of the render"
            assert (member, name) in grants, f"{m['name']} reads {name} but {member} may not"


# --- OpenBao's first boot stores its token and recovery keys in Secret Manager ----------------------


def shell_function(script: str, name: str) -> str:
    match = re.search(rf"^{name}\(\) {{[^\n]*\n.*?^}}\n", script, re.M | re.S)
    assert match, f"no function {name}() in the script"
    return match.group(0)


@pytest.mark.parametrize("token", OPENBAO_TOKENS)
def test_the_first_openbao_machine_initialises_it_and_stores_into_secret_manager(token, tmp_path):
    """One machine initialises OpenBao (the first of its tier, in the primary region): its unit
    runs the bootstrap between two fetches, the bootstrap's `store` adds a version to
    `<stack>-<name>` from the file (`gcloud secrets versions add ... --data-file=...`), its
    `fetch` refuses the placeholder, and the machine's service account may add those versions."""
    from reactor_infra_gcp.secrets import PLACEHOLDER

    plan = build_plan(parse(token), load_settings(_settings(token)))
    prefix = naming.prefix(plan)
    tier = plan.tier_of(Service.OPENBAO)
    first = first_of_tier(token, tier.name.value)
    with_bootstrap = [m["name"] for m in machines(token) if BOOTSTRAP in files_of(m)]
    assert with_bootstrap == [first["name"]]
    files = files_of(first)
    steps = [line.split("=", 1)[1] for line in files["/etc/systemd/system/reactor.service"].splitlines()
             if line.startswith("ExecStartPre=")]
    compose = f"/usr/bin/docker compose -p reactor -f {COMPOSE}"
    assert steps[:4] == [f"/bin/sh {FETCH}", f"{compose} up -d --wait openbao", f"/bin/sh {BOOTSTRAP}",
                         f"/bin/sh {FETCH}"]
    bootstrap = files[BOOTSTRAP]
    assert f'gcloud secrets versions add "{prefix}-$1" --data-file="$2"' in bootstrap

    # store(), run against a fake gcloud that records its arguments and the file it was given
    store = shell_function(bootstrap, "store")
    recorder = ('printf "%s\\n" "$*" >> "$LOG"\n'
                'for a; do case $a in --data-file=*) cat "${a#--data-file=}" > "$LOG.data";; esac; done\n')
    bin_dir = fake_bin(tmp_path / "bin", recorder)
    token_file = write(tmp_path, "token", "s.the-new-token\n")
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "LOG": str(tmp_path / "log")}
    done = subprocess.run(["sh", "-c", f'set -eu\n{store}store openbao-token "$1"\n', "sh", str(token_file)],
                          capture_output=True, text=True, env=env, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "log").read_text() == (
        f"secrets versions add {prefix}-openbao-token --data-file={token_file} --quiet\n")
    assert (tmp_path / "log.data").read_text() == "s.the-new-token\n"

    # fetch() fails while the secret is the placeholder, succeeds once it is set
    fetch = shell_function(bootstrap, "fetch")
    bin_dir = fake_bin(tmp_path / "bin2", FAKE_ACCESS)
    for value, ok in ((PLACEHOLDER, False), ("s.the-new-token", True)):
        env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "PREFIX": prefix, "TOKEN": value,
               "LOG": str(tmp_path / "asked")}
        done = subprocess.run(["sh", "-c", f"{fetch}fetch openbao-token\n"], capture_output=True, text=True,
                              env=env, timeout=30, check=False)
        assert (done.returncode == 0) is ok, (value, done.stderr)

    # the tier's service account may add versions to exactly the init secrets
    member = f"serviceAccount:{first['inputs']['serviceAccount']['email']}"
    writes = sorted(r["inputs"]["secretId"].rsplit("/", 1)[-1] for r in resources(token, SECRET_MEMBER)
                    if r["inputs"]["role"] == "roles/secretmanager.secretVersionAdder")
    assert writes == [f"{prefix}-openbao-recovery", f"{prefix}-openbao-token"]
    assert all(r["inputs"]["member"] == member for r in resources(token, SECRET_MEMBER)
               if r["inputs"]["role"] == "roles/secretmanager.secretVersionAdder")


def _settings(token: str) -> dict:
    from renders import default_settings

    return default_settings(token) or {}


# --- no secret value in any machine's metadata ------------------------------------------------------


def secret_values(token: str) -> list[str]:
    """The secret values of the render: generated (random, TLS keys) and issued (HMAC keys)."""
    graph = rendered(token)
    values = generated_values(graph)
    values += [graph.outputs_of(r.urn)["secret"] for r in graph.find(HMAC_KEY)]
    return values


@pytest.mark.parametrize("token", TOKENS)
def test_no_machine_carries_a_secret_value_in_its_metadata(token):
    values = secret_values(token)
    assert values, "the render generated secrets to look for"
    for m in machines(token):
        metadata = json.dumps(m["inputs"]["metadata"])
        assert "metadata" not in m.get("secret_inputs", []), f"{m['name']}: a secret flows into its metadata"
        assert SECRET_MARK not in metadata, m["name"]
        leaked = [v[:6] + "…" for v in values if v in metadata]
        assert not leaked, f"{m['name']}: {leaked}"
    for version in resources(token, SECRET_VERSION):
        assert version["inputs"]["secretData"] == SECRET_MARK
        assert "secretData" in version["secret_inputs"]


@pytest.mark.parametrize("token", OPENBAO_TOKENS)
def test_the_seal_is_gcpckms_on_the_rendered_key_with_no_credentials(token):
    """Every OpenBao machine's openbao.hcl seals with Cloud KMS: the project, the primary region's
    key ring and the seal key of the render; no credentials (the machine's service account), and
    that account may use the key."""
    import hcl2

    plan = build_plan(parse(token), load_settings(_settings(token)))
    tier = plan.tier_of(Service.OPENBAO)
    (ring,) = [r for r in resources(token, KEY_RING) if r["inputs"]["location"] == plan.regions[0]]
    (seal_key,) = [r for r in resources(token, CRYPTO_KEY) if r["name"].endswith("-openbao-seal")]
    openbao = [m for m in machines(token) if m["inputs"]["labels"]["tier"] == tier.name.value]
    assert openbao
    for m in openbao:
        text = files_of(m)["/opt/reactor/openbao.hcl"]
        seals = hcl2.loads(text)["seal"]
        assert len(seals) == 1 and set(seals[0]) == {'"gcpckms"'}, m["name"]
        stanza = {k: v.strip('"') for k, v in seals[0]['"gcpckms"'].items() if not k.startswith("__")}
        assert stanza == {"project": MOCK_PROJECT, "region": plan.regions[0], "key_ring": ring["inputs"]["name"],
                          "crypto_key": seal_key["inputs"]["name"]}, m["name"]
        assert "credentials" not in text
        member = f"serviceAccount:{m['inputs']['serviceAccount']['email']}"
        roles = {r["inputs"]["role"] for r in resources(token, KEY_MEMBER) if r["inputs"]["member"] == member}
        assert "roles/cloudkms.cryptoKeyEncrypterDecrypter" in roles, m["name"]


# --- doctor and the admin way in ----------------------------------------------------------------------


CREDENTIAL = '{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEdoNotShowMe\\n"}'


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def test_doctor_without_credentials_says_how_to_get_them(no_credentials):
    (check,) = load("gcp").doctor()
    assert check.name == "gcp credentials" and not check.ok
    assert "gcloud auth application-default login" in check.detail and "GOOGLE_APPLICATION_CREDENTIALS" in check.detail


def test_doctor_reports_credentials_from_the_environment_never_their_value(no_credentials, monkeypatch, tmp_path):
    key = write(tmp_path, "key.json", CREDENTIAL)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    (check,) = load("gcp").doctor()
    assert check.ok and "environment" in check.detail
    assert str(key) not in check.detail and "MIIE" not in check.detail
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("GOOGLE_CREDENTIALS", CREDENTIAL)  # the key itself, as the provider reads it
    (check,) = load("gcp").doctor()
    assert check.ok and "MIIE" not in check.detail and "private_key" not in check.detail


def test_doctor_reports_the_application_default_credentials_file(no_credentials):
    adc = write(no_credentials / ".config" / "gcloud", "application_default_credentials.json", CREDENTIAL)
    (check,) = load("gcp").doctor()
    assert check.ok and "application default credentials" in check.detail
    assert "MIIE" not in check.detail and str(adc) not in check.detail


# answers `gcloud compute instances list ...` with one machine ($MACHINE, empty: none) and
# records every call; `gcloud compute ssh ...` only records
FAKE_COMPUTE = """\
printf '%s\\n' "$*" >> "$LOG"
case "$1 $2 $3" in
  "compute instances list") [ -z "$MACHINE" ] || printf '%s\\t%s\\n' "$MACHINE" "$ZONE" ;;
  "compute ssh "*) exit 0 ;;
  *) echo "fake gcloud: unexpected arguments: $*" >&2; exit 2 ;;
esac
"""


def test_admin_access_tunnels_through_iap_to_the_admin_forwarder(tmp_path):
    """`reactor-infra admin` opens `gcloud compute ssh <a running app machine> --tunnel-through-iap
    -- -N -L <port>:127.0.0.1:<ADMIN_PORT>`: the machine is found by the labels the render gives it."""
    token = "E4+ha@gcp"
    plan = build_plan(parse(token))
    access = load("gcp").admin_access(plan, 19901)
    assert access.command is not None and access.command[:2] == ["sh", "-c"]
    script = access.command[2]
    syntax = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert syntax.returncode == 0, syntax.stderr
    assert (f'gcloud compute ssh "$1" --zone "$2" --tunnel-through-iap -- -N -L 19901:127.0.0.1:{ADMIN_PORT}'
            in script)
    assert any("gcloud" in need for need in access.needs)

    app = first_of_tier(token, plan.app_tier.name.value)
    labels = app["inputs"]["labels"]
    bin_dir = fake_bin(tmp_path / "bin", FAKE_COMPUTE)
    env = {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "LOG": str(tmp_path / "log"),
           "MACHINE": app["inputs"]["name"], "ZONE": app["inputs"]["zone"]}
    done = subprocess.run(access.command, capture_output=True, text=True, env=env, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    listed, forwarded = (tmp_path / "log").read_text().splitlines()
    assert listed.startswith("compute instances list --filter ")
    assert (f"labels.stack={labels['stack']} AND labels.tier={labels['tier']} AND status=RUNNING") in listed
    assert forwarded == (f"compute ssh {app['inputs']['name']} --zone {app['inputs']['zone']} --tunnel-through-iap "
                         f"-- -N -L 19901:127.0.0.1:{ADMIN_PORT}")

    (tmp_path / "log").unlink()
    none = subprocess.run(access.command, capture_output=True, text=True, env={**env, "MACHINE": ""}, timeout=30,
                          check=False)
    assert none.returncode == 1 and f"no running {labels['tier']} machine" in none.stderr
    assert "compute ssh" not in (tmp_path / "log").read_text()


def test_admin_token_hint_reads_the_admin_token_secret_never_the_token():
    token = "E4+ha@gcp"
    plan = build_plan(parse(token))
    access = load("gcp").admin_access(plan, 19901)
    secret = f"{naming.prefix(plan)}-admin-token"
    assert access.token_hint == f"gcloud secrets versions access latest --secret {secret}"
    assert secret in {r["inputs"]["secretId"] for r in resources(token, SECRET)}
    assert not any(v in access.token_hint for v in secret_values(token))



def test_a_project_setting_puts_every_resource_through_a_provider_for_that_project():
    """`extras.gcp.project`: one explicit provider for that project, which every gcp resource
    (components' children inherit it) and the seal stanza name; without it, the default provider."""
    graph = _rendered("E6+ha+mr@gcp", {"extras": {"gcp": {"project": "acme-reactor-prod"}}})
    (provider,) = graph.find("pulumi:providers:gcp")
    assert provider.inputs["project"] == "acme-reactor-prod"
    resources = [r for r in graph.resources if r.custom and r.type.startswith("gcp:")]
    assert resources and all(r.provider and r.provider.startswith(provider.urn) for r in resources)
    vault = next(m for m in graph.find("gcp:compute/instance:Instance") if m.inputs["labels"]["tier"] == "vault")
    assert re.search(r'project\s*=\s*"acme-reactor-prod"', vault.inputs["metadata"]["user-data"])
    assert not rendered("E6+ha+mr@gcp").find("pulumi:providers:gcp")
