"""Which images a topology needs, their default tags, and what each service runs (reactor_infra.images:
pure, no docker)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tools import node_specs

from reactor_infra import catalogue, images
from reactor_infra.errors import SettingsError, UserError
from reactor_infra.layout import Service, VaultMode
from reactor_infra.plan import build_plan
from reactor_infra.settings import Images, load_settings
from reactor_infra.token import parse, valid_topologies

S = Service
COMMIT = "4747219f377b7ae1ddc1efb4483f1e0c9571ad77"
SERVER_OPENBAO = "reactor-infra.invalid/reactor-server:v1-4747219-openbao"
SERVER = "reactor-infra.invalid/reactor-server:v1-4747219"
GATEWAY = "reactor-infra.invalid/reactor-gateway-server:v1-4747219"
CADDY_DNS = "reactor-infra.invalid/caddy-dns:2.11-route53-v1.6.2-cloudflare-v0.2.4-googleclouddns-v1.1.0-azure-v0.6.0"
ALL = list(valid_topologies())


def plan(token: str, **settings):
    return build_plan(parse(token), load_settings(settings) if settings else None)


def test_the_pinned_commit_is_the_one_public_v1_commit():
    assert images.REACTOR_COMMIT == COMMIT


@pytest.mark.parametrize("token, refs", [
    ("O1@local", [SERVER]),  # embedded vault: no openbao feature
    ("O2@aws", [SERVER_OPENBAO]),
    ("E3@aws", [SERVER]),
    ("E5+ha@aws", [SERVER_OPENBAO, GATEWAY]),
    ("C3@aws", [SERVER]),  # the load balancer terminates TLS: no Caddy at all
    ("C4@aws", [SERVER_OPENBAO, GATEWAY, CADDY_DNS]),
])
def test_required_builds_follow_the_topology(token, refs):
    assert [b.ref for b in images.required_builds(plan(token))] == refs


@pytest.mark.parametrize("topology", ALL, ids=lambda t: t.token)
def test_every_topology_builds_exactly_what_it_runs(topology):
    p = build_plan(topology)
    builds = {b.service: b for b in images.required_builds(p)}
    assert builds[S.REACTOR_SERVER].features == (("openbao",) if p.vault is VaultMode.OPENBAO else ())
    assert (S.GATEWAY_SERVER in builds) == (S.GATEWAY_SERVER in p.services)
    assert (S.CADDY in builds) == (p.policy.multi_tenant and S.CADDY in p.services)
    assert set(builds) <= set(p.services)


@pytest.mark.parametrize("topology", ALL, ids=lambda t: t.token)
def test_no_default_is_an_image_that_cannot_run_our_config(topology):
    """Every image a service runs by default is our build (under the never-resolvable registry) or
    a pinned upstream image; never the v2 runtime or the gateway tag that does not exist."""
    p = build_plan(topology)
    for service in set(p.services):
        ref = images.resolve(p, service)
        assert "ghcr.io/reactor-cloud" not in ref and ":" in ref and not ref.endswith((":latest", ":2"))
        assert ref.startswith("reactor-infra.invalid/") == (images.default_build(p, service) is not None)


def test_the_registry_of_unbuilt_defaults_is_a_reserved_never_resolving_name():
    assert images.UNBUILT_REGISTRY.endswith(".invalid")  # RFC 2606: never resolves


def test_caddy_is_pinned_to_2_11_unless_edition_c_needs_the_dns_build():
    assert images.resolve(plan("E5+ha@aws"), S.CADDY) == "caddy:2.11"
    assert images.resolve(plan("C5@aws"), S.CADDY) == CADDY_DNS


def test_the_stack_overrides_each_of_our_builds():
    p = plan("C4@aws", images={"reactor_server": "ghcr.io/acme/reactor-server:v1-4747219-openbao",
                               "caddy": "ghcr.io/acme/caddy-dns:2.11"})
    assert images.resolve(p, S.REACTOR_SERVER) == "ghcr.io/acme/reactor-server:v1-4747219-openbao"
    assert images.resolve(p, S.CADDY) == "ghcr.io/acme/caddy-dns:2.11"
    assert images.unbuilt(p) == [(S.GATEWAY_SERVER, GATEWAY, ())]
    assert len(images.required_builds(p)) == 3, "images build still builds all three"


def test_unbuilt_names_each_default_with_its_features_in_build_order():
    assert images.unbuilt(plan("C4@aws")) == [(S.REACTOR_SERVER, SERVER_OPENBAO, ("openbao",)),
                                              (S.GATEWAY_SERVER, GATEWAY, ()), (S.CADDY, CADDY_DNS, ())]
    assert images.unbuilt(plan("O3@aws")) == [(S.REACTOR_SERVER, SERVER, ())]


def test_an_explicit_reactor_infra_invalid_ref_is_still_unbuilt():
    p = plan("O2@aws", images={"reactor_server": SERVER_OPENBAO})
    assert images.unbuilt(p) == [(S.REACTOR_SERVER, SERVER_OPENBAO, ("openbao",))]


@pytest.mark.parametrize("token", ["E5+ha@aws", "C4@aws", "O1@local"])
def test_the_catalogue_runs_what_resolve_says(token):
    p = plan(token)
    for service, spec in node_specs(p, list(dict.fromkeys(p.services))).items():
        assert spec.image == images.resolve(p, service) == catalogue.image(p, service)


# --- settings -------------------------------------------------------------------------------------

def test_our_three_images_default_to_none_meaning_the_build_the_topology_needs():
    assert (Images().reactor_server, Images().gateway_server, Images().caddy) == (None, None, None)
    assert load_settings({"images": {"reactor_server": None}}).images.reactor_server is None


@pytest.mark.parametrize("bad", ["", "reactor server:1", "reactor:"])
def test_a_set_image_must_still_be_a_reference(bad):
    with pytest.raises(SettingsError, match="images.reactor_server: .* is not an image reference"):
        load_settings({"images": {"reactor_server": bad}})


@pytest.mark.parametrize("ref", ["ghcr.io/reactor-cloud/reactor:1.0.0", "ghcr.io/reactor-cloud/reactor",
                                 "ghcr.io/reactor-cloud/reactor@sha256:" + "a" * 64])
def test_the_v2_runtime_is_refused_as_reactor_server(ref):
    with pytest.raises(SettingsError, match="is the v2 runtime, which cannot read the Reactor.toml"):
        plan("O2@aws", images={"reactor_server": ref})


def test_an_unpinned_override_is_still_refused_for_e_and_c_and_a_default_never_is():
    with pytest.raises(SettingsError, match="images.gateway_server: 'ghcr.io/acme/gw' has no tag"):
        plan("E5@aws", images={"gateway_server": "ghcr.io/acme/gw"})
    assert plan("C4@aws").topology.token == "C4@aws"


# --- docker argv and the stack's lines ------------------------------------------------------------

def test_build_argv_passes_the_args_tags_platform_and_context_in_order():
    build = images.reactor_server_build(("openbao",))
    ctx = Path("/repo/images")
    assert images.build_argv(build, ctx) == [
        "docker", "build", "--build-arg", f"REACTOR_COMMIT={COMMIT}", "--build-arg", "FEATURES=openbao",
        "--tag", SERVER_OPENBAO, "/repo/images/reactor-server"]
    assert images.build_argv(images.caddy_dns_build(), ctx, "ghcr.io/acme", "linux/amd64") == [
        "docker", "build", "--build-arg", "CADDY_DNS_ROUTE53=v1.6.2", "--build-arg", "CADDY_DNS_CLOUDFLARE=v0.2.4",
        "--build-arg", "CADDY_DNS_GOOGLECLOUDDNS=v1.1.0", "--build-arg", "CADDY_DNS_AZURE=v0.6.0",
        "--tag", CADDY_DNS, "--tag", "ghcr.io/acme/caddy-dns:2.11-route53-v1.6.2-cloudflare-v0.2.4-googleclouddns-v1.1.0-azure-v0.6.0",
        "--platform", "linux/amd64", "/repo/images/caddy"]
    assert images.push_argv(images.gateway_server_build(), "localhost:5000") == [
        "docker", "push", "localhost:5000/reactor-gateway-server:v1-4747219"]


def test_without_features_the_features_arg_is_empty_so_cargo_builds_the_defaults():
    assert dict(images.reactor_server_build().args)["FEATURES"] == ""


def test_the_images_directory_is_the_checkouts():
    assert images.images_dir() == Path(__file__).resolve().parent.parent / "images"


@pytest.mark.parametrize("text, registry", [
    ("ghcr.io/acme", "ghcr.io/acme"), ("ghcr.io/acme/", "ghcr.io/acme"), ("localhost:5000", "localhost:5000"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/reactor", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/reactor"),
    ("registry.fly.io/acme-reactor", "registry.fly.io/acme-reactor"), ("acme", "acme"),
])
def test_a_registry_to_push_to(text, registry):
    assert images.check_registry(text) == registry


@pytest.mark.parametrize("text, says", [
    ("https://ghcr.io/acme", "has a scheme"), ("ghcr.io/Acme", "is not a registry"),
    ("ghcr.io/acme:1.0", "is not a registry"), ("ghcr.io/acme corp", "is not a registry"), ("", "is not a registry"),
    ("reactor-infra.invalid/x", "never resolves"),
])
def test_a_bad_registry_is_one_user_error(text, says):
    with pytest.raises(UserError, match=says):
        images.check_registry(text)


@pytest.mark.parametrize("text, ok", [("linux/amd64", True), ("linux/arm64", True), ("linux/arm/v7", True),
                                      ("amd64", False), ("linux/amd64,linux/arm64", False), ("Linux/AMD64", False)])
def test_one_platform(text, ok):
    if ok:
        assert images.check_platform(text) == text
    else:
        with pytest.raises(UserError, match="--platform: .* is not one platform"):
            images.check_platform(text)


def test_the_printed_lines_make_a_stack_whose_images_are_all_built(tmp_path):
    p = plan("C4@aws")
    snippet = images.stack_snippet(images.required_builds(p), "ghcr.io/acme")
    doc = yaml.safe_load("config:\n  reactor-infra:token: C4@aws\n" + snippet)
    settings = load_settings({"images": doc["config"]["reactor-infra:images"]})
    assert images.unbuilt(build_plan(parse("C4@aws"), settings)) == []
    assert settings.images.gateway_server == "ghcr.io/acme/reactor-gateway-server:v1-4747219"
