"""The operator's database, named by a URL in the stack (`extras.<platform>.database_url`: Fly,
on-prem): where Reactor.toml points and how the roles step connects as its admin role. The
password is never in the URL: it is a stack secret (`database-admin-password`). Pure."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

SSLMODES = ("disable", "require", "verify-ca", "verify-full")

from .layout import POSTGRES_PORT


def address(url: str) -> tuple[str, int, str]:
    """(host, port, sslmode) of the URL (sslmode `require` when it names none)."""
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or POSTGRES_PORT, parse_qs(parts.query).get("sslmode", ["require"])[0]


def admin_connection(url: str) -> dict[str, str]:
    """libpq's variables for the roles step: the URL's host, port, admin user, database, TLS mode."""
    parts = urlsplit(url)
    host, port, sslmode = address(url)
    return {"PGHOST": host, "PGPORT": str(port), "PGUSER": parts.username or "",
            "PGDATABASE": parts.path.lstrip("/") or "postgres", "PGSSLMODE": sslmode}


def checked(url: str, password_setting: str) -> str:
    """The URL as a stack may hold it (a pydantic validator's body): postgres://ADMIN@HOST:PORT/DB,
    no password (`password_setting` says where it goes), a known sslmode."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname or not parts.username:
        raise ValueError("expected postgres://ADMIN@HOST:PORT/DB (a user and a host)")
    if parts.password is not None:
        raise ValueError(f"holds a password; keep it out of the stack file and set it with "
                         f"`pulumi config set --secret {password_setting}`")
    mode = address(url)[2]
    if mode not in SSLMODES:
        raise ValueError(f"sslmode {mode!r}: allowed {', '.join(SSLMODES)}")
    return url
