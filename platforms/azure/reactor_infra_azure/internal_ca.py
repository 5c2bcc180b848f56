"""InternalCa: the install's private CA and each TLS tier's certificate (the kit's), for TLS
between machines: OpenBao's API and raft, NATS, the pooler. Names are
`<tier>.reactor.internal`, `<tier>-<n>.reactor.internal`; each private key is a Key Vault
secret."""

from reactor_infra.kit.internal_ca import InternalCaArgs, InternalCaComponent

from .component import AzureComponent

__all__ = ["InternalCa", "InternalCaArgs"]


class InternalCa(InternalCaComponent, AzureComponent):
    pass
