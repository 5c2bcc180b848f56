"""The base of every on-prem component (type tokens `reactor-infra:onprem:<Class>`)."""

from reactor_infra.kit import Component


class OnpremComponent(Component, platform="onprem"):
    pass
