"""The token grammar and every validity rule of DESIGN §1, as a table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor_infra.token import (
    Edition,
    Platform,
    Topology,
    TokenError,
    is_valid,
    parse,
    valid_topologies,
)

# token -> canonical form
VALID = {
    "O1@local": "O1@local",
    "E6@local": "E6@local",
    "O2@aws": "O2@aws",
    "E5+ha@aws": "E5+ha@aws",
    "C6+ha+mr+as@gcp": "C6+ha+mr+as@gcp",
    "E10@aws": "E10@aws",
    "E10+as@aws": "E10@aws",  # size 10 implies +as; writing it is allowed
    "E10+ha+mr+as@azure": "E10+ha+mr@azure",
    "C2@fly": "C2@fly",
    "O3+as@fly": "O3+as@fly",
    "E6+ha@onprem": "E6+ha@onprem",
    "O2@onprem": "O2@onprem",
    "  E5+ha@aws  ": "E5+ha@aws",
}


@pytest.mark.parametrize("token,canonical", VALID.items())
def test_parses_valid_tokens_to_their_canonical_form(token, canonical):
    assert parse(token).token == canonical
    assert parse(canonical).token == canonical  # canonical is a fixed point


def test_parse_gives_the_parts():
    topo = parse("C6+ha+mr@aws")
    assert topo == Topology(Edition.COMMERCIAL, 6, Platform.AWS, ha=True, mr=True, autoscale=False)
    assert topo.slug == "c6-ha-mr-aws"


# token -> fragments every one of which must appear in the error, one problem per fragment list
INVALID = {
    # parts
    "E7@aws": [["size: '7' is not a size", "allowed: 1, 2, 3, 4, 5, 6, 10"]],
    "X5@aws": [["edition: 'X' is not an edition", "allowed: O (open source), C (commercial cloud), E (enterprise)"]],
    "e5@aws": [["edition: 'e'", "did you mean 'E'?"]],
    "E5@AWS": [["platform: 'AWS'", "did you mean 'aws'?"]],
    "E5@amazon": [["platform: 'amazon'", "did you mean 'aws'?"]],
    "E5@google": [["did you mean 'gcp'?"]],
    "E5@microsoft": [["did you mean 'azure'?"]],
    "E5@fly.io": [["did you mean 'fly'?"]],
    "E5@bare-metal": [["did you mean 'onprem'?"]],
    "E5@awss": [["platform: 'awss'", "did you mean 'aws'?"]],
    "E5@mars": [["platform: 'mars' is not a platform", "allowed: local, fly, aws, azure, gcp, onprem"]],
    "E5": [["platform: missing '@<platform>'"]],
    "@aws": [["edition: missing"], ["size: missing"]],
    "E@aws": [["size: missing"]],
    "E05@aws": [["size: '05' is not a size"]],
    "E5+HA@aws": [["modifier: '+HA' is not a modifier", "did you mean 'ha'?"]],
    "E5+xx@aws": [["modifier: '+xx' is not a modifier", "allowed: +ha, +mr, +as"]],
    "E5+ha+ha@aws": [["'+ha' is given more than once"]],
    "E6+mr+ha@aws": [["out of order", "did you mean '+ha+mr'?"]],
    "E6+as+ha@aws": [["did you mean '+ha+as'?"]],
    "E5ha@aws": [["not a modifier list"]],
    "E5+ha@aws@gcp": [["more than one '@'"]],
    "": [["token: empty"]],
    # rules
    "O1@aws": [["size 1 runs only @local"]],
    "E10@local": [["@local takes sizes 1-6"]],
    "O3+ha@local": [["@local takes no modifiers"]],
    "C3@local": [["edition C runs only on a cloud platform"]],
    "C3@onprem": [["edition C runs only on a cloud platform"]],
    "O2+ha@aws": [["+ha needs size 3 or more (given 2)"]],
    "O2+as@aws": [["+as needs size 3 or more (given 2)"]],
    "E6+as@onprem": [["+as needs a cloud platform"]],
    "E4+mr@aws": [["+mr needs size 5 or more (given 4)"]],
    "E6+mr@onprem": [["+mr needs a cloud platform"]],
    "E10@onprem": [["@onprem takes sizes 2-6 (given 10)"]],
    # several problems at once: one line each
    "E7@mars": [["size: '7'"], ["platform: 'mars'"]],
    "c1+ha@AWS": [["edition: 'c'"], ["platform: 'AWS'"]],
}


@pytest.mark.parametrize("token,expected", INVALID.items(), ids=lambda v: repr(v) if isinstance(v, str) else "")
def test_rejects_invalid_tokens_naming_each_problem(token, expected):
    with pytest.raises(TokenError) as info:
        parse(token)
    lines = info.value.lines()
    assert len(lines) == len(expected), lines
    for line, fragments in zip(lines, expected):
        for fragment in fragments:
            assert fragment in line, (fragment, line)


def test_near_miss_is_never_silently_fixed():
    assert not is_valid("e5@aws")
    assert not is_valid("E5@AWS")
    assert not is_valid("E5@amazon")


def test_long_input_is_cut_in_messages():
    token = "E" + "9" * 500 + "@" + "x" * 500
    with pytest.raises(TokenError) as info:
        parse(token)
    assert all(len(line) < 300 for line in info.value.lines())
    assert "…" in info.value.lines()[0]


def test_every_message_line_names_the_token():
    with pytest.raises(TokenError) as info:
        parse("E7@mars")
    assert all(line.startswith("invalid token 'E7@mars': ") for line in info.value.lines())


def test_matrix_lists_only_valid_canonical_tokens_once():
    tokens = [t.token for t in valid_topologies()]
    assert len(tokens) == len(set(tokens))
    for token in tokens:
        assert parse(token).token == token
    assert "E5+ha@aws" in tokens and "E10@aws" in tokens and "E10+as@aws" not in tokens


def test_matrix_counts_per_platform():
    counts = {p: sum(1 for _ in valid_topologies(p)) for p in Platform}
    assert counts[Platform.LOCAL] == 12  # O and E, sizes 1-6, no modifiers
    assert counts[Platform.ONPREM] == 18  # O and E, sizes 2-6, +ha from 3
    for cloud in (Platform.AWS, Platform.GCP, Platform.AZURE, Platform.FLY):
        assert counts[cloud] == 87


def test_matrix_agrees_with_the_parser_on_every_combination():
    """Brute force: every edition/size/modifier/platform spelling is valid iff the matrix lists it."""
    listed = {t.token for t in valid_topologies()}
    mods = ["", "+ha", "+mr", "+as", "+ha+mr", "+ha+as", "+mr+as", "+ha+mr+as"]
    for e in "OCE":
        for s in (1, 2, 3, 4, 5, 6, 10):
            for m in mods:
                for p in Platform:
                    token = f"{e}{s}{m}@{p.value}"
                    if is_valid(token):
                        assert parse(token).token in listed
                    elif not (s == 10 and "+as" in m):
                        assert token not in listed


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_string_gives_a_topology_or_a_clean_error(text):
    try:
        topo = parse(text)
    except TokenError as err:
        assert err.lines() and all(isinstance(line, str) and line for line in err.lines())
    else:
        assert parse(topo.token) == topo


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from("OCEoceX"),
    st.sampled_from(["1", "2", "3", "5", "6", "10", "7", ""]),
    st.lists(st.sampled_from(["ha", "mr", "as", "HA", "zz"]), max_size=4),
    st.sampled_from([p.value for p in Platform] + ["AWS", "amazon", "mars", ""]),
)
def test_token_shaped_strings_give_a_topology_or_a_clean_error(e, s, mods, p):
    text = f"{e}{s}{''.join('+' + m for m in mods)}@{p}"
    try:
        parse(text)
    except TokenError as err:
        assert err.lines()
