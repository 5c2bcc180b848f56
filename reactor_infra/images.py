"""The images reactor-infra builds, and the image each service of a Plan runs.

Reactor v1 publishes no image (`ghcr.io/reactor-cloud/reactor` is the v2 runtime, which cannot
read the Reactor.toml we write), so three services run images built from `images/<dir>/Dockerfile`:

- reactor-server, from a pinned commit of reactor-cloud/reactor-cloud, with the cargo features the
  topology needs (`openbao` when the vault is OpenBao);
- reactor-gateway-server, from the same commit, when the topology runs a gateway;
- a Caddy with the Route 53 and Cloudflare DNS-01 modules, for edition C (wildcard TLS).

Until the stack names its own image, a service runs the *default* of its build: a tag under the
never-resolvable registry `reactor-infra.invalid/` (RFC 2606), so an unbuilt default is never
pulled from someone else's registry. `reactor-infra images build` builds exactly those tags (and
pushes them with --push); `validate` and `up` name the images still unbuilt.

Pure: no Pulumi, no docker. `cli_images` runs docker with the argv built here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError, shorten
from .layout import Plan, Service, VaultMode

S = Service

REACTOR_REPO = "https://github.com/reactor-cloud/reactor-cloud.git"
# the one public commit of the v1 workspace (shared/reference/reactor-runtime.md)
REACTOR_COMMIT = "4747219f377b7ae1ddc1efb4483f1e0c9571ad77"
# a reserved top-level domain: a reference under it never resolves, so it can never be pulled
UNBUILT_REGISTRY = "reactor-infra.invalid"

CADDY_VERSION = "2.11"
CADDY_UPSTREAM = f"caddy:{CADDY_VERSION}"  # the stock image, for every edition but C
# (build arg, module, version): route53 >= v1.6 speaks libdns 1.0, which Caddy >= 2.10 needs
CADDY_DNS_MODULES = (("CADDY_DNS_ROUTE53", "route53", "v1.6.2"),
                     ("CADDY_DNS_CLOUDFLARE", "cloudflare", "v0.2.4"),
                     ("CADDY_DNS_GOOGLECLOUDDNS", "googleclouddns", "v1.1.0"),
                     # azure >= v0.6.0: libdns 1.0, and a managed identity when no client secret is given
                     ("CADDY_DNS_AZURE", "azure", "v0.6.0"))

# Where the Dockerfiles are: an installed wheel carries them inside the package, a checkout
# reads the repository's images/ directory.
_PACKAGE_DIR = Path(__file__).resolve().parent
IMAGES_DIRS = (_PACKAGE_DIR / "_images", _PACKAGE_DIR.parent / "images")


@dataclass(frozen=True)
class Build:
    """One image we build: its service, repository name, Dockerfile directory (under images/),
    build arguments in the order they are passed, tag, and the cargo features it carries."""

    service: Service
    name: str
    directory: str
    args: tuple[tuple[str, str], ...]
    tag: str
    features: tuple[str, ...] = ()

    @property
    def setting(self) -> str:
        """The stack key that overrides it: images.<setting>."""
        return self.service.value.replace("-", "_")

    @property
    def ref(self) -> str:
        """The default (local) reference, under the never-resolvable registry."""
        return f"{UNBUILT_REGISTRY}/{self.name}:{self.tag}"

    def ref_in(self, registry: str) -> str:
        """The reference it is pushed as: REGISTRY/<name>:<tag>."""
        return f"{registry}/{self.name}:{self.tag}"


def _short(commit: str) -> str:
    return commit[:7]


def reactor_server_build(features: tuple[str, ...] = ()) -> Build:
    tag = "-".join((f"v1-{_short(REACTOR_COMMIT)}", *features))
    return Build(S.REACTOR_SERVER, "reactor-server", "reactor-server",
                 (("REACTOR_COMMIT", REACTOR_COMMIT), ("FEATURES", ",".join(features))), tag, features)


def gateway_server_build() -> Build:
    return Build(S.GATEWAY_SERVER, "reactor-gateway-server", "gateway-server",
                 (("REACTOR_COMMIT", REACTOR_COMMIT),), f"v1-{_short(REACTOR_COMMIT)}")


def caddy_dns_build() -> Build:
    tag = "-".join((CADDY_VERSION, *(f"{module}-{version}" for _, module, version in CADDY_DNS_MODULES)))
    return Build(S.CADDY, "caddy-dns", "caddy", tuple((arg, version) for arg, _, version in CADDY_DNS_MODULES), tag)


def features_for(plan: Plan) -> tuple[str, ...]:
    """The cargo features reactor-server needs on top of its default (g2-full)."""
    return ("openbao",) if plan.vault is VaultMode.OPENBAO else ()


def default_build(plan: Plan, service: Service) -> Build | None:
    """The build whose tag is the service's default, whether or not the plan runs it; None for
    services that run an upstream image."""
    if service is S.REACTOR_SERVER:
        return reactor_server_build(features_for(plan))
    if service is S.GATEWAY_SERVER:
        return gateway_server_build()
    if service is S.CADDY and plan.policy.multi_tenant:
        return caddy_dns_build()  # edition C: wildcard certificates over DNS-01
    return None


def required_builds(plan: Plan) -> tuple[Build, ...]:
    """The builds this topology needs (whatever the stack overrides): reactor-server always,
    gateway-server when the plan runs it, the DNS Caddy when edition C runs a Caddy."""
    builds = (default_build(plan, s) for s in (S.REACTOR_SERVER, S.GATEWAY_SERVER, S.CADDY)
              if s in plan.services)
    return tuple(b for b in builds if b is not None)


def resolve(plan: Plan, service: Service) -> str:
    """The image a service runs: the stack's images.<service> if set, else the default (the
    local build's tag for our builds, the upstream image for the others)."""
    ref = getattr(plan.settings.images, service.value.replace("-", "_"))
    if ref is not None:
        return ref
    build = default_build(plan, service)
    if build is not None:
        return build.ref
    if service is S.CADDY:
        return CADDY_UPSTREAM
    raise ValueError(f"no image for {service}")  # pragma: no cover - every other service has a setting default


def is_unbuilt(ref: str) -> bool:
    return ref.startswith(f"{UNBUILT_REGISTRY}/")


def unbuilt(plan: Plan) -> list[tuple[Service, str, tuple[str, ...]]]:
    """(service, image, cargo features) for each service of the plan whose image is still a
    default under reactor-infra.invalid/: built on this Docker host at best, pullable nowhere."""
    found = []
    for service in dict.fromkeys((S.REACTOR_SERVER, S.GATEWAY_SERVER, S.CADDY, *plan.services)):
        if service not in plan.services:
            continue
        ref = resolve(plan, service)
        if is_unbuilt(ref):
            build = default_build(plan, service)
            found.append((service, ref, build.features if build else ()))
    return found


def build_command(source: str, remote: bool) -> str:
    """The command that builds a plan's images; `source` is the token or `--stack FILE`."""
    return f"reactor-infra images build {source}" + (" --push REGISTRY" if remote else "")


def images_dir() -> Path:
    for path in IMAGES_DIRS:
        if (path / "reactor-server" / "Dockerfile").is_file():
            return path
    raise FileNotFoundError(f"reactor-infra images not found in {', '.join(map(str, IMAGES_DIRS))}")


# --- docker argv ---------------------------------------------------------------------------------

_DOMAIN_PART = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REGISTRY = re.compile(rf"^{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*(?::[0-9]+)?(?:/{_PATH_PART})*$")
_PLATFORM = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/v[0-9]+)?$")


def check_registry(text: str) -> str:
    """A registry and optional namespace to push to (`ghcr.io/acme`, `localhost:5000`,
    `123456789012.dkr.ecr.eu-west-1.amazonaws.com/reactor`), without a trailing slash."""
    registry = text.strip().rstrip("/")
    shown = shorten(text)
    if "://" in registry:
        raise UserError(f"--push: '{shown}' has a scheme; give the registry as it starts an image name, "
                        f"such as 'ghcr.io/acme'")
    if not _REGISTRY.match(registry):
        raise UserError(f"--push: '{shown}' is not a registry to push to, such as 'ghcr.io/acme', "
                        f"'localhost:5000' or '<account>.dkr.ecr.<region>.amazonaws.com/reactor' "
                        f"(no tag; lowercase after the host)")
    if registry.split("/")[0] == UNBUILT_REGISTRY:
        raise UserError(f"--push: {UNBUILT_REGISTRY} never resolves (it marks unbuilt defaults); "
                        f"give a registry you can push to")
    return registry


def check_platform(text: str) -> str:
    if not _PLATFORM.match(text):
        raise UserError(f"--platform: '{shorten(text)}' is not one platform such as 'linux/amd64' or 'linux/arm64'")
    return text


def build_argv(build: Build, context: Path, registry: str | None = None, platform: str | None = None) -> list[str]:
    """`docker build` for one image: its build args, the default tag (and the registry's, with
    --push), the platform if given, and its Dockerfile directory as the context."""
    argv = ["docker", "build"]
    for name, value in build.args:
        argv += ["--build-arg", f"{name}={value}"]
    argv += ["--tag", build.ref]
    if registry:
        argv += ["--tag", build.ref_in(registry)]
    if platform:
        argv += ["--platform", platform]
    return [*argv, str(context / build.directory)]


def push_argv(build: Build, registry: str) -> list[str]:
    return ["docker", "push", build.ref_in(registry)]


def stack_snippet(builds: tuple[Build, ...], registry: str | None) -> str:
    """The lines to paste under `config:` of the stack file."""
    lines = ["  reactor-infra:images:"]
    lines += [f"    {b.setting}: {b.ref_in(registry) if registry else b.ref}" for b in builds]
    return "\n".join(lines) + "\n"


__all__ = ["Build", "CADDY_DNS_MODULES", "CADDY_UPSTREAM", "REACTOR_COMMIT", "UNBUILT_REGISTRY",
           "build_argv", "build_command", "check_platform", "check_registry", "default_build",
           "features_for", "images_dir", "is_unbuilt", "push_argv", "required_builds", "resolve",
           "stack_snippet", "unbuilt"]
