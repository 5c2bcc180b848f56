"""`diff --from-preview`: the report from what `pulumi preview --json` prints.

The fixtures are in the exact PreviewDigest shape of pulumi/pulumi (sdk/pkg/display/json.go,
written by pkg/backend/display/json.go with 4-space indents): `same` steps (--show-sames), the
root stack step, "[secret]" values, the unknown sentinel, `pendingReplacement`, the
--show-replacement-steps trio, a component left out, error diagnostics and a changeSummary.
"""

from __future__ import annotations

import json

import pytest
from diffkit import FIXTURES, run_cli

from reactor_infra.diff import Op
from reactor_infra.diff_report import json_report, markdown_report, text_report
from reactor_infra.errors import UserError
from reactor_infra.preview import UNKNOWN_SENTINEL, diff_preview, path_parts

AWS = FIXTURES / "preview_o2_aws_to_e2.json"
LOCAL = FIXTURES / "preview_o2_local_pending.json"


def load(path):
    return diff_preview(path.read_text(encoding="utf-8"), path.name)


def test_the_fixtures_have_pulumis_exact_top_level_shape():
    for path in (AWS, LOCAL):
        doc = json.loads(path.read_text())
        assert list(doc) == ["config", "steps", "diagnostics", "duration", "changeSummary"]
        for step in doc["steps"]:
            assert list(step)[:2] == ["op", "urn"] and "detailedDiff" in step
            for key in ("oldState", "newState"):
                if key in step:
                    assert {"urn", "custom", "type"} <= set(step[key])


def test_ops_are_counted_as_pulumi_counts_them_without_the_stack_resource():
    d = load(AWS)
    summary = json.loads(AWS.read_text())["changeSummary"]
    assert d.counts == {op: summary.get(op, 0) for op in ("create", "update", "replace", "delete")}
    assert d.unchanged == summary["same"] - 1  # the root stack is not a resource of a tier
    assert d.stack == "o2-aws" and d.after == "E2@aws"


def test_changes_are_grouped_by_the_tier_of_their_component():
    d = load(AWS)
    assert {tier: sorted(c.name for c in cs) for tier, cs in d.by_tier().items()} == {
        "network": ["firewall-node-from-internet-8080"],
        "node": ["node-data", "node-instance"],
        "vault": ["keys-data", "secrets-database-password-parameter"],
    }


def test_a_replace_names_its_reasons_and_the_unknown_sentinel_reads_unknown():
    d = load(AWS)
    volume = next(c for c in d.changes if c.name == "node-data")
    assert volume.op is Op.REPLACE and volume.replace_reasons == ("kmsKeyId",)
    kms = next(i for i in volume.inputs if i.path == "kmsKeyId")
    assert (kms.old, kms.new, kms.kind, kms.replaces) == (None, "[unknown]", "add", True)
    tag = next(i for i in volume.inputs if i.path == 'tags["reactor:token"]')
    assert (tag.old, tag.new, tag.replaces) == ("O2@aws", "E2@aws", False)
    assert UNKNOWN_SENTINEL not in text_report([d]) + markdown_report([d]) + json_report([d])


def test_replacing_a_stateful_resource_is_a_data_loss_risk_with_its_step():
    d = load(AWS)
    assert [(r.resource, r.kind) for r in d.risks] == [("node-data", "volume")]
    assert "copy the volume" in d.risks[0].step


def test_secrets_read_secret_on_both_sides_in_every_format():
    d = load(AWS)
    param = next(c for c in d.changes if c.name == "secrets-database-password-parameter")
    value = next(i for i in param.inputs if i.path == "value")
    assert (value.old, value.new) == ("[secret]", "[secret]")


def test_a_raw_secret_object_is_masked_even_with_its_plaintext(tmp_path):
    doc = json.loads(AWS.read_text())
    step = next(s for s in doc["steps"] if s["urn"].endswith("::secrets-database-password-parameter"))
    plain = "p4ssw0rd-from-show-secrets"
    step["newState"]["inputs"]["value"] = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
                                           "plaintext": json.dumps(plain)}
    d = diff_preview(json.dumps(doc))
    for report in (text_report([d]), markdown_report([d]), json_report([d])):
        assert plain not in report


def test_replacement_steps_collapse_into_one_replace_per_resource():
    d = load(LOCAL)
    assert d.counts == {"create": 0, "update": 0, "replace": 3, "delete": 1}
    container = next(c for c in d.changes if c.name == "node-postgres-container")
    assert container.replace_reasons == ("image",)
    assert [(i.path, i.old, i.new, i.replaces) for i in container.inputs] == [
        ("image", "postgres:16", "postgres:17", True)]


def test_pending_replacement_says_the_data_is_already_gone():
    d = load(LOCAL)
    pending = [r for r in d.risks if "pendingReplacement" in r.what]
    assert [r.resource for r in pending] == ["node-postgres-data"]
    assert sum(r.resource == "node-postgres-data" for r in d.risks) == 1  # said once
    volume = next(c for c in d.changes if c.name == "node-postgres-data")
    assert any("already deleted" in n for n in volume.notes)


def test_a_resource_whose_component_is_left_out_has_no_tier_and_the_report_says_how_to_fix_it():
    d = load(LOCAL)
    assert next(c for c in d.changes if c.name == "node-openbao-data").tier is None
    assert any("--show-sames" in n for n in d.notes)


def test_error_diagnostics_are_reported_as_notes():
    d = load(LOCAL)
    assert any(n.startswith("preview error:") and "marked for protection" in n for n in d.notes)


def test_the_diagram_comes_from_the_stacks_config():
    d = load(AWS)
    assert d.topology and [t["name"] for t in d.topology["tiers"]] == ["node"]
    assert "```mermaid" in markdown_report([d])


def test_property_paths_parse_like_pulumis():
    assert path_parts('tags["reactor:token"]') == ["tags", "reactor:token"]
    assert path_parts("ingress[0].cidrBlocks[1]") == ["ingress", 0, "cidrBlocks", 1]


@pytest.mark.parametrize("text, words", [
    ("", "empty"),
    ("Previewing update (o2-aws)", "not JSON"),
    ('{"sequence": 0, "timestamp": 1}\n{"sequence": 1, "timestamp": 2}', "streamed engine events"),
    ("[1, 2]", "not a preview digest"),
    ('{"steps": [{"op": "create", "urn": "not-a-urn"}]}', "not a Pulumi URN"),
])
def test_input_that_is_not_a_preview_digest_is_one_clear_user_error(text, words):
    with pytest.raises(UserError, match=words):
        diff_preview(text)


def test_the_cli_reads_a_preview_from_stdin_and_fails_bad_input_with_one_line():
    ok = run_cli("diff", "--from-preview", "-", "--format", "json", stdin=AWS.read_text())
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["totals"]["replace"] == 1
    bad = run_cli("diff", "--from-preview", "-", stdin="not json")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "Traceback" not in bad.stderr and "not JSON" in bad.stderr
