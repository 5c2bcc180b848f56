"""Service: one container of one tier, run as the core's catalogue says (`ServiceSpec`), with
its image and (if stateful) its data volumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_docker as docker

from reactor_infra.catalogue import LOOPBACK
from reactor_infra.service_spec import ServiceSpec, Sidecar, fill, secret_refs

from .component import LocalComponent


@dataclass(frozen=True)
class ServiceArgs:
    tier: str  # the Reactor tier this container belongs to
    container_name: str  # physical name, `<stack>-<tier>-<service>`
    spec: ServiceSpec  # how the service runs: image, env, files, mounts, health (the catalogue)
    labels: Mapping[str, str]  # Docker labels (stack, token, tier)
    # plan secret name -> its value, for the spec's secret environment; default none
    secrets: Mapping[str, pulumi.Output[str]] = field(default_factory=dict)
    # networks to join (the first is the primary)
    networks: Sequence[docker.Network] = ()
    # published (host address, port) pairs; default none
    ports: Sequence[tuple[str, int]] = ()
    # containers that must be up (and healthy, when they wait) first; default none
    depends_on: Sequence[pulumi.Resource] = ()
    # wait for the health check to pass before dependents start; default yes
    wait: bool = True
    # protect the data volumes (editions E and C); default no
    protect: bool = False


def env_list(spec: ServiceSpec, secrets: Mapping[str, pulumi.Output[str]]) -> pulumi.Input[list[str]] | None:
    """`KEY=value` lines sorted by key: plain values, then the secret ones filled in; a secret
    Output as soon as any value is secret. A variable whose secret has no value yet (an `init`
    secret the operator has not supplied) is left out. None when there is no environment."""
    plain = dict(spec.env)
    secret_env = {var: t for var, t in spec.secret_env.items()
                  if all(secrets.get(n) is not None for n in secret_refs(t))}
    if not secret_env:
        return [f"{k}={v}" for k, v in sorted(plain.items())] or None
    names = sorted({n for t in secret_env.values() for n in secret_refs(t)})

    def lines(values: list[str]) -> list[str]:
        known = dict(zip(names, values))
        env = {**plain, **{var: fill(t, known) for var, t in secret_env.items()}}
        return [f"{k}={v}" for k, v in sorted(env.items())]

    return pulumi.Output.secret(pulumi.Output.all(*[secrets[n] for n in names]).apply(lines))


class Service(LocalComponent):
    """`container` is the docker.Container; `volumes[role]` its docker.Volume objects;
    `sidecars[name]` the helper containers in its network namespace."""

    def __init__(self, name: str, args: ServiceArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, args.tier, opts)
        self._name = name
        self._args = args
        self.image = self._create_image()
        self.volumes = self._create_volumes()
        self.container = self._create_container()
        self.sidecars = {car.name: self._create_sidecar(car) for car in args.spec.sidecars}
        self.register_outputs({"container": self.container.name})

    def _create_image(self) -> docker.RemoteImage:
        return docker.RemoteImage(
            f"{self._name}-image",
            name=self._args.spec.image,
            keep_locally=True,  # another install on this host may use the same image
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _create_volumes(self) -> dict[str, docker.Volume]:
        return {
            m.role: docker.Volume(
                f"{self._name}-{m.role}",
                name=f"{self._args.container_name}-{m.role}",
                # only what never changes for the install: a label change replaces a volume (and its data)
                labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in self._args.labels.items()
                        if k.endswith(".stack")],
                opts=pulumi.ResourceOptions(parent=self, protect=self._args.protect),
            )
            for m in self._args.spec.mounts
        }

    def _create_sidecar(self, car: Sidecar) -> docker.Container:
        a = self._args
        return docker.Container(
            f"{self._name}-{car.name}",
            name=f"{a.container_name}-{car.name}",
            image=a.spec.image,
            entrypoints=list(car.command),
            network_mode=self.container.id.apply(lambda cid: f"container:{cid}"),
            restart="unless-stopped",
            labels=[docker.ContainerLabelArgs(label=k, value=v)
                    for k, v in {**a.labels, "reactor-infra.sidecar": f"{a.spec.service}-{car.name}"}.items()],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )

    def _create_container(self) -> docker.Container:
        a, spec = self._args, self._args.spec
        probe = spec.health.check
        return docker.Container(
            f"{self._name}-container",
            name=a.container_name,
            hostname=a.container_name,
            image=spec.image,  # the pinned reference; the RemoteImage pulls it first
            envs=env_list(spec, a.secrets),
            command=list(spec.command) if spec.command else None,
            working_dir=spec.working_dir,
            uploads=[docker.ContainerUploadArgs(file=f.path, content=f.content) for f in spec.files] or None,
            # a fresh named volume takes the owner of the image's directory at that path, which
            # the catalogue chose to be the service's own user (ServiceSpec.mounts)
            volumes=[docker.ContainerVolumeArgs(volume_name=self.volumes[m.role].name, container_path=m.path)
                     for m in spec.mounts] or None,
            # a sidecar shares this container's network namespace: its port is published here,
            # on the host's loopback only
            ports=[docker.ContainerPortArgs(internal=port, external=port, ip=ip)
                   for ip, port in [*a.ports, *((LOOPBACK, c.publish) for c in spec.sidecars if c.publish)]] or None,
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", *probe.command], interval=f"{probe.interval_s}s", timeout=f"{probe.timeout_s}s",
                retries=probe.retries, start_period=f"{probe.start_period_s}s"),
            restart="unless-stopped",
            destroy_grace_seconds=spec.stop_grace_s,
            wait=a.wait,
            wait_timeout=180 if a.wait else None,
            labels=[docker.ContainerLabelArgs(label=k, value=v)
                    for k, v in {**a.labels, "reactor-infra.service": spec.service.value}.items()],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=net.name) for net in a.networks],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.image, *a.depends_on],
                additional_secret_outputs=["envs"],
            ),
        )
