"""reactor-infra platform plugin `local`: sizes 1-6 on one Docker host (see README.md)."""

from .platform import LocalPlatform

platform = LocalPlatform()

__all__ = ["LocalPlatform", "platform"]
