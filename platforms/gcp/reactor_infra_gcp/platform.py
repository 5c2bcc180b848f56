"""GcpPlatform: every `@gcp` token, sizes 2 to 10 with +ha, +mr and +as (see README.md).

`deploy` hands the Plan to the recipe (`recipe.Recipe`), which walks its regions and tiers;
this class holds what the core asks of a platform besides: mock answers for offline renders,
the doctor's credential check, the operators' way to the admin API, conformance readings.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import ClassVar

from reactor_infra.catalogue import ADMIN_PORT
from reactor_infra.layout import Plan
from reactor_infra.platforms import AdminAccess, Check, RecipePlatform

from . import mocks
from .naming import labels, secret_id
from .recipe import Recipe
from .settings import GcpSettings


class GcpPlatform(RecipePlatform):
    name: ClassVar[str] = "gcp"
    package: ClassVar[str] = "reactor-infra-gcp"
    settings_model: ClassVar[type[GcpSettings]] = GcpSettings
    recipe: ClassVar[type[Recipe]] = Recipe
    mocks: ClassVar = mocks

    def doctor(self) -> list[Check]:
        return [_credentials()]

    def admin_access(self, plan: Plan, local_port: int) -> AdminAccess:
        """SSH through IAP's TCP forwarding (signed in with OS Login; the firewall lets only IAP's
        range reach port 22) into a running machine of the app tier, forwarding a local port to
        its admin forwarder on the machine's loopback (ADMIN_PORT): the server sees loopback."""
        tier = plan.app_tier.name.value
        tags = labels(plan, tier)
        find = shlex.join(["gcloud", "compute", "instances", "list", "--filter",
                           f"labels.stack={tags['stack']} AND labels.tier={tags['tier']} AND status=RUNNING",
                           "--limit", "1", "--format", "value(name,zone.basename())"])
        forward = (f'gcloud compute ssh "$1" --zone "$2" --tunnel-through-iap -- -N -L '
                   f"{local_port}:127.0.0.1:{ADMIN_PORT}")
        script = (f"found=$({find}) || exit 1; set -- $found; [ -n \"${{1:-}}\" ] || {{ echo 'no running {tier} machine of stack "
                  f"{plan.stack} (label stack={tags['stack']})' >&2; exit 1; }}; exec {forward}")
        token_hint = shlex.join(["gcloud", "secrets", "versions", "access", "latest",
                                 "--secret", secret_id(plan, "admin-token")])
        needs = ("gcloud install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install); "
                 "you need roles/iap.tunnelResourceAccessor and roles/compute.osAdminLogin",)
        return AdminAccess(command=["sh", "-c", script], token_hint=token_hint, needs=needs)

    def conformance(self):
        from .conformance import GcpReadings

        return GcpReadings()


def _credentials() -> Check:
    """Where Google's client libraries would find credentials (never their values)."""
    if os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or os.environ.get("GOOGLE_CREDENTIALS"):
        return Check("gcp credentials", True, "from the environment")
    config = Path(os.environ["CLOUDSDK_CONFIG"]) if os.environ.get("CLOUDSDK_CONFIG") else Path.home() / ".config" / "gcloud"
    adc = config / "application_default_credentials.json"
    if adc.exists():
        return Check("gcp credentials", True, "application default credentials (gcloud auth application-default login)")
    return Check("gcp credentials", False,
                 "none found (gcloud auth application-default login, or GOOGLE_APPLICATION_CREDENTIALS)")
