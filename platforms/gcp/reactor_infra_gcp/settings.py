"""GcpSettings: what a stack may set under `extras.gcp` (each key optional; defaults in words)."""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from reactor_infra.addressing import checked_cidr, range_after

# Ubuntu 24.04 LTS: its images run cloud-init from the `user-data` metadata key and carry the
# Google guest agent (OS Login, load balancer addresses) and gcloud (Secret Manager at boot).
UBUNTU_IMAGE = "projects/ubuntu-os-cloud/global/images/family/ubuntu-2404-lts-amd64"
# regions whose zones are not a, b, c (Compute Engine's list)
ZONE_LETTERS = {"us-east1": "bcd", "europe-west1": "bcd"}
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_ZONE_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")




class GcpSettings(BaseModel):
    """`extras.gcp` in a stack file, e.g. `reactor-infra:extras: {gcp: {project: acme-prod}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the project every resource goes into; none: the provider's (`gcp:project`, gcloud's default)
    project: str | None = None
    # the primary region's subnet; default 10.42.0.0/16 (machines get fixed addresses in it)
    network_cidr: str = "10.42.0.0/16"
    # the second region's subnet (+mr), in the same VPC; default the /16 after network_cidr's
    second_network_cidr: str | None = None
    # the range Google's producer services get in the VPC (Private Service Access: Cloud SQL,
    # Filestore); default 10.100.0.0/16
    services_cidr: str = "10.100.0.0/16"
    # Compute Engine machine type of every machine; none: the smallest e2 type fitting each tier
    machine_type: str | None = None
    # the boot image; default Ubuntu 24.04 LTS (UBUNTU_IMAGE): the boot scripts expect apt,
    # cloud-init, the guest agent and gcloud
    image: str = UBUNTU_IMAGE
    # the zones of the primary region, in order; none: <region>-a, -b, -c (us-east1 and
    # europe-west1: -b, -c, -d)
    zones: tuple[str, ...] | None = None
    # the Cloud DNS managed zone (its name) that holds `domain`; none: no public record is made
    # (point the domain at the `public_ip` output yourself); edition C needs it (DNS-01)
    dns_zone: str | None = None
    # boot disk size in GiB (OS, Docker images); default 20
    boot_disk_gb: int = 20

    @field_validator("network_cidr", "second_network_cidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        return None if value is None else checked_cidr(value, 16, 24, "10.42.0.0/16")

    @field_validator("services_cidr")
    @classmethod
    def _services(cls, value: str) -> str:
        return checked_cidr(value, 16, 24, "10.100.0.0/16")

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not _PROJECT.match(value):
            raise ValueError(f"'{value}' is not a project id (6-30 lowercase letters, digits and '-', "
                             "starting with a letter)")
        return value

    @field_validator("dns_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not _ZONE_NAME.match(value):
            raise ValueError(f"'{value}' is not a Cloud DNS managed zone name such as example-com")
        return value

    @field_validator("boot_disk_gb")
    @classmethod
    def _boot(cls, value: int) -> int:
        if not 10 <= value <= 1024:
            raise ValueError(f"{value}: between 10 and 1024 GiB")
        return value

    @model_validator(mode="after")
    def _apart(self) -> GcpSettings:
        ranges = {"network_cidr": self.cidr_in(0), "second_network_cidr": self.cidr_in(1),
                  "services_cidr": self.services_cidr}
        nets = {k: ipaddress.IPv4Network(v) for k, v in ranges.items()}
        keys = list(nets)
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                if nets[a].overlaps(nets[b]):
                    raise ValueError(f"{a} {nets[a]} overlaps {b} {nets[b]}; the ranges share one VPC and "
                                     "must be apart")
        return self

    def cidr_in(self, index: int) -> str:
        """The subnet range of the install's `index`-th region (0 the primary)."""
        if index and self.second_network_cidr:
            return self.second_network_cidr
        return range_after(self.network_cidr, index)

    def zones_of(self, region: str, count: int) -> list[str]:
        """`count` zones of a region (the configured ones in the region they name)."""
        if self.zones and all(z.startswith(f"{region}-") for z in self.zones):
            return list(self.zones[:count])
        return [f"{region}-{letter}" for letter in ZONE_LETTERS.get(region, "abc")[:count]]
