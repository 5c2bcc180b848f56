"""The base of every azure component: type token `reactor-infra:azure:<Class>`, its tier as data."""

from reactor_infra.kit import Component


class AzureComponent(Component, platform="azure"):
    pass
