"""Deterministic, plausible outputs for the offline render (Pulumi's mock engine).

Every value is derived from a hash of the resource's type and name, never random, so the same
program renders byte-identically. The core answers for what every platform shares (pulumi-random
and pulumi-tls, whose secret fakes the render marks secret as the real providers do, and a
generic fallback); each platform plugin answers for its own provider's types through
`Platform.mock_resource` and `Platform.mock_call` (ids, ARNs, addresses and endpoints that look
like the real ones), using the helpers here.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .platforms import Platform

SECRET_PREFIX = "mock-secret-"


def digest(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def fake_ip(seed: str, public: bool) -> str:
    """A documentation-range public address (RFC 5737) or a private 10.42.x.y one."""
    n = int(digest(seed, length=4), 16)
    return f"203.0.113.{n % 254 + 1}" if public else f"10.42.{n // 254 % 250}.{n % 254 + 1}"


def fake_uuid(seed: str) -> str:
    h = digest(seed, "uuid", length=32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def resource_state(typ: str, name: str, inputs: dict[str, Any], region: str,
                   platform: Platform | None = None) -> tuple[str, dict[str, Any]]:
    """(physical id, output state) for a resource registration."""
    if typ.split(":", 1)[0] == "random":
        return _random_state(typ, f"{typ}/{name}", dict(inputs))
    if typ.split(":", 1)[0] == "tls":
        return _tls_state(typ, f"{typ}/{name}", dict(inputs))
    if platform is not None:
        answer = platform.mock_resource(typ, name, dict(inputs), region)
        if answer is not None:
            return answer
    return f"{name}-{digest(typ, name, length=8)}", dict(inputs)


def call_result(token: str, args: dict[str, Any], region: str, platform: Platform | None = None) -> dict[str, Any]:
    """The answer to a data-source call (invoke): the platform's, else the arguments back."""
    if platform is not None:
        answer = platform.mock_call(token, dict(args), region)
        if answer is not None:
            return answer
    return dict(args)


def _random_state(typ: str, seed: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    raw = hashlib.sha256(seed.encode()).digest()
    secret = SECRET_PREFIX + digest(seed, length=24)
    kind = typ.rsplit(":", 1)[-1]
    if kind in ("RandomPassword", "RandomString"):
        state.update(result=secret, bcryptHash="$2a$10$" + digest(seed, "bcrypt", length=53))
    elif kind == "RandomBytes":
        state.update(base64=base64.b64encode(raw).decode(), hex=raw.hex())
    elif kind == "RandomId":
        size = int(state.get("byteLength", 8))
        data = (raw * 4)[:size]
        state.update(hex=data.hex(), b64Std=base64.b64encode(data).decode(),
                     b64Url=base64.urlsafe_b64encode(data).decode().rstrip("="),
                     dec=str(int.from_bytes(data, "big")))
    elif kind == "RandomUuid":
        state.update(result=fake_uuid(seed))
    else:
        state.update(result=secret)
    return digest(seed, "id", length=16), state


def _pem(label: str, seed: str) -> str:
    body = base64.b64encode(hashlib.sha512(seed.encode()).digest() * 3).decode()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


def _tls_state(typ: str, seed: str, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """pulumi-tls: fake PEMs. The resources' schemas mark the private keys secret, and the
    render keeps them so; `tls_values` lists them for no-leak checks."""
    kind = typ.rsplit(":", 1)[-1]
    if kind == "PrivateKey":
        state.update(privateKeyPem=_pem("RSA PRIVATE KEY", seed), privateKeyPemPkcs8=_pem("PRIVATE KEY", seed + "/8"),
                     privateKeyOpenssh=_pem("OPENSSH PRIVATE KEY", seed + "/ssh"),
                     publicKeyPem=_pem("PUBLIC KEY", seed + "/public"),
                     publicKeyOpenssh="ssh-rsa " + digest(seed, "ssh", length=64),
                     publicKeyFingerprintSha256="SHA256:" + digest(seed, "fingerprint", length=43))
    elif kind == "CertRequest":
        state.update(certRequestPem=_pem("CERTIFICATE REQUEST", seed))
    elif kind in ("SelfSignedCert", "LocallySignedCert"):
        state.update(certPem=_pem("CERTIFICATE", seed), readyForRenewal=False,
                     validityStartTime="2025-01-01T00:00:00Z", validityEndTime="2026-01-01T00:00:00Z")
    return digest(seed, "id", length=16), state


def tls_values(state: dict[str, Any]) -> list[str]:
    """The private keys in a pulumi-tls resource's mock state (for no-leak checks)."""
    return [str(state[k]) for k in ("privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh") if state.get(k)]


def random_values(state: dict[str, Any]) -> list[str]:
    """The generated values in a pulumi-random resource's mock state (for no-leak checks)."""
    keys = ("result", "bcryptHash", "base64", "hex", "b64Std", "b64Url", "dec")
    return [str(state[k]) for k in keys if state.get(k)]
