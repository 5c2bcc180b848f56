"""The platform kit: what every platform plugin builds on (Pulumi, never a cloud SDK).

- `Component`: the base ComponentResource (type token per class, tier as data);
- `SecretFlow`: generate the Plan's secrets once, store them through the platform's hook;
- `operator_secret`: a secret the operator gives (stack config), never generated;
"""

from .component import Component
from .operator import OFFLINE, operator_secret
from .secrets import SecretFlow

__all__ = ["OFFLINE", "Component", "SecretFlow", "operator_secret"]
