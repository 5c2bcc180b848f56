"""reactor-infra platform plugin `aws`: size 2 on one EC2 node (see README.md)."""

from .platform import AwsPlatform

platform = AwsPlatform()

__all__ = ["AwsPlatform", "platform"]
