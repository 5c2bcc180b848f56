"""The base of every local component: type token `reactor-infra:local:<Class>`, its tier as data."""

from reactor_infra.kit import Component


class LocalComponent(Component, platform="local"):
    pass
