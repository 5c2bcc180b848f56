"""Names for the aws platform: AWS length limits over the core's physical names, SSM
parameter names, and the tags AWS shows.

The provider's `default_tags` carry what identifies the install (stack, token) on every
taggable resource; each resource adds only its tier and a Name.
"""

from __future__ import annotations

from reactor_infra import naming
from reactor_infra.layout import Plan

# AWS name length limits we meet.
IAM_ROLE_MAX = 64
INSTANCE_PROFILE_MAX = 128
SECURITY_GROUP_MAX = 255
NAME_TAG_MAX = 255
KMS_ALIAS_MAX = 256
TAG_PREFIX = "reactor:"


def physical_name(plan: Plan, tier: str, role: str, limit: int = NAME_TAG_MAX) -> str:
    """`<stack>-<tier>-<role>` cut to an AWS limit (naming.physical_name)."""
    return naming.physical_name(plan, tier, role, limit)


def parameter_name(plan: Plan, secret: str) -> str:
    """The SSM parameter that holds one plan secret: `/<stack>/<secret>`."""
    return f"/{naming.prefix(plan)}/{secret}"


def default_tags(plan: Plan) -> dict[str, str]:
    """The provider's default tags: every taggable resource of the install wears them."""
    return {f"{TAG_PREFIX}{k}": v for k, v in naming.labels(plan).items()}


def tags(plan: Plan, tier: str, name: str | None = None) -> dict[str, str]:
    """A resource's own tags: its tier and a Name where AWS shows one."""
    t = {f"{TAG_PREFIX}tier": str(tier)}
    if name:
        t["Name"] = name[:NAME_TAG_MAX]
    return t
