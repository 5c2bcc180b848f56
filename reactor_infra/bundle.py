"""`reactor-infra bundle`: everything an operator needs to install with no Pulumi and no internet.

    <out>/
      README.md              order of operations, the firewall (from the Plan's links), first boot
      bundle.json            token, stack, hosts, every file's sha256 (no secret)
      secrets/               every generated secret, 0600 in a 0700 directory (kept by a rebuild)
      images/                images.txt (the images and their pinned digests), save.sh, load.sh
      hosts/<host>/          one directory per host, copied to it as is:
        install.sh health.sh   run as root on the host (idempotent; stops at the first error)
        files/...              the host's files at their paths (compose project, units, configs)
        secrets/...            the secrets this host keeps (0600)

The per-host files are exactly what the `onprem` platform copies over SSH (`host_files`); on
`@local` one host holds every service. Secrets are generated here with the operating system's
random source and never printed; a rebuild into the same directory keeps them (new values
would orphan what the old ones encrypted). Written into a temporary directory beside `out` and
moved into place at the end: nothing half-written is ever left at `out`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets as random
import shutil
import string
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import bundle_readme, host_files, images, inventory
from .errors import UserError
from .layout import Plan, SecretGenerator
from .plan import ensure_deployable
from .token import Platform

MARKER = "bundle.json"
ALPHANUMERIC = string.ascii_letters + string.digits
_IMAGE = re.compile(r"^\s+image: (\S+)$", re.M)


@dataclass(frozen=True)
class Bundle:
    out: Path
    hosts: list[host_files.HostFiles]
    images: list[str]
    secrets_generated: int
    secrets_kept: int
    to_fill: list[str]  # secrets the operator writes before installing (their own, or after init)


def hosts_for(plan: Plan) -> list[host_files.HostFiles]:
    if plan.topology.platform is Platform.LOCAL:
        return [host_files.local_host(plan)]
    if plan.topology.platform is Platform.ONPREM:
        return host_files.onprem_hosts(plan, inventory.load(plan))
    raise UserError(f"bundle builds @onprem and @local installs (given {plan.topology}); "
                    f"a cloud install runs with `reactor-infra up {plan.topology}`")


def generate(generator: SecretGenerator) -> str:
    """One value as the Pulumi run would make it (random_secrets), from os.urandom."""
    if generator is SecretGenerator.TOKEN:
        return "".join(random.choice(ALPHANUMERIC) for _ in range(48))
    if generator is SecretGenerator.PASSWORD:
        return "".join(random.choice(ALPHANUMERIC) for _ in range(32))
    if generator is SecretGenerator.LETTERS:
        return "".join(random.choice(string.ascii_letters) for _ in range(32))
    if generator is SecretGenerator.BASE64_32:
        return base64.b64encode(os.urandom(32)).decode()
    if generator is SecretGenerator.HEX_64:
        return os.urandom(32).hex()
    return host_files.PLACEHOLDER  # init (OpenBao issues it) and the operator's own: written later


def image_list(hosts: list[host_files.HostFiles]) -> list[str]:
    found = set()
    for host in hosts:
        text = host.files.get(f"{host_files.node_boot.COMPOSE_DIR}/compose.yaml", ("", ""))[1]
        found |= set(_IMAGE.findall(text))
    return sorted(found)


def build(plan: Plan, out: Path, progress: Callable[[str], None] = lambda _: None) -> Bundle:
    ensure_deployable(plan)
    hosts = hosts_for(plan)
    out = out.resolve()
    kept = _existing_secrets(plan, out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--out {out}: cannot create its parent directory ({err.strerror})") from None
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))  # beside out: one rename
    try:
        values, generated = {}, 0
        for secret in plan.secrets:
            if secret.name in kept:
                values[secret.name] = kept[secret.name]
            else:
                values[secret.name] = generate(secret.generator)
                generated += secret.generator not in (SecretGenerator.INIT, SecretGenerator.PLATFORM)
        _write_secrets(staging / "secrets", values)
        manifest: dict[str, dict[str, str]] = {}
        for host in hosts:
            progress(f"host {host.name}: {len(host.files)} files, {len(host.secrets)} secrets")
            manifest[host.name] = _write_host(staging / "hosts" / host.name, host, values)
        listed = image_list(hosts)
        _write(staging / "images" / "images.txt", images_txt(plan, listed), 0o644)
        _write(staging / "images" / "save.sh", bundle_readme.save_script(plan, listed), 0o755)
        _write(staging / "images" / "load.sh", bundle_readme.load_script(plan), 0o755)
        to_fill = sorted(name for name, value in values.items() if value == host_files.PLACEHOLDER)
        _write(staging / "README.md", bundle_readme.readme(plan, hosts, listed, to_fill), 0o644)
        _write(staging / MARKER, json.dumps({"token": str(plan.topology), "stack": plan.stack,
                                             "hosts": manifest}, indent=2, sort_keys=True) + "\n", 0o644)
        _swap(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Bundle(out=out, hosts=hosts, images=listed, secrets_generated=generated, secrets_kept=len(kept),
                  to_fill=to_fill)


def images_txt(plan: Plan, listed: list[str]) -> str:
    lines = [f"# The images of {plan.topology} (stack {plan.stack}), one per line. A reference pinned by digest",
             "# (name@sha256:...) is loaded only with that digest; save.sh records the digest of every other",
             "# one into digests.txt, which load.sh checks."]
    unbuilt = [i for i in listed if i.startswith(images.UNBUILT_REGISTRY + "/")]
    if unbuilt:
        lines.append("# built by `reactor-infra images build` (v1 publishes no image): " + ", ".join(unbuilt))
    return "\n".join(lines + listed) + "\n"


def _existing_secrets(plan: Plan, out: Path) -> dict[str, str]:
    """A rebuild keeps the secrets of the bundle already at `out` (of the same stack)."""
    if not out.exists():
        return {}
    if not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory")
    marker = out / MARKER
    if not marker.exists():
        if any(out.iterdir()):
            raise UserError(f"--out {out}: holds files but no bundle; give an empty or new directory")
        return {}
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        recorded = None
    if not isinstance(recorded, dict) or "stack" not in recorded:
        raise UserError(f"--out {out}: its {MARKER} is not a bundle's; give an empty or new directory")
    stack = recorded["stack"]
    if stack != plan.stack:
        raise UserError(f"--out {out}: holds the bundle of stack {stack!r}, not {plan.stack!r}; give another directory")
    names = {s.name for s in plan.secrets}
    return {p.name: p.read_text().rstrip("\n") for p in (out / "secrets").glob("*") if p.name in names}


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _write_secrets(directory: Path, values: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, value in sorted(values.items()):
        _write(directory / name, value + "\n", 0o600)


def _write_host(directory: Path, host: host_files.HostFiles, values: dict[str, str]) -> dict[str, str]:
    manifest = {}
    for path, (mode, text) in sorted(host.files.items()):
        relative = f"files{path}" if path.count("/") > 1 else path.lstrip("/")
        _write(directory / relative, text, int(mode, 8))
        manifest[relative] = hashlib.sha256(text.encode()).hexdigest()
    _write_secrets(directory / "secrets", {name: values[name] for name in host.secrets})
    return manifest


def _swap(staging: Path, out: Path) -> None:
    """`out` becomes the staging directory in one rename (the old bundle moved aside first)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        out.rename(old)
    staging.rename(out)
    os.chmod(out, 0o700)  # the secrets are inside
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
