"""reactor-infra platform plugin `fly`: every `@fly` token on Fly Machines (see README.md)."""

from .platform import FlyPlatform

platform = FlyPlatform()

__all__ = ["FlyPlatform", "platform"]
