"""What a real preview says it will change, grouped by Reactor tier, and the data-loss gate.

Steps come from two places with one meaning: the `pulumi preview --json` document (Pulumi's
PreviewDigest: `steps[]` of `{op, urn, provider, oldState, newState, diffReasons,
replaceReasons, detailedDiff}`, states being apitype.ResourceV3) and the engine events a
preview streams to the Automation API's `on_event` (`resource_pre`/`res_outputs` carrying a
StepEventMetadata: `op, urn, type, old, new, keys, diffs, detailed_diff`). Both become `Step`,
and everything after that (tiers, the gate, the text) is a pure function of the steps, so a
recorded preview and a real one are judged the same way.

The gate: replacing or deleting a resource that holds state (`resource_kinds`) or whose old
state is protected loses data unless someone moves it first. Such a step is a `Risk`; a run
with risks needs an explicit `--allow-data-loss`, even with `--yes`.

No Pulumi import: events are read by their attributes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .graph import COMPONENT_PREFIX, tier_of_urn
from .resource_kinds import migration_step, regenerates, state_kind

ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
# ops that remove or swap out a physical resource
RISKY_OPS = frozenset({"replace", "delete", "delete-replaced", "create-replacement"})
REPLACEMENT_OPS = frozenset({"replace", "create-replacement", "delete-replaced"})
ALLOW_FLAG = "--allow-data-loss"

# how each op reads in a preview line, as `pulumi preview` marks them
SYMBOLS = {
    "create": "+", "update": "~", "delete": "-", "replace": "+-", "create-replacement": "++",
    "delete-replaced": "--", "read": ">", "read-replacement": ">>", "refresh": "~", "import": "=",
    "import-replacement": "=>", "discard": "-", "discard-replaced": "-", "remove-pending-replace": "-",
    "same": " ",
}


@dataclass(frozen=True)
class State:
    """The part of a resource state (old or new) that the gate and the tiers read."""

    type: str
    parent: str | None = None
    protect: bool = False
    inputs: Mapping[str, Any] = field(default_factory=dict)
    custom: bool = True  # False for components (and the root stack): nothing physical


@dataclass(frozen=True)
class Step:
    op: str
    urn: str
    old: State | None = None
    new: State | None = None
    replace_reasons: tuple[str, ...] = ()
    diff_reasons: tuple[str, ...] = ()

    @property
    def type(self) -> str:
        state = self.new or self.old
        return state.type if state else urn_type(self.urn)

    @property
    def name(self) -> str:
        """The logical name (the URN's last part), as the program gave it."""
        return urn_name(self.urn)

    @property
    def parent(self) -> str | None:
        state = self.new or self.old
        return state.parent if state else None

    @property
    def protected(self) -> bool:
        return bool(self.old and self.old.protect)

    @property
    def custom(self) -> bool:
        """Whether a provider manages it (a physical resource), not a component."""
        state = self.new or self.old
        return bool(state and state.custom)


def urn_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def in_component(urn: str) -> bool:
    """Whether the URN's type chain passes through a reactor-infra component."""
    parts = urn.split("::")
    return len(parts) >= 2 and any(t.startswith(COMPONENT_PREFIX) for t in parts[-2].split("$"))


def urn_type(urn: str) -> str:
    """The resource's own type from `urn:pulumi:stack::project::parent$types$own::name`."""
    parts = urn.split("::")
    return parts[-2].rsplit("$", 1)[-1] if len(parts) >= 2 else ""


# --- from the preview JSON document (PreviewDigest) --------------------------------------------


def _state_from_json(data: Mapping[str, Any] | None) -> State | None:
    if not data:
        return None
    return State(type=str(data.get("type") or urn_type(str(data.get("urn", "")))),
                 parent=data.get("parent") or None, protect=bool(data.get("protect", False)),
                 inputs=dict(data.get("inputs") or {}), custom=bool(data.get("custom", False)))


def steps_from_preview_json(digest: Mapping[str, Any]) -> list[Step]:
    """Steps of a `pulumi preview --json` document (the PreviewDigest of pkg/display/json.go)."""
    return [Step(op=str(s["op"]), urn=str(s["urn"]), old=_state_from_json(s.get("oldState")),
                 new=_state_from_json(s.get("newState")),
                 replace_reasons=tuple(s.get("replaceReasons") or ()),
                 diff_reasons=tuple(s.get("diffReasons") or ()))
            for s in digest.get("steps") or ()]


# --- from engine events (pulumi.automation.events, read by attribute) --------------------------


def _op(value: Any) -> str:
    return str(getattr(value, "value", value))


def _state_from_event(meta: Any) -> State | None:
    if meta is None:
        return None
    return State(type=meta.type or urn_type(meta.urn or ""), parent=meta.parent or None,
                 protect=bool(meta.protect), inputs=dict(meta.inputs or {}), custom=bool(meta.custom))


def step_from_event(metadata: Any) -> Step:
    """A Step from a StepEventMetadata (`resource_pre`, `res_outputs`, `res_op_failed`)."""
    return Step(op=_op(metadata.op), urn=metadata.urn, old=_state_from_event(metadata.old),
                new=_state_from_event(metadata.new), replace_reasons=tuple(metadata.keys or ()),
                diff_reasons=tuple(metadata.diffs or ()))


class StepCollector:
    """Collects a preview's steps from its engine events (pass `on_event` to stack.preview,
    preview_destroy or preview_refresh). As Pulumi's own JSON preview does, a refresh step is
    replaced by what its outputs event says it became (update, delete or same)."""

    def __init__(self) -> None:
        self._steps: list[Step] = []
        self._refreshing: dict[str, int] = {}
        self.change_summary: dict[str, int] | None = None
        self.errors: list[str] = []

    def on_event(self, event: Any) -> None:
        if event.resource_pre_event is not None:
            step = step_from_event(event.resource_pre_event.metadata)
            if step.op == "refresh":
                self._refreshing[step.urn] = len(self._steps)
            self._steps.append(step)
        elif event.res_outputs_event is not None:
            step = step_from_event(event.res_outputs_event.metadata)
            index = self._refreshing.pop(step.urn, None)
            if index is not None:
                self._steps[index] = step
        elif event.summary_event is not None:
            self.change_summary = {_op(k): v for k, v in (event.summary_event.resource_changes or {}).items()}
        elif event.diagnostic_event is not None and event.diagnostic_event.severity == "error":
            self.errors.append(one_line(event.diagnostic_event.message))

    @property
    def steps(self) -> list[Step]:
        return list(self._steps)


def one_line(message: str, limit: int = 400) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- tiers ----------------------------------------------------------------------------------------


class Ancestry:
    """Each known resource's type, inputs and parent, to find its Reactor tier
    (graph.tier_of_urn, the same walk the diff of a preview uses)."""

    def __init__(self, steps: Iterable[Step] = ()) -> None:
        self._known: dict[str, tuple[str, Mapping[str, Any], str | None]] = {}
        for step in steps:
            self.learn(step)

    def learn(self, step: Step) -> None:
        state = step.new or step.old
        if state is not None and (step.urn not in self._known or step.new is not None):
            self._known[step.urn] = (state.type, state.inputs, state.parent)

    def tier(self, urn: str) -> str | None:
        return tier_of_urn(urn, self._known)


# --- collapsing the three steps of a replacement -------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One resource's change: a replacement's create-replacement/replace/delete-replaced
    steps are one `replace`."""

    step: Step
    op: str
    tier: str | None

    @property
    def name(self) -> str:
        return self.step.name

    @property
    def type(self) -> str:
        return self.step.type


def changes(steps: Sequence[Step]) -> list[Change]:
    """One Change per resource in preview order (`same` included, the root stack left out)."""
    ancestry = Ancestry(steps)
    by_urn: dict[str, list[Step]] = {}
    for step in steps:
        by_urn.setdefault(step.urn, []).append(step)
    result = []
    for urn, group in by_urn.items():
        ops = [s.op for s in group]
        if "replace" in ops or {"create-replacement", "delete-replaced"} <= set(ops):
            op = "replace"
        else:
            op = next((o for o in ops if o != "same"), "same")
        old = next((s.old for s in group if s.old is not None), None)
        new = next((s.new for s in group if s.new is not None), None)
        first = next((s for s in group if s.op == op), group[0])
        merged = Step(op=op, urn=urn, old=old, new=new,
                      replace_reasons=tuple(dict.fromkeys(r for s in group for r in s.replace_reasons)),
                      diff_reasons=first.diff_reasons or tuple(dict.fromkeys(r for s in group for r in s.diff_reasons)))
        if merged.type != ROOT_STACK_TYPE:
            result.append(Change(merged, op, ancestry.tier(urn)))
    return result


def counts(items: Iterable[Change]) -> Counter[str]:
    return Counter(c.op for c in items)


# --- the gate -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Risk:
    name: str
    type: str
    tier: str | None
    op: str
    protected: bool
    kind: str | None  # resource_kinds.StateKind value, None when only protected
    migration: str | None
    urn: str

    def line(self, command: str = "up") -> str:
        """One line naming the resource, its tier, why it is at risk and what avoids the loss."""
        why = [w for w in (self.kind and f"holds {self.kind}", self.protected and "protected") if w]
        what = f"{self.name} (tier {self.tier or '?'}, {self.type}; {', '.join(why)})"
        if command == "refresh":  # a refresh changes only the state: the resource is already gone
            return (f"drop {what} from the state: it is gone from the cloud; find its snapshots or "
                    "backups while the state still names it")
        text = f"{self.op} {what}"
        if self.migration:
            text += f": first {self.migration}"
        if self.protected:
            text += f"; the engine also refuses until it is unprotected: pulumi state unprotect '{self.urn}'"
        return text


def data_loss_risks(steps: Sequence[Step]) -> list[Risk]:
    """The replaces and deletes of stateful or protected resources, one per resource, in
    preview order. A pure function of the steps."""
    risks = []
    for change in changes(steps):
        if change.op not in RISKY_OPS:
            continue
        kind = state_kind(change.type)
        if kind is not None and regenerates(change.type, change.name):
            kind = None  # e.g. Caddy's certificates: made again at start (the diff says so as a note)
        if kind is None and not change.step.protected:
            continue
        risks.append(Risk(name=change.name, type=change.type, tier=change.tier, op=change.op,
                          protected=change.step.protected, kind=kind.value if kind else None,
                          migration=migration_step(change.type), urn=change.step.urn))
    return risks


class DataLossRefused(UserError):
    """A run would replace or delete state and --allow-data-loss was not given (exit 2)."""

    def __init__(self, command: str, risks: Sequence[Risk]):
        self.command = command
        self.risks = list(risks)
        super().__init__("; ".join(self.lines()))

    def lines(self) -> list[str]:
        names = ", ".join(f"{r.name} ({r.tier or '?'})" for r in self.risks)
        return [f"refusing to {self.command}: it would {r.line(self.command)}" for r in self.risks] + [
            f"{self.command} would lose data in {names}; move the data first, then add {ALLOW_FLAG}"]


def gate(command: str, steps: Sequence[Step], allow_data_loss: bool) -> list[Risk]:
    """The risks of these steps; DataLossRefused when there are any and they are not allowed."""
    risks = data_loss_risks(steps)
    if risks and not allow_data_loss:
        raise DataLossRefused(command, risks)
    return risks


# --- the preview in words -------------------------------------------------------------------------

UNKNOWN_TIER = "?"
VERBS = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete",
         "same": "unchanged", "read": "to read", "import": "to import", "refresh": "to refresh",
         "discard": "to forget"}


def preview_lines(steps: Sequence[Step], risks: Sequence[Risk] | None = None, command: str = "up") -> list[str]:
    """The preview as text: data-loss risks first, then the changes grouped by tier, then the
    counts. Input values are never shown (only the names of the keys that differ), so no
    secret can appear."""
    risks = data_loss_risks(steps) if risks is None else risks
    all_changes = changes(steps)
    lines: list[str] = []
    if risks:
        lines.append(f"Data-loss risks ({len(risks)}): these replace or delete state")
        lines.extend(f"  ! {r.line(command)}" for r in risks)
        lines.append("")
    shown = [c for c in all_changes if c.op != "same"]
    groups: dict[str | None, list[Change]] = {}
    for change in shown:
        key = change.tier or (UNKNOWN_TIER if in_component(change.step.urn) else None)
        groups.setdefault(key, []).append(change)
    for tier in sorted(groups, key=lambda t: (t is None, t == UNKNOWN_TIER, t or "")):
        if tier == UNKNOWN_TIER:
            lines.append("(tier unknown: its component is not in this preview; pulumi preview --json "
                         "lists unchanged components only with --show-sames)")
        else:
            lines.append(tier or "(outside every tier: providers)")
        for c in groups[tier]:
            why = c.step.replace_reasons if c.op == "replace" else c.step.diff_reasons
            reasons = f"  [{', '.join(why)}]" if why else ""
            protect = "  [protected]" if c.step.protected else ""
            lines.append(f"  {SYMBOLS.get(c.op, '?'):<2} {c.op:<8} {c.type:<56} {c.name}{protect}{reasons}")
        lines.append("")
    total = counts(all_changes)
    parts = [f"{n} {VERBS.get(op, op)}" for op, n in sorted(total.items(), key=lambda kv: _order(kv[0]))]
    lines.append("Changes: " + (", ".join(parts) if parts else "none"))
    return lines


def _order(op: str) -> tuple[int, str]:
    rank = ["create", "update", "replace", "delete", "same"]
    return (rank.index(op) if op in rank else len(rank) - 1, op)


def has_changes(steps: Sequence[Step]) -> bool:
    """Whether applying would change anything (stack outputs included; reads change nothing)."""
    return any(s.op not in ("same", "read") for s in steps)
