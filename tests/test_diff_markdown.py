"""The pull-request comment: marker, summary first, risks, a Mermaid diagram that the real Mermaid
parser accepts, per-tier <details>, and GitHub's 65,536-character cap with the summary kept."""

from __future__ import annotations

import re

from diffkit import FIXTURES, mermaid_parse, offline

from reactor_infra.diff import Change, InputChange, Op, Risk, StackDiff
from reactor_infra.diff_mermaid import topology_mermaid
from reactor_infra.diff_report import COMMENT_LIMIT, MARKER, markdown_report
from reactor_infra.preview import diff_preview

MERMAID = re.compile(r"```mermaid\n(.*?)```", re.S)


def size(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def test_the_comment_starts_with_the_hidden_marker_and_keeps_its_order():
    md = markdown_report([offline("O2@local", "O3@local")])
    assert md.splitlines()[0] == MARKER
    order = [md.index(s) for s in ("| `o2-local` |", "#### ⚠️ Data-loss risks", "```mermaid", "<details>")]
    assert order == sorted(order)
    assert "**avoid it:** pg_dump" in md


def test_one_summary_line_per_stack_with_the_four_counts():
    d = offline("E4@local", "E5@local")
    md = markdown_report([d, offline("O2@local", "O2@local")])
    c = d.counts
    assert f"| `e4-local` | E4@local → E5@local | {c['create']} | {c['update']} | {c['replace']} | {c['delete']} | — |" in md
    assert "| `o2-local` | O2@local → O2@local (no changes) | 0 | 0 | 0 | 0 | — |" in md
    assert "no data-loss risk" in md


def test_details_are_folded_per_tier():
    md = markdown_report([offline("E4@local", "E5@local")])
    summaries = re.findall(r"<details><summary>(.*?)</summary>", md)
    assert "edge: 8 to create" in summaries
    assert md.count("<details>") == md.count("</details>") == len(summaries)


def test_the_diagram_marks_the_new_edge_tier_and_the_changed_ones():
    text = topology_mermaid(offline("E4@local", "E5@local"))
    assert "class t_edge created" in text
    assert re.search(r"class [\w,]*t_infra[\w,]* changed", text)
    assert 't_internet -->|"443, 80"| t_edge' in text


def test_every_diagram_parses_with_the_real_mermaid_parser():
    diffs = [offline("E4@local", "E5@local"), offline("O2@local", "O3@local"),
             diff_preview((FIXTURES / "preview_o2_aws_to_e2.json").read_text()),
             diff_preview((FIXTURES / "preview_o2_local_pending.json").read_text())]
    diagrams = MERMAID.findall(markdown_report(diffs))
    assert len(diagrams) == 4
    results = mermaid_parse(diagrams)
    assert all(r["ok"] for r in results), results


def test_the_mermaid_parser_rejects_a_broken_diagram():
    good = topology_mermaid(offline("E4@local", "E5@local"))
    broken = good.replace('t_internet -->|"443, 80"| t_edge', "t_internet -->|443, 80| |")
    assert broken != good
    results = mermaid_parse([good, broken])
    assert results[0]["ok"] and not results[1]["ok"]


def test_an_empty_diff_has_no_diagram_and_says_no_changes():
    md = markdown_report([offline("O2@local", "O2@local")])
    assert "```mermaid" not in md and "No changes." in md


# --- the cap ----------------------------------------------------------------------------------

def huge_stack(name: str, n: int = 2500) -> StackDiff:
    changes = tuple(
        Change(op=Op.UPDATE if i % 3 else Op.REPLACE, urn=f"urn:pulumi:{name}::p::t::r{i}",
               type="docker:index/container:Container", name=f"svc-{i:05d}-container", tier=f"tier{i % 7}",
               inputs=tuple(InputChange(f"envs[{k}]", "A" * 60, "B" * 60, "update", i % 3 == 0) for k in range(4)),
               replace_reasons=("envs",) if i % 3 == 0 else ())
        for i in range(n))
    risks = (Risk(what=f"{name}: Postgres leaves the node tier for the database tier", step="pg_dump and restore",
                  kind="database", tier="database"),)
    return StackDiff(stack=name, before="O2@local", after="O3@local", source="offline", changes=changes, risks=risks)


def test_a_very_large_diff_stays_under_the_cap_with_its_summary_intact():
    diffs = [huge_stack("alpha"), huge_stack("beta")]
    md = markdown_report(diffs)
    assert size(md) <= COMMENT_LIMIT
    assert md.splitlines()[0] == MARKER
    for d in diffs:  # the summary line and the risks are all there, counts exact
        c = d.counts
        assert f"| `{d.stack}` | O2@local → O3@local | 0 | {c['update']} | {c['replace']} | 0 | ⚠️ 1 |" in md
        assert f"{d.stack}: Postgres leaves the node tier" in md
    assert "**0** to create · **3332** to update · **1668** to replace · **0** to delete" in md
    assert "✂️ Cut to stay under GitHub's 65,536-character comment limit" in md
    assert "<details>" in md  # details are cut as needed, not all at once
    assert md.count("<details>") == md.count("</details>")


def test_a_small_limit_is_honoured_too():
    md = markdown_report([huge_stack("alpha", 200)], limit=6000)
    assert size(md) <= 6000 and "| `alpha` |" in md and "✂️" in md


def test_a_summary_that_alone_passes_the_cap_is_shortened_and_says_so():
    diffs = [StackDiff(stack=f"stack-{i:04d}", before="O2@local", after="O3@local", source="offline")
             for i in range(3000)]
    md = markdown_report(diffs)
    assert size(md) <= COMMENT_LIMIT and "| `stack-0000` |" in md and "The summary itself passes" in md


def test_a_report_under_the_cap_is_not_cut():
    md = markdown_report([offline("E4@local", "E5@local")])
    assert "✂️" not in md and size(md) < COMMENT_LIMIT
