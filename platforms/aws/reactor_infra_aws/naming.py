"""Names for the aws platform: component type tokens, physical names, tags.

Physical names are deterministic (`<stack>-<tier>-<role>`), cut to each AWS limit, never
with random suffixes, so snapshots and diffs stay stable.
"""

from __future__ import annotations

import hashlib

from reactor_infra.plan import Plan


# AWS name length limits we meet.
IAM_ROLE_MAX = 64
INSTANCE_PROFILE_MAX = 128
SECURITY_GROUP_MAX = 255
NAME_TAG_MAX = 255
KMS_ALIAS_MAX = 256



def physical_name(plan: Plan, tier: str, role: str, limit: int = NAME_TAG_MAX) -> str:
    """`<stack>-<tier>-<role>`, cut to `limit`; a cut name ends in 6 hex of its full form's
    hash, so two long names that share a prefix stay distinct (and stay the same next run)."""
    full = f"{plan.stack_name}-{tier}-{role}"
    if len(full) <= limit:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:6]
    return f"{full[: limit - 7]}-{digest}"


def parameter_name(plan: Plan, secret: str) -> str:
    """The SSM parameter that holds one plan secret: `/<stack>/<secret>`."""
    return f"/{plan.stack_name}/{secret}"


def tags(plan: Plan, tier: str, name: str | None = None) -> dict[str, str]:
    """Tags on every taggable resource: stack, tier, token (and a Name where AWS shows one)."""
    t = {"reactor:stack": plan.stack_name, "reactor:tier": tier, "reactor:token": str(plan.topology)}
    if name:
        t["Name"] = name[:NAME_TAG_MAX]
    return t
