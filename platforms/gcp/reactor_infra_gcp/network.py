"""Network: the install's VPC (one, global: +mr's second region is a subnet of the same VPC),
a subnet per region with Private Google Access and flow logs, Cloud NAT per region for the
machines (no machine but the size-2 node has an external address), and Private Service Access
(a reserved range peered with Google's producer network) for Cloud SQL and Filestore."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ipaddress

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent
from .naming import physical_name

TIER = "network"


@dataclass(frozen=True)
class NetworkArgs:
    plan: Plan
    subnets: Sequence[tuple[str, str]]  # (region, IPv4 range) per region of the install
    nat: bool = True  # machines without an external address reach out through Cloud NAT
    # Private Service Access range for Google's producer services; none: no such service
    services_cidr: str | None = None


class Network(GcpComponent):
    """`vpc`; `subnets[region]`; `connection` (Private Service Access) or None."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        plan, child = args.plan, pulumi.ResourceOptions(parent=self)
        self.vpc = gcp.compute.Network(
            f"{name}-vpc", name=physical_name(plan, TIER, "vpc"), auto_create_subnetworks=False,
            routing_mode="GLOBAL", description=f"reactor-infra {plan.topology} (stack {plan.stack})", opts=child)
        self.subnets: dict[str, gcp.compute.Subnetwork] = {}
        self.cidrs = [cidr for _, cidr in args.subnets]
        for i, (region, cidr) in enumerate(args.subnets):
            suffix = "" if i == 0 else f"-{region}"
            self.subnets[region] = gcp.compute.Subnetwork(
                f"{name}-subnet{suffix}", name=physical_name(plan, TIER, region), network=self.vpc.id,
                region=region, ip_cidr_range=cidr, private_ip_google_access=True,
                log_config=gcp.compute.SubnetworkLogConfigArgs(
                    aggregation_interval="INTERVAL_5_SEC", flow_sampling=0.5, metadata="INCLUDE_ALL_METADATA"),
                opts=child)
            if args.nat:
                self._nat(plan, name, region, suffix, child)
        self.connection = self._service_access(plan, name, args.services_cidr, child) if args.services_cidr else None
        self.register_outputs({"vpc": self.vpc.id})

    def _nat(self, plan: Plan, name: str, region: str, suffix: str, child: pulumi.ResourceOptions) -> None:
        """Cloud NAT is regional and needs no machine: one per region serves every zone."""
        router = gcp.compute.Router(f"{name}-router{suffix}", name=physical_name(plan, TIER, f"router-{region}"),
                                    network=self.vpc.id, region=region, opts=child)
        gcp.compute.RouterNat(
            f"{name}-nat{suffix}", name=physical_name(plan, TIER, f"nat-{region}"), router=router.name,
            region=region, nat_ip_allocate_option="AUTO_ONLY",
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[gcp.compute.RouterNatSubnetworkArgs(
                name=self.subnets[region].id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"), opts=child)

    def _service_access(self, plan: Plan, name: str, cidr: str, child: pulumi.ResourceOptions):
        net = ipaddress.IPv4Network(cidr)
        reserved = gcp.compute.GlobalAddress(
            f"{name}-services-range", name=physical_name(plan, TIER, "services"), purpose="VPC_PEERING",
            address_type="INTERNAL", address=str(net.network_address), prefix_length=net.prefixlen,
            network=self.vpc.id, opts=child)
        # ABANDON: the peering is Google's to remove once the last producer instance is gone;
        # deleting it first fails while Cloud SQL still holds addresses in the range
        return gcp.servicenetworking.Connection(
            f"{name}-services", network=self.vpc.id, service="servicenetworking.googleapis.com",
            reserved_peering_ranges=[reserved.name], deletion_policy="ABANDON", opts=child)
