"""A snapshot of every `@aws` render (87 tokens), in the readable form of `snapshots.py`:
`tests/snapshots/aws/<token>.txt`, long texts once under `blocks/`. Renders are deterministic,
so any difference is a change to review; accept one with REACTOR_INFRA_UPDATE_SNAPSHOTS=1."""

from __future__ import annotations

from pathlib import Path

import pytest
import snapshots
from renders import rendered, rendered_json

from reactor_infra.token import Platform, valid_topologies

DIRECTORY = Path(__file__).parent / "snapshots" / "aws"
TOKENS = [t.token for t in valid_topologies(Platform.AWS)]


def test_the_whole_aws_matrix_is_snapshotted():
    assert len(TOKENS) == 87


@pytest.mark.parametrize("token", TOKENS)
def test_render_matches_its_snapshot(token):
    snapshots.check(token, rendered(token).stack, rendered_json(token), DIRECTORY)


def test_renders_are_byte_identical_across_runs():
    from reactor_infra.render import render
    from reactor_infra.settings import load_settings

    for token in ("E5+ha@aws", "C10+ha+mr+as@aws"):
        settings = load_settings({"domain": "api.example.com"}) if token.startswith("C") else None
        assert render(token, settings).to_json() == rendered_json(token)


@pytest.mark.skipif(snapshots.UPDATE, reason="the blocks are being rewritten")
def test_every_block_is_used_by_a_snapshot():
    stored = {p.stem for p in (DIRECTORY / "blocks").glob("*.txt")}
    assert stored == snapshots.referenced_blocks(DIRECTORY)
