"""FlyPlatform: every `@fly` token, sizes 2 to 10 with +ha, +mr and +as (see README.md).

`deploy` hands the Plan to the recipe (`recipe.Recipe`), which walks its tiers; this class holds
what the core asks of a platform besides: mock answers for offline renders, the doctor's token
check, the operators' way to the admin API, and the settings model (`extras.fly`).
"""

from __future__ import annotations

import os
import shlex
from typing import ClassVar

from reactor_infra.errors import UserError
from reactor_infra.layout import REACTOR, Plan
from reactor_infra.platforms import AdminAccess, Check, RecipePlatform

from . import mocks, places
from .recipe import Recipe
from .settings import FlySettings


class FlyPlatform(RecipePlatform):
    name: ClassVar[str] = "fly"
    package: ClassVar[str] = "reactor-infra-fly"
    settings_model: ClassVar[type[FlySettings]] = FlySettings
    recipe: ClassVar[type[Recipe]] = Recipe
    mocks: ClassVar = mocks

    def conformance(self):
        from .conformance import FlyReadings

        return FlyReadings()

    def doctor(self) -> list[Check]:
        """The provider reads its token from FLY_MACHINES_APIKEY (or the stack config
        `fly-machines:apiKey`); flyctl's FLY_API_TOKEN alone does not reach it."""
        if os.environ.get("FLY_MACHINES_APIKEY"):
            return [Check("fly token", True, "FLY_MACHINES_APIKEY from the environment")]
        hint = "export FLY_MACHINES_APIKEY=\"$(fly tokens create org)\" (or pulumi config set --secret fly-machines:apiKey)"
        if os.environ.get("FLY_API_TOKEN"):
            return [Check("fly token", False, f"FLY_API_TOKEN is set, but the provider reads FLY_MACHINES_APIKEY: {hint}")]
        return [Check("fly token", False, f"none found: {hint}")]

    def admin_access(self, plan: Plan, local_port: int) -> AdminAccess:
        """A WireGuard proxy from here into one reactor-server machine is not loopback to it (the
        server refuses /_admin from any other peer); a shell inside the machine is. So the way in
        is `fly ssh console` into a reactor-server machine, where curl speaks to 127.0.0.1:8000
        with the token already in that machine's environment (it never leaves the machine)."""
        extras = self.extras(plan)
        assert isinstance(extras, FlySettings)
        tier = plan.app_tier
        app = places.app_name(plan, tier, extras.org)
        inside = (f'curl -fsS -H "Authorization: Bearer $REACTOR_ADMIN__TOKEN" '
                  f"http://127.0.0.1:{REACTOR}/_admin/version")
        command = shlex.join(["fly", "ssh", "console", "-a", app, "-C", f"sh -c {shlex.quote(inside)}"])
        raise UserError(f"@fly has no port forward to the admin API (a proxied peer is never loopback to "
                        f"reactor-server); run it inside a reactor-server machine instead: {command}")
