"""A diff of one or more stacks as text (terminal), Markdown (the pull-request comment) or JSON.

The Markdown comment follows what users of pulumi/actions, Atlantis, Digger and Infracost ask
for: a hidden marker so CI updates the one comment, the summary first (one line per stack with
create/update/replace/delete counts), the data-loss risks with the step that avoids each, a
Mermaid diagram of the new topology per stack, then details per tier folded in <details>. It
stays under GitHub's 65,536-character limit: details go first, then diagrams, and the cut is
said; the summary table and the risks are never cut (only a summary that alone passes the
limit is shortened, and says so). Values come from the diff model, where secrets are already
"[secret]".
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from .diff import OPS, Change, InputChange, Op, StackDiff
from .diff_mermaid import LEGEND, topology_mermaid

MARKER = "<!-- reactor-infra-diff -->"
COMMENT_LIMIT = 65_536  # GitHub's limit on a comment body
SIGN = {Op.CREATE: "+", Op.UPDATE: "~", Op.REPLACE: "±", Op.DELETE: "-"}
VALUE_WIDTH = 80
DIFF_LINES = 12


def total(diffs: Sequence[StackDiff]) -> dict[str, int]:
    counts = {op.value: 0 for op in OPS}
    for d in diffs:
        for op, n in d.counts.items():
            counts[op] += n
    return counts


def has_changes(diffs: Sequence[StackDiff]) -> bool:
    return any(d.changes for d in diffs)


# --- values -----------------------------------------------------------------------------------

def show(value: Any, width: int = VALUE_WIDTH) -> str:
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    if isinstance(value, str) and "\n" in value:
        return f"({value.count(chr(10)) + 1} lines)"
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def show_pair(old: Any, new: Any, width: int = VALUE_WIDTH) -> tuple[str, str]:
    """Both values; two long one-line texts start where they begin to differ, so the change shows."""
    a, b = (v if isinstance(v, str) else json.dumps(v, sort_keys=True, ensure_ascii=False) for v in (old, new))
    if old is None or new is None or "\n" in a + b or max(len(a), len(b)) <= width:
        return show(old, width), show(new, width)
    common = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, common - 20)
    return show(("…" if start else "") + a[start:], width), show(("…" if start else "") + b[start:], width)


def line_diff(change: InputChange) -> list[str]:
    """For a multi-line string (user data, a config file): the changed lines, shortened."""
    import difflib

    if not (isinstance(change.old, str) and isinstance(change.new, str) and "\n" in change.old + change.new):
        return []
    lines = [ln for ln in difflib.unified_diff(change.old.splitlines(), change.new.splitlines(), lineterm="", n=0)
             if not ln.startswith(("---", "+++", "@@"))]
    shown = [ln if len(ln) <= 120 else ln[:119] + "…" for ln in lines[:DIFF_LINES]]
    if len(lines) > DIFF_LINES:
        shown.append(f"… {len(lines) - DIFF_LINES} more changed lines")
    return shown


def _counts_text(d: StackDiff) -> str:
    c = d.counts
    return ", ".join(f"{c[op.value]} to {op.value}" for op in OPS)


def _what(c: Change) -> str:
    if c.op is Op.REPLACE:
        return "replaces: " + ", ".join(c.replace_reasons) if c.replace_reasons else "replaces"
    if c.op is Op.UPDATE and not c.replace_known:
        return "update (may replace: no table row for this type)"
    return ""


# --- text -------------------------------------------------------------------------------------

def text_report(diffs: Sequence[StackDiff]) -> str:
    out: list[str] = []
    for d in diffs:
        out.append(f"{d.stack}: {d.before} → {d.after}")
        if d.error:
            out.append(f"  error: {d.error}")
            continue
        if d.skipped:
            out.append(f"  not rendered: {d.skipped}")
            continue
        out.append(f"  {_counts_text(d)} ({d.unchanged} unchanged)" if d.changes else
                   f"  no changes ({d.unchanged} resources unchanged)")
        if d.risks:
            out.append("  DATA-LOSS RISKS:")
            for r in d.risks:
                out.append(f"    ! {r.what}" + (" [protected]" if r.protected else ""))
                out.append(f"      avoid it: {r.step}")
        for rn in d.renames:
            out.append(f"  renamed? {rn.old_name} → {rn.new_name} ({rn.type}): a delete and a create; "
                       "if it is the same resource, give it aliases=[...]")
        for note in d.notes:
            out.append(f"  note: {note}")
        for tier, changes in d.by_tier().items():
            out.append(f"  {tier}")
            for c in changes:
                what = _what(c)
                out.append(f"    {SIGN[c.op]} {c.name}  {c.type}" + (f"  ({what})" if what else ""))
                for i in c.inputs:
                    mark = "  [replaces]" if i.replaces else ""
                    old, new = show_pair(i.old, i.new)
                    out.append(f"        {i.path}: {old} → {new}{mark}")
                    out.extend(f"          {ln}" for ln in line_diff(i))
                for note in c.notes:
                    out.append(f"        ({note})")
    t = total(diffs)
    out.append(f"total: {t['create']} to create, {t['update']} to update, {t['replace']} to replace, "
               f"{t['delete']} to delete, {sum(len(d.risks) for d in diffs)} data-loss risks")
    return "\n".join(out) + "\n"


# --- json -------------------------------------------------------------------------------------

def json_report(diffs: Sequence[StackDiff]) -> str:
    doc = {"changed": has_changes(diffs), "totals": total(diffs),
           "risks": sum(len(d.risks) for d in diffs), "stacks": [d.to_dict() for d in diffs]}
    return json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"


# --- markdown ---------------------------------------------------------------------------------

def _esc(text: str) -> str:
    return html.escape(text, quote=False)


def _code(text: str) -> str:
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def _summary_row(d: StackDiff) -> str:
    name = _code(d.stack)
    change = _esc(f"{d.before} → {d.after}")
    if d.error:
        return f"| {name} | {change}: render failed — {_esc(d.error[:200])} | | | | | |"
    if d.skipped:
        return f"| {name} | not rendered: {_esc(d.skipped)} | | | | | |"
    c = d.counts
    risks = f"⚠️ {len(d.risks)}" if d.risks else "—"
    label = change if d.changes else f"{change} (no changes)"
    return f"| {name} | {label} | {c['create']} | {c['update']} | {c['replace']} | {c['delete']} | {risks} |"


def _summary(diffs: Sequence[StackDiff], title: str, marker: str) -> list[str]:
    t = total(diffs)
    risks = sum(len(d.risks) for d in diffs)
    head = [marker, f"### {title}", "",
            f"**{t['create']}** to create · **{t['update']}** to update · **{t['replace']}** to replace · "
            f"**{t['delete']}** to delete" + (f" · ⚠️ **{risks} data-loss risk{'s' if risks != 1 else ''}**"
                                               if risks else " · no data-loss risk"),
            "", "| stack | change | create | update | replace | delete | data-loss risks |",
            "|---|---|---:|---:|---:|---:|---|"]
    return head + [_summary_row(d) for d in diffs]


def _risk_lines(diffs: Sequence[StackDiff]) -> list[str]:
    lines = []
    for d in diffs:
        for r in d.risks:
            where = f" · {r.tier}" if r.tier else ""
            lock = " (protected: `pulumi up` refuses until `protect` is lifted)" if r.protected else ""
            lines.append(f"- **{_code(d.stack)}**{where}: {_esc(r.what)}{lock}  \n"
                         f"  **avoid it:** {_esc(r.step)}")
    return (["", "#### ⚠️ Data-loss risks", *lines]) if lines else []


def _stack_head(d: StackDiff) -> list[str]:
    lines = ["", f"#### {_code(d.stack)}: {_esc(d.before)} → {_esc(d.after)}"]
    if d.error or d.skipped:
        return []
    lines.append(f"{_counts_text(d)}; {d.unchanged} unchanged" if d.changes else "No changes.")
    for rn in d.renames:
        lines.append(f"- renamed? {_code(rn.old_name)} → {_code(rn.new_name)} ({_code(rn.type)}): Pulumi deletes "
                     "and creates it; if it is the same resource, give it `aliases=[...]`")
    lines += [f"- {_esc(n)}" for n in d.notes[:20]]
    if len(d.notes) > 20:
        lines.append(f"- … {len(d.notes) - 20} more notes")
    return lines


def _diagram(d: StackDiff) -> list[str]:
    if d.error or d.skipped or not d.changes:
        return []
    text = topology_mermaid(d)
    if not text:
        return []
    return ["", "```mermaid", text.rstrip("\n"), "```", f"<sub>{LEGEND}</sub>"]


def _details(d: StackDiff) -> list[tuple[str, list[list[str]]]]:
    """Per tier: its <summary> text and one entry (lines) per changed resource."""
    blocks = []
    for tier, changes in d.by_tier().items():
        counts: dict[str, int] = {}
        for c in changes:
            counts[c.op.value] = counts.get(c.op.value, 0) + 1
        summary = _esc(f"{tier}: " + ", ".join(f"{n} to {op}" for op, n in counts.items()))
        entries = []
        for c in changes:
            what = _what(c)
            entry = [f"- `{SIGN[c.op]}` **{_code(c.name)}** {_code(c.type)}" + (f" — {what}" if what else "")]
            for i in c.inputs:
                mark = " **(replaces)**" if i.replaces else ""
                old, new = show_pair(i.old, i.new)
                entry.append(f"  - {_code(i.path)}: {_code(old)} → {_code(new)}{mark}")
                diff_lines = line_diff(i)
                if diff_lines:
                    entry += ["", "    ```diff", *(f"    {ln}" for ln in diff_lines), "    ```"]
            entry += [f"  - _{_esc(n)}_" for n in c.notes]
            entries.append(entry)
        blocks.append((summary, entries))
    return blocks


def _block(summary: str, entries: list[list[str]], left_out: int = 0) -> list[str]:
    lines = ["", f"<details><summary>{summary}</summary>", ""]
    for entry in entries:
        lines += entry
    if left_out:
        lines.append(f"- … {left_out} more in this tier left out (comment limit)")
    return lines + ["", "</details>"]


def _fit(summary: str, entries: list[list[str]], room: int) -> tuple[list[str], int]:
    """As many of the tier's entries as fit in `room`: (lines, how many were left out)."""
    whole = _block(summary, entries)
    if _size("\n".join(whole)) + 1 <= room:
        return whole, 0
    kept: list[list[str]] = []
    used = _size("\n".join(_block(summary, [], len(entries)))) + 1
    for entry in entries:
        size = _size("\n".join(entry)) + 1
        if used + size > room:
            break
        kept.append(entry)
        used += size
    if not kept:
        return [], len(entries)
    return _block(summary, kept, len(entries) - len(kept)), len(entries) - len(kept)


def _size(text: str) -> int:
    """Characters as GitHub counts them at worst (UTF-16 code units: an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def markdown_report(diffs: Sequence[StackDiff], limit: int = COMMENT_LIMIT,
                    title: str = "reactor-infra diff", marker: str = MARKER) -> str:
    """The comment; never longer than `limit`. `marker` (an HTML comment, first line) is how CI
    finds the comment to update."""
    must = _summary(diffs, title, marker) + _risk_lines(diffs)
    reserve = 400  # room for the notice of a cut
    text = "\n".join(must)
    if _size(text) > limit - reserve:
        return _shorten_summary(must, limit, reserve)
    # stack heads first, then diagrams, then the details of each tier while they fit
    heads = [_stack_head(d) for d in diffs]
    diagrams = [_diagram(d) for d in diffs]
    details = [_details(d) for d in diffs]
    room = limit - reserve - _size(text) - 1
    chosen_heads, chosen_diagrams = [False] * len(diffs), [False] * len(diffs)
    cut = {"stack notes": 0, "diagrams": 0, "resources": 0}
    for chosen, parts, label in ((chosen_heads, heads, "stack notes"), (chosen_diagrams, diagrams, "diagrams")):
        for n, lines in enumerate(parts):
            size = _size("\n".join(lines)) + 1
            if lines and size <= room:
                chosen[n] = True
                room -= size
            elif lines:
                cut[label] += 1
    fitted: list[list[list[str]]] = []
    for blocks in details:
        fitted.append([])
        for summary, entries in blocks:
            lines, left_out = _fit(summary, entries, room)
            cut["resources"] += left_out
            if lines:
                fitted[-1].append(lines)
                room -= _size("\n".join(lines)) + 1
    body = list(must)
    for n in range(len(diffs)):
        body += heads[n] if chosen_heads[n] else []
        body += diagrams[n] if chosen_diagrams[n] else []
        for lines in fitted[n]:
            body += lines
    if any(cut.values()):
        what = ", ".join(f"{v} {k}" for k, v in cut.items() if v)
        body += ["", f"> ✂️ Cut to stay under GitHub's {COMMENT_LIMIT:,}-character comment limit: the details of "
                     f"{what} left out. The summary and the risks above are complete; the CI job log has the full "
                     "report (`reactor-infra diff … --format text`)."]
    return "\n".join(body) + "\n"


def _shorten_summary(must: list[str], limit: int, reserve: int) -> str:
    """Only when the summary alone passes the limit (hundreds of stacks or risks)."""
    kept: list[str] = []
    used = 0
    for line in must:
        size = _size(line) + 1
        if used + size > limit - reserve:
            break
        kept.append(line)
        used += size
    left = len(must) - len(kept)
    kept += ["", f"> ✂️ The summary itself passes GitHub's {COMMENT_LIMIT:,}-character limit: its last {left} lines "
                 "are left out. The CI job log has the full report (`reactor-infra diff … --format text`)."]
    return "\n".join(kept) + "\n"
