"""The platform kit: what every platform plugin builds on (Pulumi, never a cloud SDK).

- `Component`: the base ComponentResource (type token per class, tier as data);
"""

from .component import Component

__all__ = ["Component"]
