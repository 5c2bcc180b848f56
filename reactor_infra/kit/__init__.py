"""The platform kit: what every platform plugin builds on (Pulumi, never a cloud SDK).

- `Component`: the base ComponentResource (type token per class, tier as data);
- `SecretFlow`: generate the Plan's secrets once, store them through the platform's hook;
"""

from .component import Component
from .secrets import SecretFlow

__all__ = ["Component", "SecretFlow"]
