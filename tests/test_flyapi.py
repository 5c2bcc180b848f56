"""The Fly machine config checker: configs are checked against the Fly API types of the SDK."""

from __future__ import annotations

import copy
import re
import typing
from typing import Any

import pytest
from flyapi import _fields, check_machine_config, problems, problems_for, reachable
from pulumi_fly_machines.apps.v1 import _enums, _inputs

VALID: dict[str, Any] = {
    "image": "registry.fly.io/reactor-nats:1.2.3",
    "guest": {"cpu_kind": "shared", "cpus": 1, "memory_mb": 1024},
    "env": {"NATS_CLUSTER": "reactor", "TOKEN": "[secret]"},
    "services": [
        {
            "protocol": "tcp",
            "internal_port": 8000,
            "autostop": "off",
            "autostart": True,
            "min_machines_running": 1,
            "ports": [
                {"port": 80, "handlers": ["http"], "force_https": True},
                {"port": 443, "handlers": ["tls", "http"]},
            ],
            "concurrency": {"type": "connections", "hard_limit": 250, "soft_limit": 200},
        }
    ],
    "checks": {
        "health": {
            "type": "http",
            "port": 8000,
            "path": "/health",
            "interval": "15s",
            "timeout": "2s",
            "grace_period": "10s",
        }
    },
    "mounts": [{"volume": "vol_x", "path": "/data"}],
    "processes": [
        {
            "cmd": ["nats-server", "--config", "/etc/nats.conf"],
            "secrets": [{"env_var": "X", "name": "Y"}],
            "ignore_app_secrets": True,
        }
    ],
    "restart": {"policy": "always"},
    "stop_config": {"signal": "SIGTERM", "timeout": "30s"},
    "metadata": {"fly_process_group": "nats-0"},
    "files": [{"guest_path": "/etc/x", "raw_value": "aGk="}, {"guest_path": "/etc/y", "secret_name": "Y"}],
    "spot": {"max_price_fraction": 1},
}

CONFIG_KEYS = (
    "auto_destroy, cache_drive, checks, containers, disable_machine_autostart, dns, env, files, "
    "guest, image, init, metadata, metrics, mounts, processes, restart, rootfs, schedule, services, "
    "size, spot, standbys, statics, stop_config"
)
PORT_KEYS = "end_port, force_https, handlers, http_options, port, proxy_proto_options, start_port, tls_options"


def valid() -> dict[str, Any]:
    return copy.deepcopy(VALID)


def test_a_realistic_machine_config_has_no_problem() -> None:
    assert problems(VALID) == []
    check_machine_config(VALID)


def test_an_unknown_top_level_key() -> None:
    config = valid() | {"servicez": []}
    assert problems(config) == [f"config.servicez: unknown key; allowed: {CONFIG_KEYS}"]


def test_an_unknown_key_nested_in_a_port() -> None:
    config = valid()
    config["services"][0]["ports"][0]["https"] = True
    assert problems(config) == [f"config.services[0].ports[0].https: unknown key; allowed: {PORT_KEYS}"]


def test_a_string_where_an_int_is_expected() -> None:
    config = valid()
    config["guest"]["cpus"] = "2"
    assert problems(config) == ["config.guest.cpus: expected int, got str"]


def test_a_bool_is_not_an_int() -> None:
    config = valid()
    config["guest"]["memory_mb"] = True
    config["checks"]["health"]["port"] = False
    assert problems(config) == [
        "config.guest.memory_mb: expected int, got bool",
        "config.checks['health'].port: expected int, got bool",
    ]


def test_an_int_is_a_float_but_a_string_is_not() -> None:
    config = valid()
    assert problems(config | {"spot": {"max_price_fraction": 0.5}}) == []
    assert problems(config | {"spot": {"max_price_fraction": "0.5"}}) == [
        "config.spot.max_price_fraction: expected float, got str"
    ]


def test_a_value_outside_a_fly_enum() -> None:
    assert [m.value for m in _enums.FlyMachineRestartPolicy] == ["no", "always", "on-failure"]
    config = valid()
    config["restart"]["policy"] = "sometimes"
    config["stop_config"]["signal"] = "SIGSTOP"
    assert problems(config) == [
        "config.restart.policy: expected one of no, always, on-failure, got 'sometimes'",
        "config.stop_config.signal: expected one of SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM, got 'SIGSTOP'",
    ]


def test_autostop_takes_the_enum_strings_not_the_old_booleans() -> None:
    """The API still accepts true/false for autostop; the SDK (and so this check) wants a string."""
    config = valid()
    config["services"][0]["autostop"] = True
    assert problems(config) == ["config.services[0].autostop: expected one of off, stop, suspend, got True"]


def test_a_non_list_where_a_list_is_expected() -> None:
    config = valid()
    config["mounts"] = {"volume": "vol_x", "path": "/data"}
    config["services"][0]["ports"][1]["handlers"] = "tls"
    assert problems(config) == [
        "config.services[0].ports[1].handlers: expected list, got str",
        "config.mounts: expected list, got dict",
    ]


def test_a_non_object_where_an_object_is_expected() -> None:
    assert problems(valid() | {"guest": "shared-cpu-1x"}) == [
        "config.guest: expected object (FlyMachineConfigGuestArgsDict), got str"
    ]
    assert problems(valid() | {"env": ["A=1"]}) == ["config.env: expected object, got list"]


def test_mappings_and_lists_are_checked_element_by_element() -> None:
    config = valid()
    config["env"]["PORT"] = 8000
    config["processes"][0]["cmd"][2] = None
    config["processes"][0]["secrets"][0]["env"] = "X"
    assert problems(config) == [
        "config.env['PORT']: expected str, got int",
        "config.processes[0].cmd[2]: expected a value, got None",
        "config.processes[0].secrets[0].env: unknown key; allowed: env_var, name",
    ]


def test_optional_fields_allow_none() -> None:
    assert problems(valid() | {"image": None, "restart": None, "services": None}) == []


def test_a_secret_stands_for_any_value() -> None:
    config = valid()
    config["files"][0]["raw_value"] = "[secret]"
    config["guest"]["memory_mb"] = "[secret]"
    assert problems(config) == []


def test_a_required_key_that_is_missing() -> None:
    config = valid() | {"statics": [{"guest_path": "/srv/static"}]}
    assert problems(config) == ["config.statics[0].url_prefix: missing required key"]


def test_exec_is_the_api_key_and_exec_underscore_is_not() -> None:
    config = valid()
    config["processes"][0]["exec"] = ["/bin/sh", "-c", "nats-server"]
    config["init"] = {"exec": ["/bin/true"], "tty": False}
    assert problems(config) == []
    config["processes"][0]["exec_"] = config["processes"][0].pop("exec")
    assert problems(config) == [
        "config.processes[0].exec_: unknown key; allowed: cmd, entrypoint, env, env_from, exec, ignore_app_secrets, secrets, user"
    ]


def test_check_machine_config_raises_with_every_problem() -> None:
    config = valid() | {"servicez": [], "restart": {"policy": "never"}}
    with pytest.raises(AssertionError) as raised:
        check_machine_config(config)
    assert str(raised.value).splitlines() == problems(config)
    assert len(problems(config)) == 2


def test_other_resources_inputs_are_checked_by_type_name() -> None:
    guest = {"cpu_kind": "performance", "cpus": 2, "memory_mb": "4096"}
    assert problems_for("FlyMachineGuestArgsDict", guest, "compute") == ["compute.memory_mb: expected int, got str"]
    with pytest.raises(KeyError):
        problems_for("FlyMachineGuestArgs", guest, "compute")


def test_every_typeddict_referenced_from_the_machine_config_resolves() -> None:
    """Walk ConfigArgsDict's references; each TypedDict's hints resolve (no dangling forward
    reference), and the walk misses none of the names their raw annotations quote."""
    names = reachable("ConfigArgsDict")
    for name in names:
        for hint in _inputs.__dict__[name].__annotations__.values():
            for quoted in re.findall(r"\b(\w+ArgsDict)\b", str(hint)):
                assert quoted in names, f"{name} refers to {quoted}, which the walk missed"
        assert typing.is_typeddict(getattr(_inputs, name))
    assert {"FlyMachineServiceArgsDict", "FlyMachinePortArgsDict", "FlyMachineMountArgsDict", "FlyMachineProcessArgsDict",
            "FlyMachineSecretArgsDict", "FlyMachineConfigChecksPropertiesArgsDict", "FlyFileArgsDict",
            "FlyMachineConfigGuestArgsDict", "FlyExecHealthcheckArgsDict"} <= names
    assert len(names) == 37


def test_the_resolved_types_are_cached() -> None:
    problems(VALID)
    before = _fields.cache_info()
    for _ in range(3):
        problems(VALID)
    after = _fields.cache_info()
    assert after.misses == before.misses and after.hits > before.hits
