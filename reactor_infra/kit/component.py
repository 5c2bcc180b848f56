"""Component: the base of every platform ComponentResource.

Its type token names the platform and the class (`reactor-infra:aws:Node`), never the tier:
the tier a component serves is data (its `tier` input, which the render reports as each
resource's `component`), so regrouping tiers never changes a URN. A platform declares its own
base once: `class AwsComponent(Component, platform="aws")`; each component then calls
`super().__init__(name, tier, opts)`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi

from ..graph import COMPONENT_PREFIX, TIER_INPUT


class Component(pulumi.ComponentResource):
    platform: ClassVar[str] = ""

    def __init_subclass__(cls, platform: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if platform is not None:
            cls.platform = platform

    @classmethod
    def type_token(cls) -> str:
        if not cls.platform:
            raise TypeError(f"{cls.__qualname__}: subclass a platform base declared with platform=...")
        return f"{COMPONENT_PREFIX}{cls.platform}:{cls.__name__}"

    def __init__(self, name: str, tier: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(self.type_token(), name, {TIER_INPUT: str(tier)}, opts)
        self.tier = str(tier)
