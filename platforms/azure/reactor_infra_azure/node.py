"""Node: one virtual machine of a tier, with its own network interface and data disk.

Trusted Launch (secure boot, vTPM), encryption at host (temp disk and caches encrypted too;
the subscription must have the EncryptionAtHost feature registered), an SSH key and never a
password (the key's private half stays in the stack's state; operators sign in with Entra ID
through Azure Bastion), the tier's user-assigned identity only, no public address except the
size-2 node's static one, a fixed private address in the machines subnet (cluster peers and
certificates name it before it exists; a replaced machine comes back on it), the tier's
application security group, the balancer pools that send to it. The data disk (LUN 0, the
machine's compose volumes) is a zonal managed disk of its own that outlives the machine; with a
customer-managed key (editions E and C) both disks use the region's disk encryption set. The
custom data is the core's node boot (no secret values: they are fetched at boot).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as az

from reactor_infra.layout import Plan

from .component import AzureComponent
from .naming import physical_name, tags
from .places import DATA_LUN

SSH_KEYS = "/home/{user}/.ssh/authorized_keys"


@dataclass(frozen=True)
class MachineShape:
    """What every machine of a tier shares, whether a Node or a Pool's scale set."""

    plan: Plan
    tier: str
    vm_size: str
    image: dict[str, str]
    admin_username: str
    ssh_public_key: pulumi.Input[str]
    identity: pulumi.Input[str] = ""  # the tier's user-assigned identity (its id)
    security_group: pulumi.Input[str] | None = None  # the tier's application security group here
    pools: Sequence[pulumi.Input[str]] = ()  # balancer pools that send to the tier here
    os_disk_gb: int = 30
    data_disk_gb: int = 20
    encryption_set: pulumi.Input[str] | None = None  # editions E and C: the region's disk encryption set

    def os_profile(self, custom_data: pulumi.Input[str], name_key: str, name: str) -> dict:
        return {name_key: name, "admin_username": self.admin_username,
                "custom_data": pulumi.Output.from_input(custom_data).apply(
                    lambda text: base64.b64encode(text.encode()).decode()),
                "linux_configuration": {
                    "disable_password_authentication": True, "provision_vm_agent": True,
                    "ssh": {"public_keys": [{"path": SSH_KEYS.format(user=self.admin_username),
                                             "key_data": self.ssh_public_key}]}}}

    def managed_disk(self) -> dict:
        return {"storage_account_type": "Premium_LRS",
                **({"disk_encryption_set": {"id": self.encryption_set}} if self.encryption_set else {})}

    def security_profile(self) -> dict:
        return {"encryption_at_host": True, "security_type": "TrustedLaunch",
                "uefi_settings": {"secure_boot_enabled": True, "v_tpm_enabled": True}}

    def identity_block(self) -> dict:
        return {"type": "UserAssigned", "user_assigned_identities": [self.identity]}

    def ip_configuration(self, subnet: pulumi.Input[str]) -> dict:
        return {"subnet": {"id": subnet},
                "application_security_groups": [{"id": self.security_group}] if self.security_group else None,
                "load_balancer_backend_address_pools": [{"id": p} for p in self.pools] or None}


@dataclass(frozen=True)
class NodeArgs:
    shape: MachineShape
    region: str
    zone: str | None
    resource_group: pulumi.Input[str]
    subnet: pulumi.Input[str]
    custom_data: pulumi.Input[str]
    private_ip: str | None = None  # fixed; default the subnet picks
    public_ip: pulumi.Input[str] | None = None  # size 2: the static public address's id
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)


class Node(AzureComponent):
    """`vm`; `disk` (the data disk); `nic`; `machine` (its name in the stack)."""

    def __init__(self, name: str, args: NodeArgs, opts: pulumi.ResourceOptions | None = None):
        shape = args.shape
        super().__init__(name, shape.tier, opts)
        self.machine = name
        plan, child, rg = shape.plan, pulumi.ResourceOptions(parent=self), args.resource_group
        zones = [args.zone] if args.zone else None
        stateful = pulumi.ResourceOptions(parent=self, protect=plan.policy.protect)
        encryption = ({"type": "EncryptionAtRestWithCustomerKey", "disk_encryption_set_id": shape.encryption_set}
                      if shape.encryption_set else None)
        self.disk = az.compute.Disk(
            f"{name}-data", disk_name=physical_name(plan, name, "data"), resource_group_name=rg, location=args.region,
            zones=zones, sku={"name": "Premium_LRS"}, disk_size_gb=shape.data_disk_gb,
            creation_data={"create_option": "Empty"}, encryption=encryption, network_access_policy="DenyAll",
            public_network_access="Disabled", tags=tags(plan, shape.tier), opts=stateful)
        ip = {"name": "primary", "primary": True, **shape.ip_configuration(args.subnet),
              "private_ip_allocation_method": "Static" if args.private_ip else "Dynamic",
              "private_ip_address": args.private_ip,
              "public_ip_address": {"id": args.public_ip} if args.public_ip else None}
        self.nic = az.network.NetworkInterface(
            f"{name}-nic", network_interface_name=physical_name(plan, name, "nic"), resource_group_name=rg,
            location=args.region, ip_configurations=[ip], enable_accelerated_networking=False,
            tags=tags(plan, shape.tier), opts=child)
        self.vm = az.compute.VirtualMachine(
            f"{name}-vm", vm_name=physical_name(plan, name, "vm"), resource_group_name=rg, location=args.region,
            zones=zones, hardware_profile={"vm_size": shape.vm_size}, identity=shape.identity_block(),
            os_profile=shape.os_profile(args.custom_data, "computer_name", physical_name(plan, name, "vm")),
            security_profile=shape.security_profile(),
            storage_profile={
                "image_reference": shape.image,
                "os_disk": {"name": physical_name(plan, name, "os"), "create_option": "FromImage",
                            "caching": "ReadWrite", "disk_size_gb": shape.os_disk_gb, "delete_option": "Delete",
                            "managed_disk": shape.managed_disk()},
                "data_disks": [{"lun": DATA_LUN, "create_option": "Attach", "caching": "ReadOnly",
                                "delete_option": "Detach",
                                "managed_disk": {"id": self.disk.id, **shape.managed_disk()}}]},
            network_profile={"network_interfaces": [{"id": self.nic.id, "primary": True, "delete_option": "Detach"}]},
            diagnostics_profile={"boot_diagnostics": {"enabled": True}},
            tags=tags(plan, shape.tier),
            # custom data is read at the first boot only: a changed boot makes a new machine
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on),
                                        replace_on_changes=["osProfile.customData"]))
        az.compute.VirtualMachineExtension(
            f"{name}-entra-login", vm_extension_name="AADSSHLoginForLinux", vm_name=self.vm.name,
            resource_group_name=rg, location=args.region, publisher="Microsoft.Azure.ActiveDirectory",
            type="AADSSHLoginForLinux", type_handler_version="1.0", auto_upgrade_minor_version=True, opts=child)
        self.register_outputs({"id": self.vm.id})
