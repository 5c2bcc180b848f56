"""Physical names and labels of one install, for every platform (DESIGN §4). Pure; no Pulumi.

Physical names come from the stack (the install), never from the token: many installs of one
token live side by side in one account. `physical_name` is `<prefix>-<tier>-<role>` where the
prefix is the stack's name made DNS-safe (or the stack's `name_prefix` setting), cut to the
cloud's limit with a short hash so two long names never collide. `global_name` is for names
that are unique across every account of the cloud (buckets): it adds a deterministic suffix
derived from the stack, the project and a scope the platform gives (its account, its region),
so the same install always gets the same name and two installs never do.
"""

from __future__ import annotations

import hashlib
import re

from .layout import Plan

NAME_MAX = 255
_UNSAFE = re.compile(r"[^a-z0-9-]+")


def _digest(*parts: str, length: int) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def dns_safe(text: str) -> str:
    """Lowercase letters, digits and single '-': `Acme_Prod.eu` -> `acme-prod-eu`."""
    return re.sub(r"-{2,}", "-", _UNSAFE.sub("-", text.lower())).strip("-") or "reactor"


def prefix(plan: Plan) -> str:
    return dns_safe(plan.name_prefix)


def cut(full: str, limit: int) -> str:
    """`full` if it fits, else cut to `limit` with 6 hex of its hash (stable, still distinct)."""
    if len(full) <= limit:
        return full
    return f"{full[: limit - 7].rstrip('-')}-{_digest(full, length=6)}"


def physical_name(plan: Plan, tier: str, role: str, limit: int = NAME_MAX) -> str:
    """`<prefix>-<tier>-<role>`, cut to `limit`."""
    return cut(f"{prefix(plan)}-{tier}-{role}", limit)


def global_name(plan: Plan, role: str, scope: str, limit: int = 63) -> str:
    """A name unique across the whole cloud: `<prefix>-<role>-<8 hex>`, the hex derived from the
    stack, the project and `scope` (e.g. the account id), so it is the same on every run."""
    suffix = _digest(plan.stack, plan.settings.project_name, scope, role, length=8)
    return f"{cut(f'{prefix(plan)}-{role}', limit - 9)}-{suffix}"


def labels(plan: Plan, tier: str | None = None) -> dict[str, str]:
    """What identifies a resource's install: stack, token (and tier), for tags and labels."""
    out = {"stack": plan.stack, "token": plan.topology.token}
    if tier:
        out["tier"] = str(tier)
    return out
