"""Host: one machine of the inventory, reached over SSH with pulumi-command.

- `<host>-files` (`remote.CopyToRemote`): the host's directory (`files/` and its install and
  health scripts, `reactor_infra.host_files`), written locally under the user's cache directory,
  into `<home>/reactor-install`; copied again only when a file changes (its digest is the trigger).
- `<host>-secrets` (`remote.Command`): the Plan secrets the host's services read, written as
  0600 files into /etc/reactor/secrets from the command's standard input (a Pulumi secret),
  never a command line; run again when a value changes.
- `<host>-install` (`remote.Command`): `install.sh`, which changes only what differs and
  restarts reactor.service only then; run again in place when the files or secrets change (they
  are named in its command line by digest and id, never by value); when the host leaves the
  stack it stops and disables the service (data stays).
- `<host>-health` (`remote.Command`): `health.sh`, which waits until every service here answers
  its health check.

The SSH client verifies the host's key against the inventory's `host_key` (pulumi-command's
`connection.hostKey`): a host showing another key is refused before anything runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
from pulumi_command import remote

from reactor_infra.host_files import SECRETS_STORE, HostFiles

from .component import OnpremComponent

# reads "name value" lines; a file is replaced only when its value changed (a rerun changes nothing),
# and then `.changed` tells install.sh to restart the services that read it
WRITE_SECRETS = (
    'set -eu; umask 077; d="${REACTOR_ROOT:-}' + SECRETS_STORE + '"; mkdir -p "$d"; chmod 0700 "$d"; '
    'while read -r name value; do printf "%s\\n" "$value" > "$d/.$name.new"; '
    'if cmp -s "$d/.$name.new" "$d/$name"; then rm -f "$d/.$name.new"; '
    'else mv -f "$d/.$name.new" "$d/$name"; touch "$d/.changed"; echo "updated secret $name"; fi; done')


def install_dir(user: str) -> str:
    """Where the host's directory is copied: the SSH user's home (not a shared /tmp)."""
    return f"{'/root' if user == 'root' else '/home/' + user}/reactor-install"


def stage(files: HostFiles, directory: Path) -> pulumi.FileArchive:
    """The host's directory written locally (the scripts at its top, every other file under
    files/), as the archive CopyToRemote sends: released pulumi-command (1.2) copies only an
    archive that is a path (in-memory archives came later, pulumi/pulumi-command#1222). The
    trailing slash copies the directory's contents into the remote path. Rewritten each run
    (files no longer there removed); it holds no secret."""
    wanted = {(f"files{path}" if path.count("/") > 1 else path.lstrip("/")): text
              for path, (_, text) in files.files.items()}
    directory.mkdir(parents=True, exist_ok=True)
    for old in sorted(directory.rglob("*"), reverse=True):
        relative = old.relative_to(directory).as_posix()
        if old.name.startswith("."):
            continue  # another run's file being written
        if old.is_file() and relative not in wanted:
            old.unlink()
        elif old.is_dir() and not any(k.startswith(relative + "/") for k in wanted):
            old.rmdir()
    for relative, text in sorted(wanted.items()):
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text() != text:
            temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
            temporary.write_text(text)
            temporary.replace(path)
    return pulumi.FileArchive(f"{directory}/")


@dataclass(frozen=True)
class HostArgs:
    files: HostFiles  # what the host runs (host_files.onprem_hosts)
    staging: Path  # where the host's directory is written locally before the copy
    secrets: Mapping[str, pulumi.Output[str]]  # the values of files.secrets
    private_key: pulumi.Output[str] | None  # the SSH key's content (a secret); None: the agent
    after: Sequence[pulumi.Resource] = field(default_factory=list)  # the host before it (rolling order)


class Host(OnpremComponent):
    def __init__(self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None):
        files = args.files
        super().__init__(name, files.tier.name.value, opts)
        host = files.host
        assert host is not None, "an on-prem host comes from the inventory"
        self.connection = remote.ConnectionArgs(
            host=host.address, port=host.port, user=host.user, host_key=host.host_key,
            private_key=args.private_key, agent_socket_path=None)
        where = install_dir(host.user)
        first = pulumi.ResourceOptions(parent=self, depends_on=list(args.after))
        self.copy = remote.CopyToRemote(f"{name}-files", connection=self.connection, source=stage(files, args.staging),
                                        remote_path=where, triggers=[files.digest], opts=first)
        self.secrets = remote.Command(f"{name}-secrets", connection=self.connection,
                                      create=f"{host.sudo}sh -c '{WRITE_SECRETS}'", stdin=self._stdin(files, args.secrets),
                                      logging=remote.Logging.STDERR,
                                      # a new value replaces the step (a new id): install runs again
                                      opts=pulumi.ResourceOptions.merge(first, pulumi.ResourceOptions(
                                          replace_on_changes=["stdin"])))
        # What it installs is part of the command (not `triggers`, which would replace the step and
        # run its delete, stopping the service, after each change): a change runs it again in place;
        # the delete runs only when the host leaves the stack (data volumes stay).
        self.install = remote.Command(
            f"{name}-install", connection=self.connection,
            create=pulumi.Output.concat(f"{host.sudo}sh {where}/install.sh --for=", files.digest[:16], "-", self.secrets.id),
            delete=f"{host.sudo}systemctl disable --now reactor.service || true",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.copy, self.secrets]))
        self.health = remote.Command(
            f"{name}-health", connection=self.connection, create=f"{host.sudo}sh {where}/health.sh",
            triggers=[files.digest, self.secrets.id], opts=pulumi.ResourceOptions(parent=self, depends_on=[self.install]))
        self.register_outputs({"address": host.address})

    @staticmethod
    def _stdin(files: HostFiles, values: Mapping[str, pulumi.Output[str]]) -> pulumi.Output[str]:
        names = list(files.secrets)
        return pulumi.Output.secret(pulumi.Output.all(*(values[n] for n in names)).apply(
            lambda vs: "".join(f"{n} {v}\n" for n, v in zip(names, vs))))
