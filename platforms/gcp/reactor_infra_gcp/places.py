"""Where each service is found on GCP, and the Placement each machine renders its configs with.
Pure: no Pulumi.

Every tier is Compute Engine machines running the tier's compose project (the README says why
not Cloud Run); names and placements are the core's (`reactor_infra.machine_places`) in the
private zone `reactor.internal` (Discovery). Values that exist only once a resource does (the
database's private address, the public address without a domain, the project) are late
markers (`reactor_infra.late`).
"""

from __future__ import annotations

from reactor_infra.machine_places import (DATABASE_HOST, PUBLIC_HOST, certificate_names, endpoints, hosts, is_pool,
                                          machine_name, machine_placement, machine_tiers, pool_routed, replica_files,
                                          routed, shared_volumes, site_address)

__all__ = ["DATABASE_HOST", "PUBLIC_HOST", "certificate_names", "endpoints", "hosts", "is_pool", "machine_name",
           "machine_placement", "machine_tiers", "pool_routed", "replica_files", "routed", "shared_volumes",
           "site_address"]

DOMAIN = "reactor.internal"
PROJECT = "project"  # late: the project id (the seal's, googleclouddns's)
DATA_DEVICE = "reactor-data"  # the data disk's device name: /dev/disk/by-id/google-reactor-data
