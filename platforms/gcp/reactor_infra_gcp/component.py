"""The base of every gcp component: type token `reactor-infra:gcp:<Class>`, its tier as data."""

from reactor_infra.kit import Component


class GcpComponent(Component, platform="gcp"):
    pass
