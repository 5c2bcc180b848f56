"""`reactor-infra diff A B` on offline renders: ops, tiers and data-loss risks, read as a spec.

The issue's AWS examples need sizes the aws platform is still growing into: those tests skip,
saying why, only while `load("aws").unsupported(...)` reports the size; the same behaviours run
today on @local tokens. Assertions are about behaviour (ops, tiers, risks), never exact URNs.
"""

from __future__ import annotations

from pathlib import Path

from diffkit import offline, skip_unless_built

from reactor_infra.cli_diff import diff_pair
from reactor_infra.diff import Op
from reactor_infra.resource_kinds import StateKind


def _tiers(topology) -> set[str]:
    return {t["name"] for t in (topology or {}).get("tiers", [])}


def _assert_new_edge_tier_and_no_risk(a: str, b: str) -> None:
    d = offline(a, b)
    assert "edge" not in _tiers(d.old_topology) and "edge" in _tiers(d.topology)
    edge = d.by_tier()["edge"]
    assert edge and all(c.op is Op.CREATE for c in edge)
    assert d.risks == ()


def _assert_postgres_leaves_the_node(a: str, b: str) -> None:
    d = offline(a, b)
    moves = [r for r in d.risks if r.kind == StateKind.DATABASE and "Postgres" in r.what]
    assert len(moves) == 1, d.risks
    assert "node" in moves[0].what and "pg_dump" in moves[0].step and "restore" in moves[0].step
    # the list leads with it: moves the Plan makes come before resource-level risks
    assert d.risks[0] is moves[0]


# --- the examples on aws ---------------------------------------------------------------

def test_e4_to_e5_on_aws_shows_the_new_edge_tier_and_no_data_loss_risk():
    skip_unless_built("E4@aws", "E5@aws")
    _assert_new_edge_tier_and_no_risk("E4@aws", "E5@aws")


def test_o2_to_o3_on_aws_flags_postgres_leaving_the_node_with_the_migration_hint():
    skip_unless_built("O2@aws", "O3@aws")
    _assert_postgres_leaves_the_node("O2@aws", "O3@aws")


def test_e5_to_e5_ha_on_aws_shows_the_database_change_and_whether_it_replaces():
    skip_unless_built("E5@aws", "E5+ha@aws")
    d = offline("E5@aws", "E5+ha@aws")
    database = d.by_tier().get("database", [])
    assert database, "the standby must show as a change of the database tier"
    for c in database:
        assert c.op in (Op.CREATE, Op.UPDATE, Op.REPLACE)
        if c.op is Op.REPLACE:  # a replace always says which inputs force it, and a stateful one is a risk
            assert c.replace_reasons
            assert not c.stateful or any(r.resource == c.name for r in d.risks)


# --- the same behaviours on @local, which builds every size today ------------------------------

def test_e4_to_e5_on_local_shows_the_new_edge_tier_and_no_data_loss_risk():
    _assert_new_edge_tier_and_no_risk("E4@local", "E5@local")


def test_e4_to_e5_on_local_keeps_every_data_volume_of_the_stack():
    d = offline("E4@local", "E5@local")
    touched = {c.name for c in d.changes if c.op in (Op.REPLACE, Op.DELETE)}
    assert not {"database-postgres-data", "infra-nats-data", "infra-openbao-data", "app-reactor-server-data"} & touched


def test_e4_to_e5_on_local_says_the_caddy_volumes_regenerate_and_are_protected():
    d = offline("E4@local", "E5@local")
    assert any("infra-caddy-data" in n and "Caddy" in n for n in d.notes)
    assert any("infra-caddy-data is protected" in n for n in d.notes)


def test_o2_to_o3_on_local_flags_postgres_leaving_the_node_with_the_migration_hint():
    _assert_postgres_leaves_the_node("O2@local", "O3@local")


def test_o2_to_o3_on_local_lists_the_deleted_data_volumes_as_risks():
    d = offline("O2@local", "O3@local")
    deleted = {r.resource for r in d.risks if r.resource}
    assert {"node-postgres-data", "node-openbao-data", "node-reactor-server-data"} <= deleted
    assert all(r.step for r in d.risks)
    assert not any(r.resource and "caddy" in r.resource for r in d.risks)  # certificates regenerate


def test_o2_to_o3_on_local_says_the_vault_and_the_files_move():
    d = offline("O2@local", "O3@local")
    whats = " | ".join(r.what for r in d.risks)
    assert "embedded vault" in whats and ".reactor/" in whats
    assert any("re-seed" in r.step for r in d.risks)


def _stack(directory: Path, token: str, postgres: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "Pulumi.acme.yaml"
    path.write_text(f"config:\n  reactor-infra:token: {token}\n  reactor-infra:images:\n"
                    f"    postgres: {postgres}\n", encoding="utf-8")
    return path


def test_a_new_postgres_image_replaces_the_database_container_but_keeps_its_volume(tmp_path):
    (d,) = diff_pair(str(_stack(tmp_path / "a", "E3@local", "postgres:16")),
                     str(_stack(tmp_path / "b", "E3@local", "postgres:17")))
    database = {c.name: c for c in d.by_tier()["database"]}
    container = database["database-postgres-container"]
    assert container.op is Op.REPLACE and container.replace_reasons == ("image",)
    assert [(i.path, i.old, i.new, i.replaces) for i in container.inputs] == [
        ("image", "postgres:16", "postgres:17", True)]
    assert "database-postgres-data" not in database
    assert d.risks == ()


def test_the_same_token_twice_is_an_empty_diff():
    d = offline("O2@local", "O2@local")
    assert d.empty and d.changes == () and d.risks == () and d.unchanged > 20


def test_a_token_beside_a_stack_file_is_rendered_with_that_file_and_its_stack(tmp_path):
    (d,) = diff_pair(str(_stack(tmp_path, "E4@local", "postgres:16")), "E5@local")
    assert d.stack == "acme"
    assert "edge" in d.changed_tiers and d.risks == ()


def test_the_generated_secrets_of_a_real_render_appear_in_no_format():
    from reactor_infra.diff_report import json_report, markdown_report, text_report
    from reactor_infra.render import render

    graph = render("E2@aws", stack="o2-aws")  # the new side of O2@aws -> E2@aws, as `diff` renders it
    values = {str(v) for r in graph.resources if r.type.startswith(("random:", "aws:ssm/parameter"))
              for k, v in graph.outputs_of(r.urn).items() if k in ("result", "hex", "b64Std", "value")}
    values.discard("set-after-openbao-init")  # a placeholder, not a secret
    assert len(values) >= 6
    d = offline("O2@aws", "E2@aws")
    assert "secrets-database-password-parameter" in {c.name for c in d.changes}  # secret-bearing, and changed
    for report in (text_report([d]), markdown_report([d]), json_report([d])):
        assert not [v for v in values if v in report]
