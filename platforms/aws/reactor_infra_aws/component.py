"""The base of every aws component: type token `reactor-infra:aws:<Class>`, its tier as data."""

from reactor_infra.kit import Component


class AwsComponent(Component, platform="aws"):
    pass
