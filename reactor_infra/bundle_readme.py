"""The texts of a bundle besides the hosts' files: its README (order of operations, the firewall
from the Plan's links, first boot) and the image scripts. Pure: same plan, same text."""

from __future__ import annotations

from . import host_firewall, host_files, inventory
from .layout import DatabaseHosting, Plan, Service, VaultMode
from .token import Platform

S = Service


def save_script(plan: Plan, listed: list[str]) -> str:
    return "\n".join([
        "#!/bin/sh",
        f"# images/save.sh for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        "# Run it on a machine with Docker that reaches the registries (and holds the images built with",
        "# `reactor-infra images build`): it pulls each image of images.txt, records its image id (the",
        "# sha256 of its content, which docker load keeps) into digests.txt and saves them into images.tar.",
        "set -eu",
        'here=$(cd "$(dirname "$0")" && pwd)',
        "list=$(grep -v '^#' \"$here/images.txt\")",
        ': > "$here/digests.txt.new"',
        "for image in $list; do",
        '  if ! docker image inspect "$image" >/dev/null 2>&1; then',
        '    case "$image" in reactor-infra.invalid/*)',
        '      echo "save.sh: $image is built, not pulled: reactor-infra images build --stack <stack file>" >&2; exit 1 ;;',
        "    esac",
        '    docker pull --quiet "$image" >/dev/null',
        "  fi",
        "  printf '%s %s\\n' \"$image\" \"$(docker image inspect --format '{{.Id}}' \"$image\")\" >> \"$here/digests.txt.new\"",
        "done",
        '# shellcheck disable=SC2086  # one word per image',
        'docker save -o "$here/images.tar.new" $list',
        'mv -f "$here/digests.txt.new" "$here/digests.txt" && mv -f "$here/images.tar.new" "$here/images.tar"',
        f'echo "save.sh: {len(listed)} images in images.tar, their ids in digests.txt"',
        "",
    ])


def load_script(plan: Plan) -> str:
    return "\n".join([
        "#!/bin/sh",
        f"# images/load.sh for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
        "# Run it as root on every host, with images.tar and digests.txt from save.sh beside it: it loads",
        "# the images and refuses any whose id differs from the one recorded when they were saved.",
        "set -eu",
        'here=$(cd "$(dirname "$0")" && pwd)',
        'fail() { echo "load.sh: $*" >&2; exit 1; }',
        '[ -f "$here/images.tar" ] && [ -f "$here/digests.txt" ] || fail "images.tar or digests.txt is missing: run save.sh on a connected machine first"',
        'docker load -i "$here/images.tar" >/dev/null',
        "while read -r image id; do",
        "  got=$(docker image inspect --format '{{.Id}}' \"$image\" 2>/dev/null) || fail \"$image is not in images.tar\"",
        '  [ "$got" = "$id" ] || fail "$image is $got, not the $id saved"',
        '  echo "load.sh: $image $id"',
        'done < "$here/digests.txt"',
        "",
    ])


def readme(plan: Plan, hosts: list[host_files.HostFiles], listed: list[str], to_fill: list[str]) -> str:
    local = plan.topology.platform is Platform.LOCAL
    lines = [
        f"# {plan.topology} — install bundle (stack {plan.stack})",
        "",
        f"Rendered by reactor-infra for an install with no Pulumi and no internet. {len(hosts)} "
        f"host{'s' * (len(hosts) != 1)}, {len(listed)} images. Nothing here but `secrets/` and each host's "
        "`secrets/` holds a secret; keep this directory as you keep those (it is 0700).",
        "",
        "## What each host needs",
        "",
        "Linux with systemd, Docker Engine and its compose plugin (`docker compose version`), `iptables`",
        "" if local else "(the host's firewall below), SSH for the copy, root (or sudo).",
    ]
    if any(host_files.node_boot.SHARED_ROOT in t for h in hosts for _, t in h.files.values()):
        lines.append("Hosts that share files mount the NFS export of `extras.onprem.shared_filesystem` (nfs-common).")
    lines += ["", "## Order of operations", "",
              "1. On a machine with Docker and the registries: `sh images/save.sh` (after `reactor-infra images build`",
              "   for the images v1 does not publish). Carry `images/` to the site.",
              "2. On every host, in this order (each waits for the ones before it):", ""]
    for host in hosts:
        where = "this Docker host" if host.host is None else f"`{host.host.user}@{host.host.address}` (port {host.host.port})"
        services = ", ".join(s.value for s in host.services)
        lines.append(f"   - **{host.name}** ({host.tier.name.value}; {services}) on {where}")
    lines += ["",
              "   copy `images/` and `hosts/<host>/` to it (`scp -rp`, which keeps the secrets 0600, checking",
              "   the host key below), then as root:",
              "",
              "       sh images/load.sh && sh <host>/install.sh && sh <host>/health.sh",
              "",
              "   `install.sh` places the files, keeps the secrets as 0600 files in "
              f"`{host_files.SECRETS_STORE}`, and starts `reactor.service`; run again, it changes nothing. ",
              "   `health.sh` waits until every service of the host answers its health check.",
              ""]
    if plan.vault is VaultMode.OPENBAO:
        lines += _first_boot(plan, hosts)
    lines += _secrets(plan, to_fill)
    if plan.database.hosting is DatabaseHosting.MANAGED:
        lines += ["## The database", "",
                  "The operator's Postgres (`extras.onprem.database_url`): the app hosts' roles step connects as its",
                  "admin role (password in `secrets/database-admin-password`) and creates the `reactor` and gateway",
                  "roles, their database and the `citext` extension; it runs again at every start and changes nothing",
                  "once done. With +ha the URL names the writer of a primary/standby pair (a floating address that",
                  "follows failover).", ""]
    if not local:
        lines += _firewall(plan, hosts)
        lines += ["## Host keys", "", "Check each host's key before the first copy (`ssh-keygen -lf` on its console):", ""]
        lines += [f"- {h.name}: `{inventory.fingerprint(h.host.host_key)}`" for h in hosts if h.host]
        lines.append("")
    return "\n".join(lines)


def _first_boot(plan: Plan, hosts: list[host_files.HostFiles]) -> list[str]:
    first = next(h for h in hosts if h.openbao == "first")
    followers = [h.name for h in hosts if h.openbao == "follower"]
    script = host_files.node_boot.BOOTSTRAP_SCRIPT
    lines = ["## First boot: OpenBao (Shamir seal, an operator step)", "",
             "OpenBao seals with Shamir keys here (no cloud KMS). After its host is installed, initialise it once",
             f"on **{first.name}**, as root:", "",
             f"    sh {script} --operator-dir {host_files.OPENBAO_INIT_DIR} --shares 5 --threshold 3", "",
             "It initialises OpenBao, unseals it, enables KV v2 and transit, writes the `reactor` policy, creates",
             "reactor-server's token and revokes the root token; the unseal keys (`openbao-recovery`) and the token",
             f"(`openbao-token`) land in {host_files.OPENBAO_INIT_DIR} (0700, files 0600), never printed. Hand the",
             "keys to their holders and remove them from the host."]
    if followers:
        lines += ["", f"Then on {', '.join(followers)} (they join the raft cluster), with the keys in the same directory:",
                  "", f"    sh {script} --follower --operator-dir {host_files.OPENBAO_INIT_DIR}"]
    lines += ["", "Then put the token into every reactor-server host and restart it:", "",
              f"    install -m 0600 openbao-token {host_files.SECRETS_STORE}/openbao-token && systemctl restart reactor.service",
              "",
              "After every restart of an OpenBao host, unseal it with three of the keys (`bao operator unseal`, run",
              f"through `{host_files.node_boot.compose_command(plan)} exec openbao bao operator unseal`).", ""]
    return lines


def _secrets(plan: Plan, to_fill: list[str]) -> list[str]:
    lines = ["## Secrets", "",
             "Generated here from the operating system's random source, one file each in `secrets/`; each host gets",
             "the ones its services read. Rebuilding the bundle into this directory keeps them.", ""]
    for secret in plan.secrets:
        mark = (" — **write it into `secrets/` and build the bundle again into this directory before installing** "
                "(the rebuild keeps every secret and copies it to the hosts that read it)"
                ) if secret.name in to_fill and secret.generator.value == "platform" else (
            " — written after OpenBao's init" if secret.name in to_fill else "")
        lines.append(f"- `{secret.name}`: {secret.purpose}{mark}")
    return lines + [""]


def _firewall(plan: Plan, hosts: list[host_files.HostFiles]) -> list[str]:
    lines = ["## Firewall (from the Plan's links; nothing else needs to be open)", "",
             "| to | port | from | why |", "|---|---|---|---|"]
    seen = set()
    for host in hosts:
        if host.tier.name in seen:
            continue
        seen.add(host.tier.name)
        extras = inventory.load(plan)
        for allow in host_firewall.allows(plan, extras, host.tier):
            source = "anyone (or your TCP balancer)" if not allow.addresses else (
                f"{allow.source}: {', '.join(allow.addresses)}")
            lines.append(f"| {host.tier.name.value} | {allow.port}/tcp | {source} | {allow.purpose} |")
    lines += ["",
              "Each host also enforces its part itself: `reactor-firewall.service` loads the chain",
              f"`{host_firewall.CHAIN}` (from `{host_firewall.RULES_FILE}`) into Docker's `DOCKER-USER`, so a",
              "published port answers only the hosts its link names. Published ports bind the host's inventory",
              "address only. SSH (22) from your operators; every host calls out only as your network allows.", ""]
    return lines
