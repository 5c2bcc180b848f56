"""AzureSettings: what a stack may set under `extras.azure` (each key optional; defaults in words)."""

from __future__ import annotations

import ipaddress
import re

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from reactor_infra.addressing import checked_cidr, range_after

# Ubuntu 24.04 LTS (Gen2, Trusted Launch): cloud-init reads custom data; apt; the Azure udev rules
# name data disks by LUN (/dev/disk/azure/scsi1/lun0)
UBUNTU_IMAGE = "Canonical:ubuntu-24_04-lts:server:latest"
_IMAGE = re.compile(r"^[^:\s]+:[^:\s]+:[^:\s]+:[^:\s]+$")
_GROUP = re.compile(r"^[-\w._()]{1,89}[-\w_()]$")
_ZONE = re.compile(r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_SECRET_ID = re.compile(r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w._()]+/providers/"
                        r"Microsoft\.KeyVault/vaults/[a-zA-Z][-a-zA-Z0-9]{1,22}[a-zA-Z0-9]/secrets/[-a-zA-Z0-9]{1,127}$")
_USER = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
# regions without availability zones (2026): machines there take no zone, storage is locally redundant
ZONELESS = frozenset({
    "westus", "northcentralus", "westcentralus", "japanwest", "koreasouth", "southindia", "westindia", "canadaeast",
    "francesouth", "germanynorth", "norwaywest", "switzerlandwest", "ukwest", "uaecentral", "brazilsoutheast",
    "australiacentral", "australiacentral2", "australiasoutheast", "southafricawest",
})
# each region's pair, where a flexible server's geo-redundant backups go (and the key they are encrypted with)
PAIRED = {
    "eastus": "westus", "westus": "eastus", "eastus2": "centralus", "centralus": "eastus2", "westus2": "westcentralus",
    "westcentralus": "westus2", "westus3": "eastus", "northcentralus": "southcentralus",
    "southcentralus": "northcentralus", "northeurope": "westeurope", "westeurope": "northeurope", "uksouth": "ukwest",
    "ukwest": "uksouth", "francecentral": "francesouth", "francesouth": "francecentral",
    "germanywestcentral": "germanynorth", "germanynorth": "germanywestcentral", "switzerlandnorth": "switzerlandwest",
    "switzerlandwest": "switzerlandnorth", "norwayeast": "norwaywest", "norwaywest": "norwayeast",
    "japaneast": "japanwest", "japanwest": "japaneast", "koreacentral": "koreasouth", "koreasouth": "koreacentral",
    "australiaeast": "australiasoutheast", "australiasoutheast": "australiaeast", "australiacentral": "australiacentral2",
    "australiacentral2": "australiacentral", "southeastasia": "eastasia", "eastasia": "southeastasia",
    "centralindia": "southindia", "southindia": "centralindia", "westindia": "southindia",
    "canadacentral": "canadaeast", "canadaeast": "canadacentral", "brazilsouth": "southcentralus",
    "brazilsoutheast": "brazilsouth", "southafricanorth": "southafricawest", "southafricawest": "southafricanorth",
    "uaenorth": "uaecentral", "uaecentral": "uaenorth",
}
RESERVED_USERS = frozenset({"root", "admin", "administrator", "azureuser", "user", "test", "guest", "ubuntu"})




class AzureSettings(BaseModel):
    """`extras.azure` in a stack file, e.g. `reactor-infra:extras: {azure: {dns_zone: example.com}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # the resource group every resource goes into (made by the program); none: the stack's prefix
    resource_group: str | None = None
    # the primary region's virtual network; default 10.42.0.0/16 (split in quarters: machines,
    # the database's delegated subnet, private endpoints, Azure Bastion)
    network_cidr: str = "10.42.0.0/16"
    # the second region's network (+mr, peered); default the /16 after network_cidr's
    second_network_cidr: str | None = None
    # the VM size of every machine; none: the smallest listed size fitting each tier
    vm_size: str | None = None
    # publisher:offer:sku:version; default Ubuntu 24.04 LTS (the boot scripts expect apt and cloud-init)
    image: str = UBUNTU_IMAGE
    # the Linux user the image's provisioning creates (SSH key only, never a password)
    admin_username: str = "reactor"
    # the Azure DNS zone (its name) that holds `domain`, in `dns_zone_resource_group`; none: no
    # public record is made (point the domain at the `public_ip` / `front_door` output yourself)
    dns_zone: str | None = None
    # the resource group of `dns_zone`; default the install's
    dns_zone_resource_group: str | None = None
    # OS disk size in GiB (OS, Docker images); default 30
    os_disk_gb: int = 30
    # edition C at size 3: the Key Vault secret (its resource id) holding a certificate for
    # *.<domain> that Front Door serves tenants with (its managed certificates cover no wildcard)
    wildcard_certificate: str | None = None

    @field_validator("network_cidr", "second_network_cidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        return None if value is None else checked_cidr(value, 16, 22, "10.42.0.0/16")

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _IMAGE.match(value):
            raise ValueError(f"'{value}' is not publisher:offer:sku:version such as {UBUNTU_IMAGE}")
        return value

    @field_validator("resource_group", "dns_zone_resource_group")
    @classmethod
    def _group(cls, value: str | None) -> str | None:
        if value is not None and not _GROUP.match(value):
            raise ValueError(f"'{value}' is not a resource group name (1-90 letters, digits, '-', '_', '.', "
                             "'(', ')'; not ending in '.')")
        return value

    @field_validator("dns_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and not _ZONE.match(value):
            raise ValueError(f"'{value}' is not a DNS zone name such as example.com")
        return value

    @field_validator("wildcard_certificate")
    @classmethod
    def _certificate(cls, value: str | None) -> str | None:
        if value is not None and not _SECRET_ID.match(value):
            raise ValueError(f"'{value}' is not a Key Vault secret's resource id such as /subscriptions/<id>/"
                             "resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<vault>/secrets/<name>")
        return value

    @field_validator("admin_username")
    @classmethod
    def _user(cls, value: str) -> str:
        if not _USER.match(value) or value in RESERVED_USERS:
            raise ValueError(f"'{value}' is not a Linux user name Azure accepts (lowercase, not one of "
                             f"{', '.join(sorted(RESERVED_USERS))})")
        return value

    @field_validator("os_disk_gb")
    @classmethod
    def _os_disk(cls, value: int) -> int:
        if not 30 <= value <= 1024:
            raise ValueError(f"{value}: between 30 and 1024 GiB")
        return value

    @model_validator(mode="after")
    def _apart(self) -> AzureSettings:
        a, b = ipaddress.IPv4Network(self.cidr_in(0)), ipaddress.IPv4Network(self.cidr_in(1))
        if a.overlaps(b):
            raise ValueError(f"network_cidr {a} overlaps second_network_cidr {b}; peered networks must be apart")
        return self

    def cidr_in(self, index: int) -> str:
        """The virtual network range of the install's `index`-th region (0 the primary)."""
        if index and self.second_network_cidr:
            return self.second_network_cidr
        return range_after(self.network_cidr, index)

    @staticmethod
    def zones_of(region: str, count: int) -> list[str]:
        """`count` availability zones of a region ("1", "2", "3"); none where it has none."""
        return [] if region in ZONELESS else [str(z) for z in range(1, max(count, 1) + 1)]

    def image_reference(self) -> dict[str, str]:
        publisher, offer, sku, version = self.image.split(":")
        return {"publisher": publisher, "offer": offer, "sku": sku, "version": version}
