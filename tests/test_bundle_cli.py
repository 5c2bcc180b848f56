"""`reactor-infra bundle` as the operator meets it: the CLI, the bundle's secrets, rebuilds, bad
input and the layout of @local and @onprem bundles (those of every token built once per process
by bundlekit; the CLI and rebuild tests build their own).

What holds:
- Secrets: secrets/ (the bundle's and each host's) is 0700 with 0600 files, the bundle root 0700;
  each generated one has its generator's shape, the others wait as the placeholder; each host
  keeps exactly the secrets its fetch step reads; no secret value is in any other file of the
  bundle, nor in anything `reactor-infra bundle` prints.
- A rebuild into the same --out keeps every secret and rewrites identical files; two bundles of
  one stack differ only in their generated secrets; an operator's secret written into secrets/
  reaches its hosts at the rebuild.
- Bad input (a cloud token; an inventory with an unknown host, a tier no host serves, a host with
  no host_key; an --out that is a file, holds other files, a foreign bundle.json or another
  stack's bundle) exits 2 with one line, no traceback, and leaves --out as it was.
- @local is one host dir, `hosts/local`, running every service of the plan in one compose.yaml;
  @onprem is one host dir per inventory host, each running its tier's services.
Secret values are read from the bundle and compared in memory; no assertion message shows one.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from bundlekit import (LOCAL, ONPREM, PLACEHOLDER, Built, cli, digest, every_bundle, every_file, mode_of,
                       new_password, plan_of, secret_values_in)

from reactor_infra import bundle, host_files, inventory, node_boot
from reactor_infra.layout import SecretGenerator
from reactor_infra.plan import build_plan
from reactor_infra.token import Platform, parse


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, Built]:
    return every_bundle(tmp_path_factory.getbasetemp())


# --- secrets --------------------------------------------------------------------------------------


def test_secrets_are_0600_files_in_0700_directories_and_the_bundle_root_is_0700(bundles):
    for b in bundles.values():
        assert mode_of(b.out) == 0o700, b.token
        for directory in [b.out / "secrets", *(h.dir / "secrets" for h in b.hosts)]:
            assert mode_of(directory) == 0o700, directory
            assert all(p.is_file() and mode_of(p) == 0o600 for p in directory.iterdir()), directory
        assert sorted(b.secrets()) == sorted(s.name for s in b.plan.secrets), b.token


def test_each_host_keeps_exactly_the_secrets_its_services_read_with_the_bundles_values(bundles):
    for b in bundles.values():
        everything = b.secrets()
        for host, files in zip(b.hosts, b.result.hosts):
            kept = host.secrets()
            assert sorted(kept) == sorted(files.secrets), str(host)
            assert all(kept[n] == everything[n] for n in kept), f"{host}: a value differs from secrets/"
            reads = set(re.findall(r"\$\(get ([a-z0-9-]+)\)", host.text(node_boot.FETCH_SCRIPT)))
            assert reads == set(kept), f"{host}: reactor-fetch-secrets reads {sorted(reads)}"


SHAPES = {
    SecretGenerator.TOKEN: re.compile(r"[A-Za-z0-9]{48}"),
    SecretGenerator.PASSWORD: re.compile(r"[A-Za-z0-9]{32}"),
    SecretGenerator.LETTERS: re.compile(r"[A-Za-z]{32}"),  # nats.conf reads a leading digit as a number
    SecretGenerator.BASE64_32: re.compile(r"[A-Za-z0-9+/]{43}="),
    SecretGenerator.HEX_64: re.compile(r"[0-9a-f]{64}"),
}


def test_each_generated_secret_has_its_generators_shape_and_the_others_wait_as_the_placeholder(bundles):
    for b in bundles.values():
        values = b.secrets()
        for secret in b.plan.secrets:
            value = values[secret.name]
            if secret.generator in SHAPES:  # (booleans: a failure must not show the value)
                shaped = bool(SHAPES[secret.generator].fullmatch(value)) and (
                    secret.generator is not SecretGenerator.BASE64_32 or len(base64.b64decode(value)) == 32)
                assert shaped, f"{b.token}: {secret.name} is no {secret.generator}"
            else:
                waits = value == PLACEHOLDER
                assert waits, f"{b.token}: {secret.name} is not the placeholder"
        assert b.result.to_fill == sorted(n for n, v in values.items() if v == PLACEHOLDER)


def test_no_secret_value_is_in_any_file_but_a_secret(bundles):
    leaks = []
    for b in bundles.values():
        values = b.values()
        assert values, b.token
        for f in every_file({b.token: b}):
            text = f.text()
            leaks += [f"{f}: holds the value of a secret" for v in values if v in text]
    assert not leaks, "\n".join(sorted(set(leaks)))


# --- the CLI --------------------------------------------------------------------------------------


def test_the_cli_builds_from_the_inventory_it_prints_and_never_prints_a_secret_value(tmp_path):
    """`reactor-infra inventory TOKEN` as the stack file, `bundle --stack` into a new dir and
    again into the same one (kept secrets), and `bundle TOKEN` of @local: nothing printed, on
    stdout or stderr, holds a secret value."""
    example = cli("inventory", "E5+ha@onprem", cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    (tmp_path / "Pulumi.site.yaml").write_text(example.stdout)
    outputs = {}
    for label, args in (("first", ("bundle", "--stack", "Pulumi.site.yaml", "--out", "site")),
                        ("rebuild", ("bundle", "--stack", "Pulumi.site.yaml", "--out", "site")),
                        ("local", ("bundle", "E4@local", "--out", "local"))):
        done = cli(*args, cwd=tmp_path)
        assert done.returncode == 0, f"{label}: {done.stderr}"
        outputs[label] = done.stdout + done.stderr
    assert "stack site" in outputs["first"] and "7 hosts" in outputs["first"]
    assert "0 secrets generated, 11 kept" in outputs["rebuild"]
    assert ("before the install: write the operator's value into secrets/database-admin-password, then run this "
            "command again") in outputs["first"]
    assert "openbao-token: made by OpenBao's init on the first OpenBao host" in outputs["first"]
    values = secret_values_in(tmp_path / "site") | secret_values_in(tmp_path / "local")
    assert len(values) > 10
    shown = [label for label, text in outputs.items() if any(v in text for v in values)]
    assert not shown, f"secret values in what `bundle` printed: {shown}"


def _stack(tmp_path: Path, token: str, edit: Callable[[dict], None] | None = None) -> str:
    """A stack file with the example inventory of `token`, edited."""
    extras = inventory.example(build_plan(parse(token)))
    if edit:
        edit(extras)
    path = tmp_path / "Pulumi.site.yaml"
    path.write_text(yaml.safe_dump({"config": {"reactor-infra:token": token,
                                               "reactor-infra:extras": {"onprem": extras}}}, sort_keys=False))
    return path.name


def _unknown_host(extras: dict) -> None:
    del extras["hosts"]["app-2"]
    extras["tiers"]["app"] = ["app-1", "ghost"]


def _tier_without_host(extras: dict) -> None:
    for name in extras["tiers"].pop("app"):
        del extras["hosts"][name]


def _no_host_key(extras: dict) -> None:
    del extras["hosts"]["app-1"]["host_key"]


def _not_a_bundle(out: Path) -> None:
    out.mkdir()
    (out / "notes.txt").write_text("the operator's own\n")


def _a_file(out: Path) -> None:
    out.write_text("the operator's own\n")


def _foreign_marker(out: Path) -> None:
    out.mkdir()
    (out / bundle.MARKER).write_text("not the JSON of a bundle\n")


def _another_stacks_bundle(out: Path) -> None:
    bundle.build(plan_of("O2@local"), out)


BAD_INPUT = {
    # case: (token, stack edit, what is at --out before, what the line says)
    "a cloud token": ("E5@aws", None, None, "bundle builds @onprem and @local installs"),
    "an unknown host in a tier": ("E4@onprem", _unknown_host, None, "extras.onprem.tiers.app: unknown host 'ghost'"),
    "a tier no host serves": ("E4@onprem", _tier_without_host, None, "no host serves the app tier"),
    "a host without host_key": ("E4@onprem", _no_host_key, None, "extras.onprem.hosts.app-1: host_key is required"),
    "an --out that holds files but no bundle": ("E4@onprem", None, _not_a_bundle, "holds files but no bundle"),
    "an --out that is a file": ("E4@onprem", None, _a_file, "is a file; give a directory"),
    "an --out whose bundle.json is no bundle's": ("E4@onprem", None, _foreign_marker, "--out "),
    "an --out that holds another stack's bundle": ("E4@onprem", None, _another_stacks_bundle,
                                                   "holds the bundle of stack 'o2-local', not 'site'"),
}


def _tree(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every entry below `path` (or the file `path`): mode and bytes."""
    if path.is_file():
        return {"": (path.stat().st_mode, path.read_bytes())}
    return {p.relative_to(path).as_posix(): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
            for p in sorted(path.rglob("*"))} if path.exists() else {}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_in_one_line_and_leaves_nothing_at_out(case, tmp_path):
    token, edit, before, says = BAD_INPUT[case]
    out = tmp_path / "out"
    if before:
        before(out)
    was, beside = _tree(out), sorted(p.name for p in tmp_path.iterdir())
    args = ["--stack", _stack(tmp_path, token, edit)] if parse(token).platform is Platform.ONPREM else [token]
    done = cli("bundle", *args, "--out", "out", cwd=tmp_path)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert _tree(out) == was, "--out changed"
    stack = ["Pulumi.site.yaml"] if parse(token).platform is Platform.ONPREM else []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(beside + stack), "something left beside --out"


def test_an_out_whose_parent_is_missing_is_made_or_refused_in_one_line(tmp_path):
    """`--out new/deeper/b`: either a bundle there (the directories made) or exit 2 in one line,
    never a traceback and nothing half-written anywhere."""
    done = cli("bundle", "O2@local", "--out", "new/deeper/b", cwd=tmp_path)
    assert "Traceback" not in done.stderr, done.stderr[-600:]
    if done.returncode == 0:
        assert (tmp_path / "new" / "deeper" / "b" / bundle.MARKER).is_file()
    else:
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert not (tmp_path / "new" / "deeper" / "b").exists()


# --- rebuilds -------------------------------------------------------------------------------------


def _files(out: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of a bundle but its secrets: mode and bytes."""
    return {p.relative_to(out).as_posix(): (mode_of(p), p.read_bytes()) for p in sorted(out.rglob("*"))
            if p.is_file() and "secrets" not in p.relative_to(out).parts}


def _secret_files(out: Path) -> dict[str, tuple[int, str]]:
    """Every secret file of a bundle: mode and the sha256 of its value (never the value)."""
    return {p.relative_to(out).as_posix(): (mode_of(p), digest(p)) for p in sorted(out.rglob("*"))
            if p.is_file() and p.parent.name == "secrets"}


@pytest.mark.parametrize("token", ["E5+ha@onprem", "O2@local"])
def test_a_rebuild_into_the_same_out_keeps_every_secret_and_rewrites_identical_files(token, tmp_path):
    out = tmp_path / "b"
    bundle.build(plan_of(token), out)
    files, secrets = _files(out), _secret_files(out)
    again = bundle.build(plan_of(token), out)
    assert _secret_files(out) == secrets, "a secret changed"
    assert _files(out) == files, "a file changed"
    assert (again.secrets_generated, again.secrets_kept) == (0, len(plan_of(token).secrets))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"], "something left beside --out"


@pytest.mark.parametrize("token", ["E5+ha@onprem", "O2@local"])
def test_two_bundles_of_one_stack_have_the_same_files_and_their_own_generated_secrets(token, tmp_path):
    one, two = bundle.build(plan_of(token), tmp_path / "one"), bundle.build(plan_of(token), tmp_path / "two")
    assert _files(one.out) == _files(two.out)
    for secret in plan_of(token).secrets:
        a, b = ((x.out / "secrets" / secret.name).read_text() for x in (one, two))
        if secret.generator in SHAPES:
            differ = a != b
            assert differ, f"{secret.name}: the same value twice"
        else:
            waits = a == b == PLACEHOLDER + "\n"
            assert waits, f"{secret.name}: not the placeholder in both"


def test_an_operators_secret_written_into_secrets_reaches_its_hosts_at_the_rebuild(tmp_path):
    token = "E5+ha@onprem"
    first = bundle.build(plan_of(token), tmp_path / "b")
    assert "database-admin-password" in first.to_fill
    value = new_password()
    (first.out / "secrets" / "database-admin-password").write_text(value + "\n")
    again = bundle.build(plan_of(token), first.out)
    assert "database-admin-password" not in again.to_fill
    keeping = [h for h in again.hosts if "database-admin-password" in h.secrets]
    assert keeping
    for h in keeping:
        written = again.out / "hosts" / h.name / "secrets" / "database-admin-password"
        reached = written.read_text() == value + "\n"
        assert reached, f"{h.name}: not the operator's value"


# --- the hosts of a bundle ------------------------------------------------------------------------


@pytest.mark.parametrize("token", LOCAL)
def test_a_local_bundle_is_one_host_running_every_service_of_the_plan(bundles, token):
    b = bundles[token]
    assert [p.name for p in (b.out / "hosts").iterdir()] == ["local"]
    (host,) = b.hosts
    services = set(host.compose["services"])
    planned = {str(s) for s in b.plan.services}
    assert planned <= services, f"missing {sorted(planned - services)}"
    helpers = services - planned
    assert all(any(h.startswith(f"{s}-") for s in planned) for h in helpers), sorted(helpers)
    assert not host.has(host_files.host_firewall.RULES_FILE)  # the Docker host of @local has no inventory address


@pytest.mark.parametrize("token", ONPREM)
def test_an_onprem_bundle_has_a_host_dir_per_inventory_host_each_running_its_tiers_services(bundles, token):
    b = bundles[token]
    extras = inventory.load(b.plan)
    assert sorted(p.name for p in (b.out / "hosts").iterdir()) == sorted(extras.hosts)
    served = {host: tier for tier, hosts in extras.tiers.items() for host in hosts}
    for host in b.hosts:
        tier = b.plan.tier(served[host.name])
        wanted = {str(s) for s in tier.services}
        running = set(host.compose["services"])
        assert wanted <= running, f"{host}: missing {sorted(wanted - running)}"
        others = {str(s) for s in b.plan.services} - wanted
        assert not running & others, f"{host}: runs {sorted(running & others)} of another tier"
        assert host.has(host_files.host_firewall.RULES_FILE)
