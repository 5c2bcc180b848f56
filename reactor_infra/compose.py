"""compose.yaml for one node, read from the service catalogue (`catalogue.specs`).

One compose service per ServiceSpec: its image, command, working directory, plain environment,
an env file per service for its secret environment (written at boot into `secrets_dir`, a
tmpfs, by the platform: `env_files` says what goes in each), its config files mounted read-only
from the compose directory (`config_files` gives their content), a named volume per mount, the
container's health check, start order from its needs. A need for a service's *readiness* (a
stricter probe than its health check, e.g. an unsealed OpenBao) becomes a one-shot
`<service>-ready` waiter, so compose starts the dependent only once it can serve and nothing
restarts in a loop meanwhile. Only the ports the Plan's internet links name are published.
Pure; no Pulumi.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .catalogue import ANY, LOOPBACK, Placement, published
from .layout import Plan, Service
from .reactor_toml import Endpoints
from .service_spec import Condition, Probe, ServiceSpec
from .templating import yaml_document

DEFAULT_SECRETS_DIR = "/run/reactor"  # tmpfs (systemd RuntimeDirectory): secrets never touch disk
# The node's compose network, fixed so the host can tell its containers apart: the bridge's
# gateway is where the host's connections to published ports come from (the admin forwarder
# accepts only it), and the services that need the node's cloud identity get fixed addresses
# from .10 on, the only ones the metadata guard lets reach the metadata service.
NODE_SUBNET = "172.30.0.0/24"
NODE_GATEWAY = "172.30.0.1"
IDENTITY_BASE = 10


def placement(plan: Plan, endpoints: Endpoints, site_address: str,
              seal_config: Mapping[str, str] | None = None, *, services: Iterable[Service] | None = None,
              elsewhere: Mapping[Service, str] | None = None, instance: str = "",
              peers: Mapping[Service, tuple[str, ...]] | None = None) -> Placement:
    """Where services sit in one node's compose project: each of the node's `services` (default:
    every service of the plan) answers to its service name, the others to their name across
    the network (`elsewhere`); the host's connections to published ports come from the
    network's gateway. `instance` and `peers` name this replica and the others of its tier."""
    here = set(plan.services if services is None else services)
    hosts = {s: str(s) if s in here else (elsewhere or {})[s] for s in plan.services}
    return Placement(endpoints=endpoints, hosts=hosts, site_address=site_address,
                     seal_config=dict(seal_config or {}), admin_peer=NODE_GATEWAY, instance=instance,
                     peers=dict(peers or {}))


def identity_addresses(specs: Mapping[Service, ServiceSpec]) -> dict[Service, str]:
    """Service -> fixed address, for the services that need the node's cloud identity."""
    prefix = NODE_GATEWAY.rsplit(".", 1)[0]
    wanted = [s for s, spec in specs.items() if spec.cloud_identity]
    return {s: f"{prefix}.{IDENTITY_BASE + i}" for i, s in enumerate(wanted)}


def _healthcheck(probe: Probe) -> dict[str, Any]:
    return {"test": ["CMD", *probe.command], "interval": f"{probe.interval_s}s", "timeout": f"{probe.timeout_s}s",
            "retries": probe.retries, "start_period": f"{probe.start_period_s}s"}


def _ready_waiter(spec: ServiceSpec) -> dict[str, Any]:
    """A one-shot container in `spec`'s network namespace that exits 0 once it is ready."""
    assert spec.health.ready is not None
    probe = " ".join(spec.health.ready.command)
    script = (f"until {probe}; do echo 'waiting for {spec.service} to be ready "
              f"(see the platform README: first boot)'; sleep 10; done")
    return {"image": spec.image, "entrypoint": ["/bin/sh", "-c", script],
            "network_mode": f"service:{spec.service}", "restart": "no",
            "depends_on": {str(spec.service): {"condition": "service_healthy"}}}


def env_files(specs: Mapping[Service, ServiceSpec]) -> dict[str, dict[str, str]]:
    """Env file name -> variable -> template over plan secrets (`${name}`): what the platform
    writes at boot into the secrets directory, one file per service (and per prestart step) with
    a secret environment."""
    out = {f"{s}.env": dict(sorted(spec.secret_env.items())) for s, spec in specs.items() if spec.secret_env}
    for s, spec in specs.items():
        out |= {f"{s}-{p.name}.env": dict(sorted(p.secret_env.items())) for p in spec.prestart if p.secret_env}
    return out


PRESTART_DIR = "/prestart"  # where a prestart step finds its standard input


def _prestart_input(service: Service, step) -> str:
    return f"{service}-{step.name}.stdin"


def config_files(specs: Mapping[Service, ServiceSpec]) -> dict[str, str]:
    """File name (in the compose directory) -> content, for every config file of the node that
    is written with it (not those fetched at boot: `fetched_files`)."""
    out: dict[str, str] = {}
    for spec in specs.values():
        for f in spec.files:
            if f.source_url:
                continue
            if out.get(f.name, f.content) != f.content:
                raise ValueError(f"two services want different files named {f.name}")
            out[f.name] = f.content
        for step in spec.prestart:
            if step.stdin is not None:
                out[_prestart_input(spec.service, step)] = step.stdin
    return out


def fetched_files(specs: Mapping[Service, ServiceSpec]) -> dict[str, str]:
    """File name (in the compose directory) -> the URL the node fetches it from at boot."""
    return {f.name: f.source_url for spec in specs.values() for f in spec.files if f.source_url}


def secret_files(specs: Mapping[Service, ServiceSpec]) -> dict[str, tuple[str, str, str]]:
    """File name (in the secrets directory) -> (plan secret, owner, mode): what the platform
    writes at boot beside the env files, each readable by its service's user only."""
    return {_secret_file_name(s, f): (f.secret, f.owner, f.mode) for s, spec in specs.items() for f in spec.secret_files}


def _secret_file_name(service: Service, f) -> str:
    return f"{service}-{f.name}"


def _service(plan: Plan, spec: ServiceSpec, specs: Mapping[Service, ServiceSpec], secrets_dir: str,
             host_paths: Mapping[str, str], extra_hosts: list[str], publish_address: str | None) -> dict[str, Any]:
    svc: dict[str, Any] = {"image": spec.image, "restart": "unless-stopped"}
    if spec.command:
        svc["command"] = list(spec.command)
    if spec.working_dir:
        svc["working_dir"] = spec.working_dir
    if spec.env:
        svc["environment"] = dict(sorted(spec.env.items()))
    if spec.secret_env:
        svc["env_file"] = [f"{secrets_dir}/{spec.service}.env"]
    volumes = [f"./{f.name}:{f.path}:ro" for f in spec.files]
    volumes += [f"{secrets_dir}/{_secret_file_name(spec.service, f)}:{f.path}:ro" for f in spec.secret_files]
    volumes += [f"{host_paths.get(f'{spec.service}-{m.role}', f'{spec.service}-{m.role}')}:{m.path}" for m in spec.mounts]
    if volumes:
        svc["volumes"] = volumes
    ports = [f"{ip}:{port}:{port}" if ip != ANY else (f"{publish_address}:{port}:{port}" if publish_address else f"{port}:{port}")
             for ip, port in published(plan, spec.service)]
    # a sidecar shares the service's network namespace: its loopback-only port is published here
    ports += [f"{LOOPBACK}:{car.publish}:{car.publish}" for car in spec.sidecars if car.publish]
    if ports:
        svc["ports"] = ports
    address = identity_addresses(specs).get(spec.service)
    if address:
        svc["networks"] = {"default": {"ipv4_address": address}}
    if extra_hosts:
        svc["extra_hosts"] = list(extra_hosts)
    svc["healthcheck"] = _healthcheck(spec.health.check)
    depends: dict[str, Any] = {}
    for need in spec.needs:
        if need.service not in specs:
            continue  # on another node: the platform orders nodes, not compose
        wanted = specs[need.service]
        if need.condition is Condition.READY and wanted.health.ready is not None:
            depends[f"{need.service}-ready"] = {"condition": "service_completed_successfully"}
        elif need.condition is Condition.STARTED:
            depends[str(need.service)] = {"condition": "service_started"}
        else:
            depends[str(need.service)] = {"condition": "service_healthy"}
    for step in spec.prestart:  # one-shot, before each start (the managed database's roles)
        depends[f"{spec.service}-{step.name}"] = {"condition": "service_completed_successfully"}
    if depends:
        svc["depends_on"] = depends
    svc["stop_grace_period"] = f"{spec.stop_grace_s}s"
    return svc


def _prestart(spec: ServiceSpec, step, secrets_dir: str, extra_hosts: list[str]) -> dict[str, Any]:
    """A prestart step as a one-shot service: its command reads its script (a config file, no
    secret inside) on standard input; the service's own files (a CA bundle) are mounted too."""
    svc: dict[str, Any] = {"image": step.image, "restart": "no"}
    command = list(step.command)
    volumes = [f"./{f.name}:{f.path}:ro" for f in spec.files]
    if step.stdin is not None:
        name = _prestart_input(spec.service, step)
        volumes.append(f"./{name}:{PRESTART_DIR}/{name}:ro")
        # `$$`: a literal `$` in a compose file (compose interpolates `$`)
        svc["entrypoint"] = ["/bin/sh", "-c", f'exec "$$@" < {PRESTART_DIR}/{name}', step.name]
    svc["command"] = command
    if step.env:
        svc["environment"] = dict(sorted(step.env.items()))
    if step.secret_env:
        svc["env_file"] = [f"{secrets_dir}/{spec.service}-{step.name}.env"]
    if volumes:
        svc["volumes"] = volumes
    if extra_hosts:
        svc["extra_hosts"] = list(extra_hosts)
    return svc


def _sidecar(spec: ServiceSpec, car) -> dict[str, Any]:
    return {"image": spec.image, "entrypoint": list(car.command), "network_mode": f"service:{spec.service}",
            "restart": "unless-stopped", "depends_on": {str(spec.service): {"condition": "service_started"}}}


def compose_yaml(plan: Plan, specs: Mapping[Service, ServiceSpec], *, secrets_dir: str = DEFAULT_SECRETS_DIR,
                 host_paths: Mapping[str, str] | None = None,
                 extra_hosts: Mapping[str, tuple[str, ...]] | None = None, publish_address: str | None = None) -> str:
    """compose.yaml for the services of one node (`specs`, from `catalogue.specs`); config files
    are expected beside it in the compose directory (`config_files`). `host_paths`: volume
    (`<service>-<role>`) -> a directory of the host that holds it instead of a named volume
    (a network file system several nodes share). `extra_hosts`: private name -> addresses every
    service resolves it to (where no private DNS zone names the install's machines: on-prem).
    `publish_address`: the host address published ports bind to (default: all of them)."""
    host_paths = dict(host_paths or {})
    hosts = [f"{name}:{address}" for name, addresses in sorted((extra_hosts or {}).items()) for address in addresses]
    services: dict[str, Any] = {}
    for service, spec in specs.items():
        services[str(service)] = _service(plan, spec, specs, secrets_dir, host_paths, hosts, publish_address)
        waited = any(n.service == service and n.condition is Condition.READY
                     for other in specs.values() for n in other.needs)
        if waited and spec.health.ready is not None:
            services[f"{service}-ready"] = _ready_waiter(spec)
        for car in spec.sidecars:
            services[f"{service}-{car.name}"] = _sidecar(spec, car)
        for step in spec.prestart:
            services[f"{service}-{step.name}"] = _prestart(spec, step, secrets_dir, hosts)
    volumes = sorted({f"{s.service}-{m.role}" for s in specs.values() for m in s.mounts} - set(host_paths))
    header = [f"compose.yaml for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
              f"Secrets come from env files in {secrets_dir}, written at boot; none is in this file:"]
    header += [f"  {name}: {', '.join(variables)}" for name, variables in env_files(specs).items()]
    doc: dict[str, Any] = {"services": services,
                           "networks": {"default": {"ipam": {"config": [{"subnet": NODE_SUBNET,
                                                                           "gateway": NODE_GATEWAY}]}}}}
    if volumes:
        doc["volumes"] = {v: {} for v in volumes}
    return yaml_document(doc, header)
