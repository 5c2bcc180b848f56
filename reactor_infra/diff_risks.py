"""Data-loss risks of a diff, each with the step that avoids the loss.

Two kinds:
- a resource that holds state (`resource_kinds`: databases, volumes, buckets, keys, generated
  secrets) is replaced or deleted;
- the Plan moves state between tiers (Postgres leaves the node, OpenBao or NATS move, the
  runtime's files stay behind): the ladder's migration steps of the runtime reference §4
  (dump/restore, copy blobs, re-seed secrets). Only an offline diff knows both Plans.

Some stateful resources hold nothing that cannot be made again; those are said as notes, not
risks (`resource_kinds.regenerates`, the same rule the `up` gate uses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .diff import Change, Op, Risk
from .resource_kinds import MIGRATION_STEPS, StateKind, migration_step, regenerates

HOLDS = {
    StateKind.DATABASE.value: "its data is lost",
    StateKind.VOLUME.value: "the files on it are lost",
    StateKind.BUCKET.value: "every object in it is lost",
    StateKind.KEY.value: "what it encrypted can no longer be decrypted",
    StateKind.SECRET.value: "its value changes, orphaning what was encrypted or signed with it",
}
STEP_OPENBAO_MOVE = ("take a raft snapshot (bao operator raft snapshot save), restore it on the new "
                     "OpenBao (bao operator raft snapshot restore), then unseal")
STEP_RESEED = ("re-seed the runtime's secrets into the new vault before switching (runtime reference §4 "
               "step 2): project secrets set through /_admin/vault do not move by themselves")
STEP_NATS = ("drain publishers and let consumers finish, or back up each JetStream stream "
             "(nats stream backup) and restore it on the new tier")
STEP_FILES = ("copy .reactor/ (blobs, functions, sites, and the embedded vault's directory and master key) "
              "to the new tier before the old one is deleted (runtime reference §4 step 2)")
STEP_FILES_TO_S3 = ("copy .reactor/ blobs, functions and sites into the bucket (aws s3 sync or the "
                    "platform's tool) before switching storage to s3 (runtime reference §4 step 2)")


def resource_risks(changes: list[Change] | tuple[Change, ...]) -> tuple[list[Risk], list[str]]:
    """Risks of replacing or deleting stateful resources, and notes for those that regenerate
    or are blocked by `protect`."""
    risks: list[Risk] = []
    notes: list[str] = []
    for c in changes:
        if c.op not in (Op.REPLACE, Op.DELETE):
            continue
        if c.protect:
            notes.append(f"{c.name} is protected: pulumi up refuses to {c.op.value} it until `protect` is lifted")
        if not c.stateful:
            continue
        why = regenerates(c.type, c.name)
        if why:
            notes.append(f"{c.name} is {'deleted' if c.op is Op.DELETE else 'replaced'}; it holds {why}")
            continue
        reasons = f" ({', '.join(c.replace_reasons)})" if c.replace_reasons else ""
        verb = "is deleted" if c.op is Op.DELETE else f"is replaced{reasons}"
        risks.append(Risk(what=f"{c.name} ({c.type}) {verb}: {HOLDS.get(c.stateful, 'what it holds is lost')}",
                          step=migration_step(c.type) or "", kind=c.stateful, tier=c.tier, resource=c.name,
                          urn=c.urn, protected=c.protect))
    return risks, notes


def _where(summary: Mapping[str, Any], service: str) -> str | None:
    for tier in summary.get("tiers") or ():
        if service in (tier.get("services") or ()):
            return str(tier["name"])
    return None


def _postgres(summary: Mapping[str, Any]) -> str | None:
    where = _where(summary, "postgres")
    if where:
        return f"the {where} tier"
    if summary.get("database") == "managed":
        return "the managed database"
    return None


def plan_risks(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> list[Risk]:
    """State the Plan moves between the two sides (both plan summaries are needed)."""
    if not old or not new:
        return []
    risks: list[Risk] = []
    db_step = MIGRATION_STEPS[StateKind.DATABASE]
    a, b = _postgres(old), _postgres(new)
    if a and b and a != b:
        risks.append(Risk(what=f"Postgres leaves {a} for {b}: the data does not move by itself",
                          step=db_step, kind=StateKind.DATABASE.value, tier="database"))
    a, b = _where(old, "openbao"), _where(new, "openbao")
    if a and b and a != b:
        risks.append(Risk(what=f"OpenBao moves from the {a} tier to the {b} tier: its raft storage stays behind",
                          step=STEP_OPENBAO_MOVE, kind=StateKind.VOLUME.value, tier=b))
    elif (old.get("vault"), new.get("vault")) != (None, None) and old.get("vault") != new.get("vault"):
        risks.append(Risk(what=f"the runtime's vault changes from {_vault(old)} to {_vault(new)}",
                          step=STEP_RESEED, kind=StateKind.SECRET.value, tier=b or a))
    a, b = _where(old, "nats"), _where(new, "nats")
    if a and b and a != b:
        risks.append(Risk(what=f"NATS moves from the {a} tier to the {b} tier: JetStream's store stays behind",
                          step=STEP_NATS, kind=StateKind.VOLUME.value, tier=b))
    if old.get("storage") == "fs":
        a, b = _where(old, "reactor-server"), _where(new, "reactor-server")
        if new.get("storage") == "s3":
            risks.append(Risk(what="storage moves from files on the app node (fs) to a bucket (s3)",
                              step=STEP_FILES_TO_S3, kind=StateKind.BUCKET.value, tier="storage"))
        elif a and b and a != b:
            risks.append(Risk(what=f"reactor-server moves from the {a} tier to the {b} tier: its files "
                                   "(.reactor/) stay behind", step=STEP_FILES, kind=StateKind.VOLUME.value, tier=b))
    return risks


def _vault(summary: Mapping[str, Any]) -> str:
    mode = summary.get("vault")
    where = _where(summary, "openbao")
    if mode == "openbao" and where:
        return f"OpenBao on the {where} tier"
    return {"embedded": "the embedded vault", "env": "platform-injected REACTOR_* secrets"}.get(str(mode), str(mode))
