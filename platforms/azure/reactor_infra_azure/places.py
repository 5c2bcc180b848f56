"""Where each service is found on Azure, and the Placement each machine renders its configs with.
Pure: no Pulumi.

Every tier is virtual machines running the tier's compose project (the README says why not
Container Apps); names and placements are the core's (`reactor_infra.machine_places`) in the
private DNS zone `reactor.internal` (Discovery). Values that exist only once a resource does
(the database server's name, the public address or Front Door's host without a domain, the
tenant) are late markers (`reactor_infra.late`).
"""

from __future__ import annotations

from reactor_infra.machine_places import (DATABASE_HOST, PUBLIC_HOST, certificate_names, endpoints, hosts, is_pool,
                                          machine_name, machine_placement, machine_tiers, pool_routed, replica_files,
                                          routed, shared_volumes, site_address)

__all__ = ["DATABASE_HOST", "PUBLIC_HOST", "certificate_names", "endpoints", "hosts", "is_pool", "machine_name",
           "machine_placement", "machine_tiers", "pool_routed", "replica_files", "routed", "shared_volumes",
           "site_address"]

DOMAIN = "reactor.internal"
TENANT = "tenant"  # late: the Entra ID tenant (OpenBao's azurekeyvault seal)
DATA_LUN = 0  # the data disk's LUN: /dev/disk/azure/scsi1/lun0
