"""Names for the gcp platform: Google Cloud's name rules over the core's physical names, the
Secret Manager ids, the network tags firewall rules select machines by, and labels.

Compute Engine, Cloud SQL, Filestore and KMS names are RFC 1035 labels (lowercase letters,
digits, '-', starting with a letter, at most 63); service account ids 6-30 characters; label
values lowercase letters, digits, '_' and '-' (no '+' or '@' of a token).
"""

from __future__ import annotations

import re

from reactor_infra import naming
from reactor_infra.layout import Plan

NAME_MAX = 63
ACCOUNT_MAX = 30
FILESTORE_MAX = 63
LABEL_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def physical_name(plan: Plan, tier: str, role: str, limit: int = NAME_MAX) -> str:
    """`<stack>-<tier>-<role>`, cut to a GCP limit (never ending in '-')."""
    name = naming.physical_name(plan, tier, role, limit)
    return name if name[0].isalpha() else f"r{name[: limit - 1]}"


def account_id(plan: Plan, tier: str) -> str:
    """A service account id (6-30 characters): `<stack>-<tier>`, cut with a hash when long."""
    return naming.cut(f"{naming.prefix(plan)}-{tier}", ACCOUNT_MAX).ljust(6, "0")


def secret_id(plan: Plan, secret: str) -> str:
    """The Secret Manager secret that holds one plan secret: `<stack>-<secret>`."""
    return f"{naming.prefix(plan)}-{secret}"


def install_tag(plan: Plan) -> str:
    """The network tag every machine of the install wears (its egress rules select it)."""
    return naming.cut(naming.prefix(plan), NAME_MAX)


def tier_tag(plan: Plan, end: str) -> str:
    """The network tag of a tier's machines, or of the machines behind a load balancer or router
    (`load-balancer`, `vault-router`, `pool-router`): firewall rules name their targets by it."""
    return naming.cut(f"{naming.prefix(plan)}-{end}", NAME_MAX)


def labels(plan: Plan, tier: str | None = None) -> dict[str, str]:
    """Labels GCP accepts: the core's labels with each value made label-safe (`e5-ha-gcp`)."""
    return {k: LABEL_UNSAFE.sub("-", v.lower().replace("+", "-").replace("@", "-"))[:63]
            for k, v in naming.labels(plan, tier).items()}
