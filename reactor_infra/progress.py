"""Live progress of a real run, fed by the Automation API's structured engine events.

Two views of one `RunState`:
- `LineProgress`: a line per resource event, for CI logs and anything that is not a terminal;
- `LiveProgress`: a rich Live view on a terminal: what is being created, updated or deleted now
  and for how long, how many operations are done and how many are left (known from the
  preview), with each finished operation printed above it.

Both end with the same summary: counts by operation and the duration (from the engine's summary
event), every failure naming the resource, its Reactor tier and the provider's message (the
error diagnostic the engine sends for that URN before `res_op_failed`), and on a cancelled run
the operations that never finished.

Events are read by attribute (pulumi.automation.events.EngineEvent), so this module imports no
Pulumi and tests feed it recorded event-log lines. No input or output value is ever printed,
so no secret can be: only names, types, tiers, operations and the engine's messages.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from .changes import ROOT_STACK_TYPE, Ancestry, Step, one_line, step_from_event
from .errors import OperationError

# the logical `replace` step completes at once; the work is create-replacement/delete-replaced
HIDDEN_OPS = frozenset({"same", "replace", "read"})

ACTIVE = {"create": "creating", "update": "updating", "delete": "deleting", "replace": "replacing",
          "create-replacement": "creating replacement", "delete-replaced": "deleting original",
          "read": "reading", "refresh": "refreshing", "import": "importing",
          "import-replacement": "importing replacement", "discard": "forgetting",
          "discard-replaced": "forgetting original", "remove-pending-replace": "removing pending",
          "read-replacement": "reading replacement"}
DONE = {"create": "created", "update": "updated", "delete": "deleted", "replace": "replaced",
        "create-replacement": "created replacement", "delete-replaced": "deleted original",
        "read": "read", "refresh": "refreshed", "import": "imported", "same": "unchanged",
        "import-replacement": "imported replacement", "discard": "forgot",
        "discard-replaced": "forgot original", "remove-pending-replace": "removed pending",
        "read-replacement": "read replacement"}


class RunFailed(OperationError):
    """A real run failed: one line per failed resource (name, tier, type, provider's message)."""

    def __init__(self, lines: list[str]):
        self._lines = list(lines)
        super().__init__("; ".join(self._lines))

    def lines(self) -> list[str]:
        return list(self._lines)


def seconds(n: float) -> str:
    n = max(0, int(round(n)))
    if n < 60:
        return f"{n}s"
    if n < 3600:
        return f"{n // 60}m{n % 60:02d}s"
    return f"{n // 3600}h{n % 3600 // 60:02d}m{n % 60:02d}s"


@dataclass(frozen=True)
class Operation:
    urn: str
    op: str
    name: str
    type: str
    tier: str | None
    started: float

    def what(self) -> str:
        return f"{self.name} (tier {self.tier or '-'}, {self.type})"


@dataclass(frozen=True)
class Failure:
    operation: Operation
    message: str

    def line(self) -> str:
        return f"{self.operation.op} {self.operation.what()} failed: {self.message}"


@dataclass(frozen=True)
class Notice:
    """One thing worth a line: kind is start, done, failed, warning, error or cancelled."""

    kind: str
    text: str
    at: float


def expected_operations(steps: Iterable[Step]) -> set[tuple[str, str]]:
    """The (urn, op) operations a run of these preview steps will report, for 'how many left'."""
    return {(s.urn, s.op) for s in steps if _shown(s)}


def _shown(step: Step) -> bool:
    """Operations on physical resources; components and the root stack finish at once."""
    return step.op not in HIDDEN_OPS and step.custom and step.type != ROOT_STACK_TYPE


class RunState:
    """What one run's events have said so far. Thread-safe: events arrive on the Automation
    API's event thread while a live view reads."""

    def __init__(self, command: str, stack: str, expected: set[tuple[str, str]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.command = command
        self.stack = stack
        self.expected = expected
        self.clock = clock
        self.lock = threading.RLock()
        self.ancestry = Ancestry()
        self.running: dict[tuple[str, str], Operation] = {}
        self.finished: list[tuple[Operation, float]] = []
        self.failures: list[Failure] = []
        self.errors: list[str] = []  # error diagnostics without a resource
        self.warnings: list[str] = []
        self._pending_errors: dict[str, list[str]] = {}
        self.started_at: float | None = None
        self.last_at: float | None = None
        self.changes: dict[str, int] | None = None  # the engine's summary: count by op
        self.duration: float | None = None
        self.ended = False
        self.cancelled = False

    # -- events ----------------------------------------------------------------------------
    def apply(self, event: Any) -> list[Notice]:
        with self.lock:
            at = float(event.timestamp or self.clock())
            if self.started_at is None:
                self.started_at = at
            self.last_at = at
            if event.resource_pre_event is not None:
                return self._pre(event.resource_pre_event.metadata, at)
            if event.res_outputs_event is not None:
                return self._done(event.res_outputs_event.metadata, at)
            if event.res_op_failed_event is not None:
                return self._failed(event.res_op_failed_event.metadata, at)
            if event.diagnostic_event is not None:
                return self._diagnostic(event.diagnostic_event, at)
            if event.summary_event is not None:
                s = event.summary_event
                self.changes = {str(getattr(k, "value", k)): v for k, v in (s.resource_changes or {}).items()}
                self.duration = float(s.duration_seconds)
                return []
            if event.cancel_event is not None:
                return self._end(at)
            return []

    def _operation(self, metadata: Any, at: float) -> tuple[Step, Operation]:
        step = step_from_event(metadata)
        self.ancestry.learn(step)
        return step, Operation(step.urn, step.op, step.name, step.type, self.ancestry.tier(step.urn), at)

    def _pre(self, metadata: Any, at: float) -> list[Notice]:
        step, op = self._operation(metadata, at)
        if not _shown(step):
            return []
        self.running[(op.urn, op.op)] = op
        return [Notice("start", f"{ACTIVE.get(op.op, op.op)} {op.what()}", at)]

    def _done(self, metadata: Any, at: float) -> list[Notice]:
        step, _ = self._operation(metadata, at)
        op = self.running.pop((step.urn, step.op), None)
        if op is None:
            return []
        self.finished.append((op, at))
        return [Notice("done", f"{DONE.get(op.op, op.op)} {op.what()} in {seconds(at - op.started)}", at)]

    def _failed(self, metadata: Any, at: float) -> list[Notice]:
        step, fresh = self._operation(metadata, at)
        op = self.running.pop((step.urn, step.op), None) or fresh
        messages = self._pending_errors.pop(step.urn, [])
        failure = Failure(op, "; ".join(messages) or "the provider gave no message")
        self.failures.append(failure)
        return [Notice("failed", failure.line(), at)]

    def _diagnostic(self, diag: Any, at: float) -> list[Notice]:
        if diag.ephemeral:
            return []
        message = one_line(diag.message)
        if not message:
            return []
        name = diag.urn.rsplit("::", 1)[-1] if diag.urn else None
        if diag.severity == "error":
            if diag.urn:  # the provider's message: kept for the res_op_failed that follows
                self._pending_errors.setdefault(diag.urn, []).append(message)
                return []
            self.errors.append(message)
            return [Notice("error", message, at)]
        if diag.severity == "warning":
            text = f"{name}: {message}" if name else message
            self.warnings.append(text)
            return [Notice("warning", text, at)]
        return []

    def _end(self, at: float) -> list[Notice]:
        self.ended = True
        # an error the engine gave for a resource that never got its res_op_failed
        for urn, messages in self._pending_errors.items():
            self.errors.append(f"{urn.rsplit('::', 1)[-1]}: {'; '.join(messages)}")
        self._pending_errors.clear()
        if self.running or self.changes is None:
            self.cancelled = True
            unfinished = ", ".join(f"{o.op} {o.name} ({o.tier or '-'})" for o in self.running.values())
            text = (f"cancelled: {len(self.running)} operation(s) did not finish: {unfinished}" if self.running
                    else "cancelled before the engine's summary")
            return [Notice("cancelled", text, at)]
        return []

    # -- views -----------------------------------------------------------------------------
    def elapsed(self, now: float | None = None) -> float:
        if self.started_at is None:
            return 0.0
        return (now if now is not None else self.clock()) - self.started_at

    def left(self) -> int | None:
        if self.expected is None:
            return None
        seen = {(o.urn, o.op) for o, _ in self.finished} | {(f.operation.urn, f.operation.op) for f in self.failures}
        return len(self.expected - seen)

    def summary_lines(self) -> list[str]:
        with self.lock:
            if self.changes is not None:
                changes = dict(self.changes)
            else:  # no summary event (cancelled): what the events showed
                changes = dict(Counter(o.op for o, _ in self.finished))
            parts = [f"{n} {DONE.get(op, op)}" for op, n in sorted(changes.items(), key=lambda kv: _rank(kv[0]))
                     if n]
            if self.failures:
                parts.append(f"{len(self.failures)} failed")
            duration = self.duration if self.duration is not None else (
                (self.last_at or 0) - (self.started_at or 0))
            outcome = ("cancelled" if self.cancelled else "failed" if self.failures or self.errors else "done")
            lines = [f"{self.command} {self.stack}: {outcome}. Resources: {', '.join(parts) or 'no changes'}. "
                     f"Duration: {seconds(duration)}"]
            lines.extend(f.line() for f in self.failures)
            left = self.left()
            if (self.failures or self.cancelled) and left:
                lines.append(f"not run: {left - len(self.running)} of the {len(self.expected or ())} "
                             "planned operations never started")
            if self.cancelled and self.running:
                lines.extend(f"did not finish: {o.op} {o.what()}" for o in self.running.values())
            return lines

    def error_lines(self) -> list[str]:
        """Why the run failed, one line per failed resource (or engine error)."""
        with self.lock:
            lines = [f.line() for f in self.failures]
            lines.extend(self.errors if not lines else [e for e in self.errors if e != "update failed"])
            if self.cancelled:
                lines.append(f"{self.command} of {self.stack} was cancelled with "
                             f"{len(self.running)} operation(s) unfinished")
            return lines


def _rank(op: str) -> tuple[int, str]:
    order = ["create", "create-replacement", "update", "replace", "delete-replaced", "delete", "same"]
    return (order.index(op) if op in order else len(order), op)


class LineProgress:
    """A line per resource event (CI, pipes): `[  12s] creating node-data (tier node, ...)`."""

    def __init__(self, state: RunState, out: TextIO) -> None:
        self.state = state
        self.out = out

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.out.flush()

    def on_event(self, event: Any) -> None:
        for notice in self.state.apply(event):
            mark = {"failed": "error: ", "error": "error: ", "warning": "warning: "}.get(notice.kind, "")
            self.out.write(f"[{seconds(self.state.elapsed(notice.at)):>6}] {mark}{notice.text}\n")
        self.out.flush()

    def finish(self) -> list[str]:
        lines = self.state.summary_lines()
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()
        return lines


STYLES = {"done": "green", "failed": "bold red", "error": "red", "warning": "yellow", "cancelled": "bold yellow",
          "start": "dim"}


class LiveProgress:
    """The terminal view: running operations with their time so far, done/left counts, and
    each finished operation printed above the live region."""

    def __init__(self, state: RunState, console: Any, refresh_per_second: float = 4) -> None:
        self.state = state
        self.console = console
        self.refresh_per_second = refresh_per_second
        self._live: Any = None

    def __enter__(self) -> LiveProgress:
        from rich.live import Live

        self._live = Live(get_renderable=self.render, console=self.console,
                          refresh_per_second=self.refresh_per_second, transient=True)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)
            self._live = None

    def on_event(self, event: Any) -> None:
        for notice in self.state.apply(event):
            if notice.kind == "start":
                continue  # shown in the live region while it runs
            self.console.print(f"{notice.text}", style=STYLES.get(notice.kind), markup=False, highlight=False)

    def render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        state = self.state
        with state.lock:
            now = state.clock()
            done = len(state.finished)
            left = state.left()
            head = f"{state.command} {state.stack}: {done} done"
            if state.failures:
                head += f", {len(state.failures)} failed"
            head += f", {len(state.running)} running"
            if left is not None:
                head += f", {left} left"
            head += f"  ({seconds(state.elapsed(now))})"
            table = Table.grid(padding=(0, 2))
            for op in sorted(state.running.values(), key=lambda o: o.started):
                table.add_row(Text(ACTIVE.get(op.op, op.op), style="cyan"), Text(op.name),
                              Text(op.tier or "-", style="dim"), Text(op.type, style="dim"),
                              Text(seconds(now - op.started), style="bold"))
        return Group(Text(head, style="bold"), table)

    def finish(self) -> list[str]:
        lines = self.state.summary_lines()
        for i, line in enumerate(lines):
            style = "bold" if i == 0 else "red"
            self.console.print(line, style=style, markup=False, highlight=False)
        return lines


def display(state: RunState, *, live: bool, console: Any = None, out: TextIO | None = None):
    """The view for where we print: a rich Live view on a terminal, lines elsewhere."""
    if live:
        return LiveProgress(state, console)
    import sys

    return LineProgress(state, out or sys.stderr)
