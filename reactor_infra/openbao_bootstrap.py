"""OpenBao's first boot for reactor-server: the `reactor` policy (HCL) and the bootstrap script
(POSIX sh) that initialises OpenBao, configures it and hands over reactor-server's token.

Both are pure functions of the Plan (same input, same text), rendered with Jinja2 and
StrictUndefined through `templating._render` (`templates/openbao-bootstrap.sh.j2`).

Why a script and not Pulumi: the unseal/recovery keys and reactor-server's token only exist
after `bao operator init` on the running node, so they are made on the node's host and go
straight from a tmpfs file into the platform's secret store, never through Pulumi or a log.

What the script does (`bootstrap_script`), see the template's header for the details:
- waits for the OpenBao API (`bao status`);
- uninitialised, automatic seal (awskms, gcpckms, azurekeyvault, and `static`, which tests use
  in place of a KMS): `operator init` with `shares`/`threshold` recovery keys into a private
  tmpfs directory, stores them as `openbao-recovery` at once, waits until unsealed and active,
  enables KV v2 at `secret/` and transit at `transit/` (kept when already there), writes the
  `reactor` policy, raises the token auth mount's max lease TTL, creates an orphan token with
  policies `reactor` and `default` and a TTL of `TOKEN_TTL_HOURS`, stores it as `openbao-token`,
  revokes the root token and deletes its files;
- uninitialised, shamir seal: refuses with one line pointing at the manual step, unless run with
  `--operator-dir DIR`: then it inits with the given shares, unseals, configures the same way and
  writes `openbao-recovery` (the unseal keys) and `openbao-token` as 0600 files into DIR (0700);
- already initialised: nothing but waiting until this node is unsealed and active (with
  `--operator-dir`, a sealed shamir node is unsealed from DIR's keys first); with `fetch` it
  also checks that `openbao-token` is stored. A second run therefore changes nothing.
Run it on ONE node of a cluster (the one the others retry_join): on a node that has not joined
yet it would initialise a second cluster. Give the others `--follower`: they never initialise
and only wait until they are unsealed and see an active node.

Token TTL: `TOKEN_TTL_HOURS` = 87600 h (10 years). reactor-server never renews its token
(reactor-vault's `renew_token` has no caller), and every restart and every new app node reads the
same stored token again, so its TTL bounds the life of the install, not of one process. A periodic
token would expire one period after its last (never happening) renewal, and OpenBao gives a
non-root token no unlimited TTL; 10 years outlasts any server, node image or OS support window,
while a forgotten copy still dies eventually. The token auth mount's max lease TTL is raised to
the same value (the default cap is 768 h = 32 days). Rotating it = a new token from a root token
(`bao operator generate-root` with the recovery keys) stored in place of the old one.

What a platform passes to `bootstrap_script(plan, bao=..., store=..., fetch=...)`:
- `bao`: the command that runs the `bao` CLI against the node's OpenBao, as blank-separated words
  (no quoting; word-split by the shell). It must pass stdin through (policy and unseal keys are
  piped in) and forward the variable BAO_TOKEN (the script sets it for the calls that need a
  token; tokens never go on a command line). Examples:
    `docker compose -p <project> -f <dir>/compose.yaml exec -T -e BAO_TOKEN openbao bao`
    `docker exec -i -e BAO_TOKEN <stack>-node-openbao bao`
    `env BAO_ADDR=http://10.0.1.5:8200 bao` (a bao on the host; BAO_TOKEN passes through env)
- `store`: the body of a shell function `store NAME FILE` that puts FILE's content into the
  platform's secret store under NAME (`openbao-token`, `openbao-recovery`), replacing an older
  value; it must not print the value. AWS:
    `aws ssm put-parameter --overwrite --type SecureString --name "/reactor/<stack>/$1" --value "file://$2" >/dev/null`
  Without `store` the script only runs with `--operator-dir DIR` (one-Docker-host installs).
- `fetch` (optional): the body of `fetch NAME`, which prints the secret and fails when it does
  not exist; only its exit status is used (output goes to /dev/null). AWS:
    `aws ssm get-parameter --with-decryption --name "/reactor/<stack>/$1" --query Parameter.Value --output text`
Run it as root (or the user that may run BAO and store) with nothing secret in its environment:
`sh openbao-bootstrap.sh [--operator-dir DIR] [--shares N] [--threshold N] [--follower]
[--timeout SECONDS]`; exit 0 = OpenBao is ready for reactor-server. Host needs: POSIX sh, awk,
sed, mktemp, date (all in coreutils/busybox; no jq: `bao -format=json` is Go's indented JSON, read
line by line with awk), and a tmpfs at /dev/shm (or OPENBAO_BOOTSTRAP_TMP=<tmpfs dir>).

`reactor_policy(plan)`: exactly the paths reactor-vault's OpenBao adapter calls (v1,
crates/reactor-vault/src/adapters/openbao.rs at reactor-cloud 4747219), under the
mounts reactor_toml.py writes as `vault.kv_mount`/`vault.transit_mount` (tests keep them equal).
Residual: OpenBao globs only end a path, so `transit/keys/tenant-*` (needed for the adapter's
`keys/<name>/rotate`) also reaches `keys/<name>/config|trim|import` of tenant keys; no `sys/`,
no other key or secret. Print it: `python -m reactor_infra.openbao_bootstrap policy E4@local`.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
from collections.abc import Sequence

from . import templating
from .layout import Plan, VaultMode

KV_MOUNT = "secret"  # = reactor_toml's vault.kv_mount (KV v2)
TRANSIT_MOUNT = "transit"  # = reactor_toml's vault.transit_mount
POLICY_NAME = "reactor"
TOKEN_TTL_HOURS = 87_600  # 10 years: see the module docstring
TOKEN_SECRET, RECOVERY_SECRET = "openbao-token", "openbao-recovery"  # the Plan's `init` secrets
DEFAULT_TIMEOUT_S = 300

# (path under a mount, capabilities, which adapter calls need it)
_RULES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("kv", "data/tenants/+/*", ("create", "read", "update"),
     "kv2 read (vault: refs at boot, admin GET) and set (admin PUT, cloud bootstrap)"),
    ("kv", "metadata/tenants/+/*", ("read", "list", "delete"),
     "kv2 read_metadata (after each read), list (admin list), delete_metadata (admin DELETE)"),
    ("transit", "keys/tenant-*", ("create", "read", "update"),
     "key read, key create (the adapter creates its own keys on first use), keys/<name>/rotate"),
    ("transit", "encrypt/tenant-*", ("update",), "encrypt"),
    ("transit", "decrypt/tenant-*", ("update",), "decrypt"),
)


def vault_mounts(plan: Plan) -> tuple[str, str]:
    """(kv mount, transit mount) reactor-server uses for this plan; OpenBao plans only."""
    if plan.vault is not VaultMode.OPENBAO:
        raise ValueError(f"{plan.topology}: the vault is {plan.vault.value}, not OpenBao")
    return KV_MOUNT, TRANSIT_MOUNT


def reactor_policy(plan: Plan) -> str:
    """The `reactor` policy as HCL: the adapter's paths and nothing else (no sys/, no auth/)."""
    mounts = dict(zip(("kv", "transit"), vault_mounts(plan), strict=True))
    lines = [f"# OpenBao policy `{POLICY_NAME}` for reactor-server, {plan.topology} (stack {plan.stack}),",
             "# rendered by reactor-infra: exactly what reactor-vault's OpenBao adapter calls.",
             "# Tenants are project UUIDs; transit key names are tenant-<uuid>-<key>."]
    for mount, path, caps, why in _RULES:
        quoted = ", ".join(f'"{c}"' for c in caps)
        lines += ["", f"# {why}", f'path "{mounts[mount]}/{path}" {{', f"  capabilities = [{quoted}]", "}"]
    return "\n".join(lines) + "\n"


_COMMAND = re.compile(r"^[A-Za-z0-9_./:=@%+,-]+( +[A-Za-z0-9_./:=@%+,-]+)*$")


def _bao_words(bao: str) -> str:
    if not isinstance(bao, str) or not _COMMAND.match(bao.strip(" ")):
        raise ValueError(f"bao: {bao!r} must be plain words separated by spaces (no quotes, no shell syntax)")
    return " ".join(bao.split())


def _body(snippet: str | None, what: str) -> str | None:
    if snippet is None:
        return None
    if not snippet.strip() or "\0" in snippet:
        raise ValueError(f"{what}: give a shell command")
    return "\n".join("  " + line for line in snippet.strip().splitlines())


def bootstrap_script(plan: Plan, *, bao: str, store: str | None = None, fetch: str | None = None,
                     shares: int = 1, threshold: int = 1, timeout_s: int = DEFAULT_TIMEOUT_S) -> str:
    """openbao-bootstrap.sh for this plan (module docstring: what `bao`, `store` and `fetch`
    are). `shares`/`threshold`: recovery keys (automatic seal) or unseal keys (shamir with
    --operator-dir); the script's --shares/--threshold override them at run time."""
    if not (isinstance(shares, int) and isinstance(threshold, int) and 1 <= threshold <= shares <= 255):
        raise ValueError(f"shares/threshold: need 1 <= threshold ({threshold}) <= shares ({shares}) <= 255")
    if not (isinstance(timeout_s, int) and timeout_s > 0):
        raise ValueError(f"timeout_s: {timeout_s!r} is not a positive number of seconds")
    kv, transit = vault_mounts(plan)
    policy = reactor_policy(plan)
    assert "\nPOLICY\n" not in policy  # the heredoc's terminator
    return templating._render(
        "openbao-bootstrap.sh.j2", plan,
        bao=shlex.quote(_bao_words(bao)), store=_body(store, "store"), fetch=_body(fetch, "fetch"),
        shares=shares, threshold=threshold, timeout=timeout_s, ttl_hours=TOKEN_TTL_HOURS,
        kv_mount=kv, transit_mount=transit, policy_name=POLICY_NAME, policy=policy,
        token_secret=TOKEN_SECRET, recovery_secret=RECOVERY_SECRET,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m reactor_infra.openbao_bootstrap policy TOKEN` prints the policy;
    `... script TOKEN --bao CMD [--store SH] [--fetch SH]` prints the bootstrap script."""
    from .plan import build_plan
    from .token import parse

    parser = argparse.ArgumentParser(prog="python -m reactor_infra.openbao_bootstrap")
    parser.add_argument("what", choices=("policy", "script"))
    parser.add_argument("token", help="topology token, e.g. E4@local")
    parser.add_argument("--stack", help="the stack's name (default: the token's slug)")
    parser.add_argument("--bao", default="bao", help="command that runs bao against the node")
    parser.add_argument("--store", help="body of `store NAME FILE` (the platform's secret store)")
    parser.add_argument("--fetch", help="body of `fetch NAME`")
    args = parser.parse_args(argv)
    plan = build_plan(parse(args.token), stack=args.stack)
    if args.what == "policy":
        sys.stdout.write(reactor_policy(plan))
    else:
        sys.stdout.write(bootstrap_script(plan, bao=args.bao, store=args.store, fetch=args.fetch))
    return 0


__all__ = ["KV_MOUNT", "POLICY_NAME", "TOKEN_TTL_HOURS", "TRANSIT_MOUNT", "bootstrap_script", "reactor_policy",
           "vault_mounts"]


if __name__ == "__main__":
    sys.exit(main())
