"""Read what `pulumi preview --json` prints into the same StackDiff an offline diff makes.

The shape (pulumi/pulumi sdk/pkg/display/json.go `PreviewDigest`, filled by
pkg/backend/display/json.go `ShowPreviewDigest`): `{config, steps: [{op, urn, provider,
oldState, newState, diffReasons, replaceReasons, detailedDiff: {path: {kind, inputDiff}}}],
diagnostics, duration, changeSummary, maybeCorrupt}`; each state is an `apitype.ResourceV3`
(urn, custom, type, inputs, outputs, parent, protect, pendingReplacement, ...). Secrets are
printed as "[secret]" (stateForJSONOutput); a value not known until apply is the sentinel
"04da6b54-80e4-46f7-96ec-b56ff0331ba9". Without `--show-sames` unchanged resources (and so the
components that carry each resource's tier) are left out; `--show-replacement-steps` adds
create-replacement/delete-replaced steps beside the logical `replace`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from .diff import MISSING, Change, InputChange, Op, Risk, StackDiff, diff_values, find_renames, masked
from .diff_risks import resource_risks
from .errors import UserError
from .graph import SECRET, UNKNOWN, tier_of_urn
from .resource_kinds import migration_step, state_kind

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the secret signature of the wire format
UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
ROOT_TYPE = "pulumi:pulumi:Stack"

_OPS = {"create": Op.CREATE, "import": Op.CREATE, "update": Op.UPDATE, "replace": Op.REPLACE,
        "create-replacement": Op.REPLACE, "delete-replaced": Op.REPLACE, "import-replacement": Op.REPLACE,
        "delete": Op.DELETE, "remove-pending-replace": Op.DELETE}
# steps that change nothing in the cloud: data-source reads, refreshes, state bookkeeping
_PASSIVE = {"same", "read", "read-replacement", "refresh", "discard", "discard-replaced", "diff"}


def clean(value: Any) -> Any:
    """Secrets (the masked string or a raw secret object) as "[secret]", unknowns as "[unknown]"."""
    if isinstance(value, Mapping):
        if SECRET_SIG in value:
            return SECRET
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean(v) for v in value]
    if value == UNKNOWN_SENTINEL:
        return UNKNOWN
    return value


def load_digest(text: str, source: str = "preview") -> dict[str, Any]:
    """The PreviewDigest, or one clear line about what the input is instead."""
    stripped = text.strip()
    if not stripped:
        raise UserError(f"{source}: empty; expected the output of `pulumi preview --json`")
    try:
        doc = json.loads(stripped)
    except ValueError:
        first = stripped.splitlines()[0]
        if first.startswith("{") and '"sequence"' in first:
            raise UserError(f"{source}: these are streamed engine events; run `pulumi preview --json` without "
                            "PULUMI_ENABLE_STREAMING_JSON_PREVIEW") from None
        raise UserError(f"{source}: not JSON; expected the output of `pulumi preview --json`") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("steps", []), list):
        raise UserError(f"{source}: not a preview digest (an object with 'steps'); "
                        "expected the output of `pulumi preview --json`")
    return doc


def parse_urn(urn: str) -> tuple[str, str, str]:
    """(stack, type, name) of `urn:pulumi:<stack>::<project>::<parent types$type>::<name>`."""
    parts = urn.split("::")
    if len(parts) < 4 or not parts[0].startswith("urn:pulumi:"):
        raise UserError(f"preview: not a Pulumi URN: {urn[:80]}")
    return parts[0].removeprefix("urn:pulumi:"), parts[2].rsplit("$", 1)[-1], "::".join(parts[3:])


_PATH = re.compile(r'\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|\.?([^.\[\]]+)')


def path_parts(path: str) -> list[str | int]:
    """`tags["reactor:tier"]`, `ingress[0].cidrBlocks` -> keys and indices (Pulumi PropertyPath)."""
    parts: list[str | int] = []
    for quoted, index, bare in _PATH.findall(path):
        parts.append(int(index) if index else (quoted.replace('\\"', '"') if quoted else bare))
    return parts


_NOTHING = object()


def lookup(value: Any, path: str) -> Any:
    for part in path_parts(path):
        if isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _NOTHING
    return value


def diff_preview(text: str, source: str = "preview") -> StackDiff:
    """The StackDiff of one `pulumi preview --json` output."""
    digest = load_digest(text, source)
    steps = [s for s in digest.get("steps") or [] if isinstance(s, Mapping) and s.get("urn")]
    states: dict[str, tuple[str, dict[str, Any], str | None]] = {}  # urn -> (type, inputs, parent)
    stack = ""
    for step in steps:
        stack_, type_, _ = parse_urn(str(step["urn"]))
        stack = stack or stack_
        for key in ("oldState", "newState"):  # the new state wins
            state = step.get(key) or {}
            if state:
                states[step["urn"]] = (type_, clean(state.get("inputs") or {}), state.get("parent") or None)
    by_urn: dict[str, list[Mapping[str, Any]]] = {}
    for step in steps:
        by_urn.setdefault(str(step["urn"]), []).append(step)
    changes, notes, unchanged, untiered = [], [], 0, 0
    pending_risks = []
    for urn, group in by_urn.items():
        _, type_, name = parse_urn(urn)
        if type_ == ROOT_TYPE:
            continue
        ops = [str(s.get("op")) for s in group]
        logical = next((s for s in group if s.get("op") == "replace"), group[0])
        op_name = "replace" if "replace" in ops else str(logical.get("op"))
        old = logical.get("oldState") or {}
        new = logical.get("newState") or {}
        if op_name == "same" and bool(old.get("protect")) != bool(new.get("protect")):
            change = Change(op=Op.UPDATE, urn=urn, type=type_, name=name, tier=None, protect=bool(old.get("protect")),
                            notes=(f"option protect: {bool(old.get('protect'))} → {bool(new.get('protect'))}",
                                   "options only: nothing in the cloud changes"))
        elif op_name in _PASSIVE or op_name not in _OPS:
            unchanged += op_name == "same"
            if op_name not in _PASSIVE:
                notes.append(f"{name}: step '{op_name}' is not one this report knows; it is left out")
            continue
        else:
            change = _change(_OPS[op_name], op_name, urn, type_, name, logical, old, new)
        tier = tier_of_urn(urn, states)
        untiered += tier is None
        change = dataclasses.replace(change, tier=tier)
        if old.get("pendingReplacement") and change.stateful:
            pending_risks.append(_pending_risk(change))
        changes.append(change)
    pending = {r.urn for r in pending_risks}
    risks, risk_notes = resource_risks([c for c in changes if c.urn not in pending])
    if untiered:
        notes.append(f"{untiered} changed resources have no tier: their components are not in the preview "
                     "(run `pulumi preview --json --show-sames`)")
    notes += _diagnostics(digest) + _summary_note(digest)
    return StackDiff(stack=stack or "(unknown)", before="current state", after=_token(digest) or "program",
                     source="preview", changes=tuple(changes), risks=tuple(pending_risks + risks),
                     renames=tuple(find_renames(changes, *_rename_inputs(changes, states))),
                     notes=tuple(notes + risk_notes), topology=_topology(digest, stack), unchanged=unchanged)


def _change(op: Op, op_name: str, urn: str, type_: str, name: str, step: Mapping[str, Any],
            old: Mapping[str, Any], new: Mapping[str, Any]) -> Change:
    old_in, new_in = clean(old.get("inputs") or {}), clean(new.get("inputs") or {})
    kind = state_kind(type_)
    notes = []
    if op_name == "import":
        notes.append("imported: adopts an existing cloud resource")
    if op_name == "remove-pending-replace":
        notes.append("removed from the state: an interrupted replace already deleted it")
    if old.get("pendingReplacement"):
        notes.append("pendingReplacement: an interrupted delete-before-replace update already deleted it; "
                     "this step creates it again")
    if op in (Op.CREATE, Op.DELETE):
        return Change(op=op, urn=urn, type=type_, name=name, tier=None, protect=bool(old.get("protect")),
                      stateful=kind.value if kind else None, notes=tuple(notes))
    replace_keys = [str(k) for k in step.get("replaceReasons") or ()]
    detailed = step.get("detailedDiff")
    inputs: list[InputChange] = []
    if isinstance(detailed, Mapping) and detailed:
        old_out = clean(old.get("outputs") or {})
        for path, info in sorted(detailed.items()):
            info = info if isinstance(info, Mapping) else {}
            base = old_in if info.get("inputDiff") else old_out
            a, b = lookup(base, path), lookup(new_in, path)
            if a is _NOTHING and info.get("inputDiff") is not True:
                a = lookup(old_in, path)
            change = masked(path, _missing(a), _missing(b), set())
            dkind = str(info.get("kind", "update"))
            forced = dkind.endswith("-replace") or path_parts(path)[:1] and str(path_parts(path)[0]) in replace_keys
            inputs.append(InputChange(path, change.old, change.new, dkind.removesuffix("-replace"), bool(forced)))
    else:  # no detailed diff: compare the inputs under the keys the provider named
        keys = [str(k) for k in step.get("diffReasons") or ()] or sorted(set(old_in) | set(new_in))
        for key in keys:
            for path, a, b in diff_values(old_in.get(key, _GONE), new_in.get(key, _GONE), key):
                change = masked(path, _missing(a), _missing(b), set())
                inputs.append(InputChange(path, change.old, change.new, change.kind,
                                          path.split(".", 1)[0].split("[", 1)[0] in replace_keys))
    return Change(op=op, urn=urn, type=type_, name=name, tier=None, inputs=tuple(inputs),
                  replace_reasons=tuple(replace_keys), protect=bool(old.get("protect")),
                  stateful=kind.value if kind else None, notes=tuple(notes))


_GONE = object()


def _missing(value: Any) -> Any:
    return MISSING if value is _NOTHING or value is _GONE else value


def _pending_risk(change: Change) -> Risk:
    return Risk(what=f"{change.name} ({change.type}) was already deleted by an interrupted replace "
                     "(pendingReplacement): its data is gone unless restored",
                step=migration_step(change.type) or "", kind=change.stateful or "", tier=change.tier,
                resource=change.name, urn=change.urn, protected=change.protect)


def _rename_inputs(changes: list[Change], states: Mapping[str, tuple[str, dict[str, Any], str | None]]):
    view = {c.urn: {"urn": c.urn, "inputs": states.get(c.urn, ("", {}, None))[1]} for c in changes}
    return view, view


def _diagnostics(digest: Mapping[str, Any]) -> list[str]:
    errors = [d for d in digest.get("diagnostics") or [] if isinstance(d, Mapping) and d.get("severity") == "error"]
    notes = [f"preview error: {' '.join(str(d.get('message', '')).split())[:300]}" for d in errors[:3]]
    if len(errors) > 3:
        notes.append(f"{len(errors) - 3} more preview errors")
    return notes


def _summary_note(digest: Mapping[str, Any]) -> list[str]:
    summary = digest.get("changeSummary")
    if not isinstance(summary, Mapping) or not summary:
        return []
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.items()))
    return [f"Pulumi's own count (the stack resource included): {counts}"]


def _config(digest: Mapping[str, Any]) -> dict[str, Any]:
    from .settings import CONFIG_NAMESPACE

    values: dict[str, Any] = {}
    for key, raw in (digest.get("config") or {}).items():
        ns, _, name = str(key).partition(":")
        if ns != CONFIG_NAMESPACE or raw == SECRET:
            continue
        try:
            values[name] = json.loads(raw) if isinstance(raw, str) and raw[:1] in "[{" else raw
        except ValueError:
            values[name] = raw
    return values


def _token(digest: Mapping[str, Any]) -> str | None:
    token = _config(digest).get("token")
    return str(token) if token else None


def _topology(digest: Mapping[str, Any], stack: str) -> dict[str, Any] | None:
    """The Plan of the stack's config (its reactor-infra:* keys), for the report's diagram."""
    from .diff_worker import plan_summary
    from .errors import ReactorInfraError
    from .plan import build_plan
    from .settings import load_settings
    from .token import parse

    values = _config(digest)
    token = values.pop("token", None)
    if not token:
        return None
    try:
        return plan_summary(build_plan(parse(str(token)), load_settings(values, "preview config"), stack or None))
    except ReactorInfraError:
        return None
