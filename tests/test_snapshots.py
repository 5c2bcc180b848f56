"""A snapshot of every render of the cloud ladders (87 tokens each) and of on-prem (18, with the
example inventory `reactor-infra inventory` prints), in the readable form of
`snapshots.py`: `tests/snapshots/<platform>/<token>.txt`, long texts once under `blocks/`.
Renders are deterministic, so any difference is a change to review; accept one with
REACTOR_INFRA_UPDATE_SNAPSHOTS=1."""

from __future__ import annotations

from pathlib import Path

import pytest
import snapshots
from renders import default_settings, rendered, rendered_json

from reactor_infra.token import Platform, valid_topologies

ROOT = Path(__file__).parent / "snapshots"
PLATFORMS = (Platform.AWS, Platform.FLY, Platform.GCP, Platform.AZURE, Platform.ONPREM)
MATRIX = {Platform.AWS: 87, Platform.FLY: 87, Platform.GCP: 87, Platform.AZURE: 87, Platform.ONPREM: 18}
TOKENS = [(p, t.token) for p in PLATFORMS for t in valid_topologies(p)]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_the_whole_matrix_is_snapshotted(platform):
    assert sum(1 for p, _ in TOKENS if p is platform) == MATRIX[platform]


@pytest.mark.parametrize(("platform", "token"), TOKENS, ids=[t for _, t in TOKENS])
def test_render_matches_its_snapshot(platform, token):
    snapshots.check(token, rendered(token).stack, rendered_json(token), ROOT / platform.value)


@pytest.mark.parametrize("token", ["E5+ha@aws", "C10+ha+mr+as@aws", "C6@fly", "E10+ha+mr@fly", "E5+ha@gcp",
                                   "C10+ha+mr@gcp", "E5+ha@azure", "C10+ha+mr@azure", "E6+ha@onprem"])
def test_renders_are_byte_identical_across_runs(token):
    from reactor_infra.render import render
    from reactor_infra.settings import load_settings

    settings = default_settings(token)
    assert render(token, load_settings(settings) if settings else None).to_json() == rendered_json(token)


@pytest.mark.skipif(snapshots.UPDATE, reason="the blocks are being rewritten")
@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_block_is_used_by_a_snapshot(platform):
    directory = ROOT / platform.value
    stored = {p.stem for p in (directory / "blocks").glob("*.txt")}
    assert stored == snapshots.referenced_blocks(directory)
