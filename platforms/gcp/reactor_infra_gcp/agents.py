"""ServiceAgents: the Google-managed service accounts that encrypt the install's data with its
customer-managed key (editions E and C): Compute Engine's (disks), Cloud SQL's and Secret
Manager's (made on first use: `projects.ServiceIdentity` makes them now), Cloud Storage's."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from reactor_infra.layout import Plan

from .component import GcpComponent

TIER = "vault"


@dataclass(frozen=True)
class ServiceAgentsArgs:
    plan: Plan
    project: str | None = None  # default: the provider's


class ServiceAgents(GcpComponent):
    """`emails` (compute, sql, secrets, storage); `storage` alone (a dual-region bucket's key)."""

    def __init__(self, name: str, args: ServiceAgentsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, TIER, opts)
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        number = gcp.organizations.get_project_output(project_id=args.project, opts=invoke).number
        sql = gcp.projects.ServiceIdentity(f"{name}-sql", service="sqladmin.googleapis.com", opts=child)
        secrets = gcp.projects.ServiceIdentity(f"{name}-secrets", service="secretmanager.googleapis.com", opts=child)
        self.storage = gcp.storage.get_project_service_account_output(project=args.project, opts=invoke).email_address
        compute = number.apply(lambda n: f"service-{n}@compute-system.iam.gserviceaccount.com")
        self.emails: list[pulumi.Output[str]] = [compute, sql.email, secrets.email, self.storage]
        self.register_outputs({})
