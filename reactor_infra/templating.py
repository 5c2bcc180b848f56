"""Node configuration files, rendered from the Plan by pure functions (DESIGN §2, §4).

Each function takes a `Plan` plus the few facts only a platform knows (addresses, names) and
returns the file's text: same input, byte-identical output. No secret value is ever written:
secrets are references the program resolves at boot (`$NATS_CLUSTER_PASSWORD` in nats.conf, env
files written to a tmpfs by a boot step in compose, the node's cloud identity for a KMS seal).

The text configs are Jinja2 templates (`templates/` in a checkout, `reactor_infra/_templates`
when installed) rendered with `StrictUndefined`, so a missing value is an error, never an empty
string. compose.yaml and cloud-init are YAML documents, built as dicts and dumped with PyYAML in
a fixed key order (`_yaml`), which is safer than templating indentation. Every output is checked
in tests by the program that reads it (tests/test_templates.py).
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import yaml

from . import naming
from .layout import (
    GATEWAY_PORT,
    HTTPS,
    NATS_CLIENT,
    NATS_MONITOR,
    NATS_ROUTES,
    VAULT_API,
    VAULT_CLUSTER,
    Plan,
)

_PACKAGE_DIR = Path(__file__).resolve().parent
# Installed wheels carry the templates inside the package; an editable checkout reads the repo's.
TEMPLATE_DIRS = (_PACKAGE_DIR / "_templates", _PACKAGE_DIR.parent / "templates")


def template_dir() -> Path:
    """Where the Jinja2 templates are: the installed copy first, else the checkout's."""
    for candidate in TEMPLATE_DIRS:
        if (candidate / "Caddyfile.j2").is_file():
            return candidate
    raise FileNotFoundError(f"reactor-infra templates not found in {', '.join(map(str, TEMPLATE_DIRS))}")


@lru_cache(maxsize=1)
def _jinja() -> jinja2.Environment:
    # No autoescape: these are config formats, not HTML. Values that reach a template are
    # checked (`_token`) or quoted with `quote` (a JSON string is a valid HCL and nats.conf string;
    # Jinja's `tojson` would HTML-escape `<` and `>`).
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["quote"] = lambda value: json.dumps(str(value), ensure_ascii=False)
    return env


def _render(name: str, plan: Plan, **values: Any) -> str:
    return _jinja().get_template(name).render(token=str(plan.topology), stack=plan.stack, **values)


_SAFE = re.compile(r"^[A-Za-z0-9._:/\[\]@*-]+$")


def _token(value: str, what: str) -> str:
    """A bare word in a config file: no spaces, quotes or braces that could change its syntax."""
    if not isinstance(value, str) or not _SAFE.match(value):
        raise ValueError(f"{what}: {value!r} is not a plain name or address")
    return value


# --- Caddy ------------------------------------------------------------------------------------


def _hostless(site_address: str) -> bool:
    """`:443`, `http://`, `https://:8443`: an address without a host name."""
    host = re.sub(r"^https?://", "", site_address)
    return host == "" or host.startswith(":")


def _is_ip(site_address: str) -> bool:
    host = re.sub(r"^https?://", "", site_address).rsplit(":", 1)[0].strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _wildcard(site: str, provider: str | None) -> str | None:
    if provider is None:
        return None
    if _hostless(site) or _is_ip(site) or site.startswith("http://"):
        raise ValueError(f"a wildcard certificate needs a domain as the site address, not {site!r}")
    return _token(provider, "wildcard_dns")


def _upstream(address: str) -> str:
    if address.startswith("https://"):
        raise ValueError(f"upstream {address!r}: reactor-server speaks plain HTTP; give host:port")
    return _token(address.removeprefix("http://"), "upstream")


def caddyfile(plan: Plan, *, site_address: str, upstreams: list[str], gateway: bool,
              acme_email: str | None = None, ask_url: str = f"http://localhost:{GATEWAY_PORT}/ask",
              wildcard_dns: str | None = None, internal_ca: bool = False,
              wildcard_dns_token_env: str | None = None,
              wildcard_dns_options: Sequence[tuple[str, str]] = ()) -> str:
    """The Caddyfile of the ingress: TLS, reverse proxy to reactor-server, admin paths blocked.

    `site_address` decides how TLS behaves (Caddy's automatic HTTPS):
    - a domain (`api.example.com`): a public ACME certificate, HTTP redirected to HTTPS;
    - `localhost` or an IP address: a certificate from Caddy's internal CA (clients must trust it);
    - `:80` (any host-less port but 443) / `http://...`: plain HTTP, no certificate (TLS ends
      elsewhere, e.g. at a load balancer);
    - `:443` / `https://` (no host) is refused: nothing would certify the API host. On-demand TLS
      asks gateway-server's /ask, which approves only verified custom domains (reactor-gateway-server
      src/main.rs:191-211 at v1 4747219), never the API host (platform READMEs).
    `upstreams` are reactor-server `host:port`s (plain HTTP, health-checked on `/health`).
    `gateway=True` (gateway-server beside Caddy) adds on-demand TLS asking `ask_url` (gateway-server's
    /ask) and, for a domain site, a catch-all `https://` site for tenant and custom domains.
    `wildcard_dns_token_env`: the variable holding the DNS module's token where the module takes
    it as an argument (cloudflare: `dns cloudflare {env.CF_API_TOKEN}`).
    `wildcard_dns_options`: the module's block, subdirective -> the variable holding its value
    (googleclouddns: `gcp_project {env.GCP_PROJECT}`).
    `wildcard_dns` (a caddy-dns provider, e.g. `route53`): a `*.<site>` site whose wildcard
    certificate is proved by DNS-01 (tenant hosts `{ref}.<domain>`; the provider's credentials
    come from Caddy's environment); the Caddy build must carry that module.
    `internal_ca=True`: a host name that is not the install's domain (a load balancer's DNS
    name) gets a certificate from Caddy's internal CA, never an ACME attempt.
    Caddy's admin API stays on localhost:2019, inside Caddy's own network namespace only.
    """
    site = _token(site_address, "site_address")
    if not upstreams:
        raise ValueError("caddyfile needs at least one upstream")
    # Caddy serves a host-less address on any port but 443 as plain HTTP
    plain_http = site.startswith("http://") or (_hostless(site) and not site.startswith("https://")
                                                and not site.endswith(f":{HTTPS}"))
    hostless_tls = _hostless(site) and not plain_http
    if hostless_tls:
        raise ValueError(f"site_address {site!r} has no host to certify; give a domain (on-demand TLS "
                         "would ask gateway-server, whose /ask approves only verified custom domains)")
    return _render(
        "Caddyfile.j2", plan,
        site_address=site,
        upstreams=[_upstream(u) for u in upstreams],
        gateway=gateway,
        acme_email=_token(acme_email, "acme_email") if acme_email else None,
        ask_url=_token(ask_url, "ask_url"),
        catch_all=gateway and not _hostless(site) and not _is_ip(site) and not plain_http,
        wildcard_dns=_wildcard(site, wildcard_dns),
        # a module that takes its credential as an argument (cloudflare): Caddy reads the
        # variable when it loads the file; the value is never written here
        wildcard_dns_arg=f"{{env.{_token(wildcard_dns_token_env, 'wildcard_dns_token_env')}}}"
        if wildcard_dns_token_env else None,
        wildcard_dns_options=[(_token(k, "wildcard_dns_options"), f"{{env.{_token(v, 'wildcard_dns_options')}}}")
                              for k, v in wildcard_dns_options],
        # an IP or localhost gets the internal CA anyway (Caddy's automatic HTTPS)
        internal_ca=internal_ca and not plain_http and not _is_ip(site) and site != "localhost",
    )


# --- NATS -------------------------------------------------------------------------------------

NATS_ROUTE_USER = "route"
NATS_CLUSTER_PASSWORD_ENV = "NATS_CLUSTER_PASSWORD"


def _route_var(index: int) -> str:
    return f"NATS_ROUTE_{index}"


def nats_route_env(routes: list[str]) -> dict[str, str]:
    """The route variables nats.conf reads -> the URL each must hold, with the cluster password
    as `${NATS_CLUSTER_PASSWORD}`; the platform expands it at boot (compose interpolation,
    envsubst), so the password only ever exists in the node's environment."""
    return {_route_var(i): f"nats-route://{NATS_ROUTE_USER}:${{{NATS_CLUSTER_PASSWORD_ENV}}}@{_route_host(r)}"
            for i, r in enumerate(routes, start=1)}


def _route_host(route: str) -> str:
    host = _token(route.removeprefix("nats-route://"), "route")
    return host if re.search(r":\d+$", host) else f"{host}:{NATS_ROUTES}"


def _nats_address(host: str, port: int) -> str:
    address = f"{_token(host, 'listen_host')}:{port}"
    return json.dumps(address) if address.startswith("[") else address


def nats_conf(plan: Plan, *, server_name: str, routes: list[str], cluster: bool,
              store_dir: str = "/data/jetstream", monitor_host: str = "127.0.0.1",
              tls: Mapping[str, str] | None = None, listen_host: str = "0.0.0.0", advertise: str = "") -> str:
    """nats.conf for one NATS server with JetStream: clients on 4222 (user `reactor`, password
    no credentials: the runtime cannot send any; only the plan's links reach it), monitoring on
    `monitor_host`:8222 (loopback by default: never a link). `listen_host` `[::]` listens on IPv6
    (and IPv4) everywhere, quoted (a bare `[` opens an array in nats.conf).

    `cluster=True`: cluster `<stack>` on 6222, route user `route` / `$NATS_CLUSTER_PASSWORD`;
    `routes` are the *other* servers (`host` or `host:port`), each read from `$NATS_ROUTE_<n>`
    whose value `nats_route_env(routes)` gives. Every variable must be set where nats-server runs.
    `tls` (`ca_file`, `cert_file`, `key_file`): clients must speak TLS, and routes are mutual TLS
    (each peer shows the tier's certificate, verified against the CA). `advertise`: this
    server's own name (`host`), which its peers reach its routes port by (a machine's containers
    sit behind the ports it publishes).
    """
    if cluster and not routes:
        raise ValueError("a NATS cluster needs the other servers as routes")
    if routes and not cluster:
        raise ValueError("routes are only for cluster=True")
    return _render(
        "nats.conf.j2", plan,
        server_name=_token(server_name, "server_name"),
        client_port=NATS_CLIENT, routes_port=NATS_ROUTES, monitor_port=NATS_MONITOR,
        monitor_host=monitor_host, monitor=_nats_address(monitor_host, NATS_MONITOR), listen=_nats_address(listen_host, NATS_CLIENT),
        routes_listen=_nats_address(listen_host, NATS_ROUTES), store_dir=store_dir,
        cluster=cluster, cluster_name=naming.prefix(plan), route_user=NATS_ROUTE_USER,
        cluster_password_env=NATS_CLUSTER_PASSWORD_ENV,
        route_vars=list(nats_route_env(routes)),
        advertise=f"{_token(advertise, 'advertise')}:{NATS_ROUTES}" if advertise and cluster else "",
        tls={k: _token(v, k) for k, v in tls.items()} if tls else None,
    )


# --- OpenBao ----------------------------------------------------------------------------------

# The keys each auto-unseal seal needs. Credentials are never among them: the node's cloud
# identity (instance role, service account, managed identity) reaches the key.
SEAL_KEYS: dict[str, tuple[str, ...]] = {
    "shamir": (),
    "awskms": ("region", "kms_key_id"),
    "gcpckms": ("project", "region", "key_ring", "crypto_key"),
    "azurekeyvault": ("tenant_id", "vault_name", "key_name"),
}
_PLACEHOLDER = "<fill:{}>"
_PLACEHOLDER_RE = re.compile(r"<fill:([a-z_]+)>")


def unfilled(text: str) -> list[str]:
    """Placeholders a platform has not filled yet (an offline render shows them; a node must not)."""
    return _PLACEHOLDER_RE.findall(text)


def openbao_hcl(plan: Plan, *, node_id: str, peers: list[str], seal: str, api_addr: str,
                cluster_addr: str, seal_config: Mapping[str, str] | None = None,
                data_dir: str = "/openbao/data", tls_cert_file: str | None = None,
                tls_key_file: str | None = None, listen_host: str = "0.0.0.0",
                api_port: int = VAULT_API, cluster_port: int = VAULT_CLUSTER,
                tls_ca_file: str | None = None, local_port: int | None = None) -> str:
    """openbao.hcl: raft storage (one node, or `peers` = the other nodes' API URLs to
    retry_join), listener 8200 / cluster 8201 on all interfaces, `ui = false`.
    `listen_host`, `api_port`, `cluster_port` move the listener (tests run real servers on
    free loopback ports); nodes keep the defaults.

    `seal`: `shamir` (no stanza: the operator unseals) or `awskms` / `gcpckms` / `azurekeyvault`,
    whose key ids come in `seal_config` (`SEAL_KEYS`); a key not given renders as `<fill:key>`
    (see `unfilled`). TLS on the listener when both `tls_*_file` are given, else plain HTTP
    on the private network; `tls_ca_file` is the CA a joining node verifies its peers' API
    against; `local_port` adds a plain listener on 127.0.0.1 only (probes, the bao CLI).
    """
    if seal not in SEAL_KEYS:
        raise ValueError(f"seal {seal!r}: allowed {', '.join(SEAL_KEYS)}")
    given = dict(seal_config or {})
    unknown = sorted(set(given) - set(SEAL_KEYS[seal]))
    if unknown:
        raise ValueError(f"seal_config for {seal}: unknown {unknown}; allowed {list(SEAL_KEYS[seal])}")
    if (tls_cert_file is None) != (tls_key_file is None):
        raise ValueError("give both tls_cert_file and tls_key_file, or neither")
    pairs = [(k, given.get(k, _PLACEHOLDER.format(k))) for k in SEAL_KEYS[seal]]
    return _render(
        "openbao.hcl.j2", plan,
        node_id=_token(node_id, "node_id"), api_addr=api_addr, cluster_addr=cluster_addr,
        peers=[p for p in peers if p != api_addr], data_dir=data_dir,
        listen_host=_token(listen_host, "listen_host"), api_port=int(api_port),
        cluster_port=int(cluster_port),
        tls_cert_file=tls_cert_file, tls_key_file=tls_key_file, tls_ca_file=tls_ca_file,
        local_port=local_port,
        seal_name=None if seal == "shamir" else seal, seal_config=pairs,
    )


# --- YAML documents ---------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so embedded files stay readable."""

    def analyze_scalar(self, scalar: str):  # type: ignore[override]
        # PyYAML counts a tab as a special character and then quotes the whole string, but YAML
        # allows tabs in block content after the indentation (and PyYAML loads them back): the
        # Caddyfile is tab-indented, as `caddy fmt` wants. A tab is judged as a space here, so a
        # trailing one still forces quotes.
        analysis = super().analyze_scalar(scalar.replace("\t", " "))
        analysis.scalar = scalar
        return analysis


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def yaml_document(doc: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """A YAML document in a fixed key order, multi-line strings as blocks, `header` as comments."""
    return _comment(header) + _yaml(doc)


def _yaml(doc: Mapping[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120,
                     allow_unicode=True)


def _comment(lines: Sequence[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


# --- the metadata guard (cloud VMs) ---------------------------------------------------------

METADATA_ADDRESS = "169.254.169.254"  # the instance metadata service on AWS, GCP and Azure
METADATA_CHAIN = "REACTOR-METADATA"
METADATA_GUARD_UNIT = "reactor-metadata-guard.service"


def metadata_guard(plan: Plan, *, allowed: Sequence[str], script_path: str) -> tuple[str, dict[str, str]]:
    """(script, units): iptables rules that let only the containers at `allowed` (the services
    that need the node's cloud identity, at their fixed addresses) reach the metadata service,
    and the oneshot unit that installs them after Docker and before reactor.service."""
    for address in allowed:
        ipaddress.IPv4Address(address)
    script = _render("metadata-guard.sh.j2", plan, allowed=list(allowed), metadata=METADATA_ADDRESS,
                     chain=METADATA_CHAIN)
    unit = _render("metadata-guard.service.j2", plan, unit_name=METADATA_GUARD_UNIT,
                   script=_token(script_path, "script_path"))
    return script, {METADATA_GUARD_UNIT: unit}


# --- systemd and cloud-init ------------------------------------------------------------------

DEFAULT_COMPOSE_COMMAND = "/usr/bin/docker compose"


def systemd_units(plan: Plan, *, compose_dir: str, pre_start: list[str] | None = None,
                  compose_command: str = DEFAULT_COMPOSE_COMMAND, requires: Sequence[str] = ()) -> dict[str, str]:
    """Unit file name -> content: `reactor.service` runs the node's compose project in the
    foreground (restarted by systemd). `pre_start` commands run first, e.g. the platform's
    step that fetches secrets into /run/reactor; a leading `-` tolerates their failure.
    `requires`: units that must be up first (e.g. the metadata guard)."""
    if any("\n" in c for c in pre_start or []):
        raise ValueError("pre_start: one command per entry, without newlines")
    compose = f"{compose_command} -p {_token(plan.settings.project_name, 'project')} -f {compose_dir}/compose.yaml"
    text = _render("reactor.service.j2", plan, unit_name="reactor.service", compose_dir=_token(compose_dir, "compose_dir"),
                   compose=compose, pre_start=list(pre_start or []),
                   requires=[_token(u, "requires") for u in requires])
    return {"reactor.service": text}


SYSTEMD_DIR = "/etc/systemd/system"


def cloud_init(plan: Plan, *, files: dict[str, str], units: dict[str, str], pre_commands: list[str],
               packages: list[str]) -> str:
    """`#cloud-config` user data: installs `packages`, writes `files` (absolute path -> text,
    mode 0640) and `units` (into /etc/systemd/system, 0644), runs `pre_commands`, then enables
    and starts the units. User data is readable through the cloud's metadata service, so an
    env file (`*.env`) is refused: secrets are fetched at boot, never shipped here."""
    for path in files:
        if not path.startswith("/"):
            raise ValueError(f"file {path!r}: give an absolute path")
        if path.endswith(".env") or "/secrets" in path:
            raise ValueError(f"file {path!r} looks like secrets; fetch those at boot, never in user data")
    write_files = [{"path": path, "owner": "root:root", "permissions": "0640", "content": text}
                   for path, text in files.items()]
    write_files += [{"path": f"{SYSTEMD_DIR}/{name}", "owner": "root:root", "permissions": "0644",
                     "content": text} for name, text in units.items()]
    runcmd: list[Any] = list(pre_commands)
    runcmd.append(["systemctl", "daemon-reload"])
    runcmd += [["systemctl", "enable", "--now", name] for name in units]
    doc: dict[str, Any] = {"package_update": True, "packages": list(packages),
                           "write_files": write_files, "runcmd": runcmd}
    header = [f"user data for {plan.topology} (stack {plan.stack}), rendered by reactor-infra.",
              "No secret is written here: the node fetches them at boot."]
    return "#cloud-config\n" + _comment(header) + _yaml(doc)


__all__ = [
    "caddyfile", "cloud_init", "nats_conf", "nats_route_env", "openbao_hcl", "systemd_units", "template_dir",
    "unfilled", "yaml_document",
]
