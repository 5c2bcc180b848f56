"""Check rendered Fly machine configs against Fly's own API types, not against our strings.

A machine config as the render records it (API key names; JSON values; a secret as "[secret]")
is checked against the TypedDicts of `pulumi_fly_machines.apps.v1._inputs`, the Pulumi SDK
generated from Fly's Machines OpenAPI, i.e. the types the provider sends to the API. A typo'd
key, a string where Fly wants an int or a value outside a Fly enum fails here, not at deploy.
Problems: unknown or missing required keys; scalars of another type (a bool is not an int, an
int is a float); non-members of an enum; lists and mappings element by element; None unless
Optional. "[secret]" stands for any value. TypedDict keys are the API's snake_case names but for
Python-mangled ones (`exec_`), whose getter name (`@pulumi.getter(name="exec")`) is the API's.

`wire=True` checks a value as the Pulumi engine receives it (a render's recorded inputs): the keys
of every typed object are then the provider's wire names (`memoryMb`, `guestPath`, `exec`), as
the SDK itself maps them (`input_type_py_to_pulumi_names` on the `...Args` class of each
`...ArgsDict`); a snake_case key is unknown there, and a problem names the key as given. Keys of
free-form mappings (`env`, `metadata`, the names under `checks`) are never translated.
A resource's own inputs are checked by its Args class name (`problems_for("VolumeArgs", ...)`,
or `resource_problems("fly-machines:apps/v1:Volume", inputs)`, always wire): its arguments
are all optional in the SDK, and an object argument (`MachineArgs.config: ConfigArgs`) is
checked as its TypedDict (`ConfigArgsDict`).
"""

from __future__ import annotations

import collections.abc as cabc
import functools
import sys
import types
import typing
from enum import Enum
from typing import Any

import pulumi
from pulumi._types import input_type_py_to_pulumi_names, is_input_type
from pulumi_fly_machines.apps import v1 as _v1
from pulumi_fly_machines.apps.v1 import _inputs

__all__ = ["SECRET", "check_machine_config", "problems", "problems_for", "reachable", "resource_args",
           "resource_problems"]

SECRET = "[secret]"
Shape = tuple[bool, str, Any]  # (None allowed, kind, detail): a field's type, compiled once
# `pulumi.Input[T]` quotes its "Output[T]" member; give it names so get_type_hints resolves it.
_NS: dict[str, Any] = {**vars(_inputs), "Output": pulumi.Output, "T": Any}
_SCALARS: dict[type, tuple[type, ...]] = {str: (str,), int: (int,), bool: (bool,), float: (int, float)}


def _strip(hint: Any) -> tuple[Any, bool]:
    """NotRequired[Input[Optional[T]]] -> (T, whether None is allowed); Input[T] is
    Union[T, Awaitable[T], Output[T]], and only T describes a value in a recorded config."""
    optional = False
    while True:
        origin = typing.get_origin(hint)
        if origin in (typing.NotRequired, typing.Required):
            hint = typing.get_args(hint)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(hint)
                    if typing.get_origin(a) not in (cabc.Awaitable, pulumi.Output) and a is not pulumi.Output]
            optional |= type(None) in args
            args = [a for a in args if a is not type(None)]
            if len(args) != 1:
                raise TypeError(f"cannot reduce {hint!r} to one type")
            hint = args[0]
        else:
            return hint, optional


def _shape(hint: Any, refs: set[str]) -> Shape:
    t, optional = _strip(hint)
    origin = typing.get_origin(t)
    if t is Any:
        return optional, "any", None
    if isinstance(t, type) and issubclass(t, Enum):
        return optional, "enum", tuple(str(m.value) for m in t)
    if t in _SCALARS:
        return optional, t.__name__, _SCALARS[t]
    if origin in (cabc.Sequence, list):
        return optional, "list", _shape(typing.get_args(t)[0], refs)
    if origin in (cabc.Mapping, dict):
        return optional, "object", _shape(typing.get_args(t)[1], refs)
    if typing.is_typeddict(t):
        refs.add(t.__name__)
        return optional, "typeddict", t.__name__
    if isinstance(t, type) and is_input_type(t) and typing.is_typeddict(getattr(_inputs, t.__name__ + "Dict", None)):
        refs.add(t.__name__ + "Dict")  # a resource argument's object type (ConfigArgs): as its TypedDict
        return optional, "typeddict", t.__name__ + "Dict"
    raise TypeError(f"unsupported annotation {t!r}")  # e.g. an unresolved ForwardRef


def _resource_args_class(name: str) -> Any:
    """A resource's Args class (`VolumeArgs`): an input type of `apps.v1` defined with its
    resource, not one of `_inputs`' object types (`FlyMachineGuestArgs`); None otherwise."""
    cls = getattr(_v1, name, None)
    if isinstance(cls, type) and is_input_type(cls) and cls.__module__ != _inputs.__name__:
        return cls
    return None


@functools.cache
def _fields(name: str, wire: bool = False) -> tuple[dict[str, Shape], frozenset[str], frozenset[str]]:
    """A TypedDict's (or a resource Args class's) fields keyed by API name, or by wire name when
    `wire`; its required keys; the TypedDicts it names."""
    td: Any = getattr(_inputs, name, None)
    if typing.is_typeddict(td):
        args_cls = getattr(_inputs, name.removesuffix("Dict"), None)
        hints = typing.get_type_hints(td, globalns=_NS, include_extras=True)
        required_py: frozenset[str] = td.__required_keys__
    elif (args_cls := _resource_args_class(name)) is not None:
        module = vars(sys.modules[args_cls.__module__])
        hints = typing.get_type_hints(args_cls.__init__, globalns={**module, "Output": pulumi.Output, "T": Any})
        hints.pop("return", None)
        required_py = frozenset()  # the SDK makes every resource argument optional
    else:
        raise KeyError(f"no TypedDict or resource Args class {name!r} in {_v1.__name__}")
    names = input_type_py_to_pulumi_names(args_cls) if args_cls is not None else {}
    if wire and set(hints) - set(names):
        raise KeyError(f"{name}: no wire name for {', '.join(sorted(set(hints) - set(names)))}")
    fields: dict[str, Shape] = {}
    required: set[str] = set()
    refs: set[str] = set()
    for py, hint in hints.items():
        if wire:  # the Pulumi name the engine records (memoryMb, exec)
            key = names[py]
        else:
            # `exec_` is Python's spelling; its getter name "exec" is the API's. Other getter names
            # are camelCase Pulumi names, while the API (and the TypedDict) use snake_case.
            key = py[:-1] if py.endswith("_") and names.get(py) == py[:-1] else py
        fields[key] = _shape(hint, refs)
        if py in required_py:
            required.add(key)
    return fields, frozenset(required), frozenset(refs)


def _walk(shape: Shape, v: Any, path: str, out: list[str], wire: bool) -> None:
    optional, kind, detail = shape
    if v is None:
        if not optional:
            out.append(f"{path}: expected a value, got None")
    elif v == SECRET or kind == "any":
        return
    elif kind == "typeddict":
        _check_object(detail, v, path, out, wire)
    elif kind == "enum":
        if type(v) is not str or v not in detail:
            out.append(f"{path}: expected one of {', '.join(detail)}, got {v!r}")
    elif kind == "list" and type(v) is list:
        for i, x in enumerate(v):
            _walk(detail, x, f"{path}[{i}]", out, wire)
    elif kind == "object" and type(v) is dict:
        for k, x in v.items():
            _walk(detail, x, f"{path}[{k!r}]", out, wire)  # a mapping's keys: as written
    elif kind in ("list", "object") or type(v) not in detail:  # else a scalar: detail = its types
        out.append(f"{path}: expected {kind}, got {type(v).__name__}")


def _check_object(name: str, v: Any, path: str, out: list[str], wire: bool) -> None:
    if type(v) is not dict:
        out.append(f"{path}: expected object ({name}), got {type(v).__name__}")
        return
    fields, required, _ = _fields(name, wire)
    for k, x in v.items():
        shape = fields.get(k)
        if shape is None:
            out.append(f"{path}.{k}: unknown key; allowed: {', '.join(sorted(fields))}")
        else:
            _walk(shape, x, f"{path}.{k}", out, wire)
    for k in sorted(required - v.keys()):
        out.append(f"{path}.{k}: missing required key")


def problems_for(type_name: str, value: Any, path: str, wire: bool = False) -> list[str]:
    """Problems of `value` as an input of the TypedDict `type_name` (e.g. "FlyMachineGuestArgsDict"),
    or of a resource's Args class (e.g. "VolumeArgs"); with wire (Pulumi) key names when `wire`."""
    _fields(type_name, wire)  # an unknown type name is the caller's bug, not a problem of the value
    out: list[str] = []
    _walk((False, "typeddict", type_name), value, path, out, wire)
    return out


def problems(value: dict[str, Any], root: str = "ConfigArgsDict", path: str = "config", wire: bool = False) -> list[str]:
    """Problems of a Fly machine config (or another `root` TypedDict), one line each."""
    return problems_for(root, value, path, wire)


def check_machine_config(config: dict[str, Any], wire: bool = False) -> None:
    """Raise AssertionError listing every problem of a Fly machine config."""
    found = problems(config, wire=wire)
    if found:
        raise AssertionError("\n".join(found))


def resource_args(type_token: str) -> str:
    """The Args class name of a resource type: "fly-machines:apps/v1:Volume" -> "VolumeArgs"."""
    module, _, resource = type_token.rpartition(":")
    if module != "fly-machines:apps/v1" or _resource_args_class(f"{resource}Args") is None:
        raise KeyError(f"no resource Args class for {type_token!r}")
    return f"{resource}Args"


def resource_problems(type_token: str, inputs: dict[str, Any], path: str = "inputs") -> list[str]:
    """Problems of a resource's recorded inputs (wire names) against its SDK Args class."""
    return problems_for(resource_args(type_token), inputs, path, wire=True)


def reachable(root: str = "ConfigArgsDict") -> set[str]:
    """Every TypedDict reachable from `root`, each resolved (raises on an unresolvable one)."""
    seen: set[str] = set()
    todo = [root]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_fields(name)[2])
    return seen
