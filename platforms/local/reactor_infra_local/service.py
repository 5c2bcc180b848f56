"""Service: one container of one tier, with its image and (if stateful) its data volume."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from .component import LocalComponent




@dataclass(frozen=True)
class Upload:
    """A config file written into the container before it starts (no secret values in it)."""

    path: str
    content: pulumi.Input[str]


@dataclass(frozen=True)
class Port:
    internal: int
    external: int
    ip: str  # "127.0.0.1" for loopback only, "0.0.0.0" for every address


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]  # Docker form: ("CMD", ...) or ("CMD-SHELL", "...")
    interval: str = "10s"
    timeout: str = "5s"
    retries: int = 5
    start_period: str = "20s"


@dataclass(frozen=True)
class ServiceArgs:
    tier: str  # the Reactor tier this container belongs to (component convention)
    container_name: str  # physical name, `<stack>-<tier>-<service>`
    image: str  # image reference, from the stack settings
    healthcheck: Healthcheck
    # environment as "KEY=value"; a secret Output when any value is secret; default none
    env: pulumi.Input[Sequence[str]] | None = None
    # command (arguments after the entrypoint); default the image's
    command: Sequence[str] | None = None
    # working directory; default the image's (reactor-server reads Reactor.toml from here)
    working_dir: str | None = None
    # files written before start; default none
    uploads: Sequence[Upload] = ()
    # named volumes: role -> mount path; each becomes `<container_name>-<role>`; default none
    volumes: dict[str, str] = field(default_factory=dict)
    # networks to join (the first is the primary); default none (then `share_network_of` is set)
    networks: Sequence[docker.Network] = ()
    # run inside another container's network namespace (gateway-server beside Caddy); default no
    share_network_of: docker.Container | None = None
    # published ports; default none
    ports: Sequence[Port] = ()
    # containers that must be up (and healthy, when they wait) first; default none
    depends_on: Sequence[pulumi.Resource] = ()
    # wait for the healthcheck to pass before dependents start; default yes
    wait: bool = True
    # protect the data volumes (editions E and C); default no
    protect: bool = False


class Service(LocalComponent):
    """`container` is the docker.Container; `volumes[role]` its docker.Volume objects."""

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        self._name = name
        self._args = args
        self.image = self._create_image()
        self.volumes = self._create_volumes()
        self.container = self._create_container()
        self.register_outputs({"container": self.container.name})

    def _create_image(self) -> docker.RemoteImage:
        return docker.RemoteImage(
            f"{self._name}-image",
            name=self._args.image,
            keep_locally=True,  # another install on this host may use the same image
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_volumes(self) -> dict[str, docker.Volume]:
        return {
            role: docker.Volume(
                f"{self._name}-{role}",
                name=f"{self._args.container_name}-{role}",
                opts=pulumi.ResourceOptions(parent=self, protect=self._args.protect),
            )
            for role in self._args.volumes
        }

    def _create_container(self) -> docker.Container:
        a = self._args
        hc = a.healthcheck
        network_kwargs: dict = {}
        if a.share_network_of is not None:
            network_kwargs["network_mode"] = a.share_network_of.id.apply(lambda cid: f"container:{cid}")
        else:
            network_kwargs["networks_advanced"] = [
                docker.ContainerNetworksAdvancedArgs(name=net.name) for net in a.networks]
        return docker.Container(
            f"{self._name}-container",
            name=a.container_name,
            hostname=None if a.share_network_of is not None else a.container_name,
            image=a.image,  # the pinned reference; the RemoteImage below pulls it first
            envs=a.env,
            command=list(a.command) if a.command else None,
            working_dir=a.working_dir,
            uploads=[docker.ContainerUploadArgs(file=u.path, content=u.content) for u in a.uploads] or None,
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volumes[role].name, container_path=path)
                     for role, path in a.volumes.items()] or None,
            ports=[docker.ContainerPortArgs(internal=p.internal, external=p.external, ip=p.ip)
                   for p in a.ports] or None,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=list(hc.test), interval=hc.interval, timeout=hc.timeout, retries=hc.retries,
                start_period=hc.start_period),
            restart="unless-stopped",
            wait=a.wait,
            wait_timeout=120 if a.wait else None,
            labels=[docker.ContainerLabelArgs(label="reactor-infra.tier", value=a.tier)],
            **network_kwargs,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.image, *a.depends_on],
                additional_secret_outputs=["envs"],
            ),
        )
