"""Every `@fly` render against Fly's API types as the Pulumi SDK declares them (flyapi.py, wire
mode): each machine's `config` against `ConfigArgsDict`, each Fly resource's inputs against its
Args class (names, types, enums), each IP assignment's `type` in `AppIPAssignmentType`, each app
in an organization and a network. A render records inputs as the engine receives them: the
provider's wire names (`memoryMb`, `guestPath`), free-form mapping keys (`env`, `metadata`, the
names under `checks`) as written. The first tests pin the wire mode itself."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any

import pytest
from flyapi import _fields, problems, problems_for, reachable, resource_args, resource_problems
from matrix import every
from pulumi_fly_machines.apps.v1 import AppIPAssignmentType
from renders import rendered_json

from reactor_infra.token import Platform, valid_topologies

# one worker renders every token once (xdist --dist loadgroup), not every worker that meets one
# runs with the rest of the fly matrix (conftest.py: one worker renders every @fly token once)

FLY = [t.token for t in valid_topologies(Platform.FLY)]
PROVIDER = "fly-machines:apps/v1:"
APP, MACHINE, VOLUME, IP = (f"{PROVIDER}App", f"{PROVIDER}Machine", f"{PROVIDER}Volume", f"{PROVIDER}AppIPAssignment")

# test_flyapi.VALID as the engine records it: wire names for typed objects, mapping keys as written
WIRE_VALID: dict[str, Any] = {
    "image": "registry.fly.io/reactor-nats:1.2.3",
    "guest": {"cpuKind": "shared", "cpus": 1, "memoryMb": 1024},
    "env": {"NATS_CLUSTER": "reactor", "TOKEN": "[secret]", "memory_mb": "env names are free"},
    "services": [
        {
            "protocol": "tcp",
            "internalPort": 8000,
            "autostop": "off",
            "autostart": True,
            "minMachinesRunning": 1,
            "ports": [
                {"port": 80, "handlers": ["http"], "forceHttps": True},
                {"port": 443, "handlers": ["tls", "http"]},
            ],
            "concurrency": {"type": "connections", "hardLimit": 250, "softLimit": 200},
            "checks": [{"type": "http", "port": 8000, "path": "/health", "gracePeriod": "30s"}],
        }
    ],
    "checks": {
        "grace_period": {  # a check's name is a mapping key: never translated
            "type": "http",
            "port": 8000,
            "path": "/health",
            "interval": "15s",
            "timeout": "2s",
            "gracePeriod": "10s",
        }
    },
    "mounts": [{"volume": "vol_x", "path": "/data"}],
    "processes": [
        {
            "cmd": ["nats-server", "--config", "/etc/nats.conf"],
            "exec": ["/bin/sh"],
            "secrets": [{"envVar": "X", "name": "Y"}],
            "ignoreAppSecrets": True,
        }
    ],
    "restart": {"policy": "on-failure", "maxRetries": 10},
    "stopConfig": {"signal": "SIGTERM", "timeout": "30s"},
    "metadata": {"fly_process_group": "nats-0"},
    "files": [{"guestPath": "/etc/x", "rawValue": "aGk=", "mode": 420}, {"guestPath": "/etc/y", "secretName": "Y"}],
    "spot": {"maxPriceFraction": 1},
}
GUEST_WIRE_KEYS = ("cpuKind, cpus, gpuKind, gpus, hostDedicationId, kernelArgs, maxMemoryMb, memoryMb, "
                   "persistRootfs, requiredHostFeatures")
VOLUME_INPUTS: dict[str, Any] = {"appName": "a", "autoBackupEnabled": True, "encrypted": True, "name": "pg_data",
                                 "region": "iad", "requireUniqueZone": True, "sizeGb": 10, "snapshotRetention": 14}


def wire() -> dict[str, Any]:
    return copy.deepcopy(WIRE_VALID)


# --- the wire mode -----------------------------------------------------------------------------


def test_a_wire_named_config_has_no_problem() -> None:
    assert problems(WIRE_VALID, wire=True) == []


def test_modes_do_not_mix_a_snake_case_key_is_unknown_on_the_wire_and_a_wire_name_off_it() -> None:
    config = wire()
    config["guest"]["memory_mb"] = config["guest"].pop("memoryMb")
    assert problems(config, wire=True) == [f"config.guest.memory_mb: unknown key; allowed: {GUEST_WIRE_KEYS}"]
    assert problems({"guest": {"memoryMb": 1024}}) == [
        "config.guest.memoryMb: unknown key; allowed: cpu_kind, cpus, gpu_kind, gpus, host_dedication_id, "
        "kernel_args, max_memory_mb, memory_mb, persist_rootfs, required_host_features"]


def test_an_unknown_wire_key_is_reported_as_given_at_every_depth() -> None:
    config = wire() | {"stop_config": {"signal": "SIGTERM"}}
    config["services"][0]["ports"][0]["force_https"] = config["services"][0]["ports"][0].pop("forceHttps")
    config["files"][0]["raw_value"] = "aGk="
    found = problems(config, wire=True)
    assert [p.split(":")[0] for p in found] == [
        "config.services[0].ports[0].force_https", "config.files[0].raw_value", "config.stop_config"]
    assert "allowed: endPort, forceHttps, handlers, httpOptions, port, proxyProtoOptions, startPort, tlsOptions" in found[0]
    assert found[2].endswith("statics, stopConfig")


def test_types_and_enums_are_checked_under_wire_names() -> None:
    config = wire()
    config["guest"]["memoryMb"] = "1024"
    config["services"][0]["internalPort"] = True
    config["stopConfig"]["signal"] = "SIGSTOP"
    config["checks"]["grace_period"]["gracePeriod"] = 10
    assert problems(config, wire=True) == [
        "config.guest.memoryMb: expected int, got str",
        "config.services[0].internalPort: expected int, got bool",
        "config.checks['grace_period'].gracePeriod: expected str, got int",
        "config.stopConfig.signal: expected one of SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM, got 'SIGSTOP'",
    ]


def test_mapping_keys_are_never_translated() -> None:
    config = wire()
    config["metadata"] = {"fly_process_group": "x", "flyProcessGroup": "y", "reactor_tier": "app"}
    config["env"] = {"memoryMb": "1", "memory_mb": "2", "exec_": "3"}
    config["checks"] = {name: copy.deepcopy(WIRE_VALID["checks"]["grace_period"]) for name in ("alive", "stopConfig")}
    assert problems(config, wire=True) == []
    config["env"]["memoryMb"] = 1
    assert problems(config, wire=True) == ["config.env['memoryMb']: expected str, got int"]


def test_a_secret_stays_accepted_on_the_wire() -> None:
    config = wire()
    config["files"][0]["rawValue"] = "[secret]"
    config["guest"]["memoryMb"] = "[secret]"
    config["processes"] = "[secret]"
    assert problems(config, wire=True) == []
    assert problems_for("ConfigArgsDict", "[secret]", "config", wire=True) == []


def test_exec_is_its_own_wire_name() -> None:
    config = wire()
    config["init"] = {"exec": ["/bin/true"], "tty": False}
    assert problems(config, wire=True) == []
    config["processes"][0]["exec_"] = config["processes"][0].pop("exec")
    assert problems(config, wire=True) == [
        "config.processes[0].exec_: unknown key; allowed: cmd, entrypoint, env, envFrom, exec, ignoreAppSecrets, "
        "secrets, user"]


def test_a_required_key_is_named_by_its_wire_name() -> None:
    config = wire() | {"statics": [{"guestPath": "/srv/static"}]}
    assert problems(config, wire=True) == ["config.statics[0].urlPrefix: missing required key"]


def test_every_reachable_typeddict_has_a_wire_name_for_each_field() -> None:
    names = reachable("ConfigArgsDict")
    assert len(names) == 37
    for name in names:
        api, wired = _fields(name, False)[0], _fields(name, True)[0]
        assert len(api) == len(wired) and list(api.values()) == list(wired.values()), name
    guest = _fields("FlyMachineConfigGuestArgsDict", True)[0]
    assert {"cpuKind", "memoryMb", "cpus"} <= guest.keys() and "memory_mb" not in guest


def test_the_wire_fields_are_cached_apart_from_the_api_fields() -> None:
    problems(WIRE_VALID, wire=True)
    problems({"guest": {"memory_mb": 1}})
    before = _fields.cache_info()
    for _ in range(3):
        problems(WIRE_VALID, wire=True)
    after = _fields.cache_info()
    assert after.misses == before.misses and after.hits > before.hits
    assert _fields("FlyMachineConfigGuestArgsDict", True) != _fields("FlyMachineConfigGuestArgsDict", False)


# --- resource inputs ---------------------------------------------------------------------------


def test_a_resource_s_inputs_are_checked_against_its_args_class() -> None:
    assert resource_args(VOLUME) == "VolumeArgs"
    assert resource_problems(VOLUME, VOLUME_INPUTS) == []
    inputs = {k: v for k, v in VOLUME_INPUTS.items() if k != "sizeGb"} | {"size_gb": 10, "encrypted": "yes"}
    found = resource_problems(VOLUME, inputs, "vol")
    assert found[0] == "vol.encrypted: expected bool, got str"
    assert found[1].startswith("vol.size_gb: unknown key; allowed: appName, autoBackupEnabled, compute, ")
    assert len(found) == 2
    assert resource_problems(VOLUME, VOLUME_INPUTS | {"compute": {"memoryMb": "x"}}, "vol") == [
        "vol.compute.memoryMb: expected int, got str"]


def test_a_machine_s_config_is_checked_as_its_typeddict_within_its_inputs() -> None:
    inputs = {"appName": "a", "name": "m", "region": "iad", "minSecretsVersion": 1, "config": wire()}
    assert resource_problems(MACHINE, inputs) == []
    inputs["config"]["guest"]["memory_mb"] = 1
    inputs["min_secrets_version"] = inputs.pop("minSecretsVersion")
    found = resource_problems(MACHINE, inputs)
    assert [p.split(":")[0] for p in found] == ["inputs.config.guest.memory_mb", "inputs.min_secrets_version"]


def test_an_ip_assignment_type_outside_the_sdk_enum() -> None:
    assert resource_problems(IP, {"appName": "a", "type": "private_v6", "network": "n"}) == []
    assert resource_problems(IP, {"appName": "a", "type": "v5"}) == [
        "inputs.type: expected one of v4, v6, shared_v4, private_v6, egress_v4, egress_v6, egress_pair, got 'v5'"]


def test_an_unknown_resource_or_type_name_is_the_caller_s_bug() -> None:
    for token in (f"{PROVIDER}Nope", "aws:s3/bucket:Bucket", "Volume"):
        with pytest.raises(KeyError):
            resource_args(token)
    with pytest.raises(KeyError):  # an object type's Args class is no resource's, nor a TypedDict
        problems_for("FlyMachineGuestArgs", {}, "x", wire=True)


# --- every @fly render -------------------------------------------------------------------------


@cache
def _fly_resources(token: str) -> tuple[dict[str, Any], ...]:
    return tuple(r for r in json.loads(rendered_json(token))["resources"] if r["type"].startswith(PROVIDER))


def fly_resources(token: str) -> tuple[dict[str, Any], ...]:
    """The token's Fly resources; a render that fails is that token's failure (`every` goes on)."""
    try:
        return _fly_resources(token)
    except Exception as err:
        # without the token, so that one broken rule reads as one line across the tokens
        raise AssertionError(f"no render: {type(err).__name__}: {str(err).replace(token, '{token}')}") from err


def of(token: str, type_: str) -> list[dict[str, Any]]:
    return [r for r in fly_resources(token) if r["type"] == type_]


def label(r: dict[str, Any]) -> str:
    """A resource as the same across tokens: a machine by its process group without the node
    index (`machine nats`), another resource by its type (`Volume`); its name varies by token."""
    if r["type"] == MACHINE:
        group = ((r["inputs"].get("config") or {}).get("metadata") or {}).get("fly_process_group", "?")
        return f"machine {re.sub(r'-[0-9]+$', '', str(group))}"
    return r["type"].removeprefix(PROVIDER)


def no_problem(found: Iterable[tuple[dict[str, Any], str]]) -> None:
    """Fail with each distinct (resource label, problem), without the token or the resource's
    name, so that `every` groups one broken rule across the tokens that show it."""
    lines = sorted({f"{label(r)}: {p}" for r, p in found})
    if lines:
        raise AssertionError("\n".join(lines))


def test_the_fly_ladder_renders_every_kind_of_fly_resource_checked_here() -> None:
    def check(token):
        kinds = {r["type"] for r in fly_resources(token)}
        assert {APP, MACHINE, VOLUME, IP} <= kinds, sorted(kinds)
    assert len(FLY) == 87
    assert every(FLY, check) == 87


def test_every_machine_config_has_fly_s_api_types() -> None:
    def check(token):
        machines = of(token, MACHINE)
        assert machines, "no machine"
        no_problem((m, p) for m in machines for p in problems(m["inputs"]["config"], wire=True))
    every(FLY, check)


def test_every_fly_resource_s_inputs_have_its_args_class_s_names_and_types() -> None:
    """Machines (appName, name, region, minSecretsVersion and the config), volumes, apps, IP
    assignments and secrets: wire names the SDK's Args class declares, values of its types."""
    def check(token):
        no_problem((r, p) for r in fly_resources(token) for p in resource_problems(r["type"], r["inputs"]))
    every(FLY, check)


def test_every_volume_names_its_app_region_and_size() -> None:
    def check(token):
        volumes = of(token, VOLUME)
        no_problem([(v, p) for v in volumes for p in resource_problems(VOLUME, v["inputs"])]
                   + [(v, f"inputs.{k}: missing") for v in volumes for k in ("appName", "name", "region", "sizeGb")
                      if k not in v["inputs"]])
    every(FLY, check)
    assert sum(len(of(t, VOLUME)) for t in FLY) > 0


def test_every_ip_assignment_type_is_an_sdk_enum_member() -> None:
    members = {m.value for m in AppIPAssignmentType}

    def check(token):
        assert of(token, IP), "no IP assignment"
        no_problem((r, f"inputs.type: {r['inputs'].get('type')!r} is no AppIPAssignmentType")
                   for r in of(token, IP) if r["inputs"].get("type") not in members)
    every(FLY, check)


def test_every_app_has_an_organization_and_a_network() -> None:
    def check(token):
        assert of(token, APP), "no app"
        no_problem((r, f"inputs.{k}: {r['inputs'].get(k)!r}, not a name") for r in of(token, APP)
                   for k in ("orgSlug", "network") if not (isinstance(r["inputs"].get(k), str) and r["inputs"][k]))
    every(FLY, check)
