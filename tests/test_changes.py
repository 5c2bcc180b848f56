"""The preview by tier and the data-loss gate, on preview results in the shapes Pulumi gives
them: the `pulumi preview --json` document (PreviewDigest) and the engine events a preview
streams to the Automation API's on_event (tests/fixtures/README.md says how they were built)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi.automation.events import EngineEvent

from reactor_infra.changes import (
    ALLOW_FLAG,
    DataLossRefused,
    Step,
    StepCollector,
    State,
    changes,
    data_loss_risks,
    gate,
    has_changes,
    preview_lines,
    steps_from_preview_json,
)
from reactor_infra.errors import UserError

FIXTURES = Path(__file__).parent / "fixtures"
STACK = "urn:pulumi:e2-aws::reactor-infra::"


def digest(name: str) -> list[Step]:
    return steps_from_preview_json(json.loads((FIXTURES / "preview" / name).read_text()))


def events(name: str) -> list[EngineEvent]:
    return [EngineEvent.from_json(json.loads(line))
            for line in (FIXTURES / "events" / name).read_text().splitlines()]


def collected(name: str) -> StepCollector:
    collector = StepCollector()
    for event in events(name):
        collector.on_event(event)
    return collector


def risk_table(steps):
    return [(r.op, r.name, r.tier, r.kind, r.protected) for r in data_loss_risks(steps)]


E2_RISKS = [("replace", "node-data", "node", "volume", True),
            ("replace", "secrets-admin-token", "vault", "secret", True),
            ("delete", "keys-seal", "vault", "key", True)]


def test_the_json_preview_and_the_event_stream_give_the_same_risks():
    from_json = digest("e2_aws_show_sames.json")
    from_events = collected("preview_e2_aws.jsonl").steps
    assert risk_table(from_json) == risk_table(from_events) == E2_RISKS


def test_a_replace_is_one_change_whichever_steps_report_it():
    """The event stream sends create-replacement, replace and delete-replaced; the JSON only replace."""
    ops = {c.name: c.op for c in changes(collected("preview_e2_aws.jsonl").steps)}
    assert ops["node-data"] == ops["firewall-node"] == "replace"
    assert [c.op for c in changes(digest("e2_aws_show_sames.json"))] == [
        c.op for c in changes(collected("preview_e2_aws.jsonl").steps)]


def test_stateless_replaces_and_deletes_and_protected_updates_are_not_risks():
    names = {r.name for r in data_loss_risks(collected("preview_e2_aws.jsonl").steps)}
    assert "firewall-node" not in names  # a security group: replaced, nothing lost
    assert "firewall-node-from-internet-80" not in names  # a rule: deleted, nothing lost
    assert "node-instance" not in names  # protected, but updated in place


def test_tiers_come_from_the_nearest_component_in_the_preview():
    tiers = {c.name: c.tier for c in changes(collected("preview_e2_aws.jsonl").steps)}
    assert tiers["node-instance"] == "node" and tiers["keys-seal"] == "vault"
    assert tiers["firewall-node"] == "network" and tiers["aws-us-east-1"] is None  # a provider


def test_without_sames_the_json_preview_still_gates_but_cannot_name_tiers():
    steps = digest("e2_aws.json")  # what `pulumi preview --json` prints by default
    assert [(op, name, tier) for op, name, tier, _, _ in risk_table(steps)] == [
        ("replace", "node-data", None), ("replace", "secrets-admin-token", None), ("delete", "keys-seal", None)]
    assert "(tier unknown: its component is not in this preview" in "\n".join(preview_lines(steps))


def test_the_gate_refuses_naming_each_resource_its_tier_and_the_migration_step():
    with pytest.raises(DataLossRefused) as info:
        gate("up", collected("preview_e2_aws.jsonl").steps, allow_data_loss=False)
    refusal = info.value
    assert isinstance(refusal, UserError) and refusal.exit_code == 2
    lines = refusal.lines()
    assert len(lines) == 4
    assert lines[0].startswith("refusing to up: it would replace node-data (tier node, aws:ebs/volume:Volume; "
                               "holds volume, protected): first copy the volume's files")
    assert "pulumi state unprotect 'urn:pulumi:e2-aws::reactor-infra::reactor-infra:aws:Node$aws:ebs/volume:Volume" \
           "::node-data'" in lines[0]
    assert lines[1].startswith("refusing to up: it would replace secrets-admin-token (tier vault, "
                               "random:index/randomPassword:RandomPassword; holds secret, protected): first keep "
                               "the old value")
    assert lines[2].startswith("refusing to up: it would delete keys-seal (tier vault, aws:kms/key:Key; holds key, "
                               "protected): first decrypt or re-encrypt what the key protects")
    assert lines[3] == ("up would lose data in node-data (node), secrets-admin-token (vault), keys-seal (vault); "
                        f"move the data first, then add {ALLOW_FLAG}")


def test_the_gate_lets_an_allowed_run_through_and_still_names_the_risks():
    risks = gate("up", collected("preview_e2_aws.jsonl").steps, allow_data_loss=True)
    assert [r.name for r in risks] == ["node-data", "secrets-admin-token", "keys-seal"]


def test_an_unprotected_stateless_resource_passes_without_the_flag():
    steps = [Step("replace", STACK + "reactor-infra:aws:Firewall$aws:ec2/securityGroup:SecurityGroup::sg",
                  old=State("aws:ec2/securityGroup:SecurityGroup"), new=State("aws:ec2/securityGroup:SecurityGroup"))]
    assert gate("up", steps, allow_data_loss=False) == []


@pytest.mark.parametrize("op", ["replace", "delete", "delete-replaced", "create-replacement"])
def test_every_op_that_removes_a_physical_resource_is_gated(op):
    volume = State("aws:ebs/volume:Volume")
    step = Step(op, STACK + "aws:ebs/volume:Volume::data", old=volume, new=None if "delete" in op else volume)
    assert [r.op for r in data_loss_risks([step])] == [op]


@pytest.mark.parametrize("op", ["create", "update", "same", "read", "refresh"])
def test_ops_that_keep_the_resource_are_not_gated(op):
    volume = State("aws:ebs/volume:Volume", protect=True)
    assert data_loss_risks([Step(op, STACK + "aws:ebs/volume:Volume::data", old=volume, new=volume)]) == []


def test_a_protected_resource_of_any_type_is_gated_on_delete():
    vpc = State("aws:ec2/vpc:Vpc", protect=True)
    (risk,) = data_loss_risks([Step("delete", STACK + "aws:ec2/vpc:Vpc::network-vpc", old=vpc)])
    assert (risk.name, risk.kind, risk.protected, risk.migration) == ("network-vpc", None, True, None)
    assert risk.line() == ("delete network-vpc (tier ?, aws:ec2/vpc:Vpc; protected); the engine also refuses until "
                           "it is unprotected: pulumi state unprotect 'urn:pulumi:e2-aws::reactor-infra::"
                           "aws:ec2/vpc:Vpc::network-vpc'")


def test_protection_is_read_from_the_old_state_only():
    """A create cannot lose anything even when the new resource will be protected."""
    step = Step("delete", STACK + "aws:ec2/vpc:Vpc::v", old=State("aws:ec2/vpc:Vpc"), new=None)
    assert data_loss_risks([step]) == []


def test_destroy_gates_every_stateful_or_protected_resource():
    steps = collected("preview_destroy_e2_aws.jsonl").steps
    names = [r.name for r in data_loss_risks(steps)]
    assert names == ["secrets-openbao-token-parameter", "node-instance", "node-data", "keys-seal",
                     "secrets-admin-token"]  # the first two are protected, the others hold state
    with pytest.raises(DataLossRefused, match=r"^refusing to destroy: it would delete"):
        gate("destroy", steps, allow_data_loss=False)


def test_a_refresh_that_finds_a_volume_gone_asks_before_the_state_forgets_it():
    collector = collected("preview_refresh_e2_aws.jsonl")
    assert {s.name: s.op for s in collector.steps} == {
        "node-instance": "update", "node-data": "delete", "firewall-node": "same"}
    with pytest.raises(DataLossRefused) as info:
        gate("refresh", collector.steps, allow_data_loss=False)
    assert info.value.lines()[0] == (
        "refusing to refresh: it would drop node-data (tier ?, aws:ebs/volume:Volume; holds volume, protected) "
        "from the state: it is gone from the cloud; find its snapshots or backups while the state still names it")


def test_the_preview_text_puts_risks_first_then_changes_by_tier_then_counts():
    text = preview_lines(collected("preview_e2_aws.jsonl").steps)
    assert text[0] == "Data-loss risks (3): these replace or delete state"
    assert [line for line in text if line and not line.startswith(" ")][1:] == [
        "network", "node", "vault", "Changes: 1 to create, 1 to update, 3 to replace, 2 to delete, 5 unchanged"]
    node = text[text.index("node") + 1: text.index("vault") - 1]
    assert [line.split()[:2] for line in node] == [["~", "update"], ["+-", "replace"]]
    assert node[1].endswith("node-data  [protected]  [availabilityZone]")


def test_the_preview_text_never_shows_input_values():
    text = "\n".join(preview_lines(collected("preview_e2_aws.jsonl").steps))
    assert "/e2-aws/openbao-token" not in text and "m7i.xlarge" not in text and "[secret]" not in text
    assert "ciphertext" not in text


def test_has_changes():
    assert has_changes(collected("preview_e2_aws.jsonl").steps)
    same = Step("same", STACK + "aws:ec2/vpc:Vpc::v", old=State("aws:ec2/vpc:Vpc"), new=State("aws:ec2/vpc:Vpc"))
    assert not has_changes([same])
    assert not has_changes([])


def test_the_collector_keeps_the_engine_counts_and_error_diagnostics():
    collector = collected("preview_e2_aws.jsonl")
    assert collector.change_summary == {"same": 6, "update": 1, "replace": 3, "create": 1, "delete": 2}
    assert collector.errors == []


def test_the_gate_and_the_pr_diff_agree_on_what_regenerates():
    """Caddy's certificate volumes are made again at start: the diff notes them, and `up` must not
    refuse them either; a Postgres volume beside them is still a risk."""
    base = "urn:pulumi:e4-local::reactor-infra::reactor-infra:local:Service$docker:index/volume:Volume::"
    volume = State("docker:index/volume:Volume")
    steps = [Step("delete", base + "infra-caddy-data", old=volume), Step("delete", base + "database-postgres-data",
                                                                         old=volume)]
    assert [r.name for r in data_loss_risks(steps)] == ["database-postgres-data"]
    protected = State("docker:index/volume:Volume", protect=True)
    assert [r.name for r in data_loss_risks([Step("delete", base + "infra-caddy-data", old=protected)])] == [
        "infra-caddy-data"]  # the engine refuses a protected one whatever it holds
