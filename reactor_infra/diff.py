"""What changes between two versions of one install: the model every diff report reads.

Two sources fill it: two offline renders (`diff_renders`, the render contract of DESIGN §5, as
dicts, so a render from another process or another git revision works the same) and a real
`pulumi preview --json` (`preview.py`). Resources are matched by URN with the stack name left
out, so two stacks of one project compare; each becomes a create, update (the changed input
paths, old -> new), replace (a changed input forces it: `replaces.py`) or delete. A logical
name that changed is a delete plus a create, and is called out as a rename.

Secrets: a path that is secret on either side shows "[secret]" on both sides, so a value that
stopped being secret is never printed; `[unknown]` is a value known only after apply.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from .graph import SECRET
from .replaces import forcing, known, normalize
from .resource_kinds import state_kind


class Op(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"


OPS = (Op.CREATE, Op.UPDATE, Op.REPLACE, Op.DELETE)
NO_TIER = "(no tier)"
MISSING = object()


@dataclass(frozen=True)
class InputChange:
    path: str
    old: Any  # None with kind "add"
    new: Any  # None with kind "delete"
    kind: str = "update"  # add | delete | update
    replaces: bool = False


@dataclass(frozen=True)
class Change:
    op: Op
    urn: str
    type: str
    name: str
    tier: str | None
    inputs: tuple[InputChange, ...] = ()
    replace_reasons: tuple[str, ...] = ()
    protect: bool = False
    stateful: str | None = None  # the StateKind of what the resource holds
    replace_known: bool = True  # False: no table row, a real preview decides update or replace
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Risk:
    """Data that a replace, a delete or a move between tiers loses unless an operator acts."""

    what: str
    step: str  # what avoids the loss
    kind: str
    tier: str | None = None
    resource: str | None = None  # the logical name, or None for a move the Plan makes
    urn: str | None = None
    protected: bool = False  # the engine refuses the delete until `protect` is lifted


@dataclass(frozen=True)
class Rename:
    type: str
    tier: str | None
    old_name: str
    new_name: str


@dataclass(frozen=True)
class StackDiff:
    stack: str
    before: str  # a label: the token, stack file or revision of the old side
    after: str
    source: str  # "offline" (two renders) or "preview" (pulumi preview --json)
    changes: tuple[Change, ...] = ()
    risks: tuple[Risk, ...] = ()
    renames: tuple[Rename, ...] = ()
    notes: tuple[str, ...] = ()
    topology: Mapping[str, Any] | None = None  # plan summary of the new side (diff_worker.plan_summary)
    old_topology: Mapping[str, Any] | None = None
    error: str | None = None  # a side could not be rendered
    unchanged: int = 0
    skipped: str | None = None  # why the stack was not rendered (nothing it depends on changed)

    @property
    def counts(self) -> dict[str, int]:
        counts = {op.value: 0 for op in OPS}
        for c in self.changes:
            counts[c.op.value] += 1
        return counts

    @property
    def empty(self) -> bool:
        return not self.changes and self.error is None

    def by_tier(self) -> dict[str, list[Change]]:
        groups: dict[str, list[Change]] = {}
        for c in sorted(self.changes, key=lambda c: (OPS.index(c.op), c.name)):
            groups.setdefault(c.tier or NO_TIER, []).append(c)
        return dict(sorted(groups.items(), key=lambda kv: (kv[0] == NO_TIER, kv[0])))

    @property
    def changed_tiers(self) -> set[str]:
        return {c.tier for c in self.changes if c.tier}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["counts"] = self.counts
        data["changes"] = [dict(asdict(c), op=c.op.value) for c in self.changes]
        return data


# --- offline: two renders ---------------------------------------------------------------------

def urn_key(urn: str) -> str:
    """The URN without its stack: `urn:pulumi:<stack>::<project>::<types>::<name>`."""
    parts = urn.split("::", 1)
    return parts[1] if len(parts) == 2 else urn


def diff_renders(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, *, stack: str,
                 before: str, after: str, old_topology: Mapping[str, Any] | None = None,
                 new_topology: Mapping[str, Any] | None = None) -> StackDiff:
    """Diff two render-contract dicts (either may be None: a stack that is added or removed)."""
    from .diff_risks import plan_risks, resource_risks

    old_res = {urn_key(r["urn"]): r for r in (old or {}).get("resources", [])}
    new_res = {urn_key(r["urn"]): r for r in (new or {}).get("resources", [])}
    notes: list[str] = []
    if old and new and old.get("stack") != new.get("stack"):
        notes.append(f"the sides are different stacks ({old.get('stack')}, {new.get('stack')}): "
                     "resources are matched by type and logical name")
    changes: list[Change] = []
    unchanged = 0
    for key in sorted(old_res.keys() | new_res.keys()):
        a, b = old_res.get(key), new_res.get(key)
        if a is None:
            changes.append(_whole(Op.CREATE, b))
        elif b is None:
            changes.append(_whole(Op.DELETE, a))
        else:
            change = compare(a, b)
            if change is None:
                unchanged += 1
            else:
                changes.append(change)
    renames = find_renames(changes, old_res, new_res)
    risks, risk_notes = resource_risks(changes)
    moves = plan_risks(old_topology, new_topology) if old and new else []
    return StackDiff(stack=stack, before=before, after=after, source="offline", changes=tuple(changes),
                     risks=tuple(moves + risks), renames=tuple(renames), notes=tuple(notes + risk_notes),
                     topology=new_topology, old_topology=old_topology, unchanged=unchanged)


def _whole(op: Op, r: Mapping[str, Any]) -> Change:
    return Change(op=op, urn=r["urn"], type=r["type"], name=r["name"], tier=r.get("component"),
                  protect=bool(r.get("protect")), stateful=_kind(r["type"]))


def _kind(type_: str) -> str | None:
    kind = state_kind(type_)
    return kind.value if kind else None


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> Change | None:
    """One resource in both renders: None when nothing the engine acts on changed."""
    secret_keys = set(a.get("secret_inputs") or ()) | set(b.get("secret_inputs") or ())
    ignored = [normalize(p) for p in b.get("ignore_changes") or ()]
    diffs, skipped = [], []
    for path, old, new in diff_values(a.get("inputs") or {}, b.get("inputs") or {}):
        bare = normalize(path)
        if any(bare == p or bare.startswith(p + ".") for p in ignored):
            skipped.append(path)
            continue
        diffs.append(masked(path, old, new, secret_keys))
    notes = []
    if skipped:
        notes.append("not applied (ignore_changes): " + ", ".join(skipped))
    for option in ("protect", "delete_before_replace", "retain_on_delete"):
        if bool(a.get(option)) != bool(b.get(option)):
            notes.append(f"option {option}: {bool(a.get(option))} → {bool(b.get(option))}")
    reasons = forcing(b["type"], [d.path for d in diffs], b.get("inputs"), b.get("replace_on_changes") or ())
    if (a.get("provider") or None) != (b.get("provider") or None) and a.get("provider") and b.get("provider"):
        reasons.append("(provider)")
        notes.append(f"another provider: {a['provider'].rsplit('::', 1)[-1]} → {b['provider'].rsplit('::', 1)[-1]}")
    if not diffs and not notes and not reasons:
        return None
    if not diffs and not reasons:  # options only: the engine records them, the cloud is not touched
        notes.append("options only: nothing in the cloud changes")
    forced = set(reasons)
    inputs = tuple(InputChange(d.path, d.old, d.new, d.kind, d.path in forced) for d in diffs)
    is_known = known(b["type"])
    if diffs and not reasons and not is_known:
        notes.append(f"no replace table row for {b['type']}: a real preview decides whether this replaces")
    return Change(op=Op.REPLACE if reasons else Op.UPDATE, urn=b["urn"], type=b["type"], name=b["name"],
                  tier=b.get("component"), inputs=inputs, replace_reasons=tuple(reasons),
                  protect=bool(a.get("protect")), stateful=_kind(b["type"]),
                  replace_known=is_known or bool(reasons), notes=tuple(notes))


def diff_values(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, old, new) of every leaf that differs; `MISSING` where one side has no value.
    Lists of one length compare element by element, others as a whole."""
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            yield from diff_values(old.get(key, MISSING), new.get(key, MISSING), sub)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (x, y) in enumerate(zip(old, new)):
            yield from diff_values(x, y, f"{path}[{i}]")
    elif old != new:
        yield path, old, new


def _has_secret(value: Any) -> bool:
    if isinstance(value, str):
        return SECRET in value
    if isinstance(value, Mapping):
        return any(_has_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def masked(path: str, old: Any, new: Any, secret_keys: set[str]) -> InputChange:
    kind = "add" if old is MISSING else "delete" if new is MISSING else "update"
    old = None if old is MISSING else old
    new = None if new is MISSING else new
    top = normalize(path).split(".", 1)[0]
    if top in secret_keys or _has_secret(old) or _has_secret(new):
        old = SECRET if kind != "add" else None
        new = SECRET if kind != "delete" else None
    return InputChange(path, old, new, kind)


def find_renames(changes: list[Change], old_res: Mapping[str, Any], new_res: Mapping[str, Any]) -> list[Rename]:
    """A delete and a create of one type in one tier whose inputs mostly agree: a logical name
    that changed. Pulumi deletes and re-creates it unless the program gives an alias."""
    by_urn_old = {r["urn"]: r for r in old_res.values()}
    by_urn_new = {r["urn"]: r for r in new_res.values()}
    deletes = [c for c in changes if c.op is Op.DELETE]
    creates = [c for c in changes if c.op is Op.CREATE]
    pairs = []
    for d in deletes:
        for c in creates:
            if c.type != d.type or c.tier != d.tier or not c.type.count(":") or c.type.startswith("pulumi:"):
                continue
            old_inputs = _renamed(by_urn_old[d.urn].get("inputs") or {}, d.name, c.name)
            score = _similarity(old_inputs, by_urn_new[c.urn].get("inputs") or {})
            if score >= 0.5:
                pairs.append((score, d, c))
    renames, used = [], set()
    for _, d, c in sorted(pairs, key=lambda p: (-p[0], p[1].name, p[2].name)):
        if d.urn in used or c.urn in used:
            continue
        used |= {d.urn, c.urn}
        renames.append(Rename(type=d.type, tier=d.tier, old_name=d.name, new_name=c.name))
    return renames


def _renamed(value: Any, old: str, new: str) -> Any:
    """Inputs with the old logical name written as the new one (physical names embed it)."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, Mapping):
        return {k: _renamed(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed(v, old, new) for v in value]
    return value


def _similarity(a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    keys = set(a) | set(b)
    if not keys:
        return 1.0
    return sum(1 for k in keys if a.get(k, MISSING) == b.get(k, MISSING)) / len(keys)


