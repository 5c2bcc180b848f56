"""How an AWS machine boots: the core's node boot (`reactor_infra.node_boot`) with this cloud's
hooks. Amazon Linux 2023 (dnf, the AWS CLI and the SSM agent come with it); secrets are SSM
SecureString parameters read with the instance role; the data volume is the one disk that is
not the root disk; shared volumes are EFS access points (TLS in transit, IAM).

Pure functions of the Plan and a few names: deterministic, no Pulumi.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping

from reactor_infra.layout import Plan
from reactor_infra.node_boot import NodeCloud, shared_path

from .naming import parameter_name


# Docker Compose v2 plugin (AL2023 packages Docker but not the plugin); verified by its checksum.
COMPOSE_VERSION = "2.29.7"
PACKAGES = ("docker", "iptables-nft")


def _efs_mounts(shared: Mapping[str, tuple[str, str]]) -> list[str]:
    """Mount each shared volume's EFS access point (TLS in transit, the instance role's IAM) at boot."""
    if not shared:
        return []
    lines = ["# the volumes the tier's machines share: EFS through its access point, TLS and IAM",
             "rpm -q amazon-efs-utils >/dev/null || dnf install -y amazon-efs-utils"]
    for volume, (fs, point) in sorted(shared.items()):
        path = shared_path(volume)
        entry = f"{fs}:/ {path} efs _netdev,noresvport,tls,iam,accesspoint={point} 0 0"
        lines += [f"mkdir -p {path}", f"grep -q ' {path} ' /etc/fstab || echo '{entry}' >> /etc/fstab",
                  f"mountpoint -q {path} || mount {path}"]
    return lines


def cloud(plan: Plan, data_key_alias: str | None = None) -> NodeCloud:
    """AWS's hooks: SSM parameters (`data_key_alias`: the customer-managed key the parameters
    use; none: aws/ssm), AL2023's dnf, the compose plugin by checksum, EFS."""
    region = shlex.quote(plan.primary_region)
    key = f" --key-id {shlex.quote(data_key_alias)}" if data_key_alias else ""
    name = f'"{parameter_name(plan, "")}$1"'
    url = f"https://github.com/docker/compose/releases/download/v{COMPOSE_VERSION}/docker-compose-linux-x86_64"
    return NodeCloud(
        packages=PACKAGES, store_words="SecureString parameters with the instance role",
        store_env=(f"export AWS_DEFAULT_REGION={shlex.quote(plan.primary_region)}",),
        read='aws ssm get-parameter --with-decryption --name "$1" --query Parameter.Value --output text',
        bootstrap_store=lambda plan: (f"aws ssm put-parameter --region {region} --overwrite --type SecureString{key} "
                                      f'--name {name} --value "file://$2" >/dev/null'),
        bootstrap_fetch=lambda plan, placeholder: (
            f"value=$(aws ssm get-parameter --region {region} --with-decryption --name {name} "
            f"--query Parameter.Value --output text) && [ \"$value\" != {shlex.quote(placeholder)} ]"),
        network_wait=(
            "# wait for the way out (the Elastic IP is attached just after the instance starts)",
            "n=0; until curl -fsS --max-time 5 -o /dev/null https://github.com; do",
            '  n=$((n + 1)); [ "$n" -lt 60 ] || { echo "no internet access" >&2; exit 1; }; sleep 5; done'),
        find_data_disk=(
            'root=$(lsblk -no PKNAME "$(findmnt -no SOURCE /)")',
            'disk=""; n=0',
            'while [ -z "$disk" ]; do',
            '  disk=$(lsblk -dnpo NAME,TYPE | awk -v root="/dev/$root" \'$2 == "disk" && $1 != root {print $1; exit}\')',
            '  [ -n "$disk" ] && break',
            '  n=$((n + 1)); [ "$n" -lt 60 ] || { echo "data volume not attached" >&2; exit 1; }; sleep 5',
            "done"),
        install_docker=(
            "command -v docker >/dev/null || dnf install -y docker",
            "if ! docker compose version >/dev/null 2>&1; then",
            "  mkdir -p /usr/local/lib/docker/cli-plugins",
            f"  curl -fsSL -o /tmp/docker-compose {url}",
            f'  echo "$(curl -fsSL {url}.sha256 | cut -d" " -f1)  /tmp/docker-compose" | sha256sum -c -',
            "  install -m 0755 /tmp/docker-compose /usr/local/lib/docker/cli-plugins/docker-compose",
            "fi"),
        mount_shared=_efs_mounts)


def seal_config(plan: Plan, seal_alias: str | None) -> dict[str, str]:
    """OpenBao's awskms seal stanza: the key's alias in the primary region."""
    return {"region": plan.primary_region, "kms_key_id": seal_alias} if seal_alias else {}

