"""Offline render: run the program in-process under Pulumi's mock engine and record it.

No CLI, no credentials, no network. A `Recorder` (a MockMonitor) keeps every
registration with its full request (type, name, parent, inputs, dependencies, provider,
options, secret outputs) and every invoke; `mocks.py` answers with deterministic,
plausible outputs. The records become a `ResourceGraph` with engine-style URNs,
secrets masked as "[secret]" and a stable order, so the same input renders
byte-identically in any process.

Many renders in one process must not share state (pulumi-notes §1): each runs in a copy
of the current context, with its own event loop, a cleared root resource and a fresh
outputs set and lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import OperationError, PulumiMissingError, ReactorInfraError
from .graph import SECRET, UNKNOWN, Invoke, Resource, ResourceGraph, tier_of
from .platforms import Platform, for_topology
from .settings import StackSettings
from .token import Topology, parse

PROJECT = "reactor-infra"
_SECRET_KEYS_IN_PARENTS = ("__provider",)


@dataclass
class _Registration:
    type: str
    name: str
    mock_urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    protect: bool
    secret_outputs: list[str]
    delete_before_replace: bool
    ignore_changes: list[str]
    retain_on_delete: bool
    state: dict[str, Any] = field(default_factory=dict)


def _make_recorder(region: str, platform: Platform | None):
    """Build the Mocks and the recording MockMonitor (Pulumi imported only here)."""
    from pulumi.runtime import mocks as pm
    from pulumi.runtime import rpc
    from pulumi.runtime.proto import resource_pb2
    from pulumi.runtime.sync_await import _sync_await

    from . import mocks

    # a resource made through an explicit provider answers in that provider's region (+mr)
    provider_regions: dict[str, str] = {}

    def region_of(provider_ref: str | None) -> str:
        return provider_regions.get((provider_ref or "").rsplit("::", 1)[0], region)

    class RenderMocks(pm.Mocks):
        def new_resource(self, args: pm.MockResourceArgs):
            return mocks.resource_state(args.typ, args.name, _plain(args.inputs), region_of(args.provider), platform)

        def call(self, args: pm.MockCallArgs):
            return mocks.call_result(args.token, _plain(args.args), region_of(args.provider), platform)

    class Recorder(pm.MockMonitor):
        def __init__(self) -> None:
            super().__init__(RenderMocks())
            self.lock = threading.Lock()
            self.registrations: list[_Registration] = []
            self.invokes: list[Invoke] = []
            self.duplicates: list[str] = []
            self.claimed: set[str] = set()
            self.stack_urn = ""

        def RegisterResource(self, request):  # noqa: N802 - the gRPC name
            with _own_thread_loop():
                return self._register(request)

        def _register(self, request):
            urn = self.make_urn(request.parent, request.type, request.name)
            if request.type == "pulumi:pulumi:Stack":
                self.stack_urn = urn
                return resource_pb2.RegisterResourceResponse(urn=urn)
            with self.lock:  # registrations run on executor threads: check and claim at once
                if urn in self.claimed:  # the engine refuses this; the mock monitor would not
                    self.duplicates.append(urn.replace("pulumi:pulumi:Stack$", "", 1))
                self.claimed.add(urn)
            inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
            if request.type.startswith("pulumi:providers:") and isinstance(inputs.get("region"), str):
                provider_regions[urn] = inputs["region"]
            id_, state = self.mocks.new_resource(pm.MockResourceArgs(
                typ=request.type, name=request.name, inputs=inputs, provider=request.provider,
                resource_id=request.importId, custom=request.custom or False))
            secret_outputs = list(request.additionalSecretOutputs)
            # the engine marks a schema's secret outputs secret; under mocks we must
            wire_state = {k: rpc.wrap_rpc_secret(v) if k in secret_outputs else v for k, v in state.items()}
            obj = _sync_await(rpc.serialize_properties(wire_state, {}))
            self.resources[urn] = pm.MockMonitor.ResourceRegistration(urn, id_, state)
            with self.lock:
                self.registrations.append(_Registration(
                    type=request.type, name=request.name, mock_urn=urn, parent=request.parent,
                    custom=bool(request.custom), inputs=inputs, dependencies=list(request.dependencies),
                    property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                    provider=request.provider, protect=bool(request.protect), secret_outputs=secret_outputs,
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    ignore_changes=list(request.ignoreChanges),
                    retain_on_delete=bool(request.retainOnDelete), state=state))
            return resource_pb2.RegisterResourceResponse(urn=urn, id=id_ or "", object=obj)

        def Invoke(self, request):  # noqa: N802
            with _own_thread_loop():
                response = super().Invoke(request)
                args = rpc.deserialize_properties(request.args)
            with self.lock:
                self.invokes.append(Invoke(request.tok, _mask(args, set())))
            return response

    return Recorder()


@contextlib.contextmanager
def _own_thread_loop():
    """The mock monitor makes an event loop in each executor thread it runs on and leaves it
    open; at exit those loops were collected half-closed ("Invalid file descriptor: -1").
    Close the loop a call made for itself once the call is done."""
    policy = asyncio.get_event_loop_policy()
    local = getattr(policy, "_local", None)
    before = getattr(local, "_loop", None)
    try:
        yield
    finally:
        loop = getattr(local, "_loop", None)
        if before is None and loop is not None and not loop.is_running() and threading.current_thread() \
                is not threading.main_thread():
            loop.close()
            policy.set_event_loop(None)


def _plain(value: Any) -> Any:
    """Inputs as the mocks see them: secrets unwrapped (mocks only compute fakes from them)."""
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _mask(value: Any, secret_keys: set[str], key: str | None = None) -> Any:
    """Replace secrets by "[secret]" and unknowns by "[unknown]"; JSON-safe."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value) or (key is not None and key in secret_keys):
        return SECRET
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {str(k): _mask(v, set()) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_mask(v, set()) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire format has only doubles; ports and counts read as ints
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    return _asset(value)


def _asset(value: Any) -> Any:
    """An archive of text assets as {"archive": {name: text}} (what a host is sent, for the
    snapshot and the diff to show); other assets, archives and references by their type."""
    import pulumi

    if isinstance(value, pulumi.AssetArchive) and all(isinstance(a, pulumi.StringAsset) for a in value.assets.values()):
        return {"archive": {name: value.assets[name].text for name in sorted(value.assets)}}
    if isinstance(value, pulumi.FileArchive) and Path(value.path).is_dir():  # what a directory holds, not where
        root = Path(value.path)
        return {"archive": {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}}
    return f"<{type(value).__name__}>"  # assets, archives, resource references


def _secret_keys(reg: _Registration) -> list[str]:
    from pulumi.runtime import rpc

    keys = {k for k, v in reg.inputs.items() if rpc.is_rpc_secret(v)}
    keys |= {k for k in reg.secret_outputs if k in reg.inputs}
    keys |= {k for k in _SECRET_KEYS_IN_PARENTS if k in reg.inputs}
    return sorted(keys)


def _build_graph(topology: Topology, stack: str, recorder, outputs: dict[str, Any]) -> ResourceGraph:
    regs = {r.mock_urn: r for r in recorder.registrations}
    ancestries: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def ancestry(mock_urn: str) -> list[tuple[str, dict[str, Any]]]:
        """(type, inputs) from the top-level ancestor down to the resource itself."""
        if mock_urn not in ancestries:
            reg = regs[mock_urn]
            parent = reg.parent if reg.parent in regs else None
            ancestries[mock_urn] = (ancestry(parent) if parent else []) + [(reg.type, reg.inputs)]
        return ancestries[mock_urn]

    def chain(mock_urn: str) -> list[str]:
        return [type_ for type_, _ in ancestry(mock_urn)]

    def real_urn(mock_urn: str) -> str:
        # the engine's URN: the parent's full type chain, without the root stack (pulumi-notes §1)
        return f"urn:pulumi:{stack}::{PROJECT}::{'$'.join(chain(mock_urn))}::{regs[mock_urn].name}"

    def ref(urn: str) -> str | None:
        return real_urn(urn) if urn in regs else None

    resources = []
    for reg in regs.values():
        secret_keys = _secret_keys(reg)
        provider = reg.provider.rsplit("::", 1)[0] if reg.provider else ""
        resources.append(Resource(
            urn=real_urn(reg.mock_urn), type=reg.type, name=reg.name,
            parent=ref(reg.parent), component=tier_of(ancestry(reg.mock_urn)), custom=reg.custom,
            inputs={k: _mask(v, set(secret_keys), k) for k, v in sorted(reg.inputs.items())},
            dependencies=tuple(sorted({u for d in reg.dependencies if (u := ref(d))})),
            property_dependencies={k: tuple(sorted({u for d in v if (u := ref(d))}))
                                   for k, v in sorted(reg.property_dependencies.items()) if v},
            provider=ref(provider) if provider else None,
            protect=reg.protect, secret_inputs=tuple(secret_keys),
            delete_before_replace=reg.delete_before_replace,
            ignore_changes=tuple(sorted(reg.ignore_changes)), retain_on_delete=reg.retain_on_delete,
        ))
    resources.sort(key=lambda r: r.urn)
    invokes = tuple(sorted(recorder.invokes, key=lambda i: (i.token, repr(sorted(i.args.items())))))
    state = {real_urn(u): r.state for u, r in regs.items()}
    return ResourceGraph(topology=topology.token, stack=stack, resources=tuple(resources),
                         outputs=outputs, invokes=invokes, _state=state)


async def _exports() -> dict[str, Any]:
    from pulumi import Output
    from pulumi.runtime.settings import get_root_resource

    root = get_root_resource()
    result: dict[str, Any] = {}
    for name, value in sorted((getattr(root, "outputs", None) or {}).items()):
        out = Output.from_input(value)
        resolved = await out.future(with_unknowns=True)
        secret = await out.is_secret()
        result[name] = SECRET if secret else _mask(resolved, set())
    return result


def _run_in_context(topology: Topology, stack: str, region: str, body: Callable[[], Any],
                    config: dict[str, str], platform: Platform | None = None) -> ResourceGraph:
    import pulumi.runtime as rt
    from pulumi.runtime import settings as rs
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    from .kit.operator import OFFLINE

    loop = asyncio.new_event_loop()
    failed = threading.Event()
    loop.set_exception_handler(_quiet_after_failure(failed))
    asyncio.set_event_loop(loop)
    # operator secrets become [secret] stand-ins only while this program runs: a real run later
    # in the same process reads them from the stack's config (kit.operator_secret)
    offline = OFFLINE.set(True)
    try:
        rs.ROOT.set(None)
        rs.SETTINGS.outputs = set()
        rs.SETTINGS.lock = threading.Lock()
        rt.config.set_all_config(dict(config), [])
        recorder = _make_recorder(region, platform)
        rt.set_mocks(recorder.mocks, project=PROJECT, stack=stack, preview=False, monitor=recorder)
        try:
            _sync_await(run_pulumi_func(lambda: _without_aliases(body)))
        except ReactorInfraError:
            raise
        except Exception as err:  # a platform bug or an SDK TypeError: say where, not a traceback
            failed.set()
            raise _failure(topology, err) from err
        if recorder.duplicates:
            raise OperationError(f"render of {topology} failed: two resources share the URN "
                                 f"{recorder.duplicates[0]} (the engine would refuse the program)")
        outputs = _sync_await(_exports())
        return _build_graph(topology, stack, recorder, outputs)
    finally:
        OFFLINE.reset(offline)
        rs.ROOT.set(None)
        asyncio.set_event_loop(None)
        loop.close()


def _without_aliases(body: Callable[[], Any]) -> Any:
    """Run the program with every resource's aliases dropped. Aliases tie a resource to the state
    of an earlier name or type, and an offline render has no state; azure-native lists every
    earlier API version of each type as one, and the SDK computes each alias's URN in every
    resource's constructor (a render of E6+ha+mr@azure took 8.3 s with them, 2.6 s without,
    byte-identical). A real run keeps them."""
    import pulumi

    def drop(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.opts is None or not args.opts.aliases:
            return None
        opts = args.opts._copy()
        opts.aliases = None
        return pulumi.ResourceTransformationResult(args.props, opts)

    pulumi.runtime.register_stack_transformation(drop)
    return body()


def _quiet_after_failure(failed: threading.Event):
    """After a failed program, its abandoned tasks and futures are collected later and asyncio
    would print "Task was destroyed but it is pending!" / "Future exception was never
    retrieved" with tracebacks; the failure is already raised as one OperationError."""

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if not failed.is_set():
            loop.default_exception_handler(context)

    return handler


def _failure(topology: Topology, err: BaseException) -> OperationError:
    """One line naming the resource being built and the program line that failed.

    A program fails either in a resource's constructor (synchronously, with the SDK's
    resource class on the stack) or later inside Pulumi's `do_register` task (an input's
    apply, a type check), whose frame holds the resource's type and name."""
    where = _failing_resource(err)
    at = _program_line(err)
    message = " ".join(str(err).split()) or type(err).__name__
    text = f"render of {topology} failed{' in ' + where if where else ''}: {type(err).__name__}: {message}"
    return OperationError(text[:600] + (f" (at {at})" if at else ""))


def _frames(err: BaseException):
    tb = err.__traceback__
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _failing_resource(err: BaseException) -> str | None:
    """`<type> '<name>'` of the innermost resource on the failing stack, if any."""
    import pulumi

    found = None
    for frame, _ in _frames(err):
        local = frame.f_locals
        if frame.f_code.co_name == "do_register" and isinstance(local.get("name"), str):
            found = f"{local.get('ty', 'resource')} '{local['name']}'"
            continue
        owner = local.get("self", local.get("__self__"))
        name = local.get("resource_name", local.get("name"))
        if isinstance(owner, pulumi.Resource) and isinstance(name, str):
            cls = type(owner)
            type_ = local.get("t") if isinstance(local.get("t"), str) else f"{cls.__module__}.{cls.__qualname__}"
            found = f"{type_} '{name}'"
    return found


def _program_line(err: BaseException) -> str | None:
    """The innermost frame outside Pulumi's SDKs and this module: the line to look at."""
    import os

    skip = (os.sep + "pulumi" + os.sep, os.sep + "pulumi_", os.sep + "asyncio" + os.sep, __file__)
    line = None
    for frame, lineno in _frames(err):
        path = frame.f_code.co_filename
        if not any(s in path for s in skip):
            line = f"{path}:{lineno}"
    return line


def _program():
    """The Pulumi program module, or one line saying what to install."""
    try:
        from . import program
    except ImportError as err:
        raise PulumiMissingError(f"the Pulumi SDK is not installed ({err}); install a platform, "
                                 "e.g. pip install 'reactor-infra-aws', or pip install 'reactor-infra[pulumi]'") from None
    return program


def render(token: str | Topology | None = None, settings: StackSettings | None = None,
           stack_file: str | Path | None = None, *, platform: Platform | None = None,
           stack: str | None = None) -> ResourceGraph:
    """Render a topology offline. With `stack_file`, render it as `pulumi up -s <stack>` runs
    it (a given token wins over the file's). `platform` injects a Platform object instead of
    the installed plugin (tests). Raises UserError for bad input, OperationError when the
    program fails; never leaves Pulumi's global state behind."""
    from .plan import build_plan, ensure_deployable

    if stack_file is not None:
        return render_stack_file(stack_file, token=token, platform=platform)
    topology = parse(token or "") if not isinstance(token, Topology) else token
    platform = platform or for_topology(topology)  # a missing plugin is said before Pulumi starts
    region = ensure_deployable(build_plan(topology, settings)).primary_region  # bad settings are said here too
    program = _program()
    context = contextvars.copy_context()
    return context.run(_run_in_context, topology, stack or topology.slug, region,
                       lambda: program.run(topology, settings, platform), {}, platform)


def render_stack_file(path: str | Path, token: str | Topology | None = None, *,
                      platform: Platform | None = None) -> ResourceGraph:
    """Render the way `pulumi up -s <stack>` runs this repository: the stack file's config
    handed to `program.main()` as the Pulumi CLI hands it (namespaced keys, JSON for
    structured values)."""
    import json

    import yaml

    from .plan import build_plan, ensure_deployable
    from .settings import CONFIG_NAMESPACE, read_stack_file

    given = str(token) if token is not None else None
    stack_file = read_stack_file(path, given)  # bad input is said before Pulumi starts
    platform = platform or for_topology(stack_file.topology)
    program = _program()
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    config = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in (doc.get("config") or {}).items()}
    config[f"{CONFIG_NAMESPACE}:token"] = stack_file.topology.token
    region = ensure_deployable(build_plan(stack_file.topology, stack_file.settings)).primary_region
    context = contextvars.copy_context()
    return context.run(_run_in_context, stack_file.topology, stack_file.name, region,
                       lambda: program.main(platform), config, platform)
