"""reactor-infra platform plugin `gcp`: every `@gcp` token, sizes 2 to 10 (see README.md)."""

from .platform import GcpPlatform

platform = GcpPlatform()

__all__ = ["GcpPlatform", "platform"]
