"""The base of every fly component: type token `reactor-infra:fly:<Class>`, its tier as data."""

from reactor_infra.kit import Component


class FlyComponent(Component, platform="fly"):
    pass
