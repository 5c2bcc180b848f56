"""reactor-infra platform plugin `azure`: every `@azure` token, sizes 2 to 10 (see README.md)."""

from .platform import AzurePlatform

platform = AzurePlatform()

__all__ = ["AzurePlatform", "platform"]
