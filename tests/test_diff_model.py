"""The diff model on small hand-made renders (the render contract of DESIGN §5): matching by URN,
the replace table, secrets, renames, ignore_changes and options."""

from __future__ import annotations

import json

import pytest

from reactor_infra.diff import Op, diff_renders
from reactor_infra.diff_report import json_report, markdown_report, text_report
from reactor_infra.replaces import REPLACE_ON_CHANGE, forcing

PLAIN_PASSWORD = "hunter2-correct-horse-battery"


def res(name: str, type_: str, inputs: dict, tier: str = "database", **extra) -> dict:
    chain = f"reactor-infra:local:Service${type_}"
    return {"urn": f"urn:pulumi:acme::reactor-infra::{chain}::{name}", "type": type_, "name": name,
            "parent": None, "component": tier, "custom": True, "inputs": inputs, "dependencies": [],
            "protect": False, "secret_inputs": [], **extra}


def render(*resources: dict, stack: str = "acme") -> dict:
    return {"topology": "E3@local", "stack": stack, "resources": list(resources), "outputs": {}}


def diff(old: list[dict], new: list[dict], **kw):
    return diff_renders(render(*old), render(*new), stack="acme", before="a", after="b", **kw)


CONTAINER = "docker:index/container:Container"
VOLUME = "docker:index/volume:Volume"
INSTANCE = "aws:ec2/instance:Instance"


def test_a_changed_image_replaces_a_container_and_a_changed_memory_limit_updates_it():
    base = {"image": "postgres:16", "memory": 512, "name": "acme-db"}
    d = diff([res("db", CONTAINER, base)], [res("db", CONTAINER, dict(base, image="postgres:17"))])
    assert [(c.op, c.replace_reasons) for c in d.changes] == [(Op.REPLACE, ("image",))]
    d = diff([res("db", CONTAINER, base)], [res("db", CONTAINER, dict(base, memory=1024))])
    assert [(c.op, c.inputs[0].path, c.inputs[0].old, c.inputs[0].new) for c in d.changes] == [
        (Op.UPDATE, "memory", 512, 1024)]


def test_nested_paths_match_the_table_and_list_indices_are_ignored():
    assert forcing(INSTANCE, ["rootBlockDevice.kmsKeyId", "rootBlockDevice.volumeSize"]) == ["rootBlockDevice.kmsKeyId"]
    assert forcing(CONTAINER, ["ports[0].external", "healthcheck.interval"]) == ["ports[0].external"]
    assert forcing(INSTANCE, ["rootBlockDevice"]) == ["rootBlockDevice"]  # a whole object covers its rows


def test_user_data_replaces_an_instance_only_with_user_data_replace_on_change():
    assert forcing(INSTANCE, ["userData"], {"userData": "x"}) == []
    assert forcing(INSTANCE, ["userData"], {"userData": "x", "userDataReplaceOnChange": True}) == ["userData"]


def test_the_programs_replace_on_changes_option_is_honoured():
    assert forcing("aws:ec2/vpc:Vpc", ["enableDnsSupport"]) == []
    assert forcing("aws:ec2/vpc:Vpc", ["enableDnsSupport"], replace_on_changes=["enableDnsSupport"]) == [
        "enableDnsSupport"]
    d = diff([res("v", "aws:ec2/vpc:Vpc", {"enableDnsSupport": True})],
             [res("v", "aws:ec2/vpc:Vpc", {"enableDnsSupport": False}, replace_on_changes=["*"])])
    assert d.changes[0].op is Op.REPLACE


def test_every_row_of_the_replace_table_names_its_source():
    assert all(rule.source for rule in REPLACE_ON_CHANGE.values())


def test_a_type_without_a_row_is_an_update_that_says_it_may_replace():
    d = diff([res("x", "gcp:compute/instance:Instance", {"machineType": "e2-small"})],
             [res("x", "gcp:compute/instance:Instance", {"machineType": "e2-medium"})])
    (c,) = d.changes
    assert c.op is Op.UPDATE and not c.replace_known
    assert any("a real preview decides" in n for n in c.notes)
    assert "may replace" in text_report([d])


def test_ignore_changes_paths_are_not_applied():
    old = res("node", INSTANCE, {"ami": "ami-1", "instanceType": "t3.small"}, ignore_changes=["ami"])
    new = res("node", INSTANCE, {"ami": "ami-2", "instanceType": "t3.small"}, ignore_changes=["ami"])
    (c,) = diff([old], [new]).changes
    assert c.op is Op.UPDATE and c.inputs == () and any("ignore_changes" in n and "ami" in n for n in c.notes)


def test_protect_alone_is_an_options_only_update():
    (c,) = diff([res("v", VOLUME, {"name": "v"})], [res("v", VOLUME, {"name": "v"}, protect=True)]).changes
    assert c.op is Op.UPDATE and any("protect: False → True" in n for n in c.notes)


def test_dependencies_alone_are_not_a_change():
    d = diff([res("v", VOLUME, {"name": "v"})], [res("v", VOLUME, {"name": "v"}, dependencies=["urn:x"])])
    assert d.empty and d.unchanged == 1


def test_a_renamed_logical_name_is_a_delete_and_a_create_called_out_as_a_rename():
    old = res("database-data", VOLUME, {"name": "acme-database-data"})
    new = res("database-pgdata", VOLUME, {"name": "acme-database-pgdata"})
    d = diff([old], [new])
    assert sorted(c.op.value for c in d.changes) == ["create", "delete"]
    assert [(r.old_name, r.new_name) for r in d.renames] == [("database-data", "database-pgdata")]
    assert "renamed? database-data → database-pgdata" in text_report([d])
    assert "aliases" in markdown_report([d])
    assert any(r.resource == "database-data" for r in d.risks)  # and the old volume's data goes


def test_a_delete_and_a_create_in_different_tiers_are_no_rename():
    d = diff([res("infra-caddy-data", VOLUME, {"name": "acme-infra-caddy-data"}, tier="infra")],
             [res("edge-caddy-data", VOLUME, {"name": "acme-edge-caddy-data"}, tier="edge")])
    assert d.renames == ()


def test_resources_match_across_two_stack_names_and_the_report_says_so():
    old = render(res("v", VOLUME, {"name": "v"}), stack="acme")
    new = render(res("v", VOLUME, {"name": "v"}) | {"urn": "urn:pulumi:other::reactor-infra::"
                                                         f"reactor-infra:local:Service${VOLUME}::v"}, stack="other")
    d = diff_renders(old, new, stack="acme", before="a", after="b")
    assert d.empty and any("different stacks" in n for n in d.notes)


def test_a_stack_that_is_added_is_all_creates_and_one_that_is_removed_all_deletes():
    added = diff_renders(None, render(res("v", VOLUME, {"name": "v"})), stack="acme", before="a", after="b")
    removed = diff_renders(render(res("v", VOLUME, {"name": "v"})), None, stack="acme", before="a", after="b")
    assert [c.op for c in added.changes] == [Op.CREATE] and added.risks == ()
    assert [c.op for c in removed.changes] == [Op.DELETE] and removed.risks[0].resource == "v"


@pytest.fixture
def secret_leak():
    """A password that was secret and is plain on the new side (someone unwrapped it)."""
    old = res("db", CONTAINER, {"envs": ["POSTGRES_PASSWORD=[secret]"], "password": "[secret]"},
              secret_inputs=["password"])
    new = res("db", CONTAINER, {"envs": [f"POSTGRES_PASSWORD={PLAIN_PASSWORD}"], "password": PLAIN_PASSWORD})
    return diff([old], [new])


def test_a_value_that_was_secret_on_either_side_is_masked_on_both(secret_leak):
    (c,) = secret_leak.changes
    assert {(i.path, i.old, i.new) for i in c.inputs} == {("envs[0]", "[secret]", "[secret]"),
                                                          ("password", "[secret]", "[secret]")}


def test_secrets_stay_masked_in_every_format(secret_leak):
    for report in (text_report([secret_leak]), markdown_report([secret_leak]), json_report([secret_leak])):
        assert PLAIN_PASSWORD not in report
    assert json.loads(json_report([secret_leak]))["stacks"][0]["changes"][0]["inputs"][0]["new"] == "[secret]"


def test_two_long_texts_show_where_they_differ():
    from reactor_infra.diff_report import show_pair

    head = '{"Statement": [' + '{"Sid": "Same", "Effect": "Allow"}, ' * 5
    old, new = show_pair(head + '{"Sid": "Old"}]}', head + '{"Sid": "New"}]}')
    assert '"Old"' in old and '"New"' in new and old.startswith("…")
