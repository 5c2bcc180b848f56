"""The live progress of a real run, fed with engine event-log lines as the Automation API
delivers them (EngineEvent.from_json): a run whose instance update fails and a cancelled run."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from pulumi.automation.events import EngineEvent
from rich.console import Console

from reactor_infra.changes import StepCollector
from reactor_infra.progress import (
    LineProgress,
    LiveProgress,
    RunFailed,
    RunState,
    display,
    expected_operations,
    seconds,
)

EVENTS = Path(__file__).parent / "fixtures" / "events"
PROVIDER_MESSAGE = ("api error IncorrectInstanceState: The instance 'i-0123456789abcdef0' is not in the "
                    "'stopped' state.: provider=aws@7.51.1")


def events(name: str) -> list[EngineEvent]:
    return [EngineEvent.from_json(json.loads(line)) for line in (EVENTS / name).read_text().splitlines()]


def planned() -> set[tuple[str, str]]:
    collector = StepCollector()
    for event in events("preview_e2_aws.jsonl"):
        collector.on_event(event)
    return expected_operations(collector.steps)


def run_lines(name: str, expected=None) -> tuple[RunState, list[str]]:
    state = RunState("up", "e2-aws", expected, clock=lambda: 0.0)
    out = io.StringIO()
    view = LineProgress(state, out)
    with view:
        for event in events(name):
            view.on_event(event)
    view.finish()
    return state, out.getvalue().splitlines()


def test_ci_lines_follow_each_resource_with_elapsed_time_tier_and_type():
    _, lines = run_lines("up_e2_aws_failed.jsonl", planned())
    assert lines[:3] == [
        "[    1s] updating node-instance (tier node, aws:ec2/instance:Instance)",
        "[    1s] creating secrets-openbao-token-parameter (tier vault, aws:ssm/parameter:Parameter)",
        "[    4s] created secrets-openbao-token-parameter (tier vault, aws:ssm/parameter:Parameter) in 3s",
    ]
    assert "[   14s] created replacement node-data (tier node, aws:ebs/volume:Volume) in 9s" in lines


def test_components_unchanged_resources_and_the_stack_get_no_line():
    _, lines = run_lines("up_e2_aws_failed.jsonl", planned())
    text = "\n".join(lines)
    assert "reactor-infra:aws:" not in text and "pulumi:pulumi:Stack" not in text and "unchanged " not in text


def test_a_failure_names_the_resource_its_tier_and_the_providers_message():
    state, lines = run_lines("up_e2_aws_failed.jsonl", planned())
    (failure,) = state.failures
    assert failure.line().startswith("update node-instance (tier node, aws:ec2/instance:Instance) failed: "
                                     "sdk-v2/provider2.go:572: sdk.helper_schema: updating EC2 Instance")
    assert failure.line().endswith(PROVIDER_MESSAGE)
    assert f"[   50s] error: {failure.line()}" in lines
    assert state.error_lines() == [failure.line()]  # the engine's bare "update failed" adds nothing


def test_the_summary_counts_by_operation_with_the_duration_and_what_never_ran():
    state, lines = run_lines("up_e2_aws_failed.jsonl", planned())
    summary = lines[lines.index("[   51s] error: update failed") + 1:]
    assert summary[0] == ("up e2-aws: failed. Resources: 1 created, 3 replaced, 6 unchanged, 1 failed. "
                          "Duration: 51s")
    assert summary[1].startswith("update node-instance (tier node") and summary[1].endswith(PROVIDER_MESSAGE)
    # the originals of the three replacements and the two deletes never started
    assert summary[2] == "not run: 5 of the 10 planned operations never started"
    assert state.left() == 5


def test_a_cancelled_run_says_what_did_not_finish():
    o2 = "urn:pulumi:o2-aws::reactor-infra::reactor-infra:aws:"
    planned = {(o2 + "Network$aws:ec2/vpc:Vpc::network-vpc", "create"),
               (o2 + "Network$aws:ec2/subnet:Subnet::network-public", "create"),
               (o2 + "Node$aws:ebs/volume:Volume::node-data", "create"),
               (o2 + "Node$aws:ec2/instance:Instance::node-instance", "create")}
    state, lines = run_lines("up_o2_aws_cancelled.jsonl", planned)
    assert state.cancelled and not state.failures
    assert lines[-5:] == [
        "[   12s] cancelled: 2 operation(s) did not finish: create network-public (network), create node-data (node)",
        "up e2-aws: cancelled. Resources: 1 created. Duration: 12s",
        "not run: 1 of the 4 planned operations never started",
        "did not finish: create network-public (tier network, aws:ec2/subnet:Subnet)",
        "did not finish: create node-data (tier node, aws:ebs/volume:Volume)",
    ]
    assert state.error_lines() == ["up of e2-aws was cancelled with 2 operation(s) unfinished"]


def test_a_successful_run_ends_with_its_counts_and_is_not_a_cancel():
    """The engine sends cancel_event at the end of every run; after a summary with nothing
    running it only closes the stream."""
    state, lines = run_lines("up_o2_aws_done.jsonl")
    assert state.ended and not state.cancelled and not state.failures and state.error_lines() == []
    assert lines == [
        "[    1s] updating network-vpc (tier network, aws:ec2/vpc:Vpc)",
        "[    1s] creating node-data (tier node, aws:ebs/volume:Volume)",
        "[    3s] updated network-vpc (tier network, aws:ec2/vpc:Vpc) in 2s",
        "[   10s] created node-data (tier node, aws:ebs/volume:Volume) in 9s",
        "up e2-aws: done. Resources: 1 created, 2 updated, 2 unchanged. Duration: 10s",
    ]


def test_no_secret_reaches_the_display():
    """Secret outputs arrive blinded ({sig, ciphertext: [secret]}); nothing prints values at all."""
    raw = (EVENTS / "up_e2_aws_failed.jsonl").read_text()
    assert "1b47061264138c4ac30d75fd1eb44270" in raw  # the fixture carries secret outputs
    _, lines = run_lines("up_e2_aws_failed.jsonl", planned())
    text = "\n".join(lines)
    assert "1b47061264138c4ac30d75fd1eb44270" not in text and "ciphertext" not in text
    assert "/e2-aws/openbao-token" not in text  # nor any plain value


def terminal() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, width=160, color_system=None)


def live_text(view: LiveProgress) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(view.render())
    return console.file.getvalue()


def test_the_live_view_shows_what_runs_how_long_and_how_many_are_left():
    stream = events("up_e2_aws_failed.jsonl")
    start = stream[0].timestamp
    state = RunState("up", "e2-aws", planned(), clock=lambda: start + 16)
    view = LiveProgress(state, terminal())
    for event in stream:
        if event.timestamp > start + 15:
            break
        view.on_event(event)
    text = live_text(view)
    head, *rows = [line.rstrip() for line in text.splitlines() if line.strip()]
    assert head == "up e2-aws: 2 done, 2 running, 8 left  (16s)"
    assert [row.split()[:2] + [row.split()[-1]] for row in rows] == [
        ["updating", "node-instance", "15s"], ["creating", "replacement", "1s"]]
    assert "firewall-node" in rows[1] and "network" in rows[1]


def test_the_live_view_prints_finished_operations_above_itself_and_the_summary_at_the_end():
    console = terminal()
    state = RunState("up", "e2-aws", planned(), clock=lambda: 0.0)
    view = display(state, live=True, console=console)
    assert isinstance(view, LiveProgress)
    with view:
        for event in events("up_e2_aws_failed.jsonl"):
            view.on_event(event)
    view.finish()
    printed = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", console.file.getvalue())
    assert "created replacement node-data (tier node, aws:ebs/volume:Volume) in 9s" in printed
    assert "up e2-aws: failed. Resources: 1 created, 3 replaced, 6 unchanged, 1 failed. Duration: 51s" in printed
    assert PROVIDER_MESSAGE in printed


def test_without_a_terminal_the_view_is_lines():
    out = io.StringIO()
    assert isinstance(display(RunState("up", "s"), live=False, out=out), LineProgress)


def test_run_failed_is_one_line_per_failure_and_exit_1():
    error = RunFailed(["update a (tier node, t) failed: x", "create b (tier app, t) failed: y"])
    assert error.exit_code == 1 and error.lines() == ["update a (tier node, t) failed: x",
                                                      "create b (tier app, t) failed: y"]


def test_seconds():
    assert [seconds(s) for s in (0, 9.4, 59, 60, 62, 3599, 3600, 3723)] == [
        "0s", "9s", "59s", "1m00s", "1m02s", "59m59s", "1h00m00s", "1h02m03s"]
