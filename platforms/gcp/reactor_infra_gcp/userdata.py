"""How a GCP machine boots: the core's node boot (`reactor_infra.node_boot`) with this cloud's
hooks. Ubuntu 24.04 LTS (cloud-init reads the `user-data` metadata key; apt; gcloud is a snap);
secrets are Secret Manager versions read with the machine's service account; the data disk is
the one attached under the device name `reactor-data`; shared volumes are directories of a
Filestore share (NFSv3). Pure; no Pulumi.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from reactor_infra import late, naming
from reactor_infra.layout import Plan
from reactor_infra.node_boot import APT_DOCKER, SHARED_ROOT, NodeCloud, shared_path, wait_for_disk, wait_for_registry

from .places import DATA_DEVICE, PROJECT

PACKAGES = ("docker.io", "docker-compose-v2", "nfs-common")
GCLOUD = 'PATH="$PATH:/snap/bin" gcloud'  # Ubuntu's images carry the Google Cloud CLI as a snap


def _filestore(shared: Mapping[str, tuple[str, str]]) -> list[str]:
    """Mount the tier's Filestore share at the shared root once; each volume is a directory."""
    if not shared:
        return []
    (address, share), = set(shared.values())
    entry = (f"{address}:/{share} {SHARED_ROOT} nfs "
             "vers=3,proto=tcp,port=2049,mountport=2050,mountproto=tcp,hard,nolock,_netdev 0 0")
    return ["# the volumes the tier's machines share: directories of a Filestore share (NFSv3)",
            f"mkdir -p {SHARED_ROOT}", f"grep -q ' {SHARED_ROOT} ' /etc/fstab || echo '{entry}' >> /etc/fstab",
            f"mountpoint -q {SHARED_ROOT} || mount {SHARED_ROOT}",
            *[f"mkdir -p {shared_path(v)}" for v in sorted(shared)]]


def cloud(plan: Plan) -> NodeCloud:
    """GCP's hooks: Secret Manager by the machine's service account, apt, Filestore."""
    prefix = naming.prefix(plan)
    return NodeCloud(
        packages=PACKAGES, store_words="Secret Manager secrets with the machine's service account",
        store_env=('export PATH="$PATH:/snap/bin"  # gcloud',),
        read='gcloud secrets versions access latest --secret="$1" --quiet',
        bootstrap_store=lambda plan: f'{GCLOUD} secrets versions add "{prefix}-$1" --data-file="$2" --quiet >/dev/null',
        bootstrap_fetch=lambda plan, placeholder: (
            f'value=$({GCLOUD} secrets versions access latest --secret="{prefix}-$1" --quiet) '
            f'&& [ "$value" != {shlex.quote(placeholder)} ]'),
        network_wait=wait_for_registry("Cloud NAT, or the node's own address"),
        find_data_disk=wait_for_disk(f"/dev/disk/by-id/google-{DATA_DEVICE}"),
        install_docker=APT_DOCKER,
        mount_shared=_filestore)


def seal_config(plan: Plan, ring: str | None, key: str | None, location: str) -> dict[str, str]:
    """OpenBao's gcpckms stanza: the project (late), the key ring's location, ring and key. No
    credentials: the seal signs in as the machine's service account."""
    if not (ring and key):
        return {}
    return {"project": late.marker(PROJECT), "region": location, "key_ring": ring, "crypto_key": key}
