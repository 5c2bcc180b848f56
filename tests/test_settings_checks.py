"""Stack settings that cannot work are refused, one line each naming the key, the value and
what is allowed: before any engine runs (read_stack_file) and wherever the Plan is built."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reactor_infra.errors import SettingsError
from reactor_infra.plan import build_plan
from reactor_infra.settings import image_is_pinned, load_settings, read_stack_file
from reactor_infra.token import parse
from reactor_infra.traits import AWS_REGIONS


def problems(token: str, **values) -> list[str]:
    """The lines a stack with these settings is refused with (empty: accepted)."""
    try:
        build_plan(parse(token), load_settings(values))
    except SettingsError as err:
        return err.lines()
    return []


def test_duplicate_regions_are_refused():
    (line,) = problems("E6+mr@aws", regions=["eu-west-1", "eu-central-1", "eu-west-1"])
    assert line == ("stack settings: regions: 'eu-west-1' is listed twice; "
                    "list each region once, the primary first")


def test_a_second_region_equal_to_the_first_is_refused():
    (line,) = problems("E6+mr@aws", regions=["eu-west-1", "eu-west-1"])
    assert line == ("stack settings: regions: the second region 'eu-west-1' is the first (primary) "
                    "again; a second region must differ from the primary")


def test_more_regions_than_the_token_uses_are_refused_without_mr():
    (line,) = problems("O2@aws", regions=["eu-west-1", "eu-central-1"])
    assert line == ("stack settings: regions: O2@aws uses 1 region (add +mr for a second), given 2; "
                    "remove 'eu-central-1'")


def test_more_regions_than_the_token_uses_are_refused_with_mr():
    (line,) = problems("E6+mr@aws", regions=["eu-west-1", "eu-central-1", "us-east-1"])
    assert line == ("stack settings: regions: E6+mr@aws uses 2 regions (the primary and a second "
                    "with +mr), given 3; remove 'us-east-1'")


def test_mr_with_one_region_is_refused():
    (line,) = problems("E6+mr@aws", regions=["eu-west-1"])
    assert line == ("stack settings: regions: +mr needs two regions (the primary and a second), "
                    "given [eu-west-1]")


def test_a_region_the_platform_does_not_have_is_refused_with_the_allowed_list():
    (line,) = problems("O2@aws", regions=["eu-west-9"])
    assert line.startswith("stack settings: regions: 'eu-west-9' is not a region of @aws; "
                           "did you mean 'eu-west-3'? allowed: af-south-1, ap-east-1, ")
    assert line.count(",") == len(AWS_REGIONS) - 1  # every aws region, and nothing else


@pytest.mark.parametrize("token, region", [("O3@fly", "frankfurt"), ("O3@gcp", "europe-west99"),
                                           ("O3@azure", "west-europe"), ("O2@local", "eu-west-1")])
def test_each_platform_checks_its_own_region_names(token, region):
    (line,) = problems(token, regions=[region])
    assert f"regions: '{region}' is not a region of @{parse(token).platform.value}; " in line


def test_onprem_site_names_are_free_form():
    assert problems("O2@onprem", regions=["basement-rack-7"]) == []


def test_real_regions_in_the_right_number_are_accepted():
    assert problems("E6+mr@aws", regions=["eu-west-1", "eu-central-1"]) == []
    assert problems("O3@fly", regions=["fra"]) == []
    assert build_plan(parse("E6+mr@aws")).regions == ("us-east-1", "us-west-2")  # the defaults


@pytest.mark.parametrize("edition", ["E", "C"])
def test_an_image_without_tag_or_digest_is_refused_for_e_and_c(edition):
    (line,) = problems(f"{edition}3@aws", images={"reactor_server": "ghcr.io/acme/reactor"})
    assert line == (f"stack settings: images.reactor_server: 'ghcr.io/acme/reactor' has no tag or "
                    f"digest; edition {edition} runs only pinned images, such as "
                    "'ghcr.io/acme/reactor:1.4.2' or 'ghcr.io/acme/reactor@sha256:<digest>'")


def test_open_source_edition_may_run_an_unpinned_image():
    assert problems("O3@aws", images={"reactor_server": "ghcr.io/acme/reactor"}) == []


def test_each_problem_is_its_own_line():
    lines = problems("E3@aws", regions=["eu-west-9"], images={"postgres": "postgres", "nats": "nats"})
    assert len(lines) == 3
    assert [line.split(": ")[1] for line in lines] == ["regions", "images.postgres", "images.nats"]


@pytest.mark.parametrize("ref, pinned", [
    ("postgres:16", True), ("ghcr.io/acme/reactor:1.4.2", True),
    ("ghcr.io/acme/reactor@sha256:" + "a" * 64, True), ("reactor:1.0@sha256:" + "b" * 64, True),
    ("postgres", False), ("ghcr.io/acme/reactor", False),
    ("localhost:5000/reactor", False),  # a registry port is not a tag
    ("localhost:5000/reactor:2", True), ("reactor@", False), ("reactor@sha256:", False),
])
def test_image_is_pinned(ref, pinned):
    assert image_is_pinned(ref) is pinned


def test_a_stack_file_is_refused_when_read_before_any_engine(tmp_path):
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_text("config:\n  reactor-infra:token: E5+ha@aws\n  reactor-infra:regions: [us-east-1, us-east-2]\n")
    with pytest.raises(SettingsError) as info:
        read_stack_file(path)
    assert info.value.lines() == [f"stack file {path}: regions: E5+ha@aws uses 1 region (add +mr for a "
                                  "second), given 2; remove 'us-east-2'"]


@pytest.mark.parametrize("settings, says", [
    ("reactor-infra:regions: [us-east-1, us-east-1]", "the second region 'us-east-1' is the first"),
    ("reactor-infra:regions: [us-east-1, eu-west-1, us-east-1]", "'us-east-1' is listed twice"),
    ("reactor-infra:regions: [us-east-1, eu-west-1, eu-central-1]", "given 3; remove 'eu-central-1'"),
    ("reactor-infra:regions: [mars-north-1, eu-west-1]", "'mars-north-1' is not a region of @aws"),
    ("reactor-infra:images: {openbao: openbao/openbao}", "images.openbao: 'openbao/openbao' has no tag"),
])
def test_the_cli_refuses_each_with_one_line_and_exit_2(tmp_path, settings, says):
    path = tmp_path / "Pulumi.acme.yaml"
    path.write_text(f"config:\n  reactor-infra:token: E6+mr@aws\n  {settings}\n")
    result = subprocess.run([sys.executable, "-m", "reactor_infra", "preview", "--stack", str(path)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "REACTOR_INFRA_HOME": str(tmp_path / "home")})
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: stack file {path}: ") and says in lines[0]
    assert not (tmp_path / "home").exists(), "refused before any state or passphrase was made"
